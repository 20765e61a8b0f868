"""Correlation ids through the in-process stack: a webhook's id on the message it queues and
on the worker's log lines; a scheduler run's id on the reminder job, the SES call's tags and
the step's audit entry; a message without the attribute runs under its own message id; an
SES event under its SNS notification's id, naming the id the message was sent under."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest

from recoup import aws, clock
from recoup.domain.audit import verify_chain
from recoup.observability import logger
from recoup.services import cases
from recoup.store import cases as case_store
from recoup_local.lambdas import LambdaContext
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers
from tests.faults import FaultPlan

PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
STEP_1_DUE = OPENED + timedelta(days=1, hours=2)  # 09:15 in Oregon: not quiet hours

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The JSON lines Powertools' logger writes meanwhile (every function's: one logger)."""
    buffer = io.StringIO()
    handler = cast(logging.StreamHandler, logger.registered_handler)
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)


@pytest.fixture
def at(local: Any) -> Iterator[Any]:
    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def post_order(local: Any, webhook_id: str) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id=webhook_id)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )


def peek(local: Any, queue: str) -> list[dict[str, Any]]:
    """The queue's messages with their attributes, left on the queue (visible again)."""
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs[queue]
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return messages


def attached(message: dict[str, Any]) -> str | None:
    attribute = message.get("MessageAttributes", {}).get("correlation_id")
    return attribute["StringValue"] if attribute else None


def lines_of(log_lines: LogLines, message: str) -> list[dict[str, Any]]:
    return [line for line in log_lines() if line.get("message") == message]


def test_a_shopify_webhook_id_is_queued_with_its_event_and_logged_by_the_worker(
    local: Any, log_lines: LogLines
) -> None:
    # When a signed order is delivered
    post_order(local, "wh-correlated-1")
    # Then its event is queued with the webhook id as the correlation attribute
    [message] = peek(local, "EventsQueue")
    assert attached(message) == "wh-correlated-1"
    # And when the worker applies it, its log lines (the webhook's too) carry that id
    local.lambdas.drain()
    [queued] = lines_of(log_lines, "Queued event")
    [applied] = lines_of(log_lines, "Applied event")
    [job] = lines_of(log_lines, "Event")
    assert queued["correlation_id"] == applied["correlation_id"] == "wh-correlated-1"
    assert job["correlation_id"] == "wh-correlated-1" and job["outcome"] == "applied"


def test_a_stripe_event_id_is_the_correlation_id_of_what_it_queues(local: Any) -> None:
    body = event_bytes("stripe/payment_intent.payment_failed.json")
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200
    [message] = peek(local, "EventsQueue")
    assert attached(message) == json.loads(body)["id"]


def test_a_refused_delivery_is_logged_under_the_request_id(local: Any, log_lines: LogLines) -> None:
    # Given a delivery whose signature is wrong: its own id cannot be trusted
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, "not-the-secret", "orders/create", webhook_id="wh-forged")
    event_answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    # Then it is refused, and the refusal's log line carries a request id, not the claimed id
    assert event_answer["statusCode"] == 401
    [refused] = lines_of(log_lines, "Webhook refused")
    assert refused["correlation_id"] not in (None, "wh-forged")
    assert refused["correlation_id"] == refused["function_request_id"]


