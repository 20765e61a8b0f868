"""What Recoup recovered for a shop: amounts outstanding and recovered, the recovery rate by
week of opening, which reminder step and channel preceded each payment, cases by state.

`compute` is pure (cases and their reminder progress in, figures out); `for_shop` sums the
shop's rollup items for the period (`from_rollups`), which the case writes keep equal to
`compute` over the same cases: whole months from month items, the days at the period's edges
from day items, the days not folded yet from their shards (store/rollups.py). Amounts are
kept per currency and never added across currencies. A period selects the cases *opened* in
it, so every figure describes one cohort.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from recoup.domain import rollup
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning
from recoup.domain.money import Money
from recoup.domain.rollup import Counters, RollupKey
from recoup.store import rollups


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
            last = rollup.last_before(dunning, case.closed_at)
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
    """The figures of one shop's cases opened in [start, end): a sum of its rollup items for
    those UTC days (store/rollups.py), never a read of its cases; the first request after a
    day is due folds it (a write). The bounds are UTC days (the admin API asks for whole
    days); a bound inside a day takes in the whole day."""
    first = start.astimezone(UTC).date() if start else None
    last = end.astimezone(UTC) if end else None
    stop = None
    if last is not None:
        stop = last.date() + timedelta(days=1 if last.time() != time(0) else 0)
    return from_rollups(rollups.read(shop, first, stop))


def from_rollups(rows: Iterable[tuple[RollupKey, Counters]]) -> Figures:
    """The figures that these rollup rows sum to (the same as `compute` over the cases that
    made them: tests/unit/test_figures.py holds the two together)."""
    tally = _Tally()
    for key, counters in rows:
        for name, value in counters.items():
            tally.add(key, name, value)
    return tally.figures()


_StepKey = tuple[int | None, str | None]  # (step from 1, channel); (None, None): before any


@dataclass
class _Tally:
    """Rollup counters summed by what they count: a row's counters are per day (or month)
    and currency, named by `domain.rollup`."""

    counts: Counter[str] = field(default_factory=Counter)  # by state, by reminder status
    outstanding: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    recovered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    opened_in: Counter[date] = field(default_factory=Counter)
    paid_in: Counter[date] = field(default_factory=Counter)
    steps: defaultdict[_StepKey, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    step_cases: Counter[_StepKey] = field(default_factory=Counter)

    def add(self, key: RollupKey, name: str, value: int) -> None:
        if name == rollup.CASES:
            self.opened_in[_monday_of(key.day)] += value
        elif name == rollup.PAID_CASES:
            self.paid_in[_monday_of(key.day)] += value
        elif name == rollup.OWED:
            self.outstanding[key.currency] += value
        elif name == rollup.RECOVERED:
            self.recovered[key.currency] += value
        elif name.startswith(rollup.WEEK):  # a month's cases by week of opening
            monday, what = name.removeprefix(rollup.WEEK).split(":")
            into = self.opened_in if what == rollup.CASES else self.paid_in
            into[date.fromisoformat(monday)] += value
        elif name.startswith(rollup.STEP):
            self._add_step(name.removeprefix(rollup.STEP), key.currency, value)
        else:
            self.counts[name] += value

    def _add_step(self, counter: str, currency: str, value: int) -> None:
        step_text, channel, what = counter.split(":")
        step: _StepKey = (None, None) if step_text == "0" else (int(step_text), channel)
        if what == rollup.CASES:
            self.step_cases[step] += value
        else:
            self.steps[step][currency] += value

    def figures(self) -> Figures:
        for step in self.step_cases:
            self.steps.setdefault(step, defaultdict(int))
        by_state = _named(self.counts, rollup.STATE)
        by_reminders = _named(self.counts, rollup.REMINDERS)
        opened_in = +self.opened_in  # drop weeks whose counters net to zero
        return Figures(
            cases=sum(opened_in.values()),
            outstanding=_amounts(self.outstanding),
            recovered=_amounts(self.recovered),
            by_state=dict(sorted((k, v) for k, v in by_state.items() if v)),
            by_reminders=dict(sorted((k, v) for k, v in by_reminders.items() if v)),
            weeks=_weeks(opened_in, self.paid_in),
            by_step=tuple(
                StepOutcome(step, channel, self.step_cases[(step, channel)], _amounts(amounts))
                for (step, channel), amounts in sorted(
                    self.steps.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "")
                )
                if self.step_cases[(step, channel)]
            ),
        )


def _within(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at < end)


def _monday(at: datetime) -> date:
    return _monday_of(at.astimezone(UTC).date())


def _monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _named(counts: Counter[str], prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in counts.items() if k.startswith(prefix)}


def _amounts(totals: dict[str, int]) -> tuple[Money, ...]:
    """One amount per currency, a zero total left out (nothing owed or recovered in it)."""
    return tuple(Money(currency, minor) for currency, minor in sorted(totals.items()) if minor)


def _weeks(opened: Counter[date], paid: Counter[date]) -> tuple[Week, ...]:
    if not opened:
        return ()
    week, last = min(opened), max(opened)
    out = []
    while week <= last:  # every week in between, so a chart's gaps are real zeros
        out.append(Week(week, opened[week], paid[week]))
        week += timedelta(days=7)
    return tuple(out)
