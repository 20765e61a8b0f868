"""What one case adds to its shop's figures: counters per UTC day and currency, so that
every figure is a sum of them.

A case's contribution is a function of the stored case alone (the case, its reminder
sequence, its fraud screening and its referrals); a change to any of them changes the
figures by `delta(before, after)`, which the store adds to the rollup items in the same
transaction as the case (exactly once, by the case's version condition). Summing the
contributions of every case gives the same figures as reading every case
(`services/figures.compute`): a property test holds the two together.

A contribution names up to two days (design: one key per day a figure is dated by):
- the UTC day the case opened (its cohort): how many opened and for how much, its state,
  where its amount stands (outstanding, fraud-flagged, unlinked Stripe payment, written
  off, recovered, self-cured; a settlement offer's discount), whether it was contacted, and
  each reminder sent with
  whether the payment followed it within `CONVERSION_WINDOW`; and, for each breakdown
  (`BREAKDOWNS`: the strategy that took it, the category of its newest declined payment, how
  the order was to be paid), the case and whether and for how much it was recovered under
  its value (`breakdown`);
- the UTC day a recovered case was paid (`PAID_ON` counters): the money recovered that day,
  whichever day the case opened, for the recovered-over-time chart.
Both go under `RollupKey(day, currency)`, so reading the rollups of a period's days reads
both the cohort opened in it and the payments made in it; `delta` works per key, so a
payment moves nothing but what it changes.

A month's counters (store/rollups.py folds finished days into months) are its days'
counters summed, except the daily series (`DAILY`), kept under their day (`by_day`): a
month does not say which of its days a case opened or was paid on.

`VERSION` names this set of counters: rollup items of another version are never read nor
added to (store/rollups.py keys them apart), and a stored case says which version its
contribution was last counted under (docs/data-model.md, "Upgrading the figures").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from recoup.domain import case_facts
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.money import Money

if TYPE_CHECKING:  # annotations only: a case's referrals are read where it has them
    from recoup.domain.referral import Referrals

# The counters' version: 1 counted by week and by the last reminder before a payment; 2 had
# no breakdown by strategy, decline category and payment method.
VERSION = 3

NO_CURRENCY = "XXX"  # ISO 4217's "no currency": a case that never named an amount
CONVERSION_WINDOW = timedelta(days=7)

# Counters of the day a case opened. A money counter holds minor units; "<name>_cases" the
# cases in it.
CASES = "cases"
OPENED_AMOUNT = "opened_amount"  # what the order owed while open (below)
STATE = "state:"  # + one of STATES
OUTSTANDING = "outstanding"
FRAUD_FLAGGED = "fraud_flagged"
UNLINKED_STRIPE = "unlinked_stripe"
WRITTEN_OFF = "written_off"
RECOVERED = "recovered"
SELF_CURED = "self_cured"
# What settlement offers took off cases paid under them: written off, never recovered.
SETTLED_DISCOUNT = "settled_discount"
CONTACTED = "contacted_cases"
SUFFIX_CASES = "_cases"
CONVERSION = "conv:"  # + "<step from 1>:<channel>:<template>:" + SENT or PAID_WITHIN
SENT = "sent"
PAID_WITHIN = "paid_within"
# Per value of each breakdown: `by:<breakdown>:<value>:` + CASES, RECOVERED (amount) or
# RECOVERED + SUFFIX_CASES. A value holds no ':' (strategy ids are [a-z0-9_-]).
BY = "by:"
STRATEGY, DECLINE, METHOD = "strategy", "decline", "method"
BREAKDOWNS = (STRATEGY, DECLINE, METHOD)
# Counters of the day a recovered case was paid.
PAID_ON = "paid_on:"  # + RECOVERED (amount) or RECOVERED + SUFFIX_CASES
# A month item's daily series: `day:<iso day>:<counter>`.
DAY = "day:"
DAILY = frozenset({CASES, OPENED_AMOUNT, PAID_ON + RECOVERED, PAID_ON + RECOVERED + SUFFIX_CASES})

OPEN, PAID, CANCELLED = "open", "paid", "cancelled"
STATES = (OPEN, PAID, CANCELLED, WRITTEN_OFF)
# Where an open case's amount is shown: each open case in exactly one of them.
OPEN_BUCKETS = (OUTSTANDING, FRAUD_FLAGGED, UNLINKED_STRIPE, WRITTEN_OFF)
PAID_BUCKETS = (RECOVERED, SELF_CURED)
PAID_TOTALS = (*PAID_BUCKETS, SETTLED_DISCOUNT)


@dataclass(frozen=True, slots=True, order=True)
class RollupKey:
    day: date  # a UTC day (the first of its month for a month's row)
    currency: str


Counters = dict[str, int]
Contribution = dict[RollupKey, Counters]


def contribution(
    case: Case,
    dunning: Dunning | None,
    screening: Screening | None = None,
    referrals: Referrals | None = None,
) -> Contribution:
    """What the stored case adds to the figures, per day it is dated by; empty if it is not
    a case the figures count (never opened, or merged into another)."""
    opened = case.opened_at
    if opened is None or not counted(case):
        return {}
    currency = case_currency(case)
    state = state_of(case, referrals)
    counters: Counters = {CASES: 1, STATE + state: 1}
    _money(counters, OPENED_AMOUNT, opening_amount(case), cases=False)
    bucket = open_bucket(case, dunning, screening, referrals)
    if bucket is not None:
        _money(counters, bucket, _minor(case.amount_owed))
    paid = payment_kind(case, dunning)
    if paid is not None:
        _money(counters, paid, _minor(case.recovered))
    if case.settled_discount is not None:
        _money(counters, SETTLED_DISCOUNT, case.settled_discount.minor)
    if first_sent(dunning) is not None:
        counters[CONTACTED] = 1
    for (step, channel, template), converted in conversions(case, dunning):
        name = f"{CONVERSION}{step}:{channel}:{template}:"
        counters[name + SENT] = counters.get(name + SENT, 0) + 1
        if converted:
            counters[name + PAID_WITHIN] = counters.get(name + PAID_WITHIN, 0) + 1
    _breakdown_counters(counters, case, dunning, paid)
    out: Contribution = {RollupKey(utc_day(opened), currency): counters}
    paid_at = case.closed_at
    if paid == RECOVERED and paid_at is not None:
        on_day = out.setdefault(RollupKey(utc_day(paid_at), currency), {})
        _money(on_day, PAID_ON + RECOVERED, _minor(case.recovered))
    return out


def _breakdown_counters(
    counters: Counters, case: Case, dunning: Dunning | None, paid: str | None
) -> None:
    """The case under its value of each breakdown, with what it recovered if it did."""
    for name, value in breakdown(case, dunning):
        prefix = f"{BY}{name}:{value}:"
        counters[prefix + CASES] = 1
        if paid == RECOVERED:
            _money(counters, prefix + RECOVERED, _minor(case.recovered))


def breakdown(case: Case, dunning: Dunning | None) -> tuple[tuple[str, str], ...]:
    """The case's value of each of BREAKDOWNS: the strategy that took it (the default for a
    case no strategy took: opened before strategies existed, or never chased), the category
    of its newest declined payment ("none" when no payment failed), and how the order was to
    be paid (domain/case_facts.py reads both from the case)."""
    facts = case_facts.facts_of(case)
    strategy = (dunning.strategy if dunning is not None else "") or case_facts.DEFAULT_ID
    return ((STRATEGY, strategy), (DECLINE, facts.decline), (METHOD, str(facts.method)))


def counted(case: Case) -> bool:
    """A case the figures count: opened (something said money is owed), not merged."""
    return case.opened and case.merged_into is None


def state_of(case: Case, referrals: Referrals | None) -> str:
    """open, paid, cancelled, or written_off (an open case the merchant or the referral
    policy wrote off: closed for Recoup, its amount out of what is outstanding)."""
    if case.status is CaseStatus.PAID:
        return PAID
    if case.status is CaseStatus.CANCELLED:
        return CANCELLED
    if referrals is not None and referrals.written_off is not None:
        return WRITTEN_OFF
    return OPEN


def open_bucket(
    case: Case,
    dunning: Dunning | None,
    screening: Screening | None,
    referrals: Referrals | None,
) -> str | None:
    """Which figure an open case's amount counts in (None for a closed case): written off,
    else fraud-flagged, else an unlinked Stripe payment, else outstanding."""
    state = state_of(case, referrals)
    if state == WRITTEN_OFF:
        return WRITTEN_OFF
    if state != OPEN:
        return None
    if fraud_flagged(dunning, screening):
        return FRAUD_FLAGGED
    if not case.linked:
        # A Stripe payment no event tied to a Shopify order: often the same debt as an
        # order's case, so it is never added to what is outstanding.
        return UNLINKED_STRIPE
    return OUTSTANDING


def fraud_flagged(dunning: Dunning | None, screening: Screening | None) -> bool:
    """Flagged by the fraud check (a high score) or confirmed as fraud by the merchant."""
    if dunning is not None and dunning.status is DunningStatus.FLAGGED:
        return True
    return screening is not None and screening.gate is Gate.FLAG


def sent_messages(dunning: Dunning | None) -> list[SentMessage]:
    """The reminders the provider accepted (an outcome left unknown is not counted)."""
    return [m for m in dunning.sent if m.outcome == "sent"] if dunning else []


def first_sent(dunning: Dunning | None) -> SentMessage | None:
    return min(sent_messages(dunning), key=lambda m: (m.at, m.step), default=None)


def payment_kind(case: Case, dunning: Dunning | None) -> str | None:
    """recovered: paid at or after Recoup's first message; self_cured: paid before any
    message was sent; None: not paid."""
    paid_at = case.closed_at
    if case.status is not CaseStatus.PAID or paid_at is None:
        return None
    first = first_sent(dunning)
    return RECOVERED if first is not None and first.at <= paid_at else SELF_CURED


def conversions(case: Case, dunning: Dunning | None) -> list[tuple[tuple[int, str, str], bool]]:
    """Each reminder sent, as (step from 1, channel, template), and whether the case was
    paid within CONVERSION_WINDOW after it (at or after it: the same second counts)."""
    paid_at = case.closed_at if case.status is CaseStatus.PAID else None
    return [
        (
            (m.step + 1, m.channel, m.template),
            paid_at is not None and m.at <= paid_at <= m.at + CONVERSION_WINDOW,
        )
        for m in sent_messages(dunning)
    ]


def opening_amount(case: Case) -> int:
    """What the order owed while the case was open (the newest amount reported before it
    was paid or closed; an order edited before payment counts as edited), minor units."""
    return _minor(case.owed_when_open)


def case_currency(case: Case) -> str:
    for money in (case.owed_when_open, case.amount_owed):
        if money is not None:
            return money.currency
    if case.snapshot is not None and case.snapshot.order_total is not None:
        return case.snapshot.order_total.currency
    return NO_CURRENCY


def delta(before: Contribution | None, after: Contribution | None) -> Contribution:
    """The change from one contribution to the next, per rollup key, zeros left out."""
    change: dict[RollupKey, Counters] = defaultdict(dict)
    for sign, part in ((-1, before), (1, after)):
        for key, counters in (part or {}).items():
            for name, value in counters.items():
                change[key][name] = change[key].get(name, 0) + sign * value
    return {
        key: {name: value for name, value in counters.items() if value}
        for key, counters in change.items()
        if any(counters.values())
    }


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def month_of(day: date) -> date:
    """The first day of the day's month: a month's key."""
    return day.replace(day=1)


def by_day(day: date, counters: Counters) -> Counters:
    """A day's counters as its month holds them: the daily series under the day
    (`day:<iso day>:<counter>`), everything else as it is."""
    prefix = f"{DAY}{day.isoformat()}:"
    return {(prefix + name if name in DAILY else name): value for name, value in counters.items()}


def _money(counters: Counters, name: str, minor: int, *, cases: bool = True) -> None:
    if cases:
        counters[name + SUFFIX_CASES] = 1
    if minor:
        counters[name] = minor


def _minor(money: Money | None) -> int:
    return money.minor if money is not None else 0
