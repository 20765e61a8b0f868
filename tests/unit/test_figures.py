"""The figures of the admin dashboard, from stored cases and from their rollups: one
currency at a time; what is owed, flagged, unlinked, written off, recovered and self-cured;
the conversion of each reminder; money over time; cohorts by month opened; recovery by
strategy, by decline category and by payment method."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoup.admin import views
from recoup.domain import rollup
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.events import OrderSnapshot, PaymentAttempt, Source
from recoup.domain.fraud.screening import Decision, Screening
from recoup.domain.money import Money
from recoup.domain.referral import Referrals, WriteOff
from recoup.services.figures import DEFINITIONS, Figures, Segment, Total, compute, from_rollups

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
SHOP = "shop.myshopify.com"


def case(
    case_id: str,
    owed: Money,
    *,
    opened: datetime = MONDAY,
    paid_at: datetime | None = None,
    cancelled_at: datetime | None = None,
    linked: bool = True,
    gateways: tuple[str, ...] = (),
    declines: tuple[PaymentAttempt, ...] = (),
) -> Case:
    since: list[tuple[CaseStatus, datetime]] = [(CaseStatus.OPEN, opened)]
    status = CaseStatus.OPEN
    if paid_at is not None:
        since.append((CaseStatus.PAID, paid_at))
        status = CaseStatus.PAID
    if cancelled_at is not None:
        since.append((CaseStatus.CANCELLED, cancelled_at))
        status = CaseStatus.CANCELLED
    return Case(
        shop=SHOP,
        case_id=case_id,
        status=status,
        status_since=tuple(since),
        snapshot=OrderSnapshot(amount_owed=owed, order_total=owed, payment_gateways=gateways),
        owed_when_open=owed,
        linked=linked,
        attempts=declines,
    )


def declined(attempt_id: str, at: datetime, code: str | None) -> PaymentAttempt:
    return PaymentAttempt(attempt_id, Source.STRIPE, False, at, code=code)


def sent(
    step: int,
    channel: str,
    at: datetime,
    template: str = "friendly_reminder",
    outcome: str = "sent",
) -> SentMessage:
    return SentMessage(step, channel, at, "id", template, 100, "USD", outcome)


def reminders(
    *messages: SentMessage, status: DunningStatus = DunningStatus.STOPPED, strategy: str = ""
) -> Dunning:
    return Dunning(status, sent=messages, strategy=strategy)


def held(
    of: Case,
    dunning: Dunning | None = None,
    *,
    screening: Screening | None = None,
    referrals: Referrals | None = None,
) -> StoredCase:
    return StoredCase(of, 1, 1, "", dunning, screening, referrals, rollup.VERSION)


def parts(stored: StoredCase) -> rollup.Contribution:
    return rollup.contribution(stored.case, stored.dunning, stored.screening, stored.referrals)


def nov(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def usd(major: int) -> Money:
    return Money("USD", major * 100)


FRAUD = Screening(decision=Decision.CONFIRMED_FRAUD, decided_by="Ana Ruiz")
WRITTEN_OFF = Referrals(written_off=WriteOff(nov(20), "not worth pursuing", "Ana Ruiz"))


def a_month_of_cases() -> list[StoredCase]:
    """November's cases (and one of October paid in November) of one shop."""
    step1 = sent(0, "email", nov(3))
    return [
        # open and owed, contacted once
        held(
            case("1001", usd(100), opened=nov(2)), reminders(step1, status=DunningStatus.SCHEDULED)
        ),
        # an order and the Stripe charge for it that no event linked to it
        held(case("1002", usd(6_086), opened=nov(3))),
        held(case("pi_3Q", usd(6_086), opened=nov(3), linked=False)),
        # confirmed as fraud by the merchant
        held(
            case("1003", usd(250), opened=nov(4)),
            reminders(status=DunningStatus.FLAGGED),
            screening=FRAUD,
        ),
        # written off after one reminder
        held(
            case("1004", usd(80), opened=nov(4)),
            reminders(sent(0, "email", nov(4, 12))),
            referrals=WRITTEN_OFF,
        ),
        # paid an hour after opening, before any message: self-cured
        held(case("1005", usd(40), opened=nov(2), paid_at=nov(2, 10)), reminders()),
        # paid two days after the step 1 email
        held(case("1006", usd(120), opened=nov(2), paid_at=nov(5, 12)), reminders(step1)),
        # paid two days after the step 2 SMS (and five after the step 1 email)
        held(
            case("1007", usd(300), opened=nov(2), paid_at=nov(8)),
            reminders(step1, sent(1, "sms", nov(6), "sms_nudge")),
        ),
        # paid 17 days after its only reminder: recovered, outside the conversion window
        held(case("1008", usd(500), opened=nov(2), paid_at=nov(20)), reminders(step1)),
        # a step whose outcome is unknown is not a message sent
        held(
            case("1009", usd(60), opened=nov(5), cancelled_at=nov(9)),
            reminders(sent(0, "email", nov(6), outcome="unknown")),
        ),
        # another currency
        held(case("2001", Money("EUR", 90_000), opened=nov(10))),
        held(case("2002", Money("EUR", 5_000), opened=nov(10), paid_at=nov(10, 11))),
        # opened in October, recovered on November 3
        held(
            case("0999", usd(700), opened=datetime(2026, 10, 28, 9, tzinfo=UTC), paid_at=nov(3)),
            reminders(sent(0, "email", datetime(2026, 10, 29, 9, tzinfo=UTC))),
        ),
        # merged into another case: never counted
        held(replace(case("pi_9Z", usd(999), opened=nov(2)), merged_into="1001")),
    ]


