"""A case's fraud screening: what it reads from the case, the gate, the merchant's decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.case import Case, apply, new_case
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    LineItem,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.fraud import DEFAULT_SETTINGS, FraudLevel, score, unscored
from recoup.domain.fraud.score import FraudResult
from recoup.domain.fraud.screening import (
    Decision,
    Gate,
    Screening,
    case_inputs,
    inputs_digest,
    signals_for_case,
)
from recoup.domain.money import Money

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
SHOP = "demo-electronics.myshopify.com"


def _case(*events: DomainEvent) -> Case:
    case = new_case(SHOP, "1001")
    for event in events:
        case = apply(case, event).case
    return case


def _order(**signals: object) -> DomainEvent:
    return DomainEvent(
        event_id="order",
        source=Source.SHOPIFY,
        kind="orders/create",
        shop=SHOP,
        case_id="1001",
        occurred_at=T0,
        fact=Fact.UNPAID,
        snapshot=OrderSnapshot(
            amount_owed=Money.of(259800, "USD"),
            order_total=Money.of(259800, "USD"),
            customer=Customer(customer_id="77", email="ada@example.com"),
            line_items=(
                LineItem(
                    "Laptop 14", 2, Money.of(129900, "USD"), sku="LAP-14", product_type="Laptops"
                ),
                LineItem("Sleeve", 1, Money.of(0, "USD"), sku="SLV", product_type="Accessories"),
            ),
        ),
        signals=dict(signals),
    )


def _decline(event_id: str, code: str | None, minutes: int) -> DomainEvent:
    at = T0 + timedelta(minutes=minutes)
    return DomainEvent(
        event_id=event_id,
        source=Source.STRIPE,
        kind="charge.failed",
        shop=SHOP,
        case_id="1001",
        occurred_at=at,
        fact=Fact.PAYMENT_FAILED,
        attempt=PaymentAttempt(event_id, Source.STRIPE, False, at, code=code),
    )


def _result(level: FraudLevel, points: int = 0) -> FraudResult:
    return FraudResult(score=points, level=level, reasons=(), confidence=1.0)


def test_the_case_reports_its_signals_email_total_and_decline_codes() -> None:
    case = _case(
        _order(billing_country="GB", shipping_country="NG"),
        _decline("ch_1", "insufficient_funds", 5),
        _decline("ch_2", "stolen_card", 9),
    )
    raw = case_inputs(case)
    assert raw == {
        "billing_country": "GB",
        "shipping_country": "NG",
        "email": "ada@example.com",
        "order_total": {"minor": 259800, "currency": "USD"},
        "decline_codes": ["insufficient_funds", "stolen_card"],
    }


def test_signals_count_high_value_units_and_take_velocity_counts() -> None:
    case = _case(_order())
    signals = signals_for_case(
        case, {"failed_payments_card_24h": 4, "distinct_cards_24h": 3}, DEFAULT_SETTINGS.high_value
    )
    assert signals.high_value_items == 2  # two laptops; the sleeve is not high-value
    assert signals.max_quantity_same_high_value_item == 2
    assert signals.failed_payments_card_24h == 4
    assert signals.distinct_cards_24h == 3
    assert signals.data_quality == ()


def test_a_stolen_card_decline_scores_high_from_the_case_alone() -> None:
    case = _case(_order(), _decline("ch_1", "stolen_card", 5))
    result = score(signals_for_case(case, {}, DEFAULT_SETTINGS.high_value))
    assert result.level is FraudLevel.HIGH
    assert any("stolen" in reason.text for reason in result.reasons)


def test_the_digest_changes_with_new_signals_and_not_with_a_redelivery() -> None:
    case = _case(_order(browser_ip="203.0.113.9"))
    same = _case(_order(browser_ip="203.0.113.9"), _order(browser_ip="203.0.113.9"))
    changed = _case(_order(browser_ip="203.0.113.9"), _decline("ch_1", "do_not_honor", 3))
    digest = inputs_digest(case_inputs(case), case)
    assert inputs_digest(case_inputs(same), same) == digest
    assert inputs_digest(case_inputs(changed), changed) != digest


@pytest.mark.parametrize(
    ("level", "decision", "gate"),
    [
        (FraudLevel.LOW, None, Gate.RUN),
        (FraudLevel.REVIEW, None, Gate.HOLD),
        (FraudLevel.UNSCORED, None, Gate.HOLD),
        (FraudLevel.HIGH, None, Gate.FLAG),
        (FraudLevel.REVIEW, Decision.APPROVED, Gate.RUN),
        (FraudLevel.UNSCORED, Decision.APPROVED, Gate.RUN),
        # An approval never covers a later "high": new evidence outranks it.
        (FraudLevel.HIGH, Decision.APPROVED, Gate.FLAG),
        (FraudLevel.LOW, Decision.CONFIRMED_FRAUD, Gate.FLAG),
    ],
)
def test_the_gate_follows_the_newest_level_and_the_merchants_decision(
    level: FraudLevel, decision: Decision | None, gate: Gate
) -> None:
    screening = Screening().scored(T0, _result(level), "d")
    if decision is not None:
        screening = screening.decide(decision, T0, "staff-1", "")
    assert screening.gate is gate


def test_a_case_never_screened_is_held() -> None:
    assert Screening().gate is Gate.HOLD


def test_history_keeps_each_distinct_result_and_round_trips() -> None:
    screening = (
        Screening()
        .scored(T0, _result(FraudLevel.LOW, 10), "a")
        .scored(T0 + timedelta(minutes=1), _result(FraudLevel.LOW, 10), "b")
        .scored(T0 + timedelta(minutes=2), _result(FraudLevel.REVIEW, 45), "c")
        .scored(T0 + timedelta(minutes=3), unscored("settings invalid"), "")
        .decide(Decision.APPROVED, T0 + timedelta(minutes=4), "staff-1", "called the customer")
    )
    assert [entry.result.score for entry in screening.history] == [10, 45, 0]
    assert screening.inputs_digest == ""
    assert Screening.from_dict(screening.to_dict()) == screening


def test_dunning_holds_keep_the_due_step_and_resume_to_it_or_now() -> None:
    due = T0 + timedelta(days=1)
    scheduled = Dunning(DunningStatus.SCHEDULED, next_step=1, next_at=due)
    held = scheduled.hold("fraud", "review")
    assert (held.status, held.held_by, held.next_at, held.due) == (
        DunningStatus.HELD,
        "fraud",
        due,
        False,
    )
    assert held.resume(T0, "approved").next_at == due
    assert held.resume(due + timedelta(days=2), "approved").next_at == due + timedelta(days=2)
    spent = replace(Dunning(DunningStatus.AWAITING_ESCALATION), next_step=3)
    assert spent.hold("merchant", "x").resume(T0, "y").status is DunningStatus.AWAITING_ESCALATION
    assert scheduled.flag("fraud").resume(T0, "cleared").next_at == due


def test_a_customers_report_outlasts_the_fraud_checks_release() -> None:
    from recoup.domain.dunning import CustomerRequest
    from recoup.services.reminder_plan import gate_reminders

    # Given a sequence held for review, and the customer then reporting they already paid
    running = Dunning(DunningStatus.SCHEDULED, 1, T0 + timedelta(days=1))
    held = running.hold("fraud", "held for review")
    reported = held.reported("already_paid", CustomerRequest("r1", "already_paid", T0), "paid")
    assert reported.held_by == "fraud"  # a report keeps a state that was not running
    # When a new score lets the case go
    released = gate_reminders(reported, Screening().scored(T0, _result(FraudLevel.LOW), "d"), T0)
    # Then the report still waits for a person: held by the customer, never resumed
    assert released is not None
    assert (released.status, released.held_by) == (DunningStatus.HELD, "customer")
    assert "already paid" in released.reason
    # And without a report, the same release resumes the sequence
    plain = gate_reminders(held, Screening().scored(T0, _result(FraudLevel.LOW), "d"), T0)
    assert plain is not None and plain.status is DunningStatus.SCHEDULED
