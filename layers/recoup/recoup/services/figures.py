"""What Recoup recovered for a shop, in one currency: what is still owed and what is shown
apart (fraud-flagged, unlinked Stripe payments, written off), what was recovered after a
message and what the customers paid by themselves, the conversion of each reminder, money
over time, cohorts by month opened, and the recovery of the cases opened by strategy, by
decline category and by payment method.

`compute` is pure (stored cases in, figures out); `for_shop` sums the shop's rollup items
for the period (`from_rollups`), which the case writes keep equal to `compute` over the same
cases: whole months from month items, the days at the period's edges from day items, the
days not folded yet from their shards (store/rollups.py). A period is whole UTC days: the
cohort figures count the cases *opened* in it, the recovered-over-time chart the payments
*made* in it. Amounts are never added across currencies: the figures are those of one
currency (by default the one most cases opened in), with the others listed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from recoup.domain import rollup
from recoup.domain.aggregate import StoredCase
from recoup.domain.money import Money
from recoup.domain.rollup import Counters, RollupKey
from recoup.store import rollups

# The longest chart the figures draw, in days (two years): an open-ended or very long
# period shows its last MAX_SERIES_DAYS days.
MAX_SERIES_DAYS = 731

# One line per figure, served with them (the page's tooltips) and listed in
# docs/architecture.md ("Figures").
DEFINITIONS: dict[str, str] = {
    "currency": "The currency of every amount shown; amounts are never added across currencies.",
    "cases": "Cases opened in the period in this currency (a payment merged into its order's "
    "case counts once).",
    "outstanding": "Still owed on open cases, leaving out fraud-flagged and written-off cases "
    "and unlinked Stripe payments.",
    "fraud_flagged": "Owed on open cases the fraud check flagged or the merchant confirmed as "
    "fraud.",
    "unlinked_stripe": "Owed on open Stripe payments not (yet) linked to a Shopify order: often "
    "the same debt as an order's case.",
    "written_off": "Owed on cases written off by the merchant or the referral policy.",
    "recovered": "Paid at or after Recoup's first message to the customer.",
    "self_cured": "Paid before any message was sent.",
    "settled_discount": "Taken off cases paid under a settlement offer: written off, not "
    "recovered (recovered counts what was paid).",
    "contacted_cases": "Cases that got at least one message the email or SMS provider accepted.",
    "recovery_rate": "Recovered cases divided by contacted cases.",
    "by_state": "Cases by state: open, paid, cancelled, or written off (an open case written off).",
    "conversion": "Per step, channel and template: messages sent, and how many were followed "
    "by the payment within 7 days.",
    "recovered_over_time": "Money recovered on each UTC day of the period, by the day paid "
    "(whenever the case opened).",
    "opened_over_time": "Cases opened on each UTC day of the period, and what their orders "
    "owed while open.",
    "cohorts": "Cases by UTC month opened: how many, how many were recovered or self-cured; "
    "rate = recovered / opened.",
    "by_strategy": "Cases opened by the strategy that took them (default: the policy's own "
    "sequence, or no strategy), how many were recovered and for how much; rate = recovered / "
    "opened.",
    "by_decline": "Cases opened by the category of their newest declined payment (none: no "
    "payment failed), how many were recovered and for how much; rate = recovered / opened.",
    "by_method": "Cases opened by how the order was to be paid, how many were recovered and "
    "for how much; rate = recovered / opened.",
}


@dataclass(frozen=True, slots=True)
class Total:
    """An amount in the figures' currency (minor units) and the cases it is owed or paid on."""

    cases: int = 0
    minor: int = 0


@dataclass(frozen=True, slots=True)
class Conversion:
    step: int  # from 1
    channel: str
    template: str
    sent: int
    paid_within: int  # paid within rollup.CONVERSION_WINDOW after the message

    @property
    def rate(self) -> float | None:
        return self.paid_within / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    cases: int
    minor: int


@dataclass(frozen=True, slots=True)
class Cohort:
    month: date  # its first day
    opened: int
    recovered: int
    self_cured: int

    @property
    def rate(self) -> float | None:
        return self.recovered / self.opened if self.opened else None


@dataclass(frozen=True, slots=True)
class Segment:
    """The cases opened in the period with one value of a breakdown (a strategy, a decline
    category, a payment method), and those of them recovered, with what they paid."""

    value: str
    cases: int
    recovered: Total

    @property
    def rate(self) -> float | None:
        return self.recovered.cases / self.cases if self.cases else None