def money(minor: int, currency: str = "USD") -> dict[str, Any]:
    return views.money(Money(currency, minor)) or {}


NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def test_every_figure_of_a_month_in_its_default_currency() -> None:
    # Given November's cases in two currencies (ten in USD, two in EUR)
    cases = a_month_of_cases()
    # When the figures of November are computed, in no currency named
    found = compute(cases, start=NOVEMBER[0], end=NOVEMBER[1])
    shown = views.figures(found, *NOVEMBER)
    # Then they are in USD, the currency most cases opened in
    assert shown["currency"] == "USD"
    assert shown["currencies"] == ["EUR", "USD"]
    assert shown["cases"] == 10  # 1001-1009 and the Stripe charge; not October's, not merged
    # outstanding: 1001 and 1002; the unlinked charge for 1002 is shown apart
    assert (shown["outstanding"], shown["outstanding_cases"]) == (money(10_000 + 608_600), 2)
    assert (shown["unlinked_stripe"], shown["unlinked_stripe_cases"]) == (money(608_600), 1)
    assert (shown["fraud_flagged"], shown["fraud_flagged_cases"]) == (money(25_000), 1)
    assert (shown["written_off"], shown["written_off_cases"]) == (money(8_000), 1)
    # recovered: paid after the first message (1006, 1007, 1008); 1005 paid before any
    assert (shown["recovered"], shown["recovered_cases"]) == (money(12_000 + 30_000 + 50_000), 3)
    assert (shown["self_cured"], shown["self_cured_cases"]) == (money(4_000), 1)
    # contacted: 1001, 1004, 1006, 1007, 1008 (1009's only step has an unknown outcome)
    assert shown["contacted_cases"] == 5
    assert shown["recovery_rate"] == 3 / 5
    assert shown["by_state"] == {"open": 4, "paid": 4, "cancelled": 1, "written_off": 1}
    assert shown["conversion_window_days"] == 7
    # step 1 emails: 1001, 1004, 1006, 1007, 1008; paid within 7 days: 1006 (2 days), 1007
    # (5 days); 1008 paid after 17. The step 2 SMS: 1007, paid 2 days later.
    assert shown["conversion"] == [
        {
            "step": 1,
            "channel": "email",
            "template": "friendly_reminder",
            "sent": 5,
            "paid_within": 2,
            "rate": 2 / 5,
        },
        {
            "step": 2,
            "channel": "sms",
            "template": "sms_nudge",
            "sent": 1,
            "paid_within": 1,
            "rate": 1.0,
        },
    ]
    # money recovered by the day paid, every day of November (October's case paid on Nov 3)
    recovered_days = shown["recovered_over_time"]
    assert [p["day"] for p in recovered_days] == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert {p["day"][-2:]: (p["amount"], p["cases"]) for p in recovered_days if p["cases"]} == {
        "03": (money(70_000), 1),
        "05": (money(12_000), 1),
        "08": (money(30_000), 1),
        "20": (money(50_000), 1),
    }
    assert recovered_days[0] == {"day": "2026-11-01", "amount": money(0), "cases": 0}
    opened_days = shown["opened_over_time"]
    assert [p["day"] for p in opened_days] == [p["day"] for p in recovered_days]
    assert {p["day"][-2:]: (p["cases"], p["amount"]) for p in opened_days if p["cases"]} == {
        "02": (5, money(10_000 + 4_000 + 12_000 + 30_000 + 50_000)),
        "03": (2, money(608_600 * 2)),
        "04": (2, money(25_000 + 8_000)),
        "05": (1, money(6_000)),
    }
    assert shown["cohorts"] == [
        {"month": "2026-11", "opened": 10, "recovered": 3, "self_cured": 1, "rate": 0.3}
    ]
    assert set(shown["definitions"]) >= {"outstanding", "recovered_over_time", "cohorts"}


