"""The case fold: any interleaving and duplication of the same deliveries ends the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from recoup.domain.case import Case, CaseStatus, apply, join, new_case
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.money import Money

SHOP = "demo-electronics.myshopify.com"
ORDER = "5960359936123456789"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _event(
    event_id: str,
    fact: Fact,
    minutes: int,
    *,
    owed: int | None = None,
    source: Source = Source.SHOPIFY,
    attempt: bool = False,
    refunded: int | None = None,
    signals: dict[str, object] | None = None,
) -> DomainEvent:
    at = T0 + timedelta(minutes=minutes)
    snapshot = (
        OrderSnapshot(
            amount_owed=Money.of(owed, "USD"),
            order_total=Money.of(189900, "USD"),
            order_name="#1001",
            customer=Customer(email="ada@example.com", first_name="Ada"),
        )
        if owed is not None
        else None
    )
    return DomainEvent(
        event_id=event_id,
        source=source,
        kind=fact.value,
        shop=SHOP,
        case_id=ORDER,
        occurred_at=at,
        fact=fact,
        snapshot=snapshot,
        attempt=PaymentAttempt(event_id, source, fact is Fact.PAID, at, Money.of(189900, "USD"))
        if attempt
        else None,
        refunded=Money.of(refunded, "USD") if refunded is not None else None,
        linked=True,
        signals=dict(signals or {}),
    )


STORY = [
    _event("created", Fact.UNPAID, 0, owed=189900, signals={"browser_ip": "203.0.113.9"}),
    _event("updated", Fact.UNPAID, 5, owed=149900, signals={"browser_ip": "198.51.100.4"}),
    _event(
        "declined",
        Fact.PAYMENT_FAILED,
        10,
        owed=149900,
        source=Source.STRIPE,
        attempt=True,
        signals={"stripe_risk_score": 71, "cvc_check": "fail"},
    ),
    _event(
        "declined-again",
        Fact.PAYMENT_FAILED,
        20,
        source=Source.STRIPE,
        attempt=True,
        signals={"stripe_risk_score": 88},
    ),
    _event("paid", Fact.PAID, 30, owed=0),
    _event("stripe-paid", Fact.PAID, 31, owed=0, source=Source.STRIPE, attempt=True),
    _event("partial-refund", Fact.REFUNDED, 40, refunded=10000),
    _event("dispute", Fact.DISPUTE_OPENED, 50),
    _event("warning", Fact.FRAUD_WARNING, 55),
    _event("cancelled", Fact.CANCELLED, 60, owed=0),
]


def fold(events: list[DomainEvent]) -> Case:
    return reduce(lambda case, event: apply(case, event).case, events, new_case(SHOP, ORDER))


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """A subset of the story, and the same subset delivered shuffled with duplicates."""
    chosen = draw(st.lists(st.sampled_from(STORY), min_size=1, unique_by=lambda e: e.event_id))
    repeats = draw(st.lists(st.sampled_from(chosen), max_size=8))
    delivered = draw(st.permutations(chosen + repeats))
    return chosen, delivered


@settings(max_examples=300)
@given(deliveries())
def test_any_interleaving_and_duplication_ends_in_the_same_state(
    pair: tuple[list[DomainEvent], list[DomainEvent]],
) -> None:
    # Given a set of deliveries / When applied in story order, and in any order with repeats
    chosen, delivered = pair
    # Then the case is identical, field for field
    assert fold(delivered) == fold(sorted(chosen, key=lambda e: e.occurred_at))


def test_a_paid_case_stays_paid_when_a_late_failure_arrives() -> None:
    # Given a case that was paid
    paid = fold([STORY[0], STORY[4]])
    assert paid.status is CaseStatus.PAID
    # When a payment failure from before the payment is delivered late
    outcome = apply(paid, STORY[2])
    # Then it is recorded but the case stays paid, and says why
    assert outcome.case.status is CaseStatus.PAID
    assert "stays paid" in outcome.effect
    assert len(outcome.case.attempts) == 1


def test_a_redelivered_event_changes_nothing() -> None:
    case = fold([STORY[0]])
    outcome = apply(case, STORY[0])
    assert outcome.duplicate
    assert outcome.case is case


def test_open_case_owes_the_newest_amount_and_recovers_it_when_paid() -> None:
    opened = fold([STORY[1], STORY[0]])  # updated first, created late
    assert opened.status is CaseStatus.OPEN
    assert opened.amount_owed == Money.of(149900, "USD")
    assert opened.opened_at == T0
    paid = apply(opened, STORY[4]).case
    assert paid.amount_owed is None
    assert paid.recovered == Money.of(149900, "USD")
    assert paid.closed_at == T0 + timedelta(minutes=30)


def test_paid_before_ever_owing_is_not_a_tracked_case() -> None:
    case = fold([STORY[4]])
    assert case.status is CaseStatus.PAID
    assert not case.opened
    assert case.recovered is None


def test_cancellation_wins_over_payment_whatever_the_order() -> None:
    assert fold([STORY[9], STORY[4]]).status is CaseStatus.CANCELLED
    assert fold([STORY[4], STORY[9]]).status is CaseStatus.CANCELLED


def test_flags_and_refunds_accumulate() -> None:
    case = fold([STORY[0], STORY[7], STORY[8], STORY[6], STORY[6]])
    assert case.dispute_open
    assert case.fraud_warning
    assert case.refunds == (("partial-refund", Money.of(10000, "USD")),)


def test_serialises_and_restores_exactly() -> None:
    case = fold(STORY)
    assert Case.from_dict(case.to_dict()) == case


@settings(max_examples=200)
@given(st.lists(st.sampled_from(STORY), unique_by=lambda e: e.event_id), st.data())
def test_merging_two_cases_equals_folding_all_their_events(
    events: list[DomainEvent], data: st.DataObject
) -> None:
    # Given the events split between an order's case and a payment's own case
    in_payment = data.draw(st.sets(st.sampled_from([e.event_id for e in events] or ["-"])))
    order_side = [e for e in events if e.event_id not in in_payment]
    payment_side = [e for e in events if e.event_id in in_payment]
    payment_case = reduce(
        lambda c, e: apply(c, e).case, payment_side, new_case(SHOP, "pi_3a4zOefA7Q2mrfCnxPXdTCoz")
    )
    # When the payment's case is joined into the order's
    merged = join(fold(order_side), payment_case)
    # Then it is what folding every event into the order's case gives
    assert merged == fold(events)


def test_each_fraud_signal_keeps_its_newest_value_whatever_the_order() -> None:
    forward = fold(STORY)
    backward = fold(list(reversed(STORY)))
    assert forward.signal_values() == backward.signal_values()
    assert forward.signal_values() == {
        "browser_ip": "198.51.100.4",  # the update is newer than the create
        "cvc_check": "fail",  # reported once, kept
        "stripe_risk_score": 88,  # the second decline is newer
    }
