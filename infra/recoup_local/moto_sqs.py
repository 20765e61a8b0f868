"""moto 5.2.5's SQS with calls whose cost does not grow with the queue (patch "sqs-messages").

Applied by `recoup_local.moto_patches` (which see for how patches are applied and checked).
The description below is the one offered upstream with this change (getmoto/moto,
`moto/sqs/models.py`):

    SQS: SendMessage, ReceiveMessage and DeleteMessage no longer walk the whole queue

    Every call walked every message the queue held, several times, so its cost grew with
    the queue's depth: with 5,000 messages queued, sending the next one took ~30 ms and a
    receive of 10 over half a second, and a backlog of n messages cost n²/2 steps to fill
    and as much again to drain.

    - `Queue.attributes` computes the three ApproximateNumberOfMessages* counts, walking
      every message and reading the clock twice per message. SendMessage read it to learn
      ContentBasedDeduplication (once, three times on a FIFO queue), and ReceiveMessage
      read it twice per message received, through `get_queue_attributes`, to learn
      MessageRetentionPeriod. These now read the queue's own settings
      (`content_based_deduplication`, which `attributes` reports only for a FIFO queue, so
      it is read only there, and `message_retention_period`).
    - ReceiveMessage listed every visible message (`Queue.messages`) before taking the
      first `count`. It now walks the queue in the same order and stops once it has them:
      it visits the messages in flight or delayed ahead of them, and those it returns.
    - DeleteMessage and ChangeMessageVisibility searched every message for the receipt
      handle (DeleteMessage twice, then rebuilt the list). The queue now keeps a map from
      every receipt handle its messages were given to the message, so both find it at
      once; DeleteMessage removes it from the list in place.
    - A FIFO queue's deduplication compared the new message with every message queued.
      The queue now keeps its messages by deduplication id, and compares it with those
      that share its id.

    The maps are built from `Queue._messages` on first use and rebuilt if that list is
    replaced (PurgeQueue), and are kept up to date where messages are added, received,
    moved to a dead-letter queue and deleted.

    Behaviour is unchanged: the same messages in the same order, visibility timeouts and
    delays read at the time of the call, FIFO message groups and deduplication (within
    five minutes, among the messages still queued, as before), receive counts and the
    move to the dead-letter queue after maxReceiveCount, a receipt handle from an earlier
    receive still deletes its message, a deleted message's handle deletes again without
    error, an unknown one is refused. Differences: a message whose delay ends while
    ReceiveMessage runs can be returned by that call (it was listed before); the message
    list is changed in place by DeleteMessage, so a receive running at the same moment in
    another thread can miss a message for that call (it is returned by the next one).

    Tests: the work of SendMessage, ReceiveMessage and DeleteMessage (visibility and delay
    checks, receipt-handle comparisons) is the same with 10 and with 2,000 messages queued;
    the patched calls answer as the old ones on standard and FIFO queues (order, delays,
    visibility, groups, deduplication, redrive, handles, purge).
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any


@dataclass
class Counters:
    """What the patched calls did, for tests: messages visited by receives."""

    visited: int = 0

    def reset(self) -> None:
        self.visited = 0


counters = Counters()


class QueueIndex:
    """The maps one queue keeps beside `_messages`: every receipt handle its messages were
    given (to the message) and its messages by deduplication id. Built for one list object:
    `of(queue)` builds it again when the queue's list has been replaced."""

    __slots__ = ("dedup", "messages", "receipts")

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.receipts: dict[str, Any] = {}
        self.dedup: dict[str, list[Any]] = {}
        for message in messages:
            self.added(message)

    @staticmethod
    def of(queue: Any) -> QueueIndex:
        index: QueueIndex | None = queue.__dict__.get("_message_index")
        if index is None or index.messages is not queue._messages:
            index = QueueIndex(queue._messages)
            queue._message_index = index
        return index

    def added(self, message: Any) -> None:
        for handle in message.all_receipt_handles:
            if handle is not None:
                self.receipts[handle] = message
        if message.deduplication_id is not None:
            self.dedup.setdefault(message.deduplication_id, []).append(message)

    def received(self, message: Any) -> None:
        self.receipts[message.receipt_handle] = message

    def removed(self, message: Any) -> None:
        for handle in message.all_receipt_handles:
            if handle is not None and self.receipts.get(handle) is message:
                del self.receipts[handle]
        same = self.dedup.get(message.deduplication_id)
        if same is not None:
            for n, other in enumerate(same):
                if other is message:
                    del same[n]
                    break
            if not same:
                del self.dedup[message.deduplication_id]


def _sqs_models() -> Any:
    """moto.sqs.models, whose clock (`unix_time`, `unix_time_millis`) moto's code reads: the
    replacements read the same one."""
    from moto.sqs import models

    return models


