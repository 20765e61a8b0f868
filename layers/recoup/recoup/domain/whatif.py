"""What-if: a reminder policy laid over a shop's recent cases before the merchant saves it.

`plan_case` takes a case the way the worker would (the strategy `strategies.choose` picks
from the case's facts, its experiment's arm, the minimum worth chasing, payment terms that
wait for a due date) and lays the steps of that strategy out in time as the sender sends
them: each step due from the case's start (its opening, or the payment terms' due date when
later) or from the step before (`cadence.step_due_at`, a "previous" step counting from the
time the previous one was moved to), then moved out of quiet hours in the customer's zone
(`guardrails.next_allowed`). A message due before the case closed and before `now` would have
gone; one due after the case closed is not counted (the payment or cancellation stopped it);
one still ahead of an open case is to come. `summarise` counts the plans: cases per strategy,
messages per strategy, step and channel, messages gone per week.

Counts and timings only: nothing here guesses whether a customer would have paid sooner. The
planner does not read the customer's contacts, so it ignores the weekly cap, opt-outs and
whether an address or number can be reached (a step counts as gone whatever the channel);
nor does it follow what pauses a sequence (fraud holds, disputes, promises to pay,
instalment plans), a courtesy reminder before a due date, or the strategy a case took when
it opened: a case is matched on its facts as they are now. The summary says so (`LIMITS`).

Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from recoup.domain import cadence, case_facts, guardrails, strategies
from recoup.domain.case import CaseStatus

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from recoup.domain.cadence import ReminderPolicy, Step
    from recoup.domain.case import Case
    from recoup.domain.money import Money
    from recoup.domain.strategies import CaseFacts

# A plan's note when nothing is planned, and why.
NOT_CHASED = "not chased: below the minimum"
HOLDOUT = "holdout"
WAITS_FOR_DUE_DATE = "waits for a due date"
LIMITS = (
    "Counts and timings only, from the policy's steps and quiet hours: the weekly cap, "
    "opt-outs and whether the customer can be reached are not checked (contacts are not "
    "read), nor fraud holds, disputes, promises to pay or instalment plans; each case is "
    "matched on its facts as they are now."
)
# A planned message that is not a step of the sequence: the courtesy reminder before a
# payment-terms due date, the last message before an unpaid order's cancellation.
COURTESY_STEP = -1
CANCEL_NOTICE_STEP = -2
KINDS = {COURTESY_STEP: "courtesy reminder", CANCEL_NOTICE_STEP: "cancellation notice"}


def kind_of(step: int) -> str:
    """A planned message's kind in words: "step 2", "courtesy reminder"."""
    return f"step {step + 1}" if step >= 0 else KINDS[step]


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One step of a case's sequence as it would have gone (or will go). `step` counts from
    0; `at` is UTC, after quiet hours; `channel` is the step's ("email_then_sms" stays so)."""

    step: int
    at: datetime
    channel: str
    tone: str
    template: str
    to_come: bool


@dataclass(frozen=True, slots=True)
class CasePlan:
    """What the policy makes of one case. `strategy_id` is "" when no strategy took it (not
    chased, or waiting for a due date); `note` is "" when its steps are planned, else why
    none is (NOT_CHASED, HOLDOUT, WAITS_FOR_DUE_DATE)."""

    case_id: str
    strategy_id: str
    strategy_name: str
    why: str
    arm: str | None
    messages: tuple[PlannedMessage, ...]
    note: str

    @property
    def gone(self) -> tuple[PlannedMessage, ...]:
        return tuple(m for m in self.messages if not m.to_come)

    @property
    def to_come(self) -> tuple[PlannedMessage, ...]:
        return tuple(m for m in self.messages if m.to_come)


def plan_case(
    policy: ReminderPolicy, case: Case, *, risk: str, zone: ZoneInfo, now: datetime
) -> CasePlan:
    """The messages `policy` sends `case` (a tracked one: it has an opening time), whose
    customer's quiet hours are kept in `zone`; `risk` is its fraud screening's newest level."""
    opened = case.opened_at
    if opened is None:
        raise ValueError(f"case {case.case_id} never opened: there is nothing to plan")
    facts = _facts(case, risk)
    owed = facts.owed
    if owed is None or not cadence.chasable(policy, owed):
        return CasePlan(case.case_id, "", "", _not_chased_why(policy, owed), None, (), NOT_CHASED)
    if facts.payment_terms is not None and facts.due_at is None:
        why = f"payment terms ({facts.payment_terms}) without a due date yet"
        return CasePlan(case.case_id, "", "", why, None, (), WAITS_FOR_DUE_DATE)
    choice = strategies.choose(policy, facts, case.shop, case.case_id)
    arm = choice.arm.id if choice.arm else None
    taken = CasePlan(
        case.case_id, choice.strategy.id, choice.strategy.name, choice.why, arm, (), ""
    )
    if choice.holdout:
        return replace(taken, note=HOLDOUT)
    start = max(opened, facts.due_at) if facts.due_at else opened
    followed = strategies.cadence_for(policy, choice.strategy.id, arm or "")
    strategy = choice.strategy
    # A cancellation ends the sequence as a payment does: nothing after its notice.
    cancel = opened + timedelta(days=strategy.cancel_after_days)
    ends = case.closed_at
    if strategy.cancel_after_days:
        ends = min(ends, cancel) if ends else cancel
    at_now = _utc(now, "now")
    messages = list(_laid_out(followed, start, zone, ends, at_now))
    extra = followed.steps[0]
    if facts.due_at is not None and strategy.courtesy_days:
        courtesy = strategies.courtesy_time(start, strategy.courtesy_days, zone)
        if opened < courtesy and (case.closed_at is None or courtesy < case.closed_at):
            messages.insert(0, _one_off(COURTESY_STEP, courtesy, extra, at_now))
    if strategy.cancel_after_days and (case.closed_at is None or cancel < case.closed_at):
        notice = guardrails.next_allowed(cancel, zone, followed.quiet_hours)
        messages.append(_one_off(CANCEL_NOTICE_STEP, notice, extra, at_now))
    return replace(taken, messages=tuple(messages))