def test_the_other_currency_when_asked_for() -> None:
    found = compute(a_month_of_cases(), start=NOVEMBER[0], end=NOVEMBER[1], currency="EUR")
    shown = views.figures(found, *NOVEMBER)
    assert (shown["currency"], shown["currencies"], shown["cases"]) == ("EUR", ["EUR", "USD"], 2)
    assert (shown["outstanding"], shown["outstanding_cases"]) == (money(90_000, "EUR"), 1)
    assert (shown["self_cured"], shown["self_cured_cases"]) == (money(5_000, "EUR"), 1)
    assert (shown["recovered"], shown["recovered_cases"]) == (money(0, "EUR"), 0)
    assert shown["recovery_rate"] is None  # nobody contacted
    assert shown["by_state"] == {"open": 1, "paid": 1, "cancelled": 0, "written_off": 0}
    assert shown["cohorts"] == [
        {"month": "2026-11", "opened": 2, "recovered": 0, "self_cured": 1, "rate": 0.0}
    ]


def test_all_time_counts_every_cohort_and_charts_the_days_with_data() -> None:
    found = compute(a_month_of_cases())
    assert found.cases == 11  # October's case too
    assert found.recovered.minor == 162_000
    assert [(c.month, c.opened, c.recovered) for c in found.cohorts] == [
        (date(2026, 10, 1), 1, 1),
        (date(2026, 11, 1), 10, 3),
    ]
    # from the first day with data (Oct 28) to the last (Nov 20)
    days = [p.day for p in found.opened_over_time]
    assert (days[0], days[-1], len(days)) == (date(2026, 10, 28), date(2026, 11, 20), 24)
    # October's step 1 email counts too (paid 5 days after it): 6 sent, 3 paid within 7 days
    assert found.conversion[0].sent == 6 and found.conversion[0].paid_within == 3


def test_a_payment_exactly_at_the_end_of_the_window_converts_and_a_second_later_not() -> None:
    email = sent(0, "email", nov(3))
    week = rollup.CONVERSION_WINDOW
    on_time = held(case("1", usd(10), opened=nov(2), paid_at=nov(3) + week), reminders(email))
    late = held(
        case("2", usd(10), opened=nov(2), paid_at=nov(3) + week + timedelta(seconds=1)),
        reminders(email),
    )
    (conversion,) = compute([on_time, late]).conversion
    assert (conversion.sent, conversion.paid_within) == (2, 1)


def test_a_paid_case_stays_paid_when_it_had_been_written_off() -> None:
    # A customer who paid after the write-off: paid, and recovered, not written off
    paid = held(
        case("1", usd(10), opened=nov(2), paid_at=nov(25)),
        reminders(sent(0, "email", nov(3))),
        referrals=WRITTEN_OFF,
    )
    found = compute([paid])
    assert found.by_state == {"open": 0, "paid": 1, "cancelled": 0, "written_off": 0}
    assert (found.written_off.cases, found.recovered.cases) == (0, 1)


