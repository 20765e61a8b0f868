"""The local stack's SQS patch (recoup_local.moto_sqs, "sqs-messages"): the patched calls answer
as moto's own do, on standard and FIFO queues, and their work no longer grows with the number
of messages the queue holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.backends import get_backend
from moto.sqs import models as sqs_models

from recoup_local import moto_patches, moto_sqs

REGION = "us-east-1"
ACCOUNT = "123456789012"
PATCH = "sqs-messages"

moto_patches.apply()


class Clock:
    """moto's SQS clock, moved by hand: visibility timeouts and delays without sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def seconds(self, dt: object = None) -> float:
        return self.now

    def millis(self, dt: object = None) -> float:
        return self.now * 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sqs_models, "unix_time", fake.seconds)
    monkeypatch.setattr(sqs_models, "unix_time_millis", fake.millis)
    return fake


@pytest.fixture
def aws(moto_env: None) -> Iterator[None]:
    with mock_aws():
        yield


def _both(scenario: Callable[[Any, Clock], list[Any]], clock: Clock) -> tuple[Any, Any]:
    """The scenario's transcript with the patch, then with moto's own code, each on a fresh
    moto at the same time."""
    start = clock.now
    with mock_aws():
        patched = scenario(boto3.client("sqs", region_name=REGION), clock)
    clock.now = start
    with moto_patches.unpatched(PATCH), mock_aws():
        own = scenario(boto3.client("sqs", region_name=REGION), clock)
    return patched, own


def _received(response: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """What a receive returned that does not depend on random ids: bodies, receive counts,
    message attributes and groups."""
    return [
        (
            m["Body"],
            m.get("Attributes", {}).get("ApproximateReceiveCount", ""),
            m.get("Attributes", {}).get("MessageGroupId", ""),
            ",".join(sorted(m.get("MessageAttributes", {}))),
        )
        for m in response.get("Messages", [])
    ]


def _error(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def _receive(sqs: Any, url: str, n: int = 10, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=n,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        **extra,
    )
    return answer


def _counts(sqs: Any, url: str) -> dict[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {k: v for k, v in attributes.items() if k.startswith("ApproximateNumber")}


def _standard(sqs: Any, clock: Clock) -> list[Any]:
    """Delays, visibility, old receipt handles, redrive, purge on a standard queue."""
    out: list[Any] = []
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}',
        },
    )["QueueUrl"]
    for n in range(6):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"m{n}",
            DelaySeconds=10 if n == 2 else 0,
            MessageAttributes={"n": {"DataType": "Number", "StringValue": str(n)}},
        )
    batch = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"b{n}", "MessageBody": f"b{n}"} for n in range(3)],
    )
    out.append(sorted(e["Id"] for e in batch["Successful"]))
    out.append(_counts(sqs, url))
    first = _receive(sqs, url, 3)
    out.append(_received(first))
    out.append(_received(_receive(sqs, url)))
    out.append(_received(_receive(sqs, url)))  # everything in flight or delayed
    out.append(_counts(sqs, url))
    clock.advance(11)  # the delayed one is due
    out.append(_received(_receive(sqs, url)))
    # Visible again at once, received again: its count goes up
    handle = first["Messages"][1]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    clock.advance(0.001)  # visible once the clock has passed its time
    again = _receive(sqs, url)
    out.append(_received(again))
    # The first receive's handle still deletes it; deleting twice is fine; an unknown is not
    out.append(_error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)))
    out.append(_error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)))
    out.append(_error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="nope")))
    out.append(
        _error(
            lambda: sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5
            )
        )
    )
    out.append(
        _error(
            lambda: sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle="nope", VisibilityTimeout=5
            )
        )
    )
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": first["Messages"][0]["ReceiptHandle"]},
            {"Id": "b", "ReceiptHandle": "nope"},
        ],
    )
    out.append(
        (
            [e["Id"] for e in deleted["Successful"]],
            [(e["Id"], e["Code"]) for e in deleted["Failed"]],
        )
    )
    out.append(_counts(sqs, url))
    clock.advance(31)  # every lease ran out: second receives, then the dead-letter queue
    second = _receive(sqs, url)
    out.append(_received(second))
    clock.advance(31)
    out.append(_received(_receive(sqs, url)))
    out.append((_counts(sqs, url), _counts(sqs, dlq)))
    # The moved messages' handles no longer name anything in the queue they left
    moved = second["Messages"][0]["ReceiptHandle"]
    out.append(
        _error(
            lambda: sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=moved, VisibilityTimeout=5
            )
        )
    )
    out.append(_error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=moved)))
    out.append(_counts(sqs, dlq))
    dead = _receive(sqs, dlq)
    out.append(_received(dead))
    if dead.get("Messages"):
        receipt = dead["Messages"][0]["ReceiptHandle"]
        out.append(_error(lambda: sqs.delete_message(QueueUrl=dlq, ReceiptHandle=receipt)))
    out.append(_counts(sqs, dlq))
    sqs.purge_queue(QueueUrl=url)
    out.append(_counts(sqs, url))
    sqs.send_message(QueueUrl=url, MessageBody="after purge")
    after = _receive(sqs, url)
    out.append(_received(after))
    receipt = after["Messages"][0]["ReceiptHandle"]
    out.append(_error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)))
    out.append(_counts(sqs, url))
    return out