def _one_off(step: int, at: datetime, like: Step, now: datetime) -> PlannedMessage:
    """A message outside the sequence, by the first step's channel, friendly (as sent)."""
    return PlannedMessage(step, at, str(like.channel), "friendly", "friendly", at >= now)


def _facts(case: Case, risk: str) -> CaseFacts:
    """The case's facts with what it owed while open: a closed case owes nothing now, but
    was matched and chased on what it owed then."""
    facts = case_facts.facts_of(case, risk)
    if facts.owed is None and case.status is not CaseStatus.OPEN:
        return replace(facts, owed=case.owed_when_open)
    return facts


def _not_chased_why(policy: ReminderPolicy, owed: Money | None) -> str:
    if owed is None or owed.minor <= 0:
        return "nothing owed"
    return f"owes {owed}, below the shop's minimum of {policy.minimum(owed.currency)}"


def _laid_out(
    followed: ReminderPolicy,
    start: datetime,
    zone: ZoneInfo,
    closed_at: datetime | None,
    now: datetime,
) -> tuple[PlannedMessage, ...]:
    """Each step's time, moved out of quiet hours, up to the case's closing."""
    planned: list[PlannedMessage] = []
    previous: datetime | None = None
    for index, step in enumerate(followed.steps):
        due = cadence.step_due_at(followed, index, start, previous)
        at = guardrails.next_allowed(due, zone, followed.quiet_hours)
        if closed_at is not None and at >= closed_at:
            break  # the payment (or cancellation) stopped the sequence before this step
        planned.append(
            PlannedMessage(index, at, str(step.channel), str(step.tone), step.template, at >= now)
        )
        previous = at
    return tuple(planned)


# --- the summary ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyCount:
    """The cases a strategy took (its holdout's among them) and their messages."""

    strategy_id: str
    name: str
    cases: int
    holdout: int
    gone: int
    to_come: int


@dataclass(frozen=True, slots=True)
class StepCount:
    """The messages of one step of one strategy (and arm, when its experiment runs one)."""

    strategy_id: str
    arm: str | None
    step: int  # from 0
    channel: str
    tone: str
    template: str
    gone: int
    to_come: int


@dataclass(frozen=True, slots=True)
class WeekCount:
    monday: date  # the ISO week (UTC) by its Monday
    gone: int


@dataclass(frozen=True, slots=True)
class Summary:
    """The preview of a policy over the cases opened from `window_start` (included) to
    `window_end` (excluded). `cut`: more cases opened in the window than were read (the
    newest were; `window_start` is then the opening of the oldest read). The strategies in
    the policy's order, the default last; `weeks` every week of the window, oldest first."""

    window_start: datetime
    window_end: datetime
    cases: int
    strategies: tuple[StrategyCount, ...]
    steps: tuple[StepCount, ...]
    weeks: tuple[WeekCount, ...]
    gone: int
    to_come: int
    not_chased: int
    holdout: int
    waiting: int  # payment terms without a due date yet
    first_at: datetime | None  # the first and last planned message, gone or to come
    last_at: datetime | None
    cut: bool = False
    limits: str = LIMITS

    @property
    def cases_by_strategy(self) -> dict[str, int]:
        return {s.strategy_id: s.cases for s in self.strategies}


def summarise(
    plans: Iterable[CasePlan],
    *,
    window_start: datetime,
    window_end: datetime,
    policy: ReminderPolicy | None = None,
    cut: bool = False,
) -> Summary:
    """The counts of these plans. With `policy`, every strategy in force is listed in its
    order (one that took no case with zeros); without, those that took a case, in the
    order they first appear, the default last."""
    start, end = _utc(window_start, "window_start"), _utc(window_end, "window_end")
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    plans = tuple(plans)
    order = _strategy_order(plans, policy)
    rank = {sid: i for i, sid in enumerate(order)}
    messages = [(plan, m) for plan in plans for m in plan.messages]
    times = [m.at for _, m in messages]
    ahead = Counter(m.to_come for _, m in messages)
    notes = Counter(p.note for p in plans)
    return Summary(
        window_start=start,
        window_end=end,
        cases=len(plans),
        strategies=tuple(_strategy_count(sid, name, plans) for sid, name in order.items()),
        steps=_step_counts(messages, rank),
        weeks=_weeks(messages, start, end),
        gone=ahead[False],
        to_come=ahead[True],
        not_chased=notes[NOT_CHASED],
        holdout=notes[HOLDOUT],
        waiting=notes[WAITS_FOR_DUE_DATE],
        first_at=min(times, default=None),
        last_at=max(times, default=None),
        cut=cut,
    )


