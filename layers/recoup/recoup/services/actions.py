"""A merchant's decisions on one case: approve after review, confirm fraud, hold, resume,
refer (to an agency or legal), withdraw a referral, write off, reopen a write-off or an
ended referral (resuming where the reminders stopped, or from step 1), send the next step
now, and skip it.

Each action is one change of the case (`store.cases.change`): a version-conditioned write of
its reminders, screening and referrals with an audit entry naming who decided (the staff
member, by name when known: `services.staff`) and why, decided again on a fresh read when
another writer got there first. An action that does not fit the case's state is refused with
the reason, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from recoup import queue
from recoup.domain import cadence
from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Decision, Gate, Screening
from recoup.domain.referral import (
    ReferralKind,
    Referrals,
    ReferralStatus,
    ReferralTransitionError,
    WriteOff,
    transition,
)
from recoup.errors import Conflict, InvalidInput, NotFound
from recoup.observability import logger, metrics
from recoup.services import referrals as referrals_service
from recoup.services.reminder_plan import gate_reminders, reminder_policy
from recoup.services.staff import Actor
from recoup.services.tagging import flag_customer
from recoup.store import cases as store
from recoup.store import shops

MAX_NOTE = 1000
REOPEN_MODES = ("resume", "start_over")


class UnknownCase(NotFound):
    """No such case in this shop."""


class ActionRefused(Conflict):
    """The action does not fit the case's state; the message says why."""

    code = "action_refused"


class InvalidAction(InvalidInput, ValueError):
    """The action, its note, its kind or its mode cannot be used; `field` says which. A
    ValueError too, for callers that are not HTTP routes."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What an action does to a case: new reminders and screening (None: unchanged)."""

    summary: str
    dunning: Dunning | None = None
    screening: Screening | None = None
    tag: bool = False  # tag the customer as fraud once stored
    referrals: Referrals | None = None
    referred: referrals_service.Prepared | None = None  # hand over and tag once stored
    send_step: int | None = None  # queue this step for the sender once stored


class Plan(Protocol):
    """What an action does to a stored case; it writes nothing, so the admin API can try
    it to tell which actions a case allows."""

    def __call__(
        self,
        stored: StoredCase,
        by: Actor,
        note: str,
        now: datetime,
        kind: str | None = None,
        mode: str | None = None,
    ) -> Effect: ...


