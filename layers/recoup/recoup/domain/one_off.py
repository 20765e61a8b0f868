"""Messages outside the reminder sequence that go at most once each: the reminder the day
before a promised date, the notice that an instalment of a plan could not be charged, and
the courtesy reminder before a payment-terms due date, and the last message before an
unpaid manual-payment order is cancelled.

Pure. Each kind says where its due time and claim live in the reminder progress, how to
claim, release, move or drop it, until when it is still of use, and how it is worded (the
payment situation its copy is chosen by, the words of its trail entries).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from recoup.domain.customer_requests import nudge_window_ends
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.payment_situation import Situation


class OneOffKind(StrEnum):
    PROMISE_NUDGE = "promise_nudge"
    PLAN_NOTICE = "plan_notice"
    COURTESY = "courtesy"  # before a payment-terms due date
    CANCEL_NOTICE = "cancel_notice"  # before an unpaid manual-payment order is cancelled


@dataclass(frozen=True, slots=True)
class OneOff:
    kind: OneOffKind
    words: str  # what the trail calls it: "reminder of the promise"
    situation: Situation

    def due_at(self, dunning: Dunning) -> datetime | None:
        if self.kind is OneOffKind.CANCEL_NOTICE:
            return dunning.cancel_due
        if self.kind is OneOffKind.COURTESY:
            return dunning.courtesy_due
        if self.kind is OneOffKind.PROMISE_NUDGE:
            promise = dunning.promise_in_force
            return promise.nudge_at if promise else None
        plan = dunning.plan_in_force if dunning.status is DunningStatus.PLANNED else None
        return plan.notice_at if plan else None

    def claimed_at(self, dunning: Dunning) -> datetime | None:
        if self.kind is OneOffKind.CANCEL_NOTICE:
            return dunning.cancel_claimed_at
        if self.kind is OneOffKind.COURTESY:
            return dunning.courtesy_claimed_at
        if self.kind is OneOffKind.PROMISE_NUDGE:
            promise = dunning.promise_in_force
            return promise.nudge_claimed_at if promise else None
        plan = dunning.plan_in_force
        return plan.notice_claimed_at if plan else None

    def claim(self, dunning: Dunning, now: datetime) -> Dunning:
        if self.kind is OneOffKind.CANCEL_NOTICE:
            if dunning.cancel_due is None or dunning.cancel_claimed_at is not None:
                raise ValueError("no cancellation notice can be claimed")
            return replace(dunning, cancel_claimed_at=now)
        if self.kind is OneOffKind.COURTESY:
            return dunning.claim_courtesy(now)
        if self.kind is OneOffKind.PROMISE_NUDGE:
            return dunning.claim_nudge(now)
        plan = dunning.plan_in_force
        if plan is None:
            raise ValueError("no plan notice can be claimed")
        return dunning.with_plan(plan.claim_notice(now))

    def release(self, dunning: Dunning) -> Dunning:
        if self.kind is OneOffKind.CANCEL_NOTICE:
            return replace(dunning, cancel_claimed_at=None)
        if self.kind is OneOffKind.COURTESY:
            return replace(dunning, courtesy_claimed_at=None)
        if self.kind is OneOffKind.PROMISE_NUDGE:
            return dunning.release_nudge()
        plan = dunning.plan_in_force
        return dunning.with_plan(plan.release_notice()) if plan else dunning

    def move(self, dunning: Dunning, at: datetime | None) -> Dunning:
        """Due at `at` instead, unclaimed; None: it went, or is passed over."""
        if self.kind is OneOffKind.CANCEL_NOTICE:
            return dunning.move_cancel_notice(at)
        if self.kind is OneOffKind.COURTESY:
            return dunning.move_courtesy(at)
        if self.kind is OneOffKind.PROMISE_NUDGE:
            return dunning.move_nudge(at)
        plan = dunning.plan_in_force
        if plan is None:
            return dunning
        return dunning.with_plan(plan.move_notice(at) if at else plan.notice_done())

    def window_ends(self, dunning: Dunning, zone: ZoneInfo) -> datetime | None:
        """After this the message is no use (None: no limit): a promise's reminder says the
        payment is due tomorrow, so it must go before the promised day begins in the
        customer's zone; a missed instalment's notice before its grace days end; a courtesy
        reminder before the due date it announces."""
        if self.kind is OneOffKind.COURTESY:
            return dunning.anchor_at
        if self.kind is OneOffKind.CANCEL_NOTICE:
            return None  # it says the order is being cancelled: true whenever it goes
        if self.kind is OneOffKind.PROMISE_NUDGE:
            promise = dunning.promise_in_force
            return nudge_window_ends(promise, zone) if promise else None
        plan = dunning.plan_in_force
        return plan.grace_ends(dunning.plan_grace_days) if plan else None


PROMISE_NUDGE = OneOff(OneOffKind.PROMISE_NUDGE, "reminder of the promise", Situation.PROMISE_DUE)
COURTESY = OneOff(
    OneOffKind.COURTESY, "courtesy reminder before the due date", Situation.PAYMENT_DUE_SOON
)
CANCEL_NOTICE = OneOff(
    OneOffKind.CANCEL_NOTICE, "notice of the order's cancellation", Situation.ORDER_CANCELLED
)
PLAN_NOTICE = OneOff(
    OneOffKind.PLAN_NOTICE, "notice of the missed instalment", Situation.INSTALMENT_MISSED
)
