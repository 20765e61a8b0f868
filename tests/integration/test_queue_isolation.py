"""One failing message never takes another with it, and what fails leaves no personal data
in a dead-letter queue or a log: the event worker against moto, with faults injected."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from recoup.domain.case import CaseStatus
from recoup.domain.dunning import DunningStatus
from recoup.integrations import shopify as shopify_integration
from recoup.jobs import QUARANTINE_AT_RECEIVE
from recoup.services import cases
from recoup.store import cases as case_store
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.faults import FaultPlan

ORDER = event_json("shopify/order_pending.json")
ORDER_ID = str(ORDER["id"])
# What the order says about its customer: none of it may reach a DLQ or a log.
PERSONAL = (
    ORDER["email"],
    ORDER["customer"]["first_name"],
    ORDER["customer"]["last_name"],
    ORDER["billing_address"]["address1"],
    ORDER["browser_ip"],
)


def sqs() -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def s3() -> Any:
    return boto3.client("s3", region_name="us-east-1")


def deliver(local: Any, name: str, topic: str, webhook_id: str) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id)
    result = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert result["statusCode"] == 200, result


def normalised(name: str, topic: str, webhook_id: str) -> dict[str, Any]:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, "unused", topic, webhook_id=webhook_id)
    event = shopify_integration.normalise(shopify_integration.read_delivery(headers), body)
    assert event is not None
    return event.to_dict()


def send_raw(local: Any, body: dict[str, Any], queue: str = "EventsQueue") -> None:
    """Put a message on the queue as a producer would (with a message group and a
    deduplication id if the queue is FIFO, so the same test runs against either kind)."""
    url = local.stack.refs[queue]
    extra: dict[str, str] = {}
    if url.endswith(".fifo"):
        extra = {
            "MessageGroupId": f"{SHOP}:{body['case_id']}",
            "MessageDeduplicationId": f"raw:{body['event_id']}",
        }
    sqs().send_message(QueueUrl=url, MessageBody=json.dumps(body), **extra)


def dead_letters(local: Any) -> list[dict[str, Any]]:
    url = local.stack.refs["EventsDeadLetterQueue"]
    found: list[dict[str, Any]] = []
    while (
        messages := sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def bodies(local: Any, prefix: str) -> dict[str, str]:
    bucket = local.stack.refs["QueueBodiesBucket"]
    listed = s3().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: s3().get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
        for o in listed
    }


def test_a_payment_behind_a_poison_update_of_the_same_order_closes_the_case_at_once(
    local: Any,
) -> None:
    # Given an open case with its reminders scheduled
    deliver(local, "order_pending", "orders/create", "wh-create")
    local.lambdas.drain()
    stored = case_store.load(SHOP, ORDER_ID)
    assert stored is not None and stored.dunning is not None
    assert stored.dunning.status is DunningStatus.SCHEDULED
    # And an orders/updated for the same order that can never be applied (a schema this
    # worker does not know), queued before the order's orders/paid
    poison = {**normalised("order_pending_updated", "orders/updated", "wh-poison"), "schema": 99}
    send_raw(local, poison)
    deliver(local, "order_paid", "orders/paid", "wh-paid")
    # When the worker receives them, in one batch
    handed = local.lambdas.poll_once()
    # Then the payment closed the case on that first pass and stopped the reminders
    assert handed == 2
    stored = case_store.load(SHOP, ORDER_ID)
    assert stored is not None
    assert stored.case.status is CaseStatus.PAID
    assert stored.dunning is not None and stored.dunning.status is DunningStatus.STOPPED
    # And when the queue runs to quiescence, the poison message alone ends in the DLQ,
    # after the receives it is allowed, as a reference
    local.lambdas.drain()
    [reference] = dead_letters(local)
    assert reference["event_id"] == "wh-poison"
    assert reference["receive_count"] == QUARANTINE_AT_RECEIVE
    assert reference["error_type"] == "ValueError"
    assert [e.body["event_id"] for e in cases.timeline(SHOP, ORDER_ID)] == [
        "wh-create",
        "wh-paid",
    ]


def test_an_event_that_keeps_failing_leaves_only_a_reference_and_a_redrive_applies_it(
    local: Any,
) -> None:
    # Given an order whose every case write is refused while the worker retries it
    deliver(local, "order_pending", "orders/create", "wh-create")
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "reject", nth=0)
        local.lambdas.drain()
    assert case_store.load(SHOP, ORDER_ID) is None
    # Then the DLQ holds a reference with ids only: nothing the order says about its customer
    [reference] = dead_letters(local)
    assert not [value for value in PERSONAL if value in json.dumps(reference)]
    key = reference["quarantined"]
    message_id = reference["message_id"]
    assert key == f"quarantine/{SHOP}/{ORDER_ID}/{message_id}.json"
    assert (reference["shop"], reference["case_id"], reference["event_id"]) == (
        SHOP,
        ORDER_ID,
        "wh-create",
    )
    # And the body is in the private bucket, encrypted with the data key
    bucket = local.stack.refs["QueueBodiesBucket"]
    head = s3().head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    stored_body = json.loads(bodies(local, key)[key])
    assert stored_body["snapshot"]["customer"]["email"] == ORDER["email"]
    # When the fault is gone and ops redrive the reference to the queue
    sqs().send_message(QueueUrl=local.stack.refs["EventsQueue"], MessageBody=json.dumps(reference))
    local.lambdas.drain()
    # Then the event is applied as usual, from the stored body
    stored = case_store.load(SHOP, ORDER_ID)
    assert stored is not None and stored.case.status is CaseStatus.OPEN
    assert stored.case.snapshot is not None and stored.case.snapshot.customer is not None
    assert stored.case.snapshot.customer.email == ORDER["email"]
    assert dead_letters(local) == []
    # and the body it kept is deleted
    assert bodies(local, "quarantine/") == {}


def test_a_record_that_cannot_be_moved_aside_stays_for_the_backstop_redrive(
    local: Any,
) -> None:
    # Given an event that always fails, and a bucket that refuses every quarantined body
    deliver(local, "order_pending", "orders/create", "wh-create")
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "reject", nth=0)
        plan.fail("s3", "PutObject", "reject", nth=0)
        local.lambdas.drain()
    # Then it is not lost: after the queue's maxReceiveCount, SQS moves it to the DLQ whole
    # (the documented residual case), never deleted without a copy
    assert plan.count("s3", "PutObject") == 2  # the 4th and 5th receives tried
    [whole] = dead_letters(local)
    assert whole["event_id"] == "wh-create" and "quarantined" not in whole


def test_a_failure_is_logged_without_the_personal_data_in_its_message(
    local: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an event whose application fails with an error quoting the customer
    def refuse(event: Any, **_: Any) -> None:
        raise ValueError(
            f"The email address is not valid: {ORDER['email']} (from {ORDER['browser_ip']}, "
            "+1 317-555-0142)"
        )

    monkeypatch.setattr(cases, "apply_event", refuse)
    deliver(local, "order_pending", "orders/create", "wh-create")
    caplog.clear()
    # When the worker fails on it
    local.lambdas.poll_once()
    # Then the log names the error, its type and the ids, with the personal data redacted
    [record] = [r for r in caplog.records if r.getMessage() == "Event failed"]
    line = record.__dict__
    assert line["error_type"] == "ValueError"
    assert line["error"] == "The email address is not valid: [email] (from [ip], [phone])"
    assert "[email]" in line["stack"] and "refuse" in line["stack"]
    assert (line["shop"], line["case_id"], line["event_id"]) == (SHOP, ORDER_ID, "wh-create")
    assert line["message_id"]
    logged = " ".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)
    assert not [value for value in (*PERSONAL, "317-555-0142") if value in logged]