def perform(
    shop: str,
    case_id: str,
    action: str,
    *,
    by: Actor | str,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """Apply one merchant action; returns the case's new reminder and screening state.
    `by`: the staff member (a text is a name as shown, for callers outside the admin API).
    `kind` is for `refer`: "agency" or "legal"; `mode` for `reopen`: "resume" or
    "start_over". Raises InvalidAction before reading the case when the request cannot be
    used."""
    plan = _checked(action, note, kind, mode)
    note = note.strip()
    actor = by if isinstance(by, Actor) else Actor(by, by)

    def decide(stored: StoredCase | None) -> store.Change[dict[str, Any]]:
        if stored is None or stored.case.merged_into is not None or not stored.case.opened:
            raise UnknownCase(f"no case {case_id} in this shop")
        effect = plan(stored, actor, note, now, kind, mode)
        summary = f"{effect.summary} by {actor.label}" + (f": {note}" if note else "")
        if effect.referred is not None:
            referrals_service.write_files(stored, effect.referred, now)
        return store.Change(
            stored.case,
            _entry(stored, action, summary, actor, now),
            _state(stored, effect, summary),
            dunning=effect.dunning,
            screening=effect.screening,
            referrals=effect.referrals,
            after=lambda: _after(stored, action, effect, summary),
        )

    return store.change(shop, case_id, decide, now=now)


def _after(stored: StoredCase, action: str, effect: Effect, summary: str) -> None:
    """What follows a stored action: the customer tagged, the referral handed over, a step
    made due now queued for the sender."""
    metrics.add_metric(name="MerchantAction", unit="Count", value=1)
    logger.info("Merchant action", extra={"case_id": stored.case.case_id, "action": action})
    if effect.tag:
        flag_customer(stored.case, "fraud", summary)
    if effect.referred is not None:
        referrals_service.after_write(stored.case.shop, stored, effect.referred)
    if effect.send_step is not None:
        _queue_step(stored, effect.send_step)


def _queue_step(stored: StoredCase, step: int) -> None:
    """The quick path: the step is in the due index already (the scheduler's next run
    queues it), and the sender's claim makes two jobs for it one send."""
    job = queue.CaseJob(stored.case.shop, stored.case.case_id, step=step)
    try:
        queue.send(queue.Queue.REMINDERS, job)
    except queue.NotQueued as exc:
        logger.warning(
            "Step left to the scheduler",
            extra={"case_id": stored.case.case_id, "error": type(exc).__name__},
        )


def _checked(action: str, note: str, kind: str | None, mode: str | None) -> Plan:
    plan = ACTIONS.get(action)
    if plan is None:
        choices = ", ".join(sorted(ACTIONS))
        raise InvalidAction(f"unknown action {action!r}; one of {choices}", field="action")
    if len(note) > MAX_NOTE:
        raise InvalidAction(f"must be a text of at most {MAX_NOTE} characters", field="note")
    if kind is not None and kind not in ("agency", "legal"):
        raise InvalidAction("must be agency or legal", field="kind")
    if action == "refer" and kind is None:
        raise InvalidAction("is required to refer: agency or legal", field="kind")
    if mode is not None and mode not in REOPEN_MODES:
        raise InvalidAction("must be resume or start_over", field="mode")
    if action == "reopen" and mode is None:
        raise InvalidAction(
            "is required to reopen: resume (where the reminders stopped) or start_over "
            "(from step 1)",
            field="mode",
        )
    return plan


def _approve(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    screening = _open_screening(stored)
    if screening.gate is Gate.FLAG:
        raise ActionRefused(f"case is flagged as fraud ({screening.why()}); it cannot be approved")
    if screening.gate is Gate.RUN:
        raise ActionRefused("case is not held for review")
    decided = screening.decide(Decision.APPROVED, now, by.id, note)
    return Effect("approved after review", _gated(stored, decided, now), decided)


def _confirm_fraud(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    screening = _open_screening(stored)
    if screening.decision is Decision.CONFIRMED_FRAUD:
        raise ActionRefused("case is already confirmed as fraud")
    decided = screening.decide(Decision.CONFIRMED_FRAUD, now, by.id, note)
    dunning = stored.dunning
    if dunning is not None and dunning.not_theirs:
        # The customer named on the order said they did not place it: confirming fraud
        # agrees with them. They are the victim: no referral, no fraud tag on their record.
        victim = dunning.settle_report().flag(
            f"no reminders: {decided.why()}; the customer named on the order did not place it"
        )
        return Effect("confirmed as fraud: the customer named is its victim", victim, decided)
    # Confirmed fraud is a legal referral candidate: the referral check runs now.
    flagged = (
        dunning.settle_report().flag(f"no reminders: {decided.why()}").escalate(now)
        if dunning
        else None
    )
    return Effect("confirmed as fraud", flagged, decided, tag=True)


def _hold(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is not None and dunning.held_by == "merchant":
        raise ActionRefused("case is already held by the merchant")
    if dunning is None or dunning.status in (DunningStatus.STOPPED, DunningStatus.NOT_CHASED):
        raise ActionRefused("case has no reminder sequence to hold")
    return Effect("held", dunning.hold("merchant", f"held by {by.label}"))


def _resume(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is not None and dunning.report and dunning.held_by not in ("merchant", "customer"):
        # A report on a sequence that was not running (not chased, held for fraud, spent):
        # the merchant has looked at it; the sequence stays as it is.
        return Effect("the customer's report settled", dunning.settle_report())
    if dunning is None or dunning.held_by not in ("merchant", "customer"):
        raise ActionRefused("case is not held by the merchant or by a customer's report")
    # A customer's report is settled by resuming: the merchant has looked at it.
    resumed = dunning.settle_report().resume(now, f"resumed by {by.label}")
    if stored.screening is not None:
        # The merchant's hold is lifted; the fraud check's own hold or flag still applies.
        resumed = gate_reminders(resumed, stored.screening, now) or resumed
    return Effect("resumed", resumed)


def _refer(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    """Refer to `kind` by hand; without a kind (the admin API asking which actions a case
    allows), the first kind that could be referred."""
    _require_open(stored)
    _require_free(stored)
    if stored.referrals is not None and stored.referrals.written_off is not None:
        raise ActionRefused("case is written off: reopen it first")
    kinds = [ReferralKind(kind)] if kind in ("agency", "legal") else list(ReferralKind)
    policy = referrals_service.referral_policy(stored.case.shop)
    reason = f"referred by hand by {by.label}" + (f": {note}" if note else "")
    refused: list[str] = []
    for referral_kind in kinds:
        try:
            prepared = referrals_service.prepare(stored, referral_kind, reason, policy, now)
        except ValueError as exc:  # ReferralTransitionError included
            refused.append(str(exc))
            continue
        break
    else:
        raise ActionRefused("; ".join(refused))
    return Effect(
        prepared.summary, prepared.dunning, referrals=prepared.referrals, referred=prepared
    )


def _withdraw(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    """Take an active referral back from the agency or lawyer. Not while its hand-over is
    still being delivered: the agency would get a referral already withdrawn. Recoup does
    not tell the agency; the merchant does (the trail records when)."""
    _require_open(stored)
    referrals = stored.referrals or Referrals()
    latest, latest_id = referrals.latest, referrals.latest_id
    if latest is None or latest_id is None or not latest.active:
        raise ActionRefused("case has no active referral to withdraw")
    if latest.notification.open:
        raise ActionRefused(
            f"the {latest.kind} has not received the referral yet ({latest.notification.status}); "
            "withdraw it once the hand-over is delivered"
        )
    reason = f"withdrawn by {by.label}" + (f": {note}" if note else "")
    try:
        withdrawn = transition(latest, ReferralStatus.WITHDRAWN, now, reason[:1000])
    except ReferralTransitionError as exc:
        raise ActionRefused(str(exc)) from None
    return Effect(
        f"{latest.kind} referral {latest_id} withdrawn",
        referrals=referrals.updated(latest_id, withdrawn),
    )


def _write_off(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    _require_open(stored)
    _require_free(stored)
    referrals = stored.referrals or Referrals()
    if referrals.written_off is not None:
        raise ActionRefused("case is already written off")
    latest = referrals.latest
    if latest is not None and latest.active:
        raise ActionRefused(f"case is referred to {latest.kind}: withdraw the referral first")
    reason = f"written off by {by.label}" + (f": {note}" if note else "")
    dunning = (stored.dunning or Dunning(DunningStatus.STOPPED)).finish(
        DunningStatus.STOPPED, reason
    )
    return Effect(
        "written off", dunning, referrals=referrals.write_off(WriteOff(now, reason, by.id))
    )


def _reopen(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    """Undo a write-off, or take back a case whose referral ended unpaid (returned or
    withdrawn) and whose reminders have not started again: back on the reminder sequence,
    where it stopped ("resume": the next unsent step, at its time or now) or from step 1
    ("start_over"). With every step sent already, resuming leaves it awaiting escalation
    (refer, write off or start over). The sender's guardrails apply to every step."""
    _require_open(stored)
    referrals = stored.referrals or Referrals()
    latest = referrals.latest
    dunning = stored.dunning or Dunning(DunningStatus.STOPPED)
    ended = (
        latest is not None
        and latest.status in (ReferralStatus.RETURNED_UNPAID, ReferralStatus.WITHDRAWN)
        and dunning.status in (DunningStatus.STOPPED, DunningStatus.AWAITING_ESCALATION)
    )
    if referrals.written_off is None and not ended:
        raise ActionRefused("case is neither written off nor back from a referral")
    reopened, words = _back_on_sequence(stored, dunning, mode or "resume", by, now)
    if stored.screening is not None:
        reopened = gate_reminders(reopened, stored.screening, now) or reopened
    return Effect(f"reopened ({words})", reopened, referrals=referrals.write_off(None))


def _back_on_sequence(
    stored: StoredCase, dunning: Dunning, mode: str, by: Actor, now: datetime
) -> tuple[Dunning, str]:
    """The sequence back on its steps as the shop's policy has them now, and in words."""
    case = stored.case
    policy = reminder_policy(case.shop, shops.get(case.shop), dunning)
    opened = dunning.starts_from(case.opened_at or now)
    reason = f"reopened by {by.label}"
    if mode == "start_over":
        first = cadence.step_due_at(policy, 0, opened, None)
        return dunning.start_over(first, now, reason), "starting over from step 1"
    step = dunning.next_unsent()
    if step is None or step >= len(policy.steps):
        spent = dunning.finish(
            DunningStatus.AWAITING_ESCALATION, f"{reason}: every step was sent already"
        )
        return spent, "every reminder was sent already: awaiting escalation"
    last_sent = dunning.sent[-1].at if dunning.sent else None
    at = cadence.step_due_at(policy, step, opened, last_sent)
    return dunning.resume_at(step, at, now, reason), f"resuming at step {step + 1}"


def _send_now(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    """The next step due now; the sender still decides whether it may go (quiet hours,
    the weekly cap, opt-outs) and defers or skips it as it would any step."""
    dunning = _scheduled(stored)
    step = dunning.next_step
    made_due = dunning.due_now(now, f"step {step + 1} due now, as {by.label} asked")
    return Effect(f"step {step + 1} made due now", made_due, send_step=step)


def _skip_step(
    stored: StoredCase,
    by: Actor,
    note: str,
    now: datetime,
    kind: str | None = None,
    mode: str | None = None,
) -> Effect:
    """The next step passed over: the one after it becomes next, at its time (counted from
    the last message sent), or now if that has passed; the last step skipped leaves the
    sequence awaiting escalation."""
    dunning = _scheduled(stored)
    case = stored.case
    step = dunning.next_step
    policy = reminder_policy(case.shop, shops.get(case.shop), dunning)
    following: datetime | None = None
    if step + 1 < len(policy.steps):
        last_sent = dunning.sent[-1].at if dunning.sent else None
        opened = dunning.starts_from(case.opened_at or now)
        following = cadence.step_due_at(policy, step + 1, opened, last_sent)
    reason = f"step {step + 1} skipped by {by.label}"
    skipped = dunning.skip_next(following, now, reason)
    # The reminders' reason says what is next; the trail names the step and who skipped it.
    last = " (the last)" if following is None else ""
    return Effect(f"step {step + 1}{last} skipped", skipped)


def available(stored: StoredCase, now: datetime) -> list[str]:
    """The actions this case's state allows. Plans only decide and write nothing (files and
    the case write happen in `perform`), so trying each tells, by the rules `perform` uses."""
    allowed = []
    nobody = Actor("")
    for name, plan in ACTIONS.items():
        try:
            plan(stored, nobody, "", now)
        except ActionRefused:
            continue
        allowed.append(name)
    return allowed


ACTIONS: dict[str, Plan] = {
    "approve": _approve,
    "confirm_fraud": _confirm_fraud,
    "hold": _hold,
    "resume": _resume,
    "refer": _refer,
    "withdraw": _withdraw,
    "write_off": _write_off,
    "reopen": _reopen,
    "send_now": _send_now,
    "skip_step": _skip_step,
}


def _require_open(stored: StoredCase) -> None:
    if stored.case.status is not CaseStatus.OPEN:
        raise ActionRefused(f"case is {stored.case.status}")


def _require_free(stored: StoredCase) -> None:
    """Open disputes and a merchant's hold stop everything, referrals included."""
    if stored.case.dispute_open:
        raise ActionRefused("a dispute is open on the case: nothing is referred while it lasts")
    if stored.dunning is not None and stored.dunning.held_by == "merchant":
        raise ActionRefused("case is held by the merchant: resume it first")


def _scheduled(stored: StoredCase) -> Dunning:
    """The sequence with a step scheduled, for the moves on that step."""
    _require_open(stored)
    _require_free(stored)
    dunning = stored.dunning
    if dunning is None or not dunning.due:
        status = dunning.status if dunning else "none"
        raise ActionRefused(f"no reminder step is scheduled (reminders: {status})")
    return dunning


def _open_screening(stored: StoredCase) -> Screening:
    _require_open(stored)
    if stored.screening is None:
        raise ActionRefused("case has not been screened for fraud")
    return stored.screening


def _gated(stored: StoredCase, screening: Screening, now: datetime) -> Dunning | None:
    dunning = stored.dunning
    if dunning is None:
        return None
    if dunning.report == "not_mine":
        # The review the customer's "not my order" asked for is done: approved, the
        # reminders run again as after any review.
        dunning = dunning.settle_report()
        if dunning.held_by == "customer":
            dunning = dunning.resume(now, "approved after the customer's report")
        return gate_reminders(dunning, screening, now) or dunning
    return gate_reminders(dunning, screening, now)


def _entry(
    stored: StoredCase, action: str, summary: str, actor: Actor, now: datetime
) -> AuditEntry:
    entry = store.recoup_entry(
        stored,
        source="merchant",
        kind=f"merchant.{action}",
        event_id=f"merchant:{action}:{stored.case.case_id}:{now.isoformat()}",
        summary=summary,
        effect=summary,
        now=now,
    )
    body = {**entry.body, "actor": actor.to_dict()}
    return AuditEntry.following(stored.audit_seq, entry.prev_hash, body)


def _state(stored: StoredCase, effect: Effect, summary: str) -> dict[str, Any]:
    reminders = effect.dunning if effect.dunning is not None else stored.dunning
    screened = effect.screening if effect.screening is not None else stored.screening
    current = screened.current if screened else None
    return {
        "case_id": stored.case.case_id,
        "effect": summary[:1].upper() + summary[1:],
        "reminders": reminders.to_dict() if reminders else None,
        "risk": {
            "level": str(current.level) if current else None,
            "score": current.score if current else None,
            "gate": str(screened.gate) if screened else None,
            "decision": str(screened.decision) if screened and screened.decision else None,
        },
    }
