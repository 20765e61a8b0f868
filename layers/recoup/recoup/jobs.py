"""The shape every SQS-triggered function shares: one job per record, a failed job reported
back alone (partial batch response) so SQS retries it, and no failure ever holds back
another record.

Each record runs under the correlation id its sender attached (`recoup.correlation`), or
its own message id when it has none (a message queued before ids were attached, one sent
by hand), so its log lines and the jobs it queues carry the id of the flow that queued it.

A failure is logged with the exception's type, its message with personal data redacted, the
message id and the non-personal ids of the body (shop, case, event); never the body.

Queues whose bodies may hold personal data (events, privacy jobs) name their dead-letter
queue: a record that fails its `QUARANTINE_AT_RECEIVE`-th receive is moved aside here and
then: its body goes to the queue bodies bucket (`quarantine/...`, SSE-KMS) and the DLQ gets
a reference to it with the ids, so no DLQ holds personal data, and erasure can delete the
body. A redrive of the reference to the queue loads the body and runs the job as usual. The
queue's maxReceiveCount, one receive above, stays as the backstop for crashes and for a
failed move (that message reaches the DLQ whole; docs/architecture.md, Privacy requests).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from types import ModuleType
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import aws, correlation
from recoup.integrations import queue_bodies
from recoup.observability import logger, metrics
from recoup.redaction import redact
from recoup.settings import QueueSetting, get_settings

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# The receive whose failure moves a record aside; the queues' maxReceiveCount is one more
# (tests/unit/test_template.py holds them together).
QUARANTINE_AT_RECEIVE = 4


def sqs_handler(
    service: ModuleType,
    run: str,
    *,
    job: str,
    failure_metric: str,
    dead_letter_queue: QueueSetting | None = None,
) -> Handler:
    """A Lambda handler calling `service.<run>(body)` for each record; it returns a dataclass
    of words about what it did (no personal data), which is logged. The function is looked
    up on each call, so the local stack's benchmarks can wrap it. `dead_letter_queue` names
    the Settings field of the queue's DLQ: set, a record's last failure is moved aside
    (quarantined) instead of dead-lettered whole."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> None:
        with correlation.scope(correlation_id(record)):
            run_record(record)

    def run_record(record: SQSRecord) -> None:
        try:
            result = getattr(service, run)(queue_bodies.resolve(record.body))
        except queue_bodies.MissingBody:
            # Erased by a privacy request or expired: nothing is left to run.
            logger.warning(
                "Queued body gone; dropped",
                extra={
                    "message_id": record.message_id,
                    **queue_bodies.correlation_ids(record.body),
                },
            )
            metrics.add_metric(name="QueuedBodyMissing", unit="Count", value=1)
            return
        except Exception as exc:
            ids = queue_bodies.correlation_ids(record.body)
            log_failure(f"{job} failed", record.message_id, exc, ids)
            metrics.add_metric(name=failure_metric, unit="Count", value=1)
            if dead_letter_queue and _receive_count(record) >= QUARANTINE_AT_RECEIVE:
                quarantine(record, ids, exc, dead_letter_queue)
                return  # moved aside: the record is done with, SQS deletes it
            raise
        logger.info(job, extra=asdict(result) if is_dataclass(result) else {})  # type: ignore[arg-type]
        if dead_letter_queue:
            _release(record)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        with correlation.invocation(None):  # each record brings its own
            response = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        return dict(response)

    return lambda_handler


def correlation_id(record: SQSRecord) -> str:
    """The id the record's sender attached, else the record's own message id."""
    attributes = record.raw_event.get("messageAttributes") or {}
    attribute = attributes.get(correlation.MESSAGE_ATTRIBUTE) or {}
    return correlation.clean(attribute.get("stringValue")) or record.message_id


def log_failure(message: str, message_id: str, exc: BaseException, ids: dict[str, Any]) -> None:
    """Log a failed record: what failed and where, with personal data redacted from the
    exception's text and traceback (not `logger.exception`, which would log them as raised)."""
    logger.error(
        message,
        extra={
            "message_id": message_id,
            "error_type": type(exc).__name__,
            "error": redact(str(exc)),
            "stack": redact("".join(traceback.format_exception(exc))),
            **ids,
        },
    )


def _release(record: SQSRecord) -> None:
    """A redriven reference whose job is done: delete the body it kept. Best effort: a body
    left behind expires with the bucket's lifecycle rule, and erasure deletes it anyway."""
    key = queue_bodies.reference_key(record.body)
    if key is None or not key.startswith(f"{queue_bodies.QUARANTINE}/"):
        return
    try:
        queue_bodies.delete(key)
    except Exception as exc:  # noqa: BLE001 - the job is done; the lifecycle rule is the backstop
        ids = queue_bodies.correlation_ids(record.body)
        log_failure("Could not delete a quarantined body", record.message_id, exc, ids)


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return 0


def quarantine(
    record: SQSRecord, ids: dict[str, Any], exc: BaseException, dead_letter_queue: QueueSetting
) -> None:
    """Store the body and dead-letter a reference to it. At-least-once: a failure here raises
    the job's own error again, so SQS retries the record (and the backstop redrive keeps it);
    a reference sent twice points to the same body, and running a job twice is harmless."""
    try:
        body = record.body
        held = queue_bodies.reference_key(body)
        if held is not None and held.startswith(f"{queue_bodies.QUARANTINE}/"):
            body = queue_bodies.get(held)  # a redriven reference failed again: keep one hop
        key = queue_bodies.quarantine_key(ids, record.message_id)
        queue_bodies.put(key, body)
        reference = {
            queue_bodies.QUARANTINE_REF: key,
            **ids,
            "message_id": record.message_id,
            "receive_count": _receive_count(record),
            "error_type": type(exc).__name__,
        }
        # The record's correlation id goes with it, so a redrive runs under it again.
        aws.client("sqs").send_message(
            QueueUrl=get_settings().require(dead_letter_queue),
            MessageBody=json.dumps(reference, separators=(",", ":")),
            MessageAttributes={
                correlation.MESSAGE_ATTRIBUTE: {
                    "DataType": "String",
                    "StringValue": correlation_id(record),
                }
            },
        )
    except Exception as failed:  # noqa: BLE001 - any failure: SQS retries, the backstop keeps it
        log_failure("Could not move a failed record aside", record.message_id, failed, ids)
        raise exc from None
    metrics.add_metric(name="MessageQuarantined", unit="Count", value=1)
    logger.warning(
        "Moved to the dead-letter queue",
        extra={"message_id": record.message_id, "quarantined": key, **ids},
    )
