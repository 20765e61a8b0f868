"""The reminder sender under AWS faults, on the in-process stack: a step is never lost
(sent, skipped with a reason, or retried), never sent twice, never sent after the payment
committed, and an address that can never be reached ends its retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import TransactWriteError

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.services import cases, sending
from recoup.store import cases as case_store
from recoup.store import contacts
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_json, shopify_headers
from tests.faults import FaultPlan

PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
STEP_1_DUE = OPENED + timedelta(days=1, hours=2)  # 09:15 in Oregon: not quiet hours
STEP_2_DUE = OPENED + timedelta(days=4, hours=3)


@pytest.fixture
def at(local: Any) -> Iterator[Any]:
    """A settable clock for the sender (the scheduler takes its time from the event)."""

    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def post_order(local: Any, topic: str = "orders/create", **changes: Any) -> None:
    order = json.loads(json.dumps(PENDING))
    order.update(changes)
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=f"wh-{topic}")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def run_scheduler(local: Any, clock_: Any, when: datetime) -> None:
    clock_.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def emails(local: Any) -> list[Any]:
    return [m for m in sent_messages(local.stack.region) if m.kind == "email"]


def texts(local: Any) -> list[Any]:
    return [m for m in sent_messages(local.stack.region) if m.kind == "sms"]


def trail(case_id: str = PENDING_ID) -> list[dict[str, Any]]:
    return [e.body for e in cases.timeline(SHOP, case_id) if e.body["source"] == "recoup"]


def dunning(case_id: str = PENDING_ID) -> Any:
    stored = case_store.load(SHOP, case_id)
    assert stored is not None
    return stored.dunning


def dead_letters(local: Any) -> int:
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs["ReminderDeadLetterQueue"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def sms_first_policy() -> None:
    """The shop's policy: an SMS a day after the order, then an email three days later."""
    from recoup.domain.cadence import default_policy, parse_policy, policy_to_dict
    from recoup.store import policies

    data = policy_to_dict(default_policy("America/New_York"))
    sms_step = dict(data["steps"][2], delay="1d", anchor="opened")
    email_step = dict(data["steps"][0], delay="3d", anchor="previous")
    policies.save(
        SHOP, parse_policy({**data, "version": 1, "steps": [sms_step, email_step]}), now=OPENED
    )


def unknown_metrics(output: str) -> list[str]:
    """The channels of the ReminderOutcomeUnknown metrics printed (CloudWatch EMF)."""
    found = []
    for line in output.splitlines():
        if line.startswith("{") and '"ReminderOutcomeUnknown"' in line:
            found.append(json.loads(line)["channel"])
    return found


# ---------------------------------------------------------------- faults before the send


def test_a_throttled_read_after_the_load_is_retried_by_sqs_and_sends_once(
    local: Any, at: Any
) -> None:
    # Given a due step, and the contacts read throttled past the SDK's retries (4 attempts)
    post_order(local)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "BatchGetItem", "throttle", times=4)
        # When the scheduler queues the step and the queue runs to quiescence
        run_scheduler(local, at, STEP_1_DUE)
    # Then the first job failed with nothing claimed, SQS's retry sent it: one email
    assert len(plan.injected) == 4
    assert len(emails(local)) == 1
    assert plan.count("sesv2", "SendEmail") == 1
    last = trail()[-1]
    assert last["kind"] == "reminder.sent" and "provider id" in last["summary"]
    assert dunning().next_step == 1
    assert dead_letters(local) == 0


@pytest.mark.parametrize("whole_call", [False, True], ids=["sdk-retry", "every-attempt"])
def test_a_claim_written_whose_answer_is_lost_sends_the_step_once(
    local: Any, at: Any, whole_call: bool
) -> None:
    # Given a due step, and the claim's write carried out by DynamoDB but its answer lost:
    # once (the SDK's retry then meets the version the claim moved on), or on every attempt
    post_order(local)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "UpdateItem", "timeout_after", whole_call=whole_call)
        run_scheduler(local, at, STEP_1_DUE)
    # Then the job knows the claim for its own, nothing having been sent: one email, sent
    # by the first job, recorded as sent
    assert ("dynamodb", "UpdateItem", "timeout_after") in plan.injected
    assert plan.count("sesv2", "SendEmail") == 1
    assert len(emails(local)) == 1
    assert [m.outcome for m in dunning().sent] == ["sent"]
    assert dunning().next_step == 1
    assert dead_letters(local) == 0


