"""Where a case is in its reminder sequence: the next step, when it is due, what was sent.

Kept beside the case's fold of platform facts, not inside it: reminders are Recoup's own
actions, ordered by the sender's claims, while the fold is order-free by design.

Sending is at-most-once per step: a step is claimed (a conditional write) right before the
provider is called, and a claimed step is never sent again, even if the sender crashed
before recording the outcome or the provider's answer was lost (recorded as `unknown`).
Everything around the send (scheduling, recording, the claim itself) is at-least-once and
idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from recoup.domain.instalments import Plan, PlanStatus


class DunningStatus(StrEnum):
    SCHEDULED = "scheduled"  # a step is due at next_at
    HELD = "held"  # held for fraud review or by the merchant; resumed by a decision
    FLAGGED = "flagged"  # flagged as fraud: no reminders, no pay link
    AWAITING_ESCALATION = "awaiting_escalation"  # the sequence is spent, still unpaid
    NOT_CHASED = "not_chased"  # below the shop's minimum amount
    STOPPED = "stopped"  # the case closed: paid or cancelled
    PROMISED = "promised"  # the customer promised to pay by a date: paused until then
    PLANNED = "planned"  # the customer pays by an instalment plan: paused while it runs


# The states in which a failed card payment may be retried.
RETRYING = (
    DunningStatus.SCHEDULED,
    DunningStatus.AWAITING_ESCALATION,
    DunningStatus.NOT_CHASED,
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    step: int
    channel: str  # "email" | "sms" | "unknown" (claimed, outcome not recorded)
    at: datetime
    provider_id: str | None
    template: str
    amount_minor: int
    currency: str
    # "sent": the provider accepted it; "unknown": it may or may not have gone (the
    # provider's answer was lost, or the sender stopped after the call); never resent.
    outcome: str = "sent"
    # What the message was written in and worded for, so its case file re-renders it so;
    # "" on messages recorded before they were kept.
    locale: str = ""
    situation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "channel": self.channel,
            "at": self.at.isoformat(),
            "provider_id": self.provider_id,
            "template": self.template,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "outcome": self.outcome,
            "locale": self.locale,
            "situation": self.situation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentMessage:
        return cls(
            step=int(data["step"]),
            channel=str(data["channel"]),
            at=datetime.fromisoformat(data["at"]),
            provider_id=data.get("provider_id"),
            template=str(data["template"]),
            amount_minor=int(data["amount_minor"]),
            currency=str(data["currency"]),
            outcome=str(data.get("outcome", "sent")),
            locale=str(data.get("locale") or ""),
            situation=str(data.get("situation") or ""),
        )


@dataclass(frozen=True, slots=True)
class Promised:
    """A promise to pay in force: the reminders wait until `check_at` (the promised day's
    end in the customer's zone, plus a grace day), with one nudge at `nudge_at` (None: none
    is due, or it went or was passed over). A nudge is claimed before it is sent, like a
    step, so it goes at most once."""

    pay_by: date  # the customer's local date
    made_at: datetime
    check_at: datetime
    nudge_at: datetime | None = None
    nudge_claimed_at: datetime | None = None
    request_id: str = ""  # the customer request that made it (Dunning.requests)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pay_by": self.pay_by.isoformat(),
            "made_at": self.made_at.isoformat(),
            "check_at": self.check_at.isoformat(),
            "nudge_at": self.nudge_at.isoformat() if self.nudge_at else None,
            "nudge_claimed_at": self.nudge_claimed_at.isoformat()
            if self.nudge_claimed_at
            else None,
            "request_id": self.request_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Promised:
        return cls(
            pay_by=date.fromisoformat(str(data["pay_by"])),
            made_at=datetime.fromisoformat(str(data["made_at"])),
            check_at=datetime.fromisoformat(str(data["check_at"])),
            nudge_at=_when(data.get("nudge_at")),
            nudge_claimed_at=_when(data.get("nudge_claimed_at")),
            request_id=str(data.get("request_id", "")),
        )


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    """One request the customer made on their page (a promise or a report) and how it was
    made. Personal data (the note, IP address and user agent) lives here, where erasure can
    redact it; the hash-chained trail holds only a digest of it, salted so that the digest
    reveals nothing once the salt is erased."""

    id: str
    kind: str  # "promise", or a report kind (domain.customer_requests.REPORT_KINDS)
    at: datetime
    note: str = ""
    ip: str | None = None
    user_agent: str | None = None
    salt: str = ""

    def redacted(self, mark: str) -> CustomerRequest:
        """Without its personal data: each value present replaced by `mark`."""
        return replace(
            self,
            note=mark if self.note else "",
            ip=mark if self.ip else None,
            user_agent=mark if self.user_agent else None,
            salt="",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "note": self.note,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "salt": self.salt,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerRequest:
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            at=datetime.fromisoformat(str(data["at"])),
            note=str(data.get("note") or ""),
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            salt=str(data.get("salt") or ""),
        )


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """One of Recoup's retries of a failed card payment, and what Stripe answered:
    "succeeded", "failed" (declined; `code`) or "refused" (Stripe refused the request)."""

    number: int
    at: datetime
    outcome: str
    code: str | None = None
    intent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "code": self.code,
            "intent": self.intent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryRecord:
        return cls(
            number=int(data["number"]),
            at=datetime.fromisoformat(str(data["at"])),
            outcome=str(data["outcome"]),
            code=data.get("code"),
            intent=data.get("intent"),
        )


@dataclass(frozen=True, slots=True)
class Dunning:
    status: DunningStatus
    next_step: int = 0
    next_at: datetime | None = None
    claimed_step: int = -1  # the highest step ever claimed for sending
    claimed_at: datetime | None = None
    sent: tuple[SentMessage, ...] = ()
    reason: str = ""
    policy_version: int = 0
    held_by: str = ""  # who holds a HELD sequence: "fraud" (the check) or "merchant"
    spent_at: datetime | None = None  # when the last step was sent or skipped
    escalate_at: datetime | None = None  # when the referral check is due (services.escalation)
    # Where in `sent` the current round begins: a sequence started over sends its steps
    # again, and a step is recorded once per round. Everything sent stays in `sent`.
    round_from: int = 0
    # The customer's side (services.customer_requests): the promise made (in force while
    # PROMISED), how many were broken, the report the merchant has not settled yet, every
    # request with its personal data, and the step a broken promise resumed at (worded so).
    promise: Promised | None = None
    promises_broken: int = 0
    report: str = ""
    requests: tuple[CustomerRequest, ...] = ()
    resumed_after_promise: int | None = None
    # An instalment plan the customer agreed to (in force while PLANNED; kept once ended).
    plan: Plan | None = None
    resumed_after_plan: int | None = None  # the step a broken plan resumed at (worded so)
    plan_grace_days: int = 7  # the shop's grace days, fixed when the plan was made
    # The strategy that took the case (domain/strategies.py), why, and its experiment's arm;
    # "" for the default strategy of a case opened before strategies existed.
    strategy: str = ""
    strategy_why: str = ""
    experiment: str = ""  # the strategy's experiment the case is in, by id ("" when none)
    arm: str = ""
    # What the steps count from: the case's opening, or the payment terms' due date.
    anchor_at: datetime | None = None
    # The courtesy reminder before a payment-terms due date (None: none is due, or it went
    # or was passed over); claimed before it is sent, like a promise's nudge.
    courtesy_at: datetime | None = None
    courtesy_claimed_at: datetime | None = None
    # Retries of a failed card payment (domain/retry_course.py): when the next is due and
    # why (or why none), the highest retry claimed and when, and each retry's outcome.
    retry_at: datetime | None = None
    retry_why: str = ""
    retry_claimed: int = 0
    retry_claimed_at: datetime | None = None
    retry_log: tuple[RetryRecord, ...] = ()
    # A manual-payment strategy's end (services/auto_cancel.py): the customer's last message
    # due at `cancel_at` (claimed like a nudge), then the order's cancellation in Shopify due
    # at `cancel_order_at`, and how that ended ("cancelled", or why not).
    cancel_at: datetime | None = None
    cancel_claimed_at: datetime | None = None
    cancel_order_at: datetime | None = None
    cancel_outcome: str = ""

    @property
    def this_round(self) -> tuple[SentMessage, ...]:
        """What was sent since the sequence last started (over)."""
        return self.sent[self.round_from :]

    @property
    def due(self) -> bool:
        return self.status is DunningStatus.SCHEDULED and self.next_at is not None

    @property
    def escalation_due_at(self) -> datetime | None:
        """When the referral check is due: only a spent or flagged sequence is checked."""
        if self.status in (DunningStatus.AWAITING_ESCALATION, DunningStatus.FLAGGED):
            # A cancellation the shop set comes first: the referral check only if it fails.
            pending = self.cancel_at is not None and not self.cancel_outcome
            if pending and self.status is DunningStatus.AWAITING_ESCALATION:
                return None
            return self.escalate_at
        return None

    def can_claim(self, step: int) -> bool:
        return self.due and step == self.next_step and self.claimed_step < step

    def claim(self, step: int, now: datetime) -> Dunning:
        if not self.can_claim(step):
            raise ValueError(f"step {step} cannot be claimed (next {self.next_step})")
        return replace(self, claimed_step=step, claimed_at=now)

    def release(self, step: int) -> Dunning:
        """Give a claim back when the send certainly did not happen (throttled, no
        connection, or the address refused for good)."""
        if self.claimed_step != step:
            return self
        return replace(self, claimed_step=step - 1, claimed_at=None)

    def schedule(self, step: int, at: datetime, reason: str = "") -> Dunning:
        return replace(
            self, status=DunningStatus.SCHEDULED, next_step=step, next_at=at, reason=reason
        )

    def record(self, message: SentMessage) -> Dunning:
        return replace(self, sent=(*self.sent, message))

    def moved_on(self, step: int, at: datetime | None, now: datetime) -> Dunning:
        """The step before `step` went while the sequence was paused (a promise, a report
        or a hold landed during its send): the pause stays, and the sequence resumes at
        `step`, due at `at`; after its last step (`at` None) it is spent."""
        if at is None:
            return replace(self, next_step=step, next_at=None, spent_at=now)
        return replace(self, next_step=step, next_at=at)

    def finish(self, status: DunningStatus, reason: str) -> Dunning:
        """The sequence over (the case closed, written off, erased...): a plan in force ends
        with it, so nothing more is charged."""
        plan = self.plan_in_force
        return replace(
            self,
            status=status,
            next_at=None,
            reason=reason,
            held_by="",
            escalate_at=None,
            promise=None,
            plan=plan.stopped(reason) if plan is not None else self.plan,
            retry_at=None if status is DunningStatus.STOPPED else self.retry_at,
            courtesy_at=None,
        )

    @property
    def plan_in_force(self) -> Plan | None:
        """The plan being set up or running: while it is, the sequence waits for it."""
        plan = self.plan
        running = (PlanStatus.AWAITING_CARD, PlanStatus.ACTIVE)
        return plan if plan is not None and plan.status in running else None

    @property
    def plan_due(self) -> tuple[datetime, str] | None:
        """When a plan in force next needs work, and which: "notice" (the sender's message
        about a missed instalment), else the plan's own job; None without one."""
        plan = self.plan_in_force if self.status is DunningStatus.PLANNED else None
        return plan.due(self.plan_grace_days) if plan is not None else None

    def planned(
        self, plan: Plan, request: CustomerRequest, reason: str, grace_days: int
    ) -> Dunning:
        """Paused for the plan; where the sequence stood is kept for a broken plan."""
        return replace(
            self,
            status=DunningStatus.PLANNED,
            plan=plan,
            plan_grace_days=grace_days,
            reason=reason,
            held_by="",
            escalate_at=None,
            requests=(*self.requests, request),
        )

    def with_plan(self, plan: Plan) -> Dunning:
        return replace(self, plan=plan)

    def after_plan_broken(self, step: int) -> Dunning:
        """The step a broken plan resumed at: its message says the plan ended
        (`Situation.PLAN_BROKEN`)."""
        return replace(self, resumed_after_plan=step)

    def spend(self, now: datetime, reason: str) -> Dunning:
        """The sequence is over and the case still unpaid: check for referral now."""
        finished = self.finish(DunningStatus.AWAITING_ESCALATION, reason)
        return replace(finished, spent_at=now, escalate_at=now)

    @property
    def not_theirs(self) -> bool:
        """The customer said on their page that they did not place this order."""
        return any(request.kind == "not_mine" for request in self.requests)

    def escalate(self, at: datetime | None) -> Dunning:
        """Schedule the referral check at `at` (None: no check due)."""
        return replace(self, escalate_at=at)

    def hold(self, by: str, reason: str) -> Dunning:
        """Stop sending until a decision; keeps when the next step was due, and a promise
        the customer made, for resuming."""
        return replace(self, status=DunningStatus.HELD, reason=reason, held_by=by)

    def flag(self, reason: str) -> Dunning:
        """No reminders while flagged as fraud; keeps the step that was due (and a promise
        made), in case the flag is lifted by later signals."""
        return replace(self, status=DunningStatus.FLAGGED, reason=reason, held_by="")

    def resume(self, now: datetime, reason: str) -> Dunning:
        """Schedule the held step again: when it was due, or now if that has passed. A
        sequence held after its last step (nothing was due) goes back to awaiting escalation.
        A promise made before the hold is honoured: still in force, the sequence waits for it
        again (its nudge only if still ahead); its date passed meanwhile, it counts as broken
        and the held step resumes worded so."""
        if self.plan_in_force is not None:
            return replace(
                self,
                status=DunningStatus.PLANNED,
                reason=f"{reason}; the customer's instalment plan goes on",
                held_by="",
            )
        promise = self.promise
        if promise is not None and promise.check_at > now:
            ahead = promise.nudge_at is not None and promise.nudge_at > now
            return replace(
                self,
                status=DunningStatus.PROMISED,
                promise=replace(
                    promise,
                    nudge_at=promise.nudge_at if ahead else None,
                    nudge_claimed_at=promise.nudge_claimed_at if ahead else None,
                ),
                reason=f"{reason}; the customer's promise to pay by "
                f"{promise.pay_by.isoformat()} still stands",
                held_by="",
            )
        if promise is not None:
            return self.break_promise(self.next_step, self.next_at, now, reason)
        if self.next_at is None:
            return replace(
                self,
                status=DunningStatus.AWAITING_ESCALATION,
                reason=reason,
                held_by="",
                escalate_at=now,  # released: whether to refer is decided again
            )
        return replace(
            self,
            status=DunningStatus.SCHEDULED,
            next_at=max(self.next_at, now),
            reason=reason,
            held_by="",
        )

    def next_unsent(self) -> int | None:
        """The first step neither sent nor passed over: where a stopped sequence resumes.
        None once the sequence was spent (its last step sent or skipped)."""
        if self.spent_at is not None:
            return None
        return max(self.next_step, self.claimed_step + 1)

    def resume_at(self, step: int, at: datetime, now: datetime, reason: str) -> Dunning:
        """Back on the sequence at `step`, due at `at`, or now if that has passed."""
        return replace(
            self,
            status=DunningStatus.SCHEDULED,
            next_step=step,
            next_at=max(at, now),
            reason=reason,
            held_by="",
            escalate_at=None,
        )

    def start_over(self, at: datetime, now: datetime, reason: str) -> Dunning:
        """The sequence from its first step again, due at `at` or now. The merchant asked
        for the steps to go once more, so the claims of the round before are cleared; what
        was sent stays on record."""
        return replace(
            self.resume_at(0, at, now, reason),
            claimed_step=-1,
            claimed_at=None,
            spent_at=None,
            round_from=len(self.sent),
            resumed_after_promise=None,
            resumed_after_plan=None,
        )

    def due_now(self, now: datetime, reason: str) -> Dunning:
        """The next step due now rather than at its time (the sender's checks still apply)."""
        if not self.due:
            raise ValueError(f"no step is scheduled ({self.status})")
        return replace(self, next_at=now, reason=reason)

    def skip_next(self, following_at: datetime | None, now: datetime, reason: str) -> Dunning:
        """The next step passed over unsent: the one after it due at `following_at` (not
        before now), or, when there is none (None), the sequence is spent."""
        if not self.due:
            raise ValueError(f"no step is scheduled ({self.status})")
        if following_at is None:
            return self.spend(now, reason)
        return self.schedule(self.next_step + 1, max(following_at, now), reason)

    # ------------------------------------------------------------ the customer's requests

    @property
    def promise_in_force(self) -> Promised | None:
        return self.promise if self.status is DunningStatus.PROMISED else None

    @property
    def promise_due(self) -> tuple[datetime, bool] | None:
        """When a promise in force next needs the sender: (when, True) for its nudge,
        (when, False) for its check; None without one."""
        promise = self.promise_in_force
        if promise is None:
            return None
        if promise.nudge_at is not None:
            return promise.nudge_at, True
        return promise.check_at, False

    def promised(self, promise: Promised, request: CustomerRequest) -> Dunning:
        """Paused until the promised date; where the sequence stood is kept for resuming."""
        return replace(
            self,
            status=DunningStatus.PROMISED,
            promise=promise,
            reason=f"the customer promised to pay by {promise.pay_by.isoformat()}",
            held_by="",
            requests=(*self.requests, request),
        )

    def claim_nudge(self, now: datetime) -> Dunning:
        promise = self.promise_in_force
        if promise is None or promise.nudge_at is None or promise.nudge_claimed_at is not None:
            raise ValueError("no promise nudge can be claimed")
        return replace(self, promise=replace(promise, nudge_claimed_at=now))

    def release_nudge(self) -> Dunning:
        """Give the nudge's claim back: its send certainly did not happen."""
        promise = self.promise_in_force
        if promise is None:
            return self
        return replace(self, promise=replace(promise, nudge_claimed_at=None))

    def move_nudge(self, at: datetime | None) -> Dunning:
        """The nudge due at `at` instead, unclaimed; None: it went or is passed over."""
        promise = self.promise_in_force
        if promise is None:
            return self
        return replace(self, promise=replace(promise, nudge_at=at, nudge_claimed_at=None))

    def break_promise(
        self, step: int | None, at: datetime | None, now: datetime, reason: str
    ) -> Dunning:
        """The promised date passed unpaid: back on the sequence at `step` (due at `at`, or
        now), worded as a broken promise; with no step left, awaiting escalation again."""
        broken = replace(self, promise=None, promises_broken=self.promises_broken + 1)
        if step is None or at is None:
            return replace(
                broken,
                status=DunningStatus.AWAITING_ESCALATION,
                next_at=None,
                reason=reason,
                held_by="",
                escalate_at=now,
            )
        return replace(broken.resume_at(step, at, now, reason), resumed_after_promise=step)

    def reported(self, kind: str, request: CustomerRequest, reason: str) -> Dunning:
        """The customer reported `kind`: a running or promised sequence is held by the
        customer until the merchant settles it; any other keeps its state."""
        noted = replace(self, report=kind, requests=(*self.requests, request))
        running = (
            DunningStatus.SCHEDULED,
            DunningStatus.PROMISED,
            DunningStatus.PLANNED,
            DunningStatus.AWAITING_ESCALATION,
        )
        if self.status in running:
            return noted.hold("customer", reason)
        return noted

    def settle_report(self) -> Dunning:
        """The merchant looked at the customer's report."""
        return replace(self, report="")

    def without_personal_data(self, mark: str) -> Dunning:
        """The requests without their notes, IP addresses and user agents; an instalment
        plan without its saved card and Stripe customer (so it charges nothing more)."""
        plan = self.plan.without_card(mark) if self.plan else None
        return replace(self, requests=tuple(r.redacted(mark) for r in self.requests), plan=plan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "next_step": self.next_step,
            "next_at": self.next_at.isoformat() if self.next_at else None,
            "claimed_step": self.claimed_step,
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "sent": [m.to_dict() for m in self.sent],
            "reason": self.reason,
            "policy_version": self.policy_version,
            "held_by": self.held_by,
            "spent_at": self.spent_at.isoformat() if self.spent_at else None,
            "escalate_at": self.escalate_at.isoformat() if self.escalate_at else None,
            "round_from": self.round_from,
            "promise": self.promise.to_dict() if self.promise else None,
            "promises_broken": self.promises_broken,
            "report": self.report,
            "requests": [r.to_dict() for r in self.requests],
            "resumed_after_promise": self.resumed_after_promise,
            "plan": self.plan.to_dict() if self.plan else None,
            "resumed_after_plan": self.resumed_after_plan,
            "plan_grace_days": self.plan_grace_days,
            **self._sparse_dict(),
        }

    def _sparse_dict(self) -> dict[str, Any]:
        """Only what is set: a case item's size is its write cost."""
        data: dict[str, Any] = {
            "strategy": self.strategy,
            "strategy_why": self.strategy_why,
            "experiment": self.experiment,
            "arm": self.arm,
            "anchor_at": self.anchor_at.isoformat() if self.anchor_at else "",
            "courtesy_at": self.courtesy_at.isoformat() if self.courtesy_at else "",
            "courtesy_claimed_at": self.courtesy_claimed_at.isoformat()
            if self.courtesy_claimed_at
            else "",
            "retry_at": self.retry_at.isoformat() if self.retry_at else "",
            "retry_why": self.retry_why,
            "retry_claimed": self.retry_claimed,
            "retry_claimed_at": self.retry_claimed_at.isoformat() if self.retry_claimed_at else "",
            "retry_log": [r.to_dict() for r in self.retry_log],
            "cancel_at": _iso(self.cancel_at),
            "cancel_claimed_at": _iso(self.cancel_claimed_at),
            "cancel_order_at": _iso(self.cancel_order_at),
            "cancel_outcome": self.cancel_outcome,
        }
        return {key: value for key, value in data.items() if value}

    @property
    def retry_due(self) -> datetime | None:
        """When the next retry of the failed card payment is due: while the reminders run,
        wait for escalation or are not chased; never while held, flagged, promised, planned
        or stopped."""
        if self.status not in RETRYING:
            return None
        return self.retry_at

    @property
    def cancel_due(self) -> datetime | None:
        """When the last message before the order's cancellation is due: while the reminders
        run or wait for escalation (a promise, a plan or a hold puts it off)."""
        running = (DunningStatus.SCHEDULED, DunningStatus.AWAITING_ESCALATION)
        if self.status not in running or self.cancel_order_at is not None:
            return None
        return self.cancel_at

    @property
    def cancel_order_due(self) -> datetime | None:
        """When the order's cancellation in Shopify is due (after the last message)."""
        if self.status is DunningStatus.STOPPED or self.cancel_outcome:
            return None
        return self.cancel_order_at

    def move_cancel_notice(self, at: datetime | None) -> Dunning:
        """The last message due at `at` instead, unclaimed; None: it went or was passed
        over, and the cancellation itself is due (at the time the message was due)."""
        if at is not None:
            return replace(self, cancel_at=at, cancel_claimed_at=None)
        return replace(self, cancel_claimed_at=None, cancel_order_at=self.cancel_at)

    @property
    def courtesy_due(self) -> datetime | None:
        """When the courtesy reminder is due: only while the sequence waits for its first
        step, before that step's time."""
        at = self.courtesy_at
        waiting = self.status is DunningStatus.SCHEDULED and not self.sent
        if at is None or not waiting or (self.next_at is not None and at >= self.next_at):
            return None
        return at

    def claim_courtesy(self, now: datetime) -> Dunning:
        if self.courtesy_due is None or self.courtesy_claimed_at is not None:
            raise ValueError("no courtesy reminder can be claimed")
        return replace(self, courtesy_claimed_at=now)

    def move_courtesy(self, at: datetime | None) -> Dunning:
        """Due at `at` instead, unclaimed; None: it went or is passed over."""
        return replace(self, courtesy_at=at, courtesy_claimed_at=None)

    def starts_from(self, opened_at: datetime) -> datetime:
        """What the sequence's steps count from."""
        return self.anchor_at or opened_at

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dunning:
        return cls(
            status=DunningStatus(data["status"]),
            next_step=int(data.get("next_step", 0)),
            next_at=datetime.fromisoformat(data["next_at"]) if data.get("next_at") else None,
            claimed_step=int(data.get("claimed_step", -1)),
            claimed_at=(
                datetime.fromisoformat(data["claimed_at"]) if data.get("claimed_at") else None
            ),
            sent=tuple(SentMessage.from_dict(m) for m in data.get("sent") or ()),
            reason=str(data.get("reason", "")),
            policy_version=int(data.get("policy_version", 0)),
            held_by=str(data.get("held_by", "")),
            spent_at=_when(data.get("spent_at")),
            escalate_at=_when(data.get("escalate_at")),
            round_from=int(data.get("round_from", 0)),
            promise=Promised.from_dict(data["promise"]) if data.get("promise") else None,
            promises_broken=int(data.get("promises_broken", 0)),
            report=str(data.get("report") or ""),
            requests=tuple(CustomerRequest.from_dict(r) for r in data.get("requests") or ()),
            resumed_after_promise=_step_or_none(data.get("resumed_after_promise")),
            plan=Plan.from_dict(data["plan"]) if data.get("plan") else None,
            resumed_after_plan=_step_or_none(data.get("resumed_after_plan")),
            plan_grace_days=int(data.get("plan_grace_days") or 7),
            strategy=str(data.get("strategy") or ""),
            strategy_why=str(data.get("strategy_why") or ""),
            experiment=str(data.get("experiment") or ""),
            arm=str(data.get("arm") or ""),
            anchor_at=_when(data.get("anchor_at")),
            courtesy_at=_when(data.get("courtesy_at")),
            courtesy_claimed_at=_when(data.get("courtesy_claimed_at")),
            retry_at=_when(data.get("retry_at")),
            retry_why=str(data.get("retry_why") or ""),
            retry_claimed=int(data.get("retry_claimed") or 0),
            retry_claimed_at=_when(data.get("retry_claimed_at")),
            retry_log=tuple(RetryRecord.from_dict(r) for r in data.get("retry_log") or ()),
            cancel_at=_when(data.get("cancel_at")),
            cancel_claimed_at=_when(data.get("cancel_claimed_at")),
            cancel_order_at=_when(data.get("cancel_order_at")),
            cancel_outcome=str(data.get("cancel_outcome") or ""),
        )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _step_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))
