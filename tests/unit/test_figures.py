"""Recovery figures from cases and their reminder progress: per currency, by week of opening,
by the reminder that preceded each payment, by state."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoup.domain import rollup
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.events import OrderSnapshot
from recoup.domain.money import Money
from recoup.services.figures import compute, from_rollups

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def case(
    case_id: str,
    owed: Money,
    *,
    opened: datetime = MONDAY,
    paid_at: datetime | None = None,
    cancelled_at: datetime | None = None,
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
        shop="shop.myshopify.com",
        case_id=case_id,
        status=status,
        status_since=tuple(since),
        snapshot=OrderSnapshot(amount_owed=owed, order_total=owed),
        owed_when_open=owed,
    )


def sent(step: int, channel: str, at: datetime) -> SentMessage:
    return SentMessage(step, channel, at, "id", "friendly", 100, "USD")


def reminders(*messages: SentMessage, status: DunningStatus = DunningStatus.STOPPED) -> Dunning:
    return Dunning(status, sent=messages)


def test_amounts_are_summed_per_currency_never_across() -> None:
    cases = [
        (case("1", Money("USD", 10_000)), None),
        (case("2", Money("USD", 2_550)), None),
        (case("3", Money("EUR", 9_900)), None),
        (case("4", Money("JPY", 12_000), paid_at=MONDAY + timedelta(days=2)), None),
        (case("5", Money("EUR", 500), paid_at=MONDAY + timedelta(days=1)), None),
    ]
    figures = compute(cases)
    assert figures.outstanding == (Money("EUR", 9_900), Money("USD", 12_550))
    assert figures.recovered == (Money("EUR", 500), Money("JPY", 12_000))
    assert figures.cases == 5


def test_cancelled_cases_count_by_state_but_owe_and_recover_nothing() -> None:
    figures = compute(
        [
            (case("1", Money("USD", 5_000), cancelled_at=MONDAY + timedelta(hours=3)), None),
            (case("2", Money("USD", 7_000)), reminders(status=DunningStatus.HELD)),
        ]
    )
    assert figures.outstanding == (Money("USD", 7_000),)
    assert figures.recovered == ()
    assert figures.by_state == {"cancelled": 1, "open": 1}
    assert figures.by_reminders == {"held": 1, "none": 1}


def test_recovery_rate_is_per_week_of_opening_with_empty_weeks_kept() -> None:
    week2 = MONDAY + timedelta(days=14, hours=5)
    figures = compute(
        [
            (case("1", Money("USD", 100), paid_at=MONDAY + timedelta(days=20)), None),
            (case("2", Money("USD", 100), opened=MONDAY + timedelta(days=6)), None),
            (case("3", Money("USD", 100), opened=week2, paid_at=week2 + timedelta(days=1)), None),
        ]
    )
    assert [(w.monday, w.opened, w.recovered) for w in figures.weeks] == [
        (date(2026, 11, 2), 2, 1),
        (date(2026, 11, 9), 0, 0),
        (date(2026, 11, 16), 1, 1),
    ]
    assert [w.rate for w in figures.weeks] == [0.5, None, 1.0]


def test_a_payment_is_credited_to_the_last_reminder_sent_before_it() -> None:
    paid = MONDAY + timedelta(days=5)
    chased = reminders(
        sent(0, "email", MONDAY + timedelta(days=1)),
        sent(1, "sms", MONDAY + timedelta(days=4)),
        sent(2, "email", paid + timedelta(hours=1)),  # after the payment: not the cause
    )
    figures = compute(
        [
            (case("1", Money("USD", 4_000), paid_at=paid), chased),
            (case("2", Money("EUR", 1_000), paid_at=paid), chased),
            (case("3", Money("USD", 500), paid_at=MONDAY + timedelta(hours=2)), reminders()),
            (case("4", Money("USD", 900)), chased),
        ]
    )
    assert [(o.step, o.channel, o.cases, o.recovered) for o in figures.by_step] == [
        (None, None, 1, (Money("USD", 500),)),
        (2, "sms", 2, (Money("EUR", 1_000), Money("USD", 4_000))),
    ]


def test_a_period_selects_the_cases_opened_in_it() -> None:
    early = case("1", Money("USD", 100), opened=MONDAY - timedelta(days=30))
    inside = case("2", Money("USD", 200))
    late = case("3", Money("USD", 400), opened=MONDAY + timedelta(days=30))
    merged = replace(case("4", Money("USD", 800)), merged_into="2")
    figures = compute(
        [(c, None) for c in (early, inside, late, merged)],
        start=MONDAY - timedelta(days=1),
        end=MONDAY + timedelta(days=1),
    )
    assert figures.cases == 1
    assert figures.outstanding == (Money("USD", 200),)


def test_no_cases_give_empty_figures() -> None:
    figures = compute([])
    assert (figures.cases, figures.outstanding, figures.weeks, figures.by_step) == (0, (), (), ())


# ------------------------------------------------------------------------------- rollups

CURRENCIES = ("USD", "EUR", "JPY")


@st.composite
def case_histories(draw: st.DrawFn) -> tuple[list[tuple[Case, Dunning | None]], ...]:
    """A case's states over its life (opened, reminded, then maybe paid or cancelled), as the
    store writes them one after another."""
    case_id = str(draw(st.integers(1, 10**6)))
    owed = Money(draw(st.sampled_from(CURRENCIES)), draw(st.integers(0, 10**6)))
    opened = MONDAY + timedelta(days=draw(st.integers(0, 40)), minutes=draw(st.integers(0, 1439)))
    messages = tuple(
        sent(step, draw(st.sampled_from(("email", "sms"))), opened + timedelta(days=step + 1))
        for step in range(draw(st.integers(0, 3)))
    )
    end = draw(st.sampled_from(("open", "paid", "cancelled")))
    after = timedelta(days=draw(st.integers(0, 6)), hours=draw(st.integers(0, 23)))
    first = case(case_id, owed, opened=opened)
    states: list[tuple[Case, Dunning | None]] = [(first, reminders(status=DunningStatus.SCHEDULED))]
    states.append((first, reminders(*messages, status=DunningStatus.SCHEDULED)))
    if end == "paid":
        states.append(
            (case(case_id, owed, opened=opened, paid_at=opened + after), reminders(*messages))
        )
    elif end == "cancelled":
        closed = case(case_id, owed, opened=opened, cancelled_at=opened + after)
        states.append((closed, reminders(*messages)))
    return tuple(states)


def _summed(
    histories: list[tuple[tuple[Case, Dunning | None], ...]],
) -> list[tuple[Any, dict[str, int]]]:
    """The rollup items the store would hold after writing every state of every case."""
    items: dict[Any, dict[str, int]] = {}
    for history in histories:
        before = None
        for state in history:
            after = rollup.contribution(*state)
            for key, counters in rollup.delta(before, after).items():
                into = items.setdefault(key, {})
                for name, value in counters.items():
                    into[name] = into.get(name, 0) + value
            before = after
    return list(items.items())


@settings(max_examples=200, deadline=None)
@given(st.lists(case_histories(), max_size=12, unique_by=lambda h: h[0][0].case_id))
def test_rollups_written_case_by_case_sum_to_the_figures_of_the_cases(
    histories: list[tuple[tuple[Case, Dunning | None], ...]],
) -> None:
    # Given cases written state after state, each write adding its delta to the rollups
    rows = _summed(histories)
    finals = [history[-1] for history in histories]
    # When the figures are read from the rollups / Then they equal those of the cases
    assert from_rollups(rows) == compute(finals)
    # and a period of whole UTC days reads only those days' rollups, the same cohort
    start, end = MONDAY + timedelta(days=7), MONDAY + timedelta(days=21)
    in_period = [(k, c) for k, c in rows if start.date() <= k.day < end.date()]
    start_day = start.replace(hour=0, minute=0)
    end_day = end.replace(hour=0, minute=0)
    assert from_rollups(in_period) == compute(finals, start=start_day, end=end_day)


def test_a_merged_case_leaves_the_figures_it_was_counted_in() -> None:
    # Given an open case counted in the figures
    opened = case("1", Money("USD", 5_000))
    counted = rollup.contribution(opened, None)
    # When it is merged into another case
    merged = replace(opened, merged_into="2")
    change = rollup.delta(counted, rollup.contribution(merged, None))
    # Then its contribution is taken back whole
    assert counted is not None
    assert change == {counted[0]: {name: -value for name, value in counted[1].items()}}


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
        st.lists(case_histories(), min_size=1, max_size=8, unique_by=lambda h: h[0][0].case_id)
    )
    events: list[tuple[datetime, str, Any]] = []
    for history in histories:
        first = history[0][0].opened_at
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


@settings(
    max_examples=30,
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
    current: dict[str, tuple[Case, Dunning | None]] = {}
    # Given case changes written as they happen (late changes to days folded long before
    # among them), folds at random points, and writers whose clocks are off
    for at, kind, what in timeline:
        if kind == "write":
            state, before, skew = what
            change = rollup.delta(
                rollup.contribution(*before) if before else None, rollup.contribution(*state)
            )
            if change:
                _write_rollups(shop, state[0].case_id, change, at + skew)
            current[state[0].case_id] = state
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
