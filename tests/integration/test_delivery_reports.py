"""Delivery reports: SES's events and SNS's SMS delivery status land on the trail of the
reminder they describe, once, and the case file reads each message's outcome from there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.exceptions import TransactWriteError

from recoup import clock
from recoup.casefile.record import delivery_outcomes
from recoup.domain.audit import DELIVERY_REPORT, verify_chain
from recoup.domain.dunning import SentMessage
from recoup.store import cases as case_store
from recoup.store import contacts
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers

PENDING = event_json("shopify/order_pending.json")
CASE_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
SMS_STEP = 2  # the default cadence: email, email, then SMS


@pytest.fixture
def sent(local: Any) -> list[SentMessage]:
    """The default cadence's first three reminders sent: two emails, then an SMS."""

    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    for _ in range(20):
        messages = _stored().dunning.sent
        if len(messages) > SMS_STEP:
            break
        due = _stored().dunning.next_at
        assert due is not None
        Clock.now = due + timedelta(minutes=5)
        local.lambdas.run_schedules(Clock.now)
        local.lambdas.drain()
    yield list(_stored().dunning.sent)
    clock.use(None)


def _stored() -> Any:
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None and stored.dunning is not None
    return stored


def _reports() -> list[dict[str, Any]]:
    trail = case_store.audit_trail(SHOP, CASE_ID)
    assert verify_chain(trail, _stored().audit_head).ok
    return [e.body for e in trail if e.body["kind"] == DELIVERY_REPORT]


def _ses(local: Any, kind: str, message_id: str, section: dict[str, Any]) -> None:
    """An SES event publishing notification, as SES sends it to the feedback topic."""
    event = {
        "eventType": kind,
        "mail": {
            "timestamp": "2026-11-03T15:00:00.000Z",
            "source": "reminders@recoup.example",
            "messageId": message_id,
            "destination": [PENDING["email"]],
            "tags": {"shop": [SHOP.replace(".", "_")]},
        },
        kind[0].lower() + kind[1:]: section,
    }
    assert local.lambdas.publish(local.stack.refs["EmailFeedbackTopic"], event) == 1


def _sms_status(local: Any, message_id: str, status: str, response: str) -> int:
    """One SNS SMS delivery status record, as SNS logs it, through the log subscription."""
    record = {
        "notification": {"messageId": message_id, "timestamp": "2026-11-07 15:00:01.558"},
        "delivery": {
            "mnc": 270,
            "destination": PENDING["shipping_address"]["phone"],
            "priceInUSD": 0.00645,
            "smsType": "Transactional",
            "mcc": 310,
            "providerResponse": response,
            "dwellTimeMs": 599,
        },
        "status": status,
    }
    group = "sns/us-east-1/123456789012/DirectPublishToPhoneNumber"
    if status == "FAILURE":
        group += "/Failure"
    return local.lambdas.deliver_logs(group, [json.dumps(record), "not json"])


def test_an_email_report_lands_once_and_the_file_reads_it(
    local: Any, sent: list[SentMessage]
) -> None:
    # Given the first reminder, sent by email
    first = sent[0]
    assert first.channel == "email" and first.provider_id
    delivered = {"timestamp": "2026-11-03T15:00:02.000Z", "smtpResponse": "250 2.0.0 OK"}
    # When SES reports its delivery, twice (SNS redelivers), then a complaint
    _ses(local, "Delivery", first.provider_id, delivered)
    _ses(local, "Delivery", first.provider_id, delivered)
    complaint = {
        "complainedRecipients": [{"emailAddress": PENDING["email"]}],
        "complaintFeedbackType": "abuse",
    }
    _ses(local, "Complaint", first.provider_id, complaint)
    # Then the trail holds one entry per report, chained, naming the step and no address
    reports = _reports()
    assert [(r["step"], r["outcome"]) for r in reports] == [
        (1, "delivered"),
        (1, "complaint (abuse)"),
    ]
    assert reports[0]["occurred_at"] == "2026-11-03T15:00:02+00:00"
    assert all(PENDING["email"] not in json.dumps(r) for r in reports)
    # and the case file's outcome for that message is both, in order
    trail = case_store.audit_trail(SHOP, CASE_ID)
    assert delivery_outcomes(trail) == {first.provider_id: "delivered; complaint (abuse)"}
    # and the complaint also suppressed the address, as before
    assert contacts.reachability(SHOP, PENDING["email"], None).email_suppressed


def test_an_sms_status_lands_on_its_step(local: Any, sent: list[SentMessage]) -> None:
    # Given the third reminder, sent by SMS
    sms = sent[SMS_STEP]
    assert sms.channel == "sms" and sms.provider_id
    # When SNS logs its failure, and the subscription delivers the record twice
    assert (
        _sms_status(local, sms.provider_id, "FAILURE", "Phone carrier has blocked this message")
        == 1
    )
    _sms_status(local, sms.provider_id, "FAILURE", "Phone carrier has blocked this message")
    # Then one entry says so for step 3
    assert [(r["step"], r["outcome"]) for r in _reports()] == [
        (3, "failed (Phone carrier has blocked this message)")
    ]
    trail = case_store.audit_trail(SHOP, CASE_ID)
    assert delivery_outcomes(trail)[sms.provider_id].startswith("failed")


def test_a_report_about_another_message_changes_nothing(
    local: Any, sent: list[SentMessage]
) -> None:
    # Given the reminders sent and the case's head
    head = _stored().audit_head
    # When SES reports on a message Recoup never recorded (or the SMS id under email)
    _ses(local, "Delivery", "0100018f-unknown", {"timestamp": "2026-11-03T15:00:02.000Z"})
    sms = sent[SMS_STEP]
    assert sms.provider_id
    _ses(local, "Bounce", sms.provider_id, {"bounceType": "Transient"})
    # Then nothing was written to the case
    assert _stored().audit_head == head
    assert _reports() == []


@pytest.mark.parametrize("kind", ["timeout_after", "throttle"])
def test_a_report_whose_write_fails_is_retried_and_lands_once(
    local: Any, sent: list[SentMessage], kind: str
) -> None:
    from tests.faults import FaultPlan

    first = sent[0]
    assert first.provider_id
    delivered = {"timestamp": "2026-11-03T15:00:02.000Z"}
    # Given the write of a report fails on every try the SDK makes (after DynamoDB acted,
    # or refused for rate)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", kind, whole_call=True)
        # Then the invocation fails (SNS retries it, then the feedback DLQ, alarmed)
        with pytest.raises(TransactWriteError):
            _ses(local, "Delivery", first.provider_id, delivered)
    assert plan.injected
    # When SNS invokes again
    _ses(local, "Delivery", first.provider_id, delivered)
    # Then the report is on the trail exactly once, whether or not the failed write landed
    assert [(r["step"], r["outcome"]) for r in _reports()] == [(1, "delivered")]
