"""The worker's hook into the reminder sequence: when a platform event changes a case, start
the sequence (step 1 from the shop's policy, or "not chased" below its minimum), stop it
when the case closes, and hold, flag or resume it as the fraud screening says.

It only says what the sequence becomes; the worker writes it with the case, in the same
transaction as the event's audit entry (`services.cases`). Sending a step is
`services.sending`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from recoup import clock
from recoup.domain import cadence, instalments
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Gate, Screening
from recoup.store import policies, shops

if TYPE_CHECKING:
    from recoup.store.models import ShopItem


def on_case_change(
    prior: StoredCase | None,
    case: Case,
    screening: Screening | None = None,
    now: datetime | None = None,
) -> Dunning | None:
    """The reminder progress after a platform event changed the case; None: unchanged.
    `screening` is the case's fraud screening after the event, which may hold or flag it."""
    started = _plan_followed(prior, _start_or_stop(prior, case), case, now or clock.now())
    if case.status is not CaseStatus.OPEN or screening is None:
        return started
    current = started or (prior.dunning if prior else None)
    if current is None:
        return None
    gated = gate_reminders(current, screening, now or clock.now())
    return gated if gated is not None else started


def gate_reminders(dunning: Dunning, screening: Screening, now: datetime) -> Dunning | None:
    """Hold, flag or resume the sequence as the fraud screening says; None: unchanged."""
    gate = screening.gate
    status = dunning.status
    if status in (DunningStatus.STOPPED, DunningStatus.NOT_CHASED):
        return None
    if gate is Gate.FLAG:
        if status is DunningStatus.FLAGGED:
            return None
        # Flagged high: whether to refer is checked now (confirmed fraud goes to legal).
        return dunning.flag(f"no reminders: {screening.why()}").escalate(now)
    if gate is Gate.HOLD:
        running = (
            DunningStatus.SCHEDULED,
            DunningStatus.PROMISED,
            DunningStatus.PLANNED,
            DunningStatus.FLAGGED,
        )
        if status in running:
            return dunning.hold("fraud", f"held for review: {screening.why()}")
        return None
    fraud_held = status is DunningStatus.HELD and dunning.held_by == "fraud"
    if fraud_held or status is DunningStatus.FLAGGED:
        if dunning.report:
            # The fraud check lets it go, but the customer's report still waits for the
            # merchant: a report is settled by a person, never by a score.
            report = dunning.report.replace("_", " ")
            return dunning.hold(
                "customer", f"the customer's report ({report}) waits for the merchant"
            )
        return dunning.resume(now, f"reminders resume: {screening.why()}")
    return None


def _plan_followed(
    prior: StoredCase | None, started: Dunning | None, case: Case, now: datetime
) -> Dunning | None:
    """An instalment plan's payments, as Stripe reported them, onto the plan (paid, failed,
    the card saved), and the plan ended when the case closed; None: unchanged."""
    current = started or (prior.dunning if prior else None)
    plan = current.plan if current else None
    if current is None or plan is None:
        return started
    closed = None if case.status is CaseStatus.OPEN else f"case {case.status}"
    followed = instalments.follow_payments(plan, case.plan_payments, closed, now)
    return started if followed == plan else current.with_plan(followed)


def reminder_policy(shop: str, shop_item: ShopItem | None) -> cadence.ReminderPolicy:
    """The shop's reminder policy, its times in the shop's zone (UTC when it has none)."""
    zone = (shop_item.timezone if shop_item and shop_item.timezone else None) or "UTC"
    return policies.load(shop, shop_timezone=zone)


def _start_or_stop(prior: StoredCase | None, case: Case) -> Dunning | None:
    current = prior.dunning if prior else None
    if case.status is not CaseStatus.OPEN:
        if current is not None and current.status is not DunningStatus.STOPPED:
            return current.finish(DunningStatus.STOPPED, f"case {case.status}: reminders stopped")
        return None
    if current is not None or case.opened_at is None:
        return None
    policy = reminder_policy(case.shop, shops.get(case.shop))
    owed = case.amount_owed
    if owed is None or not cadence.chasable(policy, owed):
        return Dunning(
            DunningStatus.NOT_CHASED,
            reason=f"{owed} is below the shop's minimum",
            policy_version=policy.version,
        )
    due = cadence.step_due_at(policy, 0, case.opened_at, None)
    return Dunning(DunningStatus.SCHEDULED, next_step=0, next_at=due, policy_version=policy.version)


__all__ = ["gate_reminders", "on_case_change", "reminder_policy"]