# ------------------------------------------------------------------------------- Queue
def add_message(self: Any, message: Any) -> None:
    """moto's `Queue.add_message`: deduplication among the messages with the same id only,
    ContentBasedDeduplication read from the queue's setting, the maps kept up to date."""
    from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, sqs_backends

    index = QueueIndex.of(self)
    # the cases in which we dedupe fifo messages
    # from https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
    if self.fifo_queue and (self.content_based_deduplication or message.deduplication_id):
        for m in index.dedup.get(message.deduplication_id, ()):
            diff = message.sent_timestamp - m.sent_timestamp
            # if a duplicate message is received within the deduplication time then it
            # should not be added to the queue
            if diff / 1000 < DEDUPLICATION_TIME_IN_SECONDS:
                return

    with self._messages_lock:
        self._messages.append(message)
        QueueIndex.of(self).added(message)
        self._messages_lock.notify_all()

    for arn, esm in self.lambda_event_source_mappings.items():
        if not esm.enabled:
            continue
        backend = sqs_backends[self.account_id][self.region]

        # Lambda polls the queue and invokes your function synchronously with an event that
        # contains queue messages (moto's own code from here on).
        messages: list[Any] = backend.receive_message(
            self.name,
            esm.batch_size,
            self.receive_message_wait_time_seconds,
            self.visibility_timeout,
        )

        from moto.awslambda.utils import get_backend

        result = get_backend(self.account_id, self.region).send_sqs_batch(
            arn, messages, self.queue_arn
        )

        if result:
            for m in messages:
                backend.delete_message(self.name, m.receipt_handle)
        else:
            # Make messages visible again
            for m in messages:
                backend.change_message_visibility(self.name, m.receipt_handle, visibility_timeout=0)


def delete_message(self: Any, receipt_handle: str) -> None:
    """moto's `Queue.delete_message`, finding the message by its receipt handle."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in self.deleted_messages:
        # Already deleted - gracefully handle deleting it again
        return
    index = QueueIndex.of(self)
    message = index.receipts.get(receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid()
    # Delete message from queue regardless of pending state
    try:
        self._messages.remove(message)
    except ValueError:  # taken out of the list by code that keeps no map
        index.removed(message)
        raise ReceiptHandleIsInvalid() from None
    index.removed(message)
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)


def _any_ready(queue: Any) -> bool:
    return any(m.visible and not m.delayed for m in queue._messages)


def wait_for_messages(self: Any, timeout: int) -> None:
    """moto's `Queue.wait_for_messages`, stopping at the first visible message."""
    with self._messages_lock:
        self._messages_lock.wait_for(lambda: _any_ready(self), timeout=timeout)


# -------------------------------------------------------------------------- SQSBackend
def _validate_message(
    self: Any,
    queue: Any,
    message_body: str,
    delay_seconds: int,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    validate_group_id: bool = True,
) -> None:
    """moto's `SQSBackend._validate_message`, reading ContentBasedDeduplication from the
    queue's setting instead of `Queue.attributes` (which counts every message)."""
    from moto.sqs.exceptions import InvalidParameterValue, MissingParameter

    if queue.fifo_queue:
        if not queue.content_based_deduplication and not group_id:
            msg = "MessageGroupId"
            raise MissingParameter(msg)

        if not queue.content_based_deduplication and group_id and not deduplication_id:
            msg = (
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
            raise InvalidParameterValue(msg)

        if delay_seconds > 0:
            raise InvalidParameterValue(
                f"Value {delay_seconds} for parameter DelaySeconds is invalid. Reason: "
                "The request include parameter that is not valid for this queue type."
            )

    if len(message_body) > queue.maximum_message_size:
        msg = (
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.maximum_message_size} bytes."
        )
        raise InvalidParameterValue(msg)

    if group_id is None and queue.fifo_queue:
        # MessageGroupId is a mandatory parameter for all
        # messages in a fifo queue
        raise MissingParameter("MessageGroupId")


def send_message(
    self: Any,
    queue_name: str,
    message_body: str,
    message_attributes: dict[str, Any] | None = None,
    delay_seconds: int | None = None,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    system_attributes: dict[str, Any] | None = None,
    validate_group_id: bool = True,
) -> Any:
    """moto's `SQSBackend.send_message`, reading ContentBasedDeduplication from the queue's
    setting (reported by `Queue.attributes` for a FIFO queue only)."""
    import hashlib
    import string

    from moto.moto_api._internal import mock_random as random
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import MAXIMUM_MESSAGE_DELAY, Message

    queue = self.get_queue(queue_name)

    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )

    delay_seconds = int(delay_seconds) if delay_seconds is not None else queue.delay_seconds

    message_id = str(random.uuid4())
    message = Message(message_id, message_body, system_attributes)

    # if content based deduplication is set then set sha256 hash of the message
    # as the deduplication_id
    if queue.fifo_queue and queue.content_based_deduplication:
        sha256 = hashlib.sha256()
        sha256.update(message_body.encode("utf-8"))
        message.deduplication_id = sha256.hexdigest()

    # Attributes, but not *message* attributes
    if deduplication_id is not None:
        message.deduplication_id = deduplication_id
        message.sequence_number = "".join(random.choice(string.digits) for _ in range(20))

    if group_id is not None:
        message.group_id = group_id

    if message_attributes:
        message.message_attributes = message_attributes

    if delay_seconds > MAXIMUM_MESSAGE_DELAY:
        msg = (
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. "
            "Reason: DelaySeconds must be >= 0 and <= 900."
        )
        raise InvalidParameterValue(msg)

    message.mark_sent(delay_seconds=delay_seconds)

    queue.add_message(message)

    return message