def _fifo(sqs: Any, clock: Clock) -> list[Any]:
    """Groups, content-based and explicit deduplication on a FIFO queue."""
    out: list[Any] = []
    url = sqs.create_queue(
        QueueName="work.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body, group in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a1", "A"), ("c1", "C")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="C", MessageDeduplicationId="d")
    sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="C", MessageDeduplicationId="d")
    out.append(_counts(sqs, url))
    first = _receive(sqs, url, 2)
    out.append(_received(first))
    out.append(_received(_receive(sqs, url)))
    out.append(_received(_receive(sqs, url)))
    for message in first["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    out.append(_received(_receive(sqs, url)))
    # A duplicate of a message still queued, within five minutes: dropped; after: kept
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="B")
    out.append(_counts(sqs, url))
    clock.advance(301)
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="B")
    out.append(_counts(sqs, url))
    out.append(_received(_receive(sqs, url)))
    clock.advance(31)
    out.append(_received(_receive(sqs, url)))
    plain = sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    out.append(_error(lambda: sqs.send_message(QueueUrl=plain, MessageBody="z")))
    out.append(
        _error(lambda: sqs.send_message(QueueUrl=plain, MessageBody="z", MessageGroupId="G"))
    )
    out.append(
        _error(
            lambda: sqs.send_message(
                QueueUrl=plain, MessageBody="z", MessageGroupId="G", DelaySeconds=5
            )
        )
    )
    return out


@pytest.mark.parametrize("scenario", [_standard, _fifo], ids=["standard", "fifo"])
def test_the_patched_calls_answer_as_motos_own(
    moto_env: None, clock: Clock, scenario: Callable[[Any, Clock], list[Any]]
) -> None:
    patched, own = _both(scenario, clock)
    assert patched == own
    # and the scenario did what it says (not two equal empty transcripts)
    assert any(isinstance(step, list) and step for step in patched)


def test_the_standard_scenario_sees_delays_visibility_and_redrive(
    moto_env: None, clock: Clock
) -> None:
    transcript, _ = _both(_standard, clock)
    bodies = [[body for body, *_ in step] for step in transcript[2:5]]
    assert bodies == [["m0", "m1", "m3"], ["m4", "m5", "b0", "b1", "b2"], []]
    assert [body for body, *_ in transcript[6]] == ["m2"]  # after its delay
    assert transcript[7] == [("m1", "2", "", "n")]  # visible again at once, second receive
    assert (
        transcript[8:13] == ["ok", "ok", "ReceiptHandleIsInvalid"] + ["ReceiptHandleIsInvalid"] * 2
    )
    assert transcript[17][1]["ApproximateNumberOfMessages"] == "7"  # moved after two receives
    assert transcript[18:20] == ["ReceiptHandleIsInvalid"] * 2


def _depth(sqs: Any, url: str, n: int) -> None:
    backend = get_backend("sqs")[ACCOUNT][REGION]
    name = url.rsplit("/", 1)[-1]
    for i in range(n):
        backend.send_message(name, f"filler {i}")