@pytest.mark.parametrize(
    ("run_event", "run_id"),
    [
        ({"execution_id": "d32c5kddcf5bb8c3"}, "d32c5kddcf5bb8c3"),  # the schedule's input
        ({"id": "evt-run-7"}, "evt-run-7"),  # an EventBridge event's id
    ],
)
def test_a_scheduler_run_id_reaches_the_reminder_job_the_email_and_the_trail(
    local: Any, at: Any, log_lines: LogLines, run_event: dict[str, str], run_id: str
) -> None:
    # Given an open case whose first step is due
    post_order(local, "wh-order")
    local.lambdas.drain()
    sent_tags: list[list[dict[str, str]]] = []
    ses = aws.send_client("sesv2")
    ses.meta.events.register(
        "provide-client-params.sesv2.SendEmail",
        lambda params, **_: sent_tags.append(params.get("EmailTags", [])),
    )
    # When the scheduler runs
    at.now = STEP_1_DUE
    handler = local.lambdas.handlers["SchedulerFunction"]
    event = {"time": STEP_1_DUE.strftime("%Y-%m-%dT%H:%M:%SZ"), **run_event}
    handler(event, LambdaContext("SchedulerFunction"))
    # Then the reminder job carries the run's id
    [job] = peek(local, "ReminderQueue")
    assert attached(job) == run_id
    # And when it is sent, SES gets the id as a tag beside the shop and the step
    local.lambdas.drain()
    [tags] = sent_tags
    assert {"Name": "correlation_id", "Value": run_id} in tags
    assert {"Name": "step", "Value": "1"} in tags
    # And the step's audit entry records it, the chain still verifying
    trail = cases.timeline(SHOP, PENDING_ID)
    assert trail[-1].body["kind"] == "reminder.sent"
    assert trail[-1].body["correlation_id"] == run_id
    assert "correlation_id" not in trail[0].body  # an event's entry: the event id says it
    assert verify_chain(trail).ok
    # And the sender's log line for the job carries it
    [sent] = [line for line in lines_of(log_lines, "Reminder job") if line["outcome"] == "sent"]
    assert sent["correlation_id"] == run_id


def test_a_message_without_the_attribute_runs_under_its_own_message_id(
    local: Any, log_lines: LogLines
) -> None:
    # Given an event on the queue with no correlation attribute (queued before ids were
    # attached, or sent by hand)
    post_order(local, "wh-order")
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs["EventsQueue"]
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    bare = sqs.send_message(QueueUrl=url, MessageBody=message["Body"])["MessageId"]
    # When the worker takes it
    local.lambdas.drain()
    # Then it is applied under the message's own id
    [job] = lines_of(log_lines, "Event")
    assert job["outcome"] == "applied"
    assert job["correlation_id"] == bare


def test_an_ses_event_runs_under_its_notification_id_and_names_the_sends(
    local: Any, at: Any, log_lines: LogLines
) -> None:
    # Given a reminder sent by a scheduler run
    post_order(local, "wh-order")
    local.lambdas.drain()
    at.now = STEP_1_DUE
    event = {"time": STEP_1_DUE.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": "evt-run-8"}
    local.lambdas.handlers["SchedulerFunction"](event, LambdaContext("SchedulerFunction"))
    local.lambdas.drain()
    stored = case_store.load(SHOP, PENDING_ID)
    assert stored is not None and stored.dunning is not None
    [message] = stored.dunning.sent
    # When SES reports its delivery, with the tags it was sent with
    notification = {
        "eventType": "Delivery",
        "mail": {
            "timestamp": "2026-11-03T17:16:00.000Z",
            "messageId": message.provider_id,
            "tags": {"shop": [SHOP.replace(".", "_")], "correlation_id": ["evt-run-8"]},
        },
        "delivery": {"timestamp": "2026-11-03T17:16:02.000Z"},
    }
    assert local.lambdas.publish(local.stack.refs["EmailFeedbackTopic"], notification) == 1
    # Then the feedback function's lines carry the notification's own id (not the request's),
    # and the report's line names the flow that sent the message
    [recorded] = lines_of(log_lines, "Delivery report recorded")
    [feedback] = lines_of(log_lines, "Feedback")
    assert recorded["sent_correlation_id"] == "evt-run-8"
    assert recorded["correlation_id"] == feedback["correlation_id"]
    assert feedback["correlation_id"] not in (None, feedback["function_request_id"], "evt-run-8")


def test_an_event_moved_aside_keeps_its_id_through_the_redrive(
    local: Any, log_lines: LogLines
) -> None:
    # Given an order whose every case write is refused while the worker retries it
    post_order(local, "wh-poisoned")
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "reject", nth=0)
        local.lambdas.drain()
    # Then the reference on the dead-letter queue carries the webhook's id
    [reference] = peek(local, "EventsDeadLetterQueue")
    assert attached(reference) == "wh-poisoned"
    # And when ops redrive it, once the fault is gone, it is applied under that id again
    assert local.lambdas.redrive("EventsDeadLetterQueue", "EventsQueue") == 1
    local.lambdas.drain()
    applied = [line for line in lines_of(log_lines, "Event") if line["outcome"] == "applied"]
    assert [line["correlation_id"] for line in applied] == ["wh-poisoned"]