def receive_message(
    self: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Any]:
    """moto's `SQSBackend.receive_message`, walking the queue in order only until it has
    `count` messages (instead of listing every visible message first)."""
    models = _sqs_models()

    # Attempt to retrieve visible messages from a queue.

    # If a message was read by client and not deleted it is considered to be
    # "inflight" and cannot be read. We make attempts to obtain ``count``
    # messages but we may return less if messages are in-flight or there
    # are simple not enough messages in the queue.

    if message_attribute_names is None:
        message_attribute_names = []
    queue = self.get_queue(queue_name)
    result: list[Any] = []
    previous_result_count = len(result)

    polling_end = models.unix_time() + wait_seconds_timeout
    currently_pending_groups = deepcopy(queue.pending_message_groups)

    while True:
        if result or (wait_seconds_timeout and models.unix_time() > polling_end):
            break

        messages_to_dlq: list[Any] = []

        for message in queue._messages:
            counters.visited += 1
            # Visible and not delayed: what `Queue.messages` listed, read as it is reached
            if not message.visible or message.delayed:
                continue

            if message in queue.pending_messages:
                # The message is pending but is visible again, so the
                # consumer must have timed out.
                queue.pending_messages.remove(message)
                currently_pending_groups = deepcopy(queue.pending_message_groups)

            if (
                message.group_id
                and queue.fifo_queue
                and message.group_id in currently_pending_groups
            ):
                # A previous call is still processing messages in this group, so we cannot
                # deliver this one.
                continue

            if (
                queue.dead_letter_queue is not None
                and queue.redrive_policy
                and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
            ):
                messages_to_dlq.append(message)
                continue

            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            QueueIndex.of(queue).received(message)
            # Create deepcopy to not mutate the message state when filtering for attributes
            message_copy = deepcopy(message)
            models._filter_message_attributes(message_copy, message_attribute_names)
            if not self.is_message_valid_based_on_retention_period(queue_name, message):
                break
            result.append(message_copy)
            if len(result) >= count:
                break

        for message in messages_to_dlq:
            queue._messages.remove(message)
            QueueIndex.of(queue).removed(message)
            queue.dead_letter_queue.add_message(message)

        if previous_result_count == len(result):
            if wait_seconds_timeout == 0:
                # There is no timeout and no additional results,
                # so break to avoid an infinite loop.
                break

            queue.wait_for_messages(1)
            continue

        previous_result_count = len(result)

    return result


def change_message_visibility(
    self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
) -> None:
    """moto's `SQSBackend.change_message_visibility`, finding the message by its receipt
    handle."""
    models = _sqs_models()
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    queue = self.get_queue(queue_name)
    message = QueueIndex.of(queue).receipts.get(receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid
    visibility_timeout_msec = int(visibility_timeout) * 1000
    given_visibility_timeout = models.unix_time_millis() + visibility_timeout_msec
    if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:
        raise InvalidParameterValue(
            f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: "
            "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        )

    message.change_visibility(visibility_timeout)
    if message.visible and message in queue.pending_messages:
        # If the message is visible again, remove it from pending
        # messages.
        queue.pending_messages.remove(message)


def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    """moto's, reading MessageRetentionPeriod from the queue's setting (not through
    `get_queue_attributes`, which computes every attribute, twice)."""
    models = _sqs_models()

    retention_period = self.get_queue(queue_name).message_retention_period
    retain_until = retention_period + message.sent_timestamp / 1000
    return bool(retain_until > models.unix_time())


# What is replaced, and the source (sha256, first 16 hex digits) of moto 5.2.5's code each
# replacement was written against: on another moto the patch stands aside.
REPLACEMENTS: tuple[tuple[str, str, str, Any], ...] = (
    ("Queue", "add_message", "f27c9231c1f20433", add_message),
    ("Queue", "delete_message", "fa6fd5b9bd2cafb4", delete_message),
    ("Queue", "wait_for_messages", "58432562ccf2e13e", wait_for_messages),
    ("SQSBackend", "_validate_message", "39cb57c19e596164", _validate_message),
    ("SQSBackend", "send_message", "bf161af09a9e6b86", send_message),
    ("SQSBackend", "receive_message", "065f3e5e7d214408", receive_message),
    ("SQSBackend", "change_message_visibility", "f0e9df5f66627114", change_message_visibility),
    (
        "SQSBackend",
        "is_message_valid_based_on_retention_period",
        "cca23b94a5f3af9d",
        is_message_valid_based_on_retention_period,
    ),
)


def owners() -> dict[str, type]:
    from moto.sqs.models import Queue, SQSBackend

    return {"Queue": Queue, "SQSBackend": SQSBackend}
