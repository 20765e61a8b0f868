"""Fraud screening in the worker: scored when a case opens and when signals change, reminders
held or flagged by the result, velocity across the shop, and the merchant's decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from recoup.domain.aggregate import StoredCase
from recoup.domain.dunning import DunningStatus
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    LineItem,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.fraud import FraudLevel
from recoup.domain.fraud.screening import Gate
from recoup.domain.money import Money
from recoup.services import actions, cases, sending
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies
from tests.conftest import SHOP

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

# A returning customer, same country everywhere, one laptop: what most orders look like.
GOOD = {
    "billing_country": "US",
    "shipping_country": "US",
    "billing_postcode": "94107",
    "shipping_postcode": "94107",
    "billing_name": "Ada Lovelace",
    "shipping_name": "Ada Lovelace",
    "customer_orders_count": 6,
    "customer_age_days": 700,
    "browser_ip": "203.0.113.9",
    "expedited_shipping": False,
}
# A brand-new account shipping a laptop abroad by express: held for review.
RISKY = {
    **GOOD,
    "shipping_country": "NG",
    "shipping_postcode": "100001",
    "shipping_name": "J Doe",
    "customer_orders_count": 0,
    "customer_age_days": 0,
    "expedited_shipping": True,
}


def order(
    case_id: str,
    signals: dict[str, Any],
    *,
    email: str = "ada@example.com",
    quantity: int = 1,
    customer_id: str | None = "6001",
    minutes: int = 0,
    event_id: str | None = None,
) -> DomainEvent:
    return DomainEvent(
        event_id=event_id or f"order-{case_id}-{minutes}",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop=SHOP,
        case_id=case_id,
        occurred_at=T0 + timedelta(minutes=minutes),
        fact=Fact.UNPAID,
        snapshot=OrderSnapshot(
            amount_owed=Money.of(129900 * quantity, "USD"),
            order_total=Money.of(129900 * quantity, "USD"),
            order_name=f"#{case_id}",
            customer=Customer(
                customer_id=customer_id,
                email=email,
                first_name="Ada",
                country="US",
                zip="94107",
                address1="1 Market St",
            ),
            line_items=(
                LineItem("Laptop 14", quantity, Money.of(129900, "USD"), "LAP-14", "Laptops"),
            ),
        ),
        signals=dict(signals),
        linked=True,
    )


def stripe_event(
    case_id: str, event_id: str, fact: Fact, minutes: int, **signals: Any
) -> DomainEvent:
    at = T0 + timedelta(minutes=minutes)
    failed = fact is Fact.PAYMENT_FAILED
    return DomainEvent(
        event_id=event_id,
        source=Source.STRIPE,
        kind="charge.failed" if failed else "radar.early_fraud_warning.created",
        shop=SHOP,
        case_id=case_id,
        occurred_at=at,
        fact=fact,
        attempt=(
            PaymentAttempt(
                event_id,
                Source.STRIPE,
                False,
                at,
                Money.of(129900, "USD"),
                code=signals.pop("code", "card_declined"),
                card_fingerprint=signals.pop("card", "fp_card_A"),
            )
            if failed
            else None
        ),
        signals=signals,
        linked=True,
    )


def apply(event: DomainEvent, minutes: int = 0) -> cases.Applied:
    applied = cases.apply_event(event, now=T0 + timedelta(minutes=minutes))
    assert applied is not None
    return applied


def stored(case_id: str) -> StoredCase:
    found = case_store.load(SHOP, case_id)
    assert found is not None
    return found


def tag_jobs() -> list[dict[str, Any]]:
    url = get_settings().require("shopify_tasks_queue_url")
    sqs = boto3.client("sqs", region_name="us-east-1")
    jobs: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return jobs
        for message in got["Messages"]:
            jobs.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_good_order_scores_low_and_its_reminders_run(local: Any) -> None:
    applied = apply(order("1001", GOOD))
    case = stored("1001")
    assert case.screening is not None and case.screening.current is not None
    assert case.screening.current.level is FraudLevel.LOW
    assert case.dunning is not None and case.dunning.status is DunningStatus.SCHEDULED
    assert "fraud check: low" in applied.effect
    trail = case_store.audit_trail(SHOP, "1001")
    assert "fraud check: low" in trail[-1].body["effect"]


def test_a_risky_order_is_held_and_approval_resumes_its_reminders(local: Any) -> None:
    apply(order("1002", RISKY))
    held = stored("1002")
    assert held.screening is not None and held.screening.gate is Gate.HOLD
    assert held.dunning is not None and held.dunning.status is DunningStatus.HELD
    reasons = " ".join(r.text for r in held.screening.current.reasons)  # type: ignore[union-attr]
    assert "NG" in reasons  # a reason a person can read names the countries

    # Nothing is due while held: the scheduler does not see the case at all.
    assert all(due.case_id != "1002" for due in case_store.due_cases(T0 + timedelta(days=30)))

    result = actions.perform(
        SHOP, "1002", "approve", by="staff-1", note="called the customer", now=T0
    )
    assert result["risk"]["gate"] == "run"
    resumed = stored("1002")
    assert resumed.dunning is not None and resumed.dunning.status is DunningStatus.SCHEDULED
    assert resumed.screening is not None and resumed.screening.decided_by == "staff-1"
    assert case_store.audit_trail(SHOP, "1002")[-1].body["summary"] == (
        "approved after review by staff-1: called the customer"
    )
    with pytest.raises(actions.ActionRefused, match="not held for review"):
        actions.perform(SHOP, "1002", "approve", by="staff-1", note="", now=T0)


def test_an_early_fraud_warning_flags_the_case_and_tags_the_customer(local: Any) -> None:
    apply(order("1003", GOOD))
    tag_jobs()
    apply(stripe_event("1003", "evt_efw", Fact.FRAUD_WARNING, 30, early_fraud_warning=True), 30)
    flagged = stored("1003")
    assert flagged.screening is not None and flagged.screening.gate is Gate.FLAG
    assert flagged.dunning is not None and flagged.dunning.status is DunningStatus.FLAGGED
    assert [len(flagged.screening.history), flagged.screening.current.level] == [  # type: ignore[union-attr]
        2,
        FraudLevel.HIGH,
    ]
    jobs = tag_jobs()
    assert [(j["customer_id"], j["tags"]) for j in jobs] == [("6001", ["recoup:fraud"])]
    with pytest.raises(actions.ActionRefused, match="flagged as fraud"):
        actions.perform(SHOP, "1003", "approve", by="staff-1", note="", now=T0)


def test_a_flagged_case_gets_no_reminder_even_if_a_job_was_queued(local: Any) -> None:
    apply(order("1004", GOOD))
    step = stored("1004").dunning
    assert step is not None and step.next_at is not None
    apply(stripe_event("1004", "ch_x", Fact.PAYMENT_FAILED, 5, code="stolen_card"), 5)
    result = sending.send_step(SHOP, "1004", 0, now=step.next_at)
    assert result.outcome == "stale"  # not claimable: the sequence is flagged, nothing sent
    assert stored("1004").dunning.status is DunningStatus.FLAGGED  # type: ignore[union-attr]


def test_confirming_fraud_closes_the_case_as_fraud_and_tags_once(local: Any) -> None:
    apply(order("1005", RISKY))
    tag_jobs()
    actions.perform(SHOP, "1005", "confirm_fraud", by="staff-2", note="chargeback", now=T0)
    case = stored("1005")
    assert case.screening is not None and case.screening.gate is Gate.FLAG
    assert case.dunning is not None and case.dunning.status is DunningStatus.FLAGGED
    assert len(tag_jobs()) == 1
    with pytest.raises(actions.ActionRefused, match="already confirmed"):
        actions.perform(SHOP, "1005", "confirm_fraud", by="staff-2", note="", now=T0)


def test_hold_and_resume_by_the_merchant(local: Any) -> None:
    apply(order("1006", GOOD))
    actions.perform(SHOP, "1006", "hold", by="staff-1", note="customer called", now=T0)
    held = stored("1006")
    assert held.dunning is not None and (held.dunning.status, held.dunning.held_by) == (
        DunningStatus.HELD,
        "merchant",
    )
    with pytest.raises(actions.ActionRefused, match="already held"):
        actions.perform(SHOP, "1006", "hold", by="staff-1", note="", now=T0)
    actions.perform(SHOP, "1006", "resume", by="staff-1", note="", now=T0)
    assert stored("1006").dunning.status is DunningStatus.SCHEDULED  # type: ignore[union-attr]
    with pytest.raises(actions.UnknownCase):
        actions.perform(SHOP, "nope", "hold", by="staff-1", note="", now=T0)
    with pytest.raises(ValueError, match="unknown action"):
        actions.perform(SHOP, "1006", "delete", by="staff-1", note="", now=T0)


def test_new_signals_rescore_and_keep_the_history(local: Any) -> None:
    apply(order("1007", GOOD))
    apply(stripe_event("1007", "ch_1", Fact.PAYMENT_FAILED, 2, cvc_check="fail"), 2)
    apply(stripe_event("1007", "ch_1", Fact.PAYMENT_FAILED, 2, cvc_check="fail"), 3)  # redelivery
    case = stored("1007")
    assert case.screening is not None
    scores = [entry.result.score for entry in case.screening.history]
    assert len(scores) == 2 and scores[1] > scores[0]


def test_velocity_counts_failures_across_the_shops_cases(local: Any) -> None:
    # One card tried on three orders by three "customers" within the hour: card testing.
    for n, email in enumerate(("a@example.com", "b@example.com", "c@example.com")):
        case_id = f"20{n}"
        apply(order(case_id, GOOD, email=email, minutes=n), n)
        apply(stripe_event(case_id, f"ch_v{n}", Fact.PAYMENT_FAILED, n, card="fp_same"), n)
    first, last = stored("200").screening, stored("202").screening
    assert first is not None and first.current is not None
    assert last is not None and last.current is not None
    fired = {reason.rule for reason in last.current.reasons}
    # The third failure on the card within the hour, and three emails at one address.
    assert {"failed_payments_burst", "shared_shipping_address"} <= fired
    assert not {"failed_payments_burst", "shared_shipping_address"} & {
        reason.rule for reason in first.current.reasons
    }


def test_invalid_stored_fraud_settings_hold_the_case_as_unscored(local: Any) -> None:
    policies.save_doc(SHOP, policies.FRAUD, 1, {"thresholds": {"review": 90, "high": 50}}, now=T0)
    apply(order("1008", GOOD))
    case = stored("1008")
    assert case.screening is not None and case.screening.current is not None
    assert case.screening.current.level is FraudLevel.UNSCORED
    assert "thresholds.review" in case.screening.current.notes[0]
    assert case.dunning is not None and case.dunning.status is DunningStatus.HELD