def test_no_cases_give_no_currency_and_empty_figures() -> None:
    found = compute([])
    assert (found.currency, found.currencies, found.cases, found.conversion) == (None, (), 0, ())
    shown = views.figures(found, None, None)
    assert shown["outstanding"] is None and shown["recovered_over_time"] == []


CARD, TRANSFER, COD = ("shopify_payments",), ("Bank Deposit",), ("Cash on Delivery (COD)",)


def cases_by_strategy() -> list[StoredCase]:
    """November's cases of a shop with strategies, paid by card, transfer and on delivery."""
    step1 = sent(0, "email", nov(3))
    soft, hard = (
        declined("pi_a", nov(2), "insufficient_funds"),
        declined("pi_b", nov(3), "stolen_card"),
    )
    expired = declined("pi_c", nov(2, 8), "expired_card")
    auth = declined("pi_d", nov(6), "authentication_required")
    cards = "card-declines"
    manual = "manual-payments"
    return [
        # a soft decline, recovered after the first email
        held(
            case("3001", usd(120), opened=nov(2), paid_at=nov(4), gateways=CARD, declines=(soft,)),
            reminders(step1, strategy=cards),
        ),
        # expired, then declined as stolen: its newest decline is hard
        held(
            case("3002", usd(75), opened=nov(3), gateways=CARD, declines=(expired, hard)),
            reminders(status=DunningStatus.SCHEDULED, strategy=cards),
        ),
        # bank transfers: one recovered, one paid before any message, one still open
        held(
            case("3003", usd(300), opened=nov(2), paid_at=nov(7), gateways=TRANSFER),
            reminders(sent(0, "email", nov(5)), strategy=manual),
        ),
        held(
            case("3004", usd(50), opened=nov(2), paid_at=nov(3), gateways=TRANSFER),
            reminders(strategy=manual),
        ),
        held(
            case("3008", usd(400), opened=nov(9), gateways=TRANSFER),
            reminders(status=DunningStatus.SCHEDULED, strategy=manual),
        ),
        # cash on delivery, opened before strategies existed: the default
        held(
            case("3005", usd(60), opened=nov(4), gateways=COD),
            reminders(status=DunningStatus.SCHEDULED),
        ),
        # a Stripe payment (no gateway: a card) asking for authentication, never chased,
        # cancelled: no strategy took it (the default)
        held(case("3006", usd(90), opened=nov(5), cancelled_at=nov(8), declines=(auth,))),
        # another currency, and a case of October recovered in November: not in November's
        # USD breakdowns
        held(
            case("3007", Money("EUR", 70_000), opened=nov(2), paid_at=nov(4), gateways=CARD),
            reminders(step1, strategy=cards),
        ),
        held(
            case("2999", usd(900), opened=datetime(2026, 10, 28, tzinfo=UTC), paid_at=nov(3)),
            reminders(sent(0, "email", datetime(2026, 10, 30, tzinfo=UTC)), strategy=cards),
        ),
    ]