@dataclass(frozen=True, slots=True)
class Figures:
    currency: str | None  # None: no case opened in the period
    currencies: tuple[str, ...]  # with cases opened in the period, sorted
    cases: int = 0
    outstanding: Total = Total()
    fraud_flagged: Total = Total()
    unlinked_stripe: Total = Total()
    written_off: Total = Total()
    recovered: Total = Total()
    self_cured: Total = Total()
    settled_discount: Total = Total()
    contacted_cases: int = 0
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rollup.STATES, 0))
    conversion: tuple[Conversion, ...] = ()  # by step, channel, template
    recovered_over_time: tuple[DayPoint, ...] = ()  # every day of the range, oldest first
    opened_over_time: tuple[DayPoint, ...] = ()  # the same days
    cohorts: tuple[Cohort, ...] = ()  # oldest first
    # Each value of a breakdown (rollup.BREAKDOWNS), most cases first, then by value.
    by_strategy: tuple[Segment, ...] = ()
    by_decline: tuple[Segment, ...] = ()
    by_method: tuple[Segment, ...] = ()

    @property
    def recovery_rate(self) -> float | None:
        contacted = self.contacted_cases
        return self.recovered.cases / contacted if contacted else None

    def money(self, minor: int) -> Money | None:
        return Money(self.currency, minor) if self.currency is not None else None


def compute(
    cases: Iterable[StoredCase],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    currency: str | None = None,
) -> Figures:
    """Figures over the stored cases: those opened on the UTC days of [start, end) (either
    bound may be open), and the payments made on those days."""
    first, stop = _days(start, end)
    tallies: defaultdict[str, _Tally] = defaultdict(_Tally)
    for held in cases:
        case, dunning = held.case, held.dunning
        opened = case.opened_at
        if opened is None or not rollup.counted(case):
            continue
        tally = tallies[rollup.case_currency(case)]
        paid = rollup.payment_kind(case, dunning)
        paid_at = case.closed_at
        recovered = case.recovered.minor if case.recovered else 0
        if paid == rollup.RECOVERED and paid_at and _within(rollup.utc_day(paid_at), first, stop):
            tally.recovered_on(rollup.utc_day(paid_at), 1, recovered)
        day = rollup.utc_day(opened)
        if not _within(day, first, stop):
            continue
        tally.opened(day, 1, rollup.opening_amount(case))
        tally.states[rollup.state_of(case, held.referrals)] += 1
        bucket = rollup.open_bucket(case, dunning, held.screening, held.referrals)
        if bucket is not None:
            tally.total(bucket, 1, case.amount_owed.minor if case.amount_owed else 0)
        if paid is not None:
            tally.total(paid, 1, recovered)
            tally.cohort(day, paid, 1)
        if case.settled_discount is not None:
            tally.total(rollup.SETTLED_DISCOUNT, 1, case.settled_discount.minor)
        tally.contacted += 1 if rollup.first_sent(dunning) is not None else 0
        for key, converted in rollup.conversions(case, dunning):
            tally.converted(key, 1, int(converted))
        tally.segments_of(held, paid == rollup.RECOVERED, recovered)
    return _figures(tallies, first, stop, currency)


def for_shop(
    shop: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    currency: str | None = None,
) -> Figures:
    """The figures of one shop for the UTC days of [start, end): a sum of its rollup items
    for those days (store/rollups.py), never a read of its cases; the first request after a
    day is due folds it and puts the next day's items in place (writes). A bound inside a day
    takes in the whole day."""
    first, stop = _days(start, end)
    return from_rollups(rollups.read(shop, first, stop), start=start, end=end, currency=currency)


