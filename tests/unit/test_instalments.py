"""Instalment plans: the shop's terms, the customer's choice within them (each bound just
inside and just outside), the schedule's amounts and dates, and the plan's course."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from recoup.domain import instalments
from recoup.domain.case import PlanPayment
from recoup.domain.instalments import (
    Interval,
    OnBroken,
    Plan,
    PlanStatus,
    TermsError,
    check_choice,
    choices_for,
    follow_payments,
    new_plan,
    offer_refusal,
    parse_terms,
    schedule,
    split,
    terms_to_dict,
)
from recoup.domain.money import Money
from recoup.errors import InvalidInput

TODAY = date(2026, 1, 31)
NOW = datetime(2026, 1, 31, 15, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
TERMS = parse_terms(
    {
        "enabled": True,
        "min_amount": {"USD": 10000},
        "min_instalment": {"USD": 2500},
        "max_count": 4,
        "intervals": ["weekly", "monthly"],
        "max_days": 90,
        "first_due_now": True,
        "grace_days": 5,
    }
)


def usd(minor: int) -> Money:
    return Money.of(minor, "USD")


# ---------------------------------------------------------------- terms


def test_terms_round_trip_and_defaults() -> None:
    assert parse_terms(terms_to_dict(TERMS)) == TERMS
    default = parse_terms({})
    assert default.enabled is False
    assert default.intervals == (Interval.BIWEEKLY, Interval.MONTHLY)
    assert default.on_broken is OnBroken.RESUME


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"max_count": 1}, "max_count"),
        ({"max_count": 25}, "max_count"),
        ({"max_count": True}, "max_count"),
        ({"intervals": []}, "intervals"),
        ({"intervals": ["daily"]}, "intervals[0]"),
        ({"max_days": 6}, "max_days"),
        ({"max_days": 366}, "max_days"),
        ({"grace_days": 0}, "grace_days"),
        ({"grace_days": 31}, "grace_days"),
        ({"min_amount": {"XYZ1": 5}}, "min_amount.XYZ1"),
        ({"min_instalment": {"USD": -1}}, "min_instalment.USD"),
        ({"on_broken": "shrug"}, "on_broken"),
        ({"enabled": "yes"}, "enabled"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_terms_refuse_values_outside_their_bounds(raw: dict[str, object], field: str) -> None:
    with pytest.raises(TermsError) as caught:
        parse_terms(raw)
    assert caught.value.field == field


def test_terms_accept_each_bound_just_inside() -> None:
    for raw in (
        {"max_count": 2},
        {"max_count": 24},
        {"max_days": 7},
        {"max_days": 365},
        {"grace_days": 1},
        {"grace_days": 30},
    ):
        parse_terms(raw)


# ---------------------------------------------------------------- schedule


def test_split_puts_the_remainder_on_the_first_and_adds_up() -> None:
    parts = split(usd(10001), 3)
    assert [p.minor for p in parts] == [3335, 3333, 3333]
    assert sum(p.minor for p in parts) == 10001
    yen = split(Money.of(1000, "JPY"), 3)
    assert [p.minor for p in yen] == [334, 333, 333]


def test_monthly_dates_keep_the_day_or_the_months_last() -> None:
    planned = schedule(usd(9000), 3, Interval.MONTHLY, TODAY)
    assert [s.due_on for s in planned] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    weekly = schedule(usd(9000), 3, Interval.WEEKLY, TODAY)
    assert [s.due_on for s in weekly] == [TODAY, TODAY + timedelta(7), TODAY + timedelta(14)]


def test_choices_offer_the_largest_count_within_every_limit() -> None:
    # $120: 4 weekly instalments of $30 fit; monthly 4 would end after 90 days (31 Jan ->
    # 30 Apr is 89 days, within), but $30 >= $25 so 4 too.
    choices = choices_for(TERMS, usd(12000), TODAY)
    assert choices.counts == {Interval.WEEKLY: 4, Interval.MONTHLY: 4}
    # $60: only 2 instalments of $30 fit the $25 minimum.
    assert choices_for(TERMS, usd(6000), TODAY).counts == {
        Interval.WEEKLY: 2,
        Interval.MONTHLY: 2,
    }


def test_a_plan_is_not_offered_below_the_minimum_or_without_stripe() -> None:
    assert offer_refusal(TERMS, usd(9999), True) == "plans start at USD 100.00"
    assert offer_refusal(TERMS, usd(10000), True) is None
    assert offer_refusal(TERMS, usd(10000), False) is not None
    assert offer_refusal(parse_terms({}), usd(10000), True) is not None


@pytest.mark.parametrize(
    ("count", "interval", "owed", "field"),
    [
        (5, "weekly", 20000, "count"),  # above max_count (4)
        (1, "weekly", 20000, "count"),  # below 2
        ("3", "weekly", 20000, "count"),  # not a number
        (3, "biweekly", 20000, "interval"),  # not offered by this shop
        (3, "weekly", 7000, "count"),  # $23.34 < $25 minimum instalment
    ],
)
def test_a_choice_outside_the_terms_names_its_field(
    count: object, interval: str, owed: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_choice(TERMS, usd(owed), count, interval, None, TODAY)
    assert caught.value.field == field


def test_a_plan_longer_than_max_days_is_refused_and_one_day_shorter_is_taken() -> None:
    terms = parse_terms({**terms_to_dict(TERMS), "max_days": 59, "min_instalment": {}})
    # monthly x3 from 31 Jan ends 31 Mar: 59 days.
    assert len(check_choice(terms, usd(9000), 3, "monthly", None, TODAY)) == 3
    shorter = parse_terms({**terms_to_dict(terms), "max_days": 58})
    with pytest.raises(InvalidInput) as caught:
        check_choice(shorter, usd(9000), 3, "monthly", None, TODAY)
    assert caught.value.field == "count"


def test_the_minimum_instalment_just_inside_and_outside() -> None:
    assert check_choice(TERMS, usd(10000), 4, "weekly", None, TODAY)[0].amount == usd(2500)
    with pytest.raises(InvalidInput):
        check_choice(TERMS, usd(9999), 4, "weekly", None, TODAY)


def test_a_start_date_is_chosen_within_the_window_when_the_first_is_not_due_now() -> None:
    later = parse_terms({**terms_to_dict(TERMS), "first_due_now": False})
    with pytest.raises(InvalidInput) as missing:
        check_choice(later, usd(10000), 2, "weekly", None, TODAY)
    assert missing.value.field == "start"
    for bad in (TODAY, TODAY + timedelta(days=15)):
        with pytest.raises(InvalidInput) as caught:
            check_choice(later, usd(10000), 2, "weekly", bad, TODAY)
        assert caught.value.field == "start"
    for good in (TODAY + timedelta(days=1), TODAY + timedelta(days=14)):
        assert check_choice(later, usd(10000), 2, "weekly", good, TODAY)[0].due_on == good
    # With the first due now, a start date sent anyway is ignored.
    assert (
        check_choice(TERMS, usd(10000), 2, "weekly", TODAY + timedelta(3), TODAY)[0].due_on == TODAY
    )


# ---------------------------------------------------------------- the plan's course


def _plan() -> Plan:
    agreed = schedule(usd(9000), 3, Interval.MONTHLY, TODAY)
    return new_plan("p1", "r1", agreed, Interval.MONTHLY, ZONE, "digest", "en", NOW)


def test_a_new_plan_charges_later_instalments_at_ten_their_time() -> None:
    plan = _plan()
    assert plan.status is PlanStatus.AWAITING_CARD
    assert plan.instalments[0].due_at == NOW  # paid at Checkout now
    assert plan.instalments[1].due_at == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)  # 10:00 EST
    assert plan.due(5) == (plan.card_by, "card")
    assert Plan.from_dict(plan.to_dict()) == plan


def _paid(number: int, intent: str, at: datetime, **kw: object) -> PlanPayment:
    return PlanPayment("p1", number, intent, True, at, 3000, "USD", **kw)  # type: ignore[arg-type]


def test_payments_activate_pay_and_complete_the_plan_in_any_order() -> None:
    payments = [
        _paid(1, "pi_1", NOW, payment_method="pm_1", customer="cus_1"),
        _paid(2, "pi_2", NOW + timedelta(days=28)),
        _paid(3, "pi_3", NOW + timedelta(days=59)),
    ]
    forward = follow_payments(_plan(), payments, None, NOW)
    backward = follow_payments(_plan(), list(reversed(payments)), None, NOW)
    twice = follow_payments(forward, payments, None, NOW)
    assert forward == backward == twice
    assert forward.status is PlanStatus.COMPLETED
    assert forward.payment_method == "pm_1"
    assert forward.paid == usd(9000)


def test_a_failed_charge_is_told_once_and_its_grace_runs_from_the_first_failure() -> None:
    active = follow_payments(_plan(), [_paid(1, "pi_1", NOW, payment_method="pm_1")], None, NOW)
    assert active.status is PlanStatus.ACTIVE
    assert active.due(5) == (active.instalments[1].due_at, "charge")
    failed_at = active.instalments[1].due_at
    failed = active.failed_instalment(2, "pi_2a", "insufficient_funds", failed_at)
    again = failed.failed_instalment(2, "pi_2a", "insufficient_funds", failed_at)  # the webhook
    assert again == failed
    assert failed.due(5) == (failed_at, "notice")
    told = failed.claim_notice(failed_at).notice_done()
    assert told.due(5) == (failed_at + timedelta(days=5), "grace")
    second = told.failed_instalment(2, "pi_2b", "card_declined", failed_at + timedelta(days=1))
    assert second.notice_at is None  # told once
    assert second.missed is not None and second.missed.failures == 2
    assert second.grace_ends(5) == failed_at + timedelta(days=5)
    # Paid meanwhile (the customer's pay link): no longer missed, the next is due.
    recovered = second.paid_instalment(2, "pi_2c", failed_at + timedelta(days=2))
    assert recovered.missed is None
    assert recovered.due(5) == (recovered.instalments[2].due_at, "charge")


def test_a_failure_during_checkout_is_checkouts_to_retry() -> None:
    declined = PlanPayment("p1", 1, "pi_x", False, NOW, 3000, "USD", code="card_declined")
    plan = follow_payments(_plan(), [declined], None, NOW)
    assert plan.status is PlanStatus.AWAITING_CARD
    assert plan.missed is None


def test_a_plan_ends_when_its_case_closes() -> None:
    active = follow_payments(_plan(), [_paid(1, "pi_1", NOW, payment_method="pm_1")], None, NOW)
    ended = follow_payments(active, [], "case paid", NOW)
    assert ended.status is PlanStatus.ENDED
    assert ended.due(5) is None


def test_the_idempotency_key_changes_only_with_a_new_failure() -> None:
    plan = _plan()
    first = plan.instalments[1]
    key = instalments.idempotency_key("s.myshopify.com", "1001", plan, first)
    failed = plan.failed_instalment(2, "pi_a", None, NOW).instalment(2)
    assert failed is not None
    assert key == instalments.idempotency_key("s.myshopify.com", "1001", plan, first)
    assert key != instalments.idempotency_key("s.myshopify.com", "1001", plan, failed)


def test_erasure_drops_the_saved_card_and_ends_a_running_plan() -> None:
    active = follow_payments(
        _plan(), [_paid(1, "pi_1", NOW, payment_method="pm_1", customer="cus_1")], None, NOW
    )
    erased = active.without_card("[erased]")
    assert (erased.payment_method, erased.stripe_customer) == (None, None)
    assert erased.status is PlanStatus.ENDED
    assert erased.due(5) is None
    assert erased.instalments == active.instalments  # what was paid stays on record