def test_recovery_by_strategy_decline_category_and_payment_method() -> None:
    # Given November's USD cases 3001-3006 and 3008 (3007 is in EUR, 2999 opened in October)
    cases = cases_by_strategy()
    # When November's figures are computed, from the cases and from their rollups
    found = compute(cases, start=NOVEMBER[0], end=NOVEMBER[1], currency="USD")
    rows = _summed([(stored,) for stored in cases])
    in_november = [(k, c) for k, c in rows if NOVEMBER[0].date() <= k.day < NOVEMBER[1].date()]
    # Then each value counts the cases opened with it, those recovered and what they paid;
    # most cases first, then by value. Recovered: 3001 ($120, card, soft, card-declines) and
    # 3003 ($300, transfer, no decline, manual-payments); 3004 paid before any message.
    # manual-payments: 3003, 3004, 3008 -> 3 cases, 1 recovered ($300), rate 1/3
    # card-declines: 3001, 3002 -> 2 cases, 1 recovered ($120), rate 1/2
    # default: 3005 ("" before strategies) and 3006 (no sequence) -> 2 cases, none recovered
    assert found.by_strategy == (
        Segment("manual-payments", 3, Total(1, 30_000)),
        Segment("card-declines", 2, Total(1, 12_000)),
        Segment("default", 2, Total(0, 0)),
    )
    assert [segment.rate for segment in found.by_strategy] == [1 / 3, 1 / 2, 0.0]
    # none: 3003, 3004, 3005, 3008 -> 4, 1 recovered ($300); soft: 3001 -> 1, 1 ($120);
    # hard: 3002 (stolen after expired: the newest counts); authentication_required: 3006
    assert found.by_decline == (
        Segment("none", 4, Total(1, 30_000)),
        Segment("authentication_required", 1, Total(0, 0)),
        Segment("hard", 1, Total(0, 0)),
        Segment("soft", 1, Total(1, 12_000)),
    )
    # bank_transfer: 3003, 3004, 3008 -> 3, 1 ($300); card: 3001, 3002, 3006 (a Stripe
    # payment) -> 3, 1 ($120); cash_on_delivery: 3005 -> 1, 0
    assert found.by_method == (
        Segment("bank_transfer", 3, Total(1, 30_000)),
        Segment("card", 3, Total(1, 12_000)),
        Segment("cash_on_delivery", 1, Total(0, 0)),
    )
    # each breakdown adds up to the cases and the recovered figures
    for breakdown in (found.by_strategy, found.by_decline, found.by_method):
        assert sum(segment.cases for segment in breakdown) == found.cases == 7
        assert sum(segment.recovered.minor for segment in breakdown) == found.recovered.minor
    # and the rollups say the same, by day and folded into months
    for held_rows in (in_november, _as_months(in_november)):
        assert from_rollups(held_rows, start=NOVEMBER[0], end=NOVEMBER[1]) == found
    # EUR's: 3007 alone
    euros = compute(cases, start=NOVEMBER[0], end=NOVEMBER[1], currency="EUR")
    assert euros.by_strategy == (Segment("card-declines", 1, Total(1, 70_000)),)
    assert euros.by_method == (Segment("card", 1, Total(1, 70_000)),)
    # all time: October's case under card-declines too (opened by card: no gateway named)
    (cards, *_) = compute(cases, currency="USD").by_strategy
    assert cards == Segment("card-declines", 3, Total(2, 12_000 + 90_000))


def test_a_case_matched_again_after_a_decline_moves_between_values() -> None:
    # Given an open card case the default strategy took before any payment failed
    opened = held(
        case("1", usd(50), gateways=CARD),
        reminders(status=DunningStatus.SCHEDULED, strategy="default"),
    )
    # When a soft decline arrives and another strategy takes it
    declines = (declined("pi_1", MONDAY + timedelta(hours=1), "insufficient_funds"),)
    rematched = held(
        case("1", usd(50), gateways=CARD, declines=declines),
        reminders(status=DunningStatus.SCHEDULED, strategy="card-declines"),
    )
    # Then its case moves from one value to the other, and nothing else changes
    assert rollup.delta(parts(opened), parts(rematched)) == {
        rollup.RollupKey(MONDAY.date(), "USD"): {
            "by:strategy:default:cases": -1,
            "by:strategy:card-declines:cases": 1,
            "by:decline:none:cases": -1,
            "by:decline:soft:cases": 1,
        }
    }
    # and once recovered, the recovered counters of its values
    paid = held(
        case("1", usd(50), paid_at=MONDAY + timedelta(days=2), gateways=CARD, declines=declines),
        reminders(sent(0, "email", MONDAY + timedelta(days=1)), strategy="card-declines"),
    )
    (opening_day,) = (parts(paid)[key] for key in parts(paid) if key.day == MONDAY.date())
    assert {name: v for name, v in opening_day.items() if name.startswith("by:")} == {
        "by:strategy:card-declines:cases": 1,
        "by:strategy:card-declines:recovered_cases": 1,
        "by:strategy:card-declines:recovered": 5_000,
        "by:decline:soft:cases": 1,
        "by:decline:soft:recovered_cases": 1,
        "by:decline:soft:recovered": 5_000,
        "by:method:card:cases": 1,
        "by:method:card:recovered_cases": 1,
        "by:method:card:recovered": 5_000,
    }