def from_rollups(
    rows: Iterable[tuple[RollupKey, Counters]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    currency: str | None = None,
) -> Figures:
    """The figures that these rollup rows of the period's days sum to (the same as `compute`
    over the cases that made them: tests/unit/test_figures.py holds the two together)."""
    tallies: defaultdict[str, _Tally] = defaultdict(_Tally)
    for key, counters in rows:
        tally = tallies[key.currency]
        for name, value in counters.items():
            if name.startswith(rollup.DAY):  # a month's daily series
                day, counter = name.removeprefix(rollup.DAY).split(":", 1)
                tally.add(date.fromisoformat(day), counter, value)
            else:
                tally.add(key.day, name, value)
    first, stop = _days(start, end)
    return _figures(tallies, first, stop, currency)


_ConversionKey = tuple[int, str, str]  # (step from 1, channel, template)
_SegmentKey = tuple[str, str]  # (breakdown, value)
# Where a segment's counter is summed: [cases, recovered cases, recovered minor units].
_SEGMENT_COUNTERS = {
    rollup.CASES: 0,
    rollup.RECOVERED + rollup.SUFFIX_CASES: 1,
    rollup.RECOVERED: 2,
}


@dataclass
class _Tally:
    """One currency's figures as they are summed, from cases or from rollup counters."""

    # [cases, minor units] (a conversion's: [sent, paid within the window])
    totals: defaultdict[str, list[int]] = field(default_factory=lambda: _pairs())
    states: Counter[str] = field(default_factory=Counter)
    contacted: int = 0
    conversions: defaultdict[_ConversionKey, list[int]] = field(default_factory=lambda: _pairs())
    opened_on: defaultdict[date, list[int]] = field(default_factory=lambda: _pairs())
    paid_on: defaultdict[date, list[int]] = field(default_factory=lambda: _pairs())
    cohorts: defaultdict[date, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # [cases, recovered cases, recovered minor units]
    segments: defaultdict[_SegmentKey, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )

    def opened(self, day: date, cases: int, minor: int) -> None:
        self.opened_on[day][0] += cases
        self.opened_on[day][1] += minor
        self.cohorts[rollup.month_of(day)][rollup.CASES] += cases

    def recovered_on(self, day: date, cases: int, minor: int) -> None:
        self.paid_on[day][0] += cases
        self.paid_on[day][1] += minor

    def total(self, name: str, cases: int, minor: int) -> None:
        self.totals[name][0] += cases
        self.totals[name][1] += minor

    def cohort(self, day: date, kind: str, cases: int) -> None:
        self.cohorts[rollup.month_of(day)][kind] += cases

    def converted(self, key: _ConversionKey, sent: int, paid: int) -> None:
        self.conversions[key][0] += sent
        self.conversions[key][1] += paid

    def segments_of(self, held: StoredCase, recovered: bool, minor: int) -> None:
        """One case opened in the period, under its value of each breakdown."""
        for name, value in rollup.breakdown(held.case, held.dunning):
            counts = self.segments[(name, value)]
            counts[0] += 1
            if recovered:
                counts[1] += 1
                counts[2] += minor

    def add(self, day: date, name: str, value: int) -> None:
        """One rollup counter of `day` (a month's first day for a month's own counters)."""
        if name == rollup.CASES:
            self.opened(day, value, 0)
        elif name == rollup.OPENED_AMOUNT:
            self.opened(day, 0, value)
        elif name.startswith(rollup.STATE):
            self.states[name.removeprefix(rollup.STATE)] += value
        elif name == rollup.CONTACTED:
            self.contacted += value
        elif name.startswith(rollup.CONVERSION):
            self._add_conversion(name, value)
        elif name.startswith(rollup.BY):
            self._add_segment(name, value)
        elif name.startswith(rollup.PAID_ON):
            counter = name.removeprefix(rollup.PAID_ON)
            cases = counter.endswith(rollup.SUFFIX_CASES)
            self.recovered_on(day, value if cases else 0, 0 if cases else value)
        else:
            self._add_total(day, name, value)

    def _add_conversion(self, name: str, value: int) -> None:
        """A `conv:<step>:<channel>:<template>:<sent | paid_within>` counter."""
        step, channel, rest = name.removeprefix(rollup.CONVERSION).split(":", 2)
        template, what = rest.rsplit(":", 1)
        sent = value if what == rollup.SENT else 0
        self.converted((int(step), channel, template), sent, value - sent)

    def _add_segment(self, name: str, value: int) -> None:
        """A `by:<breakdown>:<value>:<counter>` counter."""
        breakdown, rest = name.removeprefix(rollup.BY).split(":", 1)
        segment, counter = rest.rsplit(":", 1)
        at = _SEGMENT_COUNTERS.get(counter)
        if at is not None:
            self.segments[(breakdown, segment)][at] += value

    def segments_by(self, breakdown: str) -> tuple[Segment, ...]:
        """The values of one breakdown with anything counted, most cases first."""
        found = [
            Segment(value, cases, Total(recovered, minor))
            for (name, value), (cases, recovered, minor) in self.segments.items()
            if name == breakdown and (cases or recovered or minor)
        ]
        return tuple(sorted(found, key=lambda segment: (-segment.cases, segment.value)))

    def _add_total(self, day: date, name: str, value: int) -> None:
        bucket = name.removesuffix(rollup.SUFFIX_CASES)
        if bucket not in rollup.OPEN_BUCKETS + rollup.PAID_TOTALS:
            return  # not a figure of this version
        if bucket == name:
            self.total(bucket, 0, value)
            return
        self.total(bucket, value, 0)
        if bucket in rollup.PAID_BUCKETS:
            self.cohort(day, bucket, value)

    def figures(self, currency: str, currencies: tuple[str, ...], days: list[date]) -> Figures:
        def total(name: str) -> Total:
            cases, minor = self.totals.get(name, (0, 0))
            return Total(cases, minor)

        return Figures(
            currency=currency,
            currencies=currencies,
            cases=sum(count[rollup.CASES] for count in self.cohorts.values()),
            outstanding=total(rollup.OUTSTANDING),
            fraud_flagged=total(rollup.FRAUD_FLAGGED),
            unlinked_stripe=total(rollup.UNLINKED_STRIPE),
            written_off=total(rollup.WRITTEN_OFF),
            recovered=total(rollup.RECOVERED),
            self_cured=total(rollup.SELF_CURED),
            settled_discount=total(rollup.SETTLED_DISCOUNT),
            contacted_cases=self.contacted,
            by_state={state: self.states[state] for state in rollup.STATES},
            conversion=tuple(
                Conversion(step, channel, template, sent, paid)
                for (step, channel, template), (sent, paid) in sorted(self.conversions.items())
                if sent or paid
            ),
            recovered_over_time=tuple(DayPoint(d, *self.paid_on.get(d, (0, 0))) for d in days),
            opened_over_time=tuple(DayPoint(d, *self.opened_on.get(d, (0, 0))) for d in days),
            cohorts=tuple(
                Cohort(
                    month,
                    count[rollup.CASES],
                    count[rollup.RECOVERED],
                    count[rollup.SELF_CURED],
                )
                for month, count in sorted(self.cohorts.items())
                if any(count.values())
            ),
            by_strategy=self.segments_by(rollup.STRATEGY),
            by_decline=self.segments_by(rollup.DECLINE),
            by_method=self.segments_by(rollup.METHOD),
        )

    def data_days(self) -> list[date]:
        return [
            day
            for series in (self.opened_on, self.paid_on)
            for day, (cases, minor) in series.items()
            if cases or minor
        ]


def _pairs() -> defaultdict[Any, list[int]]:
    return defaultdict(lambda: [0, 0])


def _figures(
    tallies: dict[str, _Tally], first: date | None, stop: date | None, currency: str | None
) -> Figures:
    opened = {
        name: sum(c[rollup.CASES] for c in tally.cohorts.values())
        for name, tally in tallies.items()
        if name != rollup.NO_CURRENCY
    }
    currencies = tuple(sorted(name for name, count in opened.items() if count > 0))
    if currency is None and currencies:
        currency = min(currencies, key=lambda name: (-opened[name], name))
    if currency is None:
        return Figures(currency=None, currencies=())
    tally = tallies.get(currency, _Tally())
    return tally.figures(currency, currencies, _series_days(tally.data_days(), first, stop))


def _series_days(data: list[date], first: date | None, stop: date | None) -> list[date]:
    """The charts' days: the period's, an open bound taken from the first or last day with
    data; at most MAX_SERIES_DAYS, the latest."""
    low = first if first is not None else min(data, default=None)
    high = stop - timedelta(days=1) if stop is not None else max(data, default=None)
    if low is None or high is None or high < low:
        return []
    low = max(low, high - timedelta(days=MAX_SERIES_DAYS - 1))
    return [low + timedelta(days=n) for n in range((high - low).days + 1)]


def _days(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    """The UTC days [first, stop) of a period; a bound inside a day takes in the whole day."""
    first = start.astimezone(UTC).date() if start else None
    stop = None
    if end is not None:
        last = end.astimezone(UTC)
        stop = last.date() + timedelta(days=1 if last.time() != time(0) else 0)
    return first, stop


def _within(day: date, first: date | None, stop: date | None) -> bool:
    return (first is None or day >= first) and (stop is None or day < stop)