class Work:
    """Per-message work moto does in a call: visibility and delay checks, receipt-handle
    comparisons."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.checks = 0
        message = sqs_models.Message
        visible, delayed = message.visible, message.delayed
        had = message.had_receipt_handle
        work = self

        def count(prop: Any) -> property:
            def getter(m: Any) -> Any:
                work.checks += 1
                return prop.fget(m)

            return property(getter)

        def had_receipt_handle(m: Any, handle: str) -> bool:
            work.checks += 1
            return bool(had(m, handle))

        monkeypatch.setattr(message, "visible", count(visible))
        monkeypatch.setattr(message, "delayed", count(delayed))
        monkeypatch.setattr(message, "had_receipt_handle", had_receipt_handle)

    def of(self, call: Callable[[], Any]) -> int:
        before = self.checks
        call()
        return self.checks - before


def _work_per_call(sqs: Any, work: Work, depth: int, own: bool) -> dict[str, int]:
    """The work of one send, one receive of 10 (10 more in flight ahead of them, as in a
    drain), one delete and two visibility changes (a handle the queue gave, one it did not),
    on a queue of `depth` messages."""
    url = sqs.create_queue(QueueName=f"q{depth}{'own' if own else ''}")["QueueUrl"]
    _depth(sqs, url, depth)
    in_flight = _receive(sqs, url)["Messages"]
    assert len(in_flight) == 10
    with moto_patches.unpatched(PATCH) if own else _nothing():
        done = {
            "send": work.of(lambda: sqs.send_message(QueueUrl=url, MessageBody="one more")),
            "receive": work.of(lambda: _receive(sqs, url)),
            "delete": work.of(
                lambda: sqs.delete_message(
                    QueueUrl=url, ReceiptHandle=in_flight[0]["ReceiptHandle"]
                )
            ),
            "visibility": work.of(
                lambda: sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=in_flight[1]["ReceiptHandle"], VisibilityTimeout=0
                )
            ),
            # moto's own searches in queue order: a handle it does not know is the longest
            "unknown handle": work.of(
                lambda: _error(
                    lambda: sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle="unknown", VisibilityTimeout=0
                    )
                )
            ),
        }
    return done


class _nothing:  # noqa: N801 - a do-nothing context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_the_work_of_a_call_does_not_grow_with_the_queue(
    aws: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    work = Work(monkeypatch)
    patched = {depth: _work_per_call(sqs, work, depth, own=False) for depth in (50, 2_000)}
    own = {depth: _work_per_call(sqs, work, depth, own=True) for depth in (50, 2_000)}
    # moto's own: every call walks the queue (the cause)
    for call in ("send", "receive", "delete", "unknown handle"):
        assert own[2_000][call] > 10 * own[50][call], call
    # patched: the same work at 50 and at 2,000 messages; a receive checks the 10 in flight
    # ahead of the 10 it returns (and two reads each)
    assert patched[50] == patched[2_000]
    assert patched[2_000]["send"] == 0
    assert patched[2_000]["receive"] <= 2 * 20
    assert patched[2_000]["delete"] == patched[2_000]["unknown handle"] == 0
    assert patched[2_000]["visibility"] == 1  # is it visible again (moto's own check)


def test_a_receive_visits_only_what_it_needs(aws: None, clock: Clock) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    _depth(sqs, url, 1_000)
    moto_sqs.counters.reset()
    assert len(_receive(sqs, url)["Messages"]) == 10
    assert moto_sqs.counters.visited == 10


def test_the_maps_follow_a_purge_and_the_messages_list(aws: None, clock: Clock) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="maps")["QueueUrl"]
    _depth(sqs, url, 5)
    queue = get_backend("sqs")[ACCOUNT][REGION].queues["maps"]
    handles = [m["ReceiptHandle"] for m in _receive(sqs, url)["Messages"]]
    index = moto_sqs.QueueIndex.of(queue)
    assert set(index.receipts) == set(handles)
    sqs.purge_queue(QueueUrl=url)
    # The list was replaced: the map is built again, and the old handles are unknown
    code = _error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[0]))
    assert code == "ReceiptHandleIsInvalid"
    assert moto_sqs.QueueIndex.of(queue).receipts == {}
