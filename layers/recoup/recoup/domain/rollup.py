"""What one case adds to its shop's figures: counters under the UTC day it opened and its
currency, so that every figure is a sum of them.

A case's contribution is a function of its state alone; a change to the case changes the
figures by `delta(before, after)`, which the store adds to the rollup items in the same
transaction as the case (exactly once, by the case's version condition). Summing the
contributions of every tracked case opened in a period gives the same figures as reading
every case (`services/figures.compute`): a property test holds the two together.

A month's counters (store/rollups.py folds finished days into months) are its days' counters
summed, except that the cases opened and paid are kept by week of opening (`by_week`): the
figures chart weeks, and a month does not say which of its days a case opened on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, SentMessage

NO_CURRENCY = "XXX"  # ISO 4217's "no currency": a case that never named an amount

CASES = "cases"
OWED = "owed"
PAID_CASES = "paid_cases"
RECOVERED = "recovered"
STATE = "state:"  # + case status
REMINDERS = "reminders:"  # + reminder status, or "none"
STEP = "step:"  # + "<step, 0 before any reminder>:<channel>:" + "cases" or "recovered"
NO_REMINDERS = "none"
WEEK = "week:"  # + "<monday>:" + CASES or PAID_CASES: a month's cases by week of opening


@dataclass(frozen=True, slots=True, order=True)
class RollupKey:
    day: date  # the UTC day the case opened
    currency: str


Counters = dict[str, int]


def contribution(case: Case, dunning: Dunning | None) -> tuple[RollupKey, Counters] | None:
    """What the case adds to the figures of the day it opened; None if it is not a case
    the figures count (never opened, or merged into another)."""
    opened = case.opened_at
    if opened is None or not case.opened or case.merged_into is not None:
        return None
    counters: Counters = {
        CASES: 1,
        STATE + str(case.status): 1,
        REMINDERS + (str(dunning.status) if dunning else NO_REMINDERS): 1,
    }
    owed = case.amount_owed
    if owed is not None and owed.minor:
        counters[OWED] = owed.minor
    paid = case.recovered
    if case.status is CaseStatus.PAID and paid is not None:
        counters[PAID_CASES] = 1
        if paid.minor:
            counters[RECOVERED] = paid.minor
        last = last_before(dunning, case.closed_at)
        step = f"{STEP}{last.step + 1 if last else 0}:{last.channel if last else NO_REMINDERS}:"
        counters[step + CASES] = 1
        if paid.minor:
            counters[step + RECOVERED] = paid.minor
    return RollupKey(opened.astimezone(UTC).date(), _currency(case)), counters


def delta(
    before: tuple[RollupKey, Counters] | None, after: tuple[RollupKey, Counters] | None
) -> dict[RollupKey, Counters]:
    """The change from one contribution to the next, per rollup key, zeros left out."""
    change: dict[RollupKey, Counters] = defaultdict(dict)
    for sign, part in ((-1, before), (1, after)):
        if part is None:
            continue
        key, counters = part
        for name, value in counters.items():
            change[key][name] = change[key].get(name, 0) + sign * value
    return {
        key: {name: value for name, value in counters.items() if value}
        for key, counters in change.items()
        if any(counters.values())
    }


def month_of(day: date) -> date:
    """The first day of the day's month: a month's key."""
    return day.replace(day=1)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def by_week(day: date, counters: Counters) -> Counters:
    """A day's counters as its month holds them: the cases opened and paid under the day's
    week of opening (`week:<monday>:cases`), everything else as it is."""
    week = f"{WEEK}{monday_of(day).isoformat()}:"
    return {
        (week + name if name in (CASES, PAID_CASES) else name): value
        for name, value in counters.items()
    }


def last_before(dunning: Dunning | None, paid_at: datetime | None) -> SentMessage | None:
    """The last reminder sent before the payment (at or before it: same-second counts)."""
    if dunning is None or paid_at is None:
        return None
    earlier = [message for message in dunning.sent if message.at <= paid_at]
    return max(earlier, key=lambda message: (message.at, message.step), default=None)


def _currency(case: Case) -> str:
    for money in (case.amount_owed, case.recovered):
        if money is not None:
            return money.currency
    if case.snapshot is not None and case.snapshot.order_total is not None:
        return case.snapshot.order_total.currency
    return NO_CURRENCY