def test_every_figure_has_a_definition_listed_in_the_docs() -> None:
    from pathlib import Path

    shown = views.figures(compute(a_month_of_cases()), None, None)
    figures_keys = {
        key
        for key in shown
        if key not in ("from", "to", "currencies", "definitions", "conversion_window_days")
        and not key.endswith("_cases")
    } | {"contacted_cases"}
    # the breakdowns are fields of the figures, defined like the others
    breakdowns = {f"by_{name}" for name in rollup.BREAKDOWNS}
    assert breakdowns <= set(Figures.__dataclass_fields__)
    assert figures_keys | breakdowns == set(DEFINITIONS)
    docs = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    for key, line in DEFINITIONS.items():
        assert f"| `{key}` | {line} |" in docs, key


# ------------------------------------------------------------------------------- rollups

CURRENCIES = ("USD", "EUR", "JPY")
# Shopify's gateway names of a card, a bank transfer, cash on delivery, buy now pay later, a
# manual method; none (a Stripe payment: a card)
GATEWAYS = (
    (),
    ("shopify_payments",),
    ("Bank Deposit",),
    ("Cash on Delivery (COD)",),
    ("klarna",),
    ("money_order",),
)
# soft, hard, expired or incorrect, authentication required, unknown (a code and none)
DECLINE_CODES = (
    "insufficient_funds",
    "stolen_card",
    "expired_card",
    "authentication_required",
    "no_such_code",
    None,
)
# "": a case opened before strategies existed (counted as the default)
STRATEGY_IDS = ("", "default", "manual-payments", "card_declines")


@st.composite
def case_histories(draw: st.DrawFn) -> tuple[StoredCase, ...]:
    """A case's states over its life as the store writes them one after another: opened
    (with or without a sequence, taken by a strategy), reminded (a message's outcome sometimes
    unknown) after a declined payment or two may have arrived and the case been matched to
    another strategy, maybe flagged as fraud or written off, then maybe paid or cancelled (a
    payment at times far outside the conversion window)."""
    case_id = str(draw(st.integers(1, 10**6)))
    owed = Money(draw(st.sampled_from(CURRENCIES)), draw(st.integers(0, 10**6)))
    linked = draw(st.booleans()) or draw(st.booleans())
    opened = MONDAY + timedelta(days=draw(st.integers(0, 40)), minutes=draw(st.integers(0, 1439)))
    gateways = draw(st.sampled_from(GATEWAYS))
    codes = draw(st.lists(st.sampled_from(DECLINE_CODES), max_size=2))
    attempts = tuple(
        declined(f"pi_{n}", opened + timedelta(minutes=n), code) for n, code in enumerate(codes)
    )
    early = attempts[: draw(st.integers(0, len(attempts)))]  # those known when it opened
    matched, rematched = draw(st.sampled_from(STRATEGY_IDS)), draw(st.sampled_from(STRATEGY_IDS))
    messages = tuple(
        sent(
            step,
            draw(st.sampled_from(("email", "sms"))),
            opened + timedelta(days=step * draw(st.integers(1, 5)) + 1),
            draw(st.sampled_from(("friendly_reminder", "final_notice"))),
            draw(st.sampled_from(("sent", "sent", "unknown"))),
        )
        for step in range(draw(st.integers(0, 3)))
    )
    end = draw(st.sampled_from(("open", "paid", "cancelled")))
    after = timedelta(days=draw(st.integers(0, 20)), hours=draw(st.integers(0, 23)))
    the_case = partial(case, case_id, owed, opened=opened, linked=linked, gateways=gateways)
    first, later = the_case(declines=early), the_case(declines=attempts)
    started = reminders(status=DunningStatus.SCHEDULED, strategy=matched)
    states = [held(first, started if draw(st.booleans()) else None)]
    going = partial(reminders, *messages, strategy=rematched)
    states.append(held(later, going(status=DunningStatus.SCHEDULED)))
    screening = referrals = None
    turn = draw(st.sampled_from(("none", "none", "fraud", "written_off")))
    if turn == "fraud":
        screening = FRAUD
        states.append(held(later, going(status=DunningStatus.FLAGGED), screening=FRAUD))
    elif turn == "written_off":
        referrals = WRITTEN_OFF
        states.append(held(later, going(), referrals=WRITTEN_OFF))
    closed = None
    if end == "paid":
        closed = the_case(paid_at=opened + after, declines=attempts)
    elif end == "cancelled":
        closed = the_case(cancelled_at=opened + after, declines=attempts)
    if closed is not None:
        states.append(held(closed, going(), screening=screening, referrals=referrals))
    return tuple(states)