def _strategy_order(plans: Sequence[CasePlan], policy: ReminderPolicy | None) -> dict[str, str]:
    """Strategy id -> name, in the order the summary lists them."""
    order: dict[str, str] = {}
    if policy is not None:
        order = {s.id: s.name for s in strategies.in_force(policy)}
    default = order.pop(strategies.DEFAULT_ID, None)
    for plan in plans:
        if plan.strategy_id and plan.strategy_id != strategies.DEFAULT_ID:
            order.setdefault(plan.strategy_id, plan.strategy_name)
        elif plan.strategy_id == strategies.DEFAULT_ID and default is None:
            default = plan.strategy_name
    if default is not None:
        order[strategies.DEFAULT_ID] = default
    return order


def _strategy_count(strategy_id: str, name: str, plans: Sequence[CasePlan]) -> StrategyCount:
    taken = [p for p in plans if p.strategy_id == strategy_id]
    return StrategyCount(
        strategy_id=strategy_id,
        name=name,
        cases=len(taken),
        holdout=sum(1 for p in taken if p.note == HOLDOUT),
        gone=sum(len(p.gone) for p in taken),
        to_come=sum(len(p.to_come) for p in taken),
    )


def _step_counts(
    messages: Sequence[tuple[CasePlan, PlannedMessage]], rank: dict[str, int]
) -> tuple[StepCount, ...]:
    counted: dict[tuple[str, str | None, int, str], StepCount] = {}
    for plan, message in messages:
        key = (plan.strategy_id, plan.arm, message.step, message.channel)
        found = counted.get(key) or StepCount(
            plan.strategy_id,
            plan.arm,
            message.step,
            message.channel,
            message.tone,
            message.template,
            0,
            0,
        )
        counted[key] = replace(
            found,
            gone=found.gone + (0 if message.to_come else 1),
            to_come=found.to_come + (1 if message.to_come else 0),
        )
    return tuple(
        counted[key]
        for key in sorted(counted, key=lambda k: (rank.get(k[0], len(rank)), k[1] or "", *k[2:]))
    )


def _weeks(
    messages: Sequence[tuple[CasePlan, PlannedMessage]], start: datetime, end: datetime
) -> tuple[WeekCount, ...]:
    """Messages gone per ISO week (UTC), every week from the window's first to its last."""
    gone: dict[date, int] = {}
    for _, message in messages:
        if not message.to_come:
            monday = _monday(message.at)
            gone[monday] = gone.get(monday, 0) + 1
    first = min([_monday(start), *gone])
    last = max([_monday(end), *gone])
    weeks = (last - first).days // 7 + 1
    mondays = [first + timedelta(weeks=i) for i in range(weeks)]
    return tuple(WeekCount(monday, gone.get(monday, 0)) for monday in mondays)


def _monday(at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def summary_to_dict(summary: Summary) -> dict[str, Any]:
    """The summary as JSON-safe data. Steps are numbered from 1, as the admin shows them."""
    return {
        "window": {
            "start": summary.window_start.isoformat(),
            "end": summary.window_end.isoformat(),
        },
        "cases": summary.cases,
        "cut": summary.cut,
        "cases_by_strategy": summary.cases_by_strategy,
        "strategies": [
            {
                "id": s.strategy_id,
                "name": s.name,
                "cases": s.cases,
                "holdout": s.holdout,
                "gone": s.gone,
                "to_come": s.to_come,
            }
            for s in summary.strategies
        ],
        "messages": [
            {
                "strategy": s.strategy_id,
                "arm": s.arm,
                "step": s.step + 1 if s.step >= 0 else None,
                "kind": kind_of(s.step),
                "channel": s.channel,
                "tone": s.tone,
                "template": s.template,
                "gone": s.gone,
                "to_come": s.to_come,
            }
            for s in summary.steps
        ],
        "weeks": {w.monday.isoformat(): w.gone for w in summary.weeks},
        "gone": summary.gone,
        "to_come": summary.to_come,
        "not_chased": summary.not_chased,
        "holdout": summary.holdout,
        "waiting_for_due_date": summary.waiting,
        "first_at": summary.first_at.isoformat() if summary.first_at else None,
        "last_at": summary.last_at.isoformat() if summary.last_at else None,
        "limits": summary.limits,
    }


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "HOLDOUT",
    "LIMITS",
    "NOT_CHASED",
    "WAITS_FOR_DUE_DATE",
    "CasePlan",
    "PlannedMessage",
    "StepCount",
    "StrategyCount",
    "Summary",
    "WeekCount",
    "plan_case",
    "summarise",
    "summary_to_dict",
]