# ---------------------------------------------------------------- outcome unknown


def test_an_email_accepted_whose_answer_is_lost_is_sent_once_and_recorded_unknown(
    local: Any, at: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a due step, and SES accepting the email but its answer timing out
    post_order(local)
    capsys.readouterr()
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")
        run_scheduler(local, at, STEP_1_DUE)
        # And the job redelivered, and the scheduler running again
        sending.send_step(SHOP, PENDING_ID, 0, now=STEP_1_DUE + timedelta(minutes=1))
        run_scheduler(local, at, STEP_1_DUE + timedelta(minutes=10))
    # Then one email went out (no SDK retry, no resend), the trail says the outcome is unknown
    assert plan.count("sesv2", "SendEmail") == 1
    assert len(emails(local)) == 1
    sent = [e for e in trail() if e["kind"] == "reminder.sent"]
    assert len(sent) == 1
    assert "outcome unknown" in sent[0]["summary"] and "not resent" in sent[0]["summary"]
    assert [m.outcome for m in dunning().sent] == ["unknown"]
    # And the sequence moved on, and the metric for the alarm was emitted for email
    assert dunning().next_step == 1
    assert unknown_metrics(capsys.readouterr().out) == ["email"]
    assert dead_letters(local) == 0


def test_an_sms_accepted_whose_answer_is_lost_is_sent_once(
    local: Any, at: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sms_first_policy()
    post_order(local)
    capsys.readouterr()
    with FaultPlan() as plan:
        plan.fail("sns", "Publish", "timeout_after")
        run_scheduler(local, at, STEP_1_DUE)
        run_scheduler(local, at, STEP_1_DUE + timedelta(minutes=10))
    assert plan.count("sns", "Publish") == 1
    assert len(texts(local)) == 1
    assert [m.outcome for m in dunning().sent] == ["unknown"]
    assert unknown_metrics(capsys.readouterr().out) == ["sms"]


# ---------------------------------------------------------------- writes after the send


def test_a_throttled_record_write_after_an_sms_is_retried_and_sends_once(
    local: Any, at: Any
) -> None:
    # Given an SMS step, the record's transaction throttled past the SDK's retries, and the
    # "last shop" contact update throttled too
    sms_first_policy()
    post_order(local)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "throttle", times=5)
        plan.fail("dynamodb", "UpdateItem", "throttle", nth=2, times=4)
        run_scheduler(local, at, STEP_1_DUE)
    # Then one SMS, recorded as sent with the provider's id, and nothing in the DLQ
    assert plan.count("sns", "Publish") == 1
    assert len(texts(local)) == 1
    assert ("dynamodb", "UpdateItem", "throttle") in plan.injected
    sent = [e for e in trail() if e["kind"] == "reminder.sent"]
    assert len(sent) == 1 and "provider id" in sent[0]["summary"]
    assert [m.outcome for m in dunning().sent] == ["sent"]
    assert dead_letters(local) == 0


def test_a_send_whose_record_cannot_be_written_is_retried_and_recorded_once_its_claim_is_old(
    local: Any, at: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a due step whose record write keeps failing after the email went out
    post_order(local)
    job = json.dumps({"shop": SHOP, "case_id": PENDING_ID, "step": 0})
    at.now = STEP_1_DUE
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "throttle", times=100)
        # When the job runs / Then it fails, so SQS will retry it; the claim stays
        with pytest.raises(TransactWriteError):
            sending.send_job(job)
    assert len(emails(local)) == 1
    assert dunning().claimed_step == 0
    # When SQS retries it at once / Then it is still in flight: failed again, not dropped
    with pytest.raises(sending.StepInFlight):
        sending.send_job(job)
    # When it retries after the claim timed out / Then the step is recorded, not resent
    capsys.readouterr()
    at.now = STEP_1_DUE + sending.CLAIM_TIMEOUT + timedelta(minutes=1)
    assert sending.send_job(job).outcome == "sent"
    assert len(emails(local)) == 1
    assert "not resent" in trail()[-1]["summary"]
    assert dunning().next_step == 1
    assert unknown_metrics(capsys.readouterr().out) == ["unknown"]


# ---------------------------------------------------------------- permanent failures


def test_an_address_ses_cannot_take_is_marked_undeliverable_and_the_sequence_moves_on(
    local: Any, at: Any
) -> None:
    # Given a customer whose address has a non-ASCII local part (SES has no SMTPUTF8)
    post_order(local, email="josé@example.com")
    with FaultPlan() as plan:
        # When the email-only first step comes due
        run_scheduler(local, at, STEP_1_DUE)
        # Then no email is attempted, the step is skipped with the reason, and not retried
        assert plan.count("sesv2", "SendEmail") == 0
        skipped = trail()[-1]
        assert skipped["kind"] == "reminder.skipped"
        assert "undeliverable email address" in skipped["summary"]
        assert "josé" not in skipped["summary"]
        assert dunning().next_step == 1
        assert dead_letters(local) == 0
        assert contacts.reachability(SHOP, "josé@example.com", None).email_undeliverable
        # When the email-or-SMS second step comes due / Then it goes by SMS
        run_scheduler(local, at, STEP_2_DUE)
        assert plan.count("sesv2", "SendEmail") == 0
    assert len(texts(local)) == 1
    sent = trail()[-1]
    assert sent["kind"] == "reminder.sent" and "sent by sms" in sent["summary"]
    assert "email undeliverable" in sent["summary"]


def test_an_address_ses_rejects_is_tried_once_then_the_step_moves_on(local: Any, at: Any) -> None:
    # Given SES refusing the customer's address for good
    post_order(local)
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "reject")
        # When the email-only first step comes due and the queue runs to quiescence
        run_scheduler(local, at, STEP_1_DUE)
        # Then one attempt, the trail says undeliverable, the step is skipped, no retry
        assert plan.count("sesv2", "SendEmail") == 1
        kinds = [e["kind"] for e in trail()]
        assert kinds[-2:] == ["reminder.undeliverable", "reminder.skipped"]
        assert "BadRequestException" in trail()[-2]["summary"]
        assert dunning().next_step == 1 and dunning().claimed_step == -1
        assert dead_letters(local) == 0
        # When the email-or-SMS second step comes due / Then SMS, without asking SES again
        run_scheduler(local, at, STEP_2_DUE)
        assert plan.count("sesv2", "SendEmail") == 1
    assert emails(local) == []
    assert len(texts(local)) == 1