def _summed(histories: list[tuple[StoredCase, ...]]) -> list[tuple[Any, dict[str, int]]]:
    """The rollup items the store would hold after writing every state of every case."""
    items: dict[Any, dict[str, int]] = {}
    for history in histories:
        before = None
        for state in history:
            after = parts(state)
            for key, counters in rollup.delta(before, after).items():
                into = items.setdefault(key, {})
                for name, value in counters.items():
                    into[name] = into.get(name, 0) + value
            before = after
    return list(items.items())


def _as_months(rows: list[tuple[Any, dict[str, int]]]) -> list[tuple[Any, dict[str, int]]]:
    """The same rows as a fold leaves them: each month's days summed in its month's row."""
    months: dict[Any, dict[str, int]] = {}
    for key, counters in rows:
        month = rollup.RollupKey(rollup.month_of(key.day), key.currency)
        into = months.setdefault(month, {})
        for name, value in rollup.by_day(key.day, counters).items():
            into[name] = into.get(name, 0) + value
    return list(months.items())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(case_histories(), max_size=12, unique_by=lambda h: h[0].case.case_id),
    st.sampled_from((None, *CURRENCIES)),
)
def test_rollups_written_case_by_case_sum_to_the_figures_of_the_cases(
    histories: list[tuple[StoredCase, ...]], currency: str | None
) -> None:
    # Given cases written state after state, each write adding its delta to the rollups
    rows = _summed(histories)
    finals = [history[-1] for history in histories]
    # When the figures are read from the rollups / Then they equal those of the cases
    assert from_rollups(rows, currency=currency) == compute(finals, currency=currency)
    # also once folded into months (the daily series kept by day)
    assert from_rollups(_as_months(rows), currency=currency) == compute(finals, currency=currency)
    # and a period of whole UTC days reads only those days' rollups: the cohort opened in
    # it, the payments made in it
    start = MONDAY.replace(hour=0) + timedelta(days=7)
    end = start + timedelta(days=14)
    in_period = [(k, c) for k, c in rows if start.date() <= k.day < end.date()]
    expected = compute(finals, start=start, end=end, currency=currency)
    assert from_rollups(in_period, start=start, end=end, currency=currency) == expected


def test_a_merged_case_leaves_the_figures_it_was_counted_in() -> None:
    # Given a recovered case counted in the figures (its opening day and its payment day)
    paid = held(
        case("1", Money("USD", 5_000), paid_at=MONDAY + timedelta(days=2)),
        reminders(sent(0, "email", MONDAY + timedelta(days=1))),
    )
    counted = parts(paid)
    assert len(counted) == 2
    # When it is merged into another case
    merged = replace(paid, case=replace(paid.case, merged_into="2"))
    change = rollup.delta(counted, parts(merged))
    # Then its contribution is taken back whole, from both days
    assert change == {
        key: {name: -value for name, value in counters.items()} for key, counters in counted.items()
    }


def test_a_write_off_moves_the_amount_out_of_outstanding_and_nothing_else() -> None:
    opened = held(
        case("1", Money("USD", 5_000)), reminders(status=DunningStatus.AWAITING_ESCALATION)
    )
    written_off = replace(opened, referrals=WRITTEN_OFF)
    change = rollup.delta(parts(opened), parts(written_off))
    assert change == {
        rollup.RollupKey(MONDAY.date(), "USD"): {
            "state:open": -1,
            "state:written_off": 1,
            "outstanding": -5_000,
            "outstanding_cases": -1,
            "written_off": 5_000,
            "written_off_cases": 1,
        }
    }


# ------------------------------------------------------------------- rollups, folded

