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
from datetime import datetime
from enum import StrEnum
from typing import Any


class DunningStatus(StrEnum):
    SCHEDULED = "scheduled"  # a step is due at next_at
    HELD = "held"  # held for fraud review or by the merchant; resumed by a decision
    FLAGGED = "flagged"  # flagged as fraud: no reminders, no pay link
    AWAITING_ESCALATION = "awaiting_escalation"  # the sequence is spent, still unpaid
    NOT_CHASED = "not_chased"  # below the shop's minimum amount
    STOPPED = "stopped"  # the case closed: paid or cancelled


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

    def finish(self, status: DunningStatus, reason: str) -> Dunning:
        return replace(
            self, status=status, next_at=None, reason=reason, held_by="", escalate_at=None
        )

    def spend(self, now: datetime, reason: str) -> Dunning:
        """The sequence is over and the case still unpaid: check for referral now."""
        finished = self.finish(DunningStatus.AWAITING_ESCALATION, reason)
        return replace(finished, spent_at=now, escalate_at=now)

    def escalate(self, at: datetime | None) -> Dunning:
        """Schedule the referral check at `at` (None: no check due)."""
        return replace(self, escalate_at=at)

    def hold(self, by: str, reason: str) -> Dunning:
        """Stop sending until a decision; keeps when the next step was due, for resuming."""
        return replace(self, status=DunningStatus.HELD, reason=reason, held_by=by)

    def flag(self, reason: str) -> Dunning:
        """No reminders while flagged as fraud; keeps the step that was due, in case the
        flag is lifted by later signals."""
        return replace(self, status=DunningStatus.FLAGGED, reason=reason, held_by="")

    def resume(self, now: datetime, reason: str) -> Dunning:
        """Schedule the held step again: when it was due, or now if that has passed. A
        sequence held after its last step (nothing was due) goes back to awaiting escalation."""
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
        }

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
        )


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None