def test_an_email_or_sms_step_whose_email_is_rejected_goes_by_sms_in_the_same_job(
    local: Any, at: Any
) -> None:
    post_order(local)
    run_scheduler(local, at, STEP_1_DUE)  # step 1 by email, as usual
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "reject")
        run_scheduler(local, at, STEP_2_DUE)
    assert plan.count("sesv2", "SendEmail") == 1
    assert len(emails(local)) == 1  # step 1's
    assert len(texts(local)) == 1
    assert [e["kind"] for e in trail()][-2:] == ["reminder.undeliverable", "reminder.sent"]
    assert "sent by sms" in trail()[-1]["summary"]
    assert [(m.step, m.channel) for m in dunning().sent] == [(0, "email"), (1, "sms")]


def test_a_number_sns_rejects_is_marked_undeliverable_and_the_step_is_skipped(
    local: Any, at: Any
) -> None:
    sms_first_policy()
    post_order(local)
    with FaultPlan() as plan:
        plan.fail("sns", "Publish", "reject")
        run_scheduler(local, at, STEP_1_DUE)
    assert plan.count("sns", "Publish") == 1
    assert texts(local) == []
    assert "undeliverable phone number" in trail()[-1]["summary"]
    assert dunning().next_step == 1
    assert dead_letters(local) == 0
    phone = PENDING["shipping_address"]["phone"]
    from recoup.domain.timezones import normalise_phone

    e164 = normalise_phone(phone, "US")
    assert e164 is not None
    assert contacts.reachability(SHOP, None, e164).sms_undeliverable