_SHOPS = itertools.count()
# Writers' clocks: most right, some hours off, one most of a day behind (it writes the shards
# of days the folds have taken already).
_SKEWS = (timedelta(0),) * 2 + (timedelta(hours=-2), timedelta(hours=2), timedelta(hours=-20))


@st.composite
def timelines(draw: st.DrawFn) -> list[tuple[datetime, str, Any]]:
    """Case changes at the times they are written, each by a writer whose clock may be off,
    often just after a fold and often in the hours after their opening day's fold is due;
    more folds and dashboard reads of random periods at random times in between."""
    histories = draw(
        st.lists(case_histories(), min_size=1, max_size=8, unique_by=lambda h: h[0].case.case_id)
    )
    events: list[tuple[datetime, str, Any]] = []
    for history in histories:
        first = history[0].case.opened_at
        assert first is not None
        later = st.one_of(st.integers(0, 24 * 20), st.integers(25, 68))  # hours after opening
        offsets = sorted(draw(st.lists(later, min_size=len(history), max_size=len(history))))
        for index, state in enumerate(history):
            at = first + timedelta(hours=offsets[index] if index else 0)
            if draw(st.booleans()):
                events.append((at, "fold", None))
            before = history[index - 1] if index else None
            events.append((at, "write", (state, before, draw(st.sampled_from(_SKEWS)))))
    for _ in range(draw(st.integers(0, 3))):
        events.append((MONDAY + timedelta(hours=draw(st.integers(0, 24 * 60))), "fold", None))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.one_of(st.none(), st.integers(-3, 70)))
        days = draw(st.one_of(st.none(), st.integers(1, 75)))
        at = MONDAY + timedelta(hours=draw(st.integers(24, 24 * 75)))
        events.append((at, "read", (start, days)))
    # in time order, a fold before the write it shares its time with
    return sorted(events, key=lambda event: (event[0], event[1]))


def _write_rollups(shop: str, case_id: str, delta: Any, writer_clock: datetime) -> int:
    """Add one case change as the store does (in a transaction), retried as the store's
    callers retry a cancelled one; the attempts it took."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from recoup import clock
    from recoup.store import rollups
    from recoup.store.bind import connection

    clock.use(lambda: writer_clock)
    try:
        for attempt in range(1, 6):
            try:
                with TransactWrite(connection=connection()) as tx:
                    for item, actions in rollups.updates(shop, case_id, delta):
                        tx.update(item, actions=actions)
                return attempt
            except TransactWriteError as exc:
                reasons = exc.cancellation_reasons or []
                if not any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
                    raise
    finally:
        clock.use(None)
    raise AssertionError(f"case {case_id}: its change never landed")


@pytest.mark.slow  # about a minute: each example writes its cases through moto
@settings(
    max_examples=15,  # each example writes up to 40 case states through moto
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(timeline=timelines())
def test_rollups_folded_at_random_points_sum_to_the_figures_of_the_cases(
    local: Any, timeline: list[tuple[datetime, str, Any]]
) -> None:
    from recoup import clock
    from recoup.services import figures
    from recoup.store import rollups

    shop = f"fold-{next(_SHOPS)}.myshopify.com"
    current: dict[str, StoredCase] = {}
    # Given case changes written as they happen (late changes to days folded long before
    # among them), folds at random points, and writers whose clocks are off
    for at, kind, what in timeline:
        if kind == "write":
            state, before, skew = what
            change = rollup.delta(parts(before) if before else None, parts(state))
            if change:
                _write_rollups(shop, state.case.case_id, change, at + skew)
            current[state.case.case_id] = state
        elif kind == "fold":
            rollups.fold(shop, now=at)
        else:
            # When a dashboard reads a period (folding what is due first)
            first, days = what
            start = None if first is None else MONDAY.replace(hour=0) + timedelta(days=first)
            end = None
            if days is not None:
                end = (start or MONDAY.replace(hour=0)) + timedelta(days=days)
            clock.use(lambda at=at: at)
            try:
                shown = figures.for_shop(shop, start=start, end=end)
            finally:
                clock.use(None)
            # Then its figures are those of the cases opened in it, as they are now
            assert shown == compute(current.values(), start=start, end=end), (at, start, end)
