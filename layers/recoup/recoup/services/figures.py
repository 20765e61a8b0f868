"""What Recoup recovered for a shop: amounts outstanding and recovered, the recovery rate by
week of opening, which reminder step and channel preceded each payment, cases by state.

`compute` is pure (cases and their reminder progress in, figures out); `for_shop` reads the
shop's tracked cases and calls it. Amounts are kept per currency and never added across
currencies. A period selects the cases *opened* in it, so every figure describes one cohort.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, SentMessage
from recoup.domain.money import Money
from recoup.store import cases as store


@dataclass(frozen=True, slots=True)
class Week:
    """The cases opened in the week starting `monday` (UTC), and how many were paid."""

    monday: date
    opened: int
    recovered: int

    @property
    def rate(self) -> float | None:
        return self.recovered / self.opened if self.opened else None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """Payments whose last reminder before paying was `step` (1-based) by `channel`;
    step None: paid before any reminder was sent."""

    step: int | None
    channel: str | None
    cases: int
    recovered: tuple[Money, ...]  # one amount per currency


@dataclass(frozen=True, slots=True)
class Figures:
    cases: int
    outstanding: tuple[Money, ...]  # still owed on open cases, one amount per currency
    recovered: tuple[Money, ...]  # paid after the case opened, one amount per currency
    by_state: dict[str, int]  # case status -> count
    by_reminders: dict[str, int]  # reminder status -> count ("none": no sequence)
    weeks: tuple[Week, ...]  # consecutive, oldest first
    by_step: tuple[StepOutcome, ...]  # in step order, "before any reminder" first


def compute(
    cases: Iterable[tuple[Case, Dunning | None]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Figures:
    """Figures over the cases opened in [start, end) (either bound may be open)."""
    outstanding: dict[str, int] = defaultdict(int)
    recovered: dict[str, int] = defaultdict(int)
    by_state: Counter[str] = Counter()
    by_reminders: Counter[str] = Counter()
    opened_in: Counter[date] = Counter()
    paid_in: Counter[date] = Counter()
    steps: dict[tuple[int | None, str | None], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    step_cases: Counter[tuple[int | None, str | None]] = Counter()
    total = 0
    for case, dunning in cases:
        opened = case.opened_at
        if opened is None or case.merged_into is not None or not _within(opened, start, end):
            continue
        total += 1
        by_state[str(case.status)] += 1
        by_reminders[str(dunning.status) if dunning else "none"] += 1
        week = _monday(opened)
        opened_in[week] += 1
        owed = case.amount_owed
        if owed is not None:
            outstanding[owed.currency] += owed.minor
        paid = case.recovered
        if case.status is CaseStatus.PAID and paid is not None:
            recovered[paid.currency] += paid.minor
            paid_in[week] += 1
            last = _last_before(dunning, case.closed_at)
            key = (last.step + 1, last.channel) if last else (None, None)
            steps[key][paid.currency] += paid.minor
            step_cases[key] += 1
    return Figures(
        cases=total,
        outstanding=_amounts(outstanding),
        recovered=_amounts(recovered),
        by_state=dict(sorted(by_state.items())),
        by_reminders=dict(sorted(by_reminders.items())),
        weeks=_weeks(opened_in, paid_in),
        by_step=tuple(
            StepOutcome(step, channel, step_cases[(step, channel)], _amounts(amounts))
            for (step, channel), amounts in sorted(
                steps.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "")
            )
        ),
    )


def for_shop(shop: str, *, start: datetime | None = None, end: datetime | None = None) -> Figures:
    """The figures of one shop's tracked cases (reads every case: a dashboard's query)."""
    return compute(
        ((stored.case, stored.dunning) for stored in store.tracked_cases(shop)),
        start=start,
        end=end,
    )


def _within(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at < end)


def _monday(at: datetime) -> date:
    day = at.date()
    return day - timedelta(days=day.weekday())


def _last_before(dunning: Dunning | None, paid_at: datetime | None) -> SentMessage | None:
    """The last reminder sent before the payment (at or before it: same-second counts)."""
    if dunning is None or paid_at is None:
        return None
    earlier = [message for message in dunning.sent if message.at <= paid_at]
    return max(earlier, key=lambda message: (message.at, message.step), default=None)


def _amounts(totals: dict[str, int]) -> tuple[Money, ...]:
    return tuple(Money(currency, minor) for currency, minor in sorted(totals.items()))


def _weeks(opened: Counter[date], paid: Counter[date]) -> tuple[Week, ...]:
    if not opened:
        return ()
    week, last = min(opened), max(opened)
    out = []
    while week <= last:  # every week in between, so a chart's gaps are real zeros
        out.append(Week(week, opened[week], paid[week]))
        week += timedelta(days=7)
    return tuple(out)