def test_a_poison_job_does_not_take_a_good_one_with_it(local: Any, at: Any) -> None:
    # Given a batch with a job that can never succeed ahead of a good one
    post_order(local)
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs["ReminderQueue"]
    for body in (
        {"shop": SHOP, "case_id": PENDING_ID, "step": "not a step"},
        {"shop": SHOP, "case_id": PENDING_ID, "step": 0},
    ):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    # When the queue runs to quiescence
    at.now = STEP_1_DUE
    local.lambdas.drain()
    # Then the good one was sent, and only the poison one reached the DLQ
    assert len(emails(local)) == 1
    assert dead_letters(local) == 1


# ---------------------------------------------------------------- payment always wins


def _sender_calls_before_the_send(local: Any) -> int:
    """How many AWS calls send_step makes from its first read until the provider call."""
    from recoup.store import shops

    post_order(local)
    shops.forget()
    with FaultPlan() as plan:
        sending.send_step(SHOP, PENDING_ID, 0, now=STEP_1_DUE)
    return plan.calls.index(("sesv2", "SendEmail"))


def test_no_reminder_leaves_after_a_payment_committed_at_any_point_before_the_send(
    local: Any, at: Any
) -> None:
    """The payment is committed before each AWS call the sender makes from its first read
    until its provider call, several times over: in every interleaving, nothing is sent once
    the payment is in. (The claim is the last of those calls: a payment after it is
    concurrent with the send, not before it.)"""
    from recoup.store import shops

    points = _sender_calls_before_the_send(local)
    assert points >= 3  # the case with policy and shop, contacts with message log, claim
    rounds = 3
    for round_ in range(rounds):
        for point in range(points):
            number = 100 * round_ + point + 1
            order_id = 8000000000000000000 + number
            email = f"race{number}@example.com"
            order = dict(json.loads(json.dumps(PENDING)), id=order_id, email=email)
            order["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
            _post(local, order, "orders/create", f"create-{number}")
            payment = dict(order, financial_status="paid", total_outstanding="0.00")
            payment["updated_at"] = "2026-11-03T09:00:00-05:00"
            shops.forget()  # the same reads in every round
            with _pay_before_call(local, point, payment, f"paid-{number}") as race:
                try:
                    result = sending.send_step(SHOP, str(order_id), 0, now=STEP_1_DUE)
                except case_store.ConcurrentUpdate:
                    # A job that fails is retried by SQS: run it again, as the retry would
                    result = sending.send_step(SHOP, str(order_id), 0, now=STEP_1_DUE)
            # The payment committed before the sender's call number `point`, before the send
            assert race.paid, (round_, point)
            assert ("sesv2", "SendEmail") not in race.calls[:point], race.calls
            assert dunning(str(order_id)).status is DunningStatus.STOPPED
            # Then nothing was sent to this customer, and the job knew it was stale
            delivered = [m for m in sent_messages(local.stack.region) if m.to == email]
            assert delivered == [], (point, result)
            assert result.outcome == "stale", (point, result)
            assert "reminder.sent" not in [e["kind"] for e in trail(str(order_id))]


def _post(local: Any, order: dict[str, Any], topic: str, webhook_id: str) -> None:
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


@dataclass
class _Race:
    calls: list[tuple[str, str]] = field(default_factory=list)  # the sender's AWS calls
    paid: bool = False
    busy: bool = False


@contextmanager
def _pay_before_call(
    local: Any, point: int, payment: dict[str, Any], webhook_id: str
) -> Iterator[_Race]:
    """Commit the payment (webhook, queue, worker) right before the sender's AWS call
    number `point` (0-based), then let the sender's call go on."""
    from botocore.endpoint import Endpoint

    original = Endpoint._do_get_response
    race = _Race()

    def wrapped(endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
        if not race.busy:
            if len(race.calls) == point and not race.paid:
                race.busy = True
                try:
                    _post(local, payment, "orders/paid", webhook_id)
                finally:
                    race.busy = False
                race.paid = True
            race.calls.append((operation_model.service_model.endpoint_prefix, operation_model.name))
        return original(endpoint, request, operation_model, context)

    Endpoint._do_get_response = wrapped  # type: ignore[method-assign]
    try:
        yield race
    finally:
        Endpoint._do_get_response = original  # type: ignore[method-assign]
