"""The correlation id (recoup.correlation): set for a unit of work and restored after it, on
every log line and in the metric set's metadata; attached to every queued message, taken
back from it by the SQS consumer (or the message's own id when it has none); an SES tag."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest

from recoup import aws, correlation, jobs, queue
from recoup.integrations import ses
from recoup.observability import logger, metrics
from recoup_local.lambdas import LambdaContext
from tests.unit.test_queue import FakeSqs

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The JSON lines Powertools' logger writes meanwhile."""
    buffer = io.StringIO()
    handler = cast(logging.StreamHandler, logger.registered_handler)
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)


@pytest.fixture(autouse=True)
def fresh_metric_set() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    fake = FakeSqs()
    settings = SimpleNamespace(require=lambda name: f"https://sqs.example/{name}")
    monkeypatch.setattr(queue, "get_settings", lambda: settings)
    monkeypatch.setattr(aws, "client", lambda service: fake)
    return fake


# ---------------------------------------------------------------- the id and its scope


def test_a_scope_sets_the_id_on_log_lines_and_restores_the_one_before(log_lines: LogLines) -> None:
    with correlation.scope("run-1"):
        logger.info("outer")
        with correlation.scope("wh-2"):
            logger.info("inner")
        logger.info("outer again")
    logger.info("after")
    assert [(line["message"], line.get("correlation_id")) for line in log_lines()] == [
        ("outer", "run-1"),
        ("inner", "wh-2"),
        ("outer again", "run-1"),
        ("after", None),
    ]
    assert correlation.current() is None


def test_use_replaces_the_id_within_its_scope_only() -> None:
    # Outside any scope nothing would end it: ignored
    correlation.use("wh-stray")
    assert correlation.current() is None
    with correlation.scope("request-1"):
        correlation.use("wh-1")  # a webhook's own id, once verified
        assert correlation.current() == "wh-1"
    assert correlation.current() is None


def test_an_id_from_a_header_is_kept_printable_and_short() -> None:
    assert correlation.clean(" evt_1\n\x00é ") == "evt_1"
    assert correlation.clean("x" * 500) == "x" * correlation.MAX_LENGTH
    assert correlation.clean("") is None
    assert correlation.clean(None) is None


def test_the_metric_set_carries_the_id_or_a_batchs_ids_as_metadata_not_dimensions() -> None:
    # An invocation's id
    with correlation.invocation("run-1"):
        metrics.add_metric(name="SchedulerRuns", unit="Count", value=1)
    document = metrics.serialize_metric_set()
    assert document["correlation_id"] == "run-1"
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    # A batch's records each bring theirs; a later invocation starts afresh
    with correlation.invocation(None):
        for message_id in ("m-1", "m-2", "m-1"):
            with correlation.scope(message_id):
                pass
    assert metrics.metadata_set["correlation_id"] == ["m-1", "m-2"]
    with correlation.invocation("request-9"):
        pass
    assert metrics.metadata_set["correlation_id"] == "request-9"


# ---------------------------------------------------------------- queued messages


def test_every_send_carries_the_current_id_as_a_message_attribute(sqs: FakeSqs) -> None:
    with correlation.scope("wh-1"):
        queue.send(queue.Queue.HANDOVERS, queue.CaseJob("s", "c"))
        queue.send_batch(
            queue.Queue.REMINDERS, {str(n): queue.CaseJob("s", "c", step=n) for n in range(3)}
        )
    queue.send(queue.Queue.HANDOVERS, queue.CaseJob("s", "c"))
    (_, single), (_, batch), (_, unscoped) = sqs.calls
    attribute = {"correlation_id": {"DataType": "String", "StringValue": "wh-1"}}
    assert single["MessageAttributes"] == attribute
    assert [entry["MessageAttributes"] for entry in batch["Entries"]] == [attribute] * 3
    assert "MessageAttributes" not in unscoped  # no flow, no attribute


def test_an_event_queued_by_reference_carries_the_id_on_the_reference(
    sqs: FakeSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.integrations import queue_bodies

    stored: dict[str, str] = {}
    monkeypatch.setattr(queue_bodies, "put", lambda key, body: stored.setdefault(key, body))
    monkeypatch.setattr(queue, "MAX_INLINE_BYTES", 10)
    event = SimpleNamespace(
        event_id="wh-big",
        source="shopify",
        kind="orders/create",
        case_id="1",
        shop="s.myshopify.com",
        stripe_account=None,
        to_dict=lambda: {"event_id": "wh-big", "padding": "x" * 100},
    )
    with correlation.scope("wh-big"):
        queue.enqueue(event)  # type: ignore[arg-type]
    [(_, call)] = sqs.calls
    assert queue_bodies.INBOX_REF in json.loads(call["MessageBody"]) and stored
    assert call["MessageAttributes"]["correlation_id"]["StringValue"] == "wh-big"


# ---------------------------------------------------------------- the SQS consumer


@dataclass(frozen=True)
class Done:
    outcome: str


def record(message_id: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": json.dumps({"shop": "s", "case_id": "c"}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes or {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def test_each_record_runs_under_its_attribute_or_else_its_message_id(log_lines: LogLines) -> None:
    seen: list[str | None] = []

    def run(_body: str) -> Done:
        seen.append(correlation.current())
        logger.info("working")
        return Done("done")

    service = cast(Any, SimpleNamespace(run=run))
    handler = jobs.sqs_handler(service, "run", job="Job", failure_metric="F")
    attached = {
        "correlation_id": {
            "stringValue": "wh-1",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    # Given a record with the attribute and one without (queued before ids were attached)
    event = {"Records": [record("m-1", attached), record("m-2")]}
    # When the consumer handles the batch
    handler(event, LambdaContext("SomeWorkerFunction"))
    # Then each ran, and logged, under its own id, and none is left set after
    assert seen == ["wh-1", "m-2"]
    ids = [(line["message"], line.get("correlation_id")) for line in log_lines()]
    assert ("working", "wh-1") in ids and ("working", "m-2") in ids
    assert ("Job", "wh-1") in ids and ("Job", "m-2") in ids
    assert correlation.current() is None


# ---------------------------------------------------------------- SES


def test_an_ses_tag_keeps_only_the_characters_ses_accepts() -> None:
    assert ses.tag_text("evt_1A-b") == "evt_1A-b"
    assert ses.tag_text("demo.myshopify.com:1/2") == "demo_myshopify_com_1_2"
    assert ses.tag_text("x" * 300) == "x" * 256
    assert ses.tag_text("") == "_"


def test_a_hand_over_email_is_tagged_with_the_flow_it_belongs_to() -> None:
    from recoup.services import handover

    # Outside any flow: the shop and kind only
    assert handover._email_tags("a.myshopify.com") == {
        "shop": "a_myshopify_com",
        "kind": "handover",
    }
    # Within a hand-over job's flow: its correlation id too, which SES's events repeat
    with correlation.scope("run-7"):
        assert handover._email_tags("a.myshopify.com")["correlation_id"] == "run-7"
