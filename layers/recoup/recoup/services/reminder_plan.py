"""The worker's hook into the reminder sequence: when a platform event changes a case, start
the sequence (step 1 from the shop's policy, or "not chased" below its minimum), stop it
when the case closes, and hold, flag or resume it as the fraud screening says.

It only says what the sequence becomes; the worker writes it with the case, in the same
transaction as the event's audit entry (`services.cases`). Sending a step is
`services.sending`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from recoup import clock
from recoup.domain import cadence, case_facts, erasure, instalments, retry_course, strategies
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.timezones import zone_of_customer
from recoup.store import cases as case_store
from recoup.store import customer_links, policies, shops

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
    at = now or clock.now()
    risk = _risk(screening)
    started = _start_or_stop(prior, case, risk) or _rematched(prior, case, risk)
    started = _plan_followed(prior, started, case, at)
    if case.status is not CaseStatus.OPEN or screening is None:
        return _with_retry(prior, started, case, at)
    current = started or (prior.dunning if prior else None)
    if current is None:
        return None
    gated = gate_reminders(current, screening, at)
    return _with_retry(prior, gated if gated is not None else started, case, at)


def _with_retry(
    prior: StoredCase | None, changed: Dunning | None, case: Case, now: datetime
) -> Dunning | None:
    """The progress with its card payment's next retry planned from the case's payments as
    they stand now (a decline that arrived, a retry's outcome); None: unchanged."""
    current = changed or (prior.dunning if prior else None)
    if current is None or case.status is not CaseStatus.OPEN:
        return changed
    if not any(a.customer_ref for a in case.attempts) and current.retry_at is None:
        return changed  # no card that may be charged again: nothing to read
    policy = reminder_policy(case.shop, shops.get(case.shop))
    return retry_course.replanned(case, current, policy, now) or changed


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


def reminder_policy(
    shop: str, shop_item: ShopItem | None, dunning: Dunning | None = None
) -> cadence.ReminderPolicy:
    """The shop's reminder policy, its times in the shop's zone (UTC when it has none); with
    a case's `dunning`, as that case follows it (its strategy's and arm's steps)."""
    zone = (shop_item.timezone if shop_item and shop_item.timezone else None) or "UTC"
    return followed(policies.load(shop, shop_timezone=zone), dunning)


def followed(policy: cadence.ReminderPolicy, dunning: Dunning | None) -> cadence.ReminderPolicy:
    """The policy as the case with this reminder progress follows it."""
    if dunning is None:
        return policy
    return strategies.cadence_for(policy, dunning.strategy, dunning.arm)


def _risk(screening: Screening | None) -> str:
    result = screening.current if screening else None
    return str(result.level) if result else "unscored"


def _start_or_stop(prior: StoredCase | None, case: Case, risk: str) -> Dunning | None:
    current = prior.dunning if prior else None
    if case.status is not CaseStatus.OPEN:
        if current is not None and current.status is not DunningStatus.STOPPED:
            return current.finish(DunningStatus.STOPPED, f"case {case.status}: reminders stopped")
        return None
    if current is not None or case.opened_at is None:
        return None
    return _start(case, risk)


def _start(case: Case, risk: str) -> Dunning | None:
    """The sequence of the strategy that takes the case; None while the case's payment
    terms have no due date yet (it starts once one is reported)."""
    assert case.opened_at is not None
    policy = reminder_policy(case.shop, shops.get(case.shop))
    facts = case_facts.facts_of(case, risk)
    owed = facts.owed
    if owed is None or not cadence.chasable(policy, owed):
        return Dunning(
            DunningStatus.NOT_CHASED,
            reason=f"{owed} is below the shop's minimum",
            policy_version=policy.version,
        )
    if facts.payment_terms is not None and facts.due_at is None:
        return None
    if strategies.needs_history(policy):
        facts = replace(facts, history=customer_history(case))
    choice = strategies.choose(policy, facts, case.shop, case.case_id)
    arm = choice.arm.id if choice.arm else ""
    taken = Dunning(
        DunningStatus.NOT_CHASED,
        reason="in the holdout of the strategy's experiment: no reminders",
        policy_version=policy.version,
        strategy=choice.strategy.id,
        strategy_why=choice.why,
        experiment=choice.strategy.experiment.id
        if choice.arm and choice.strategy.experiment
        else "",
        arm=arm,
    )
    if choice.holdout:
        return taken
    anchor = max(case.opened_at, facts.due_at) if facts.due_at else None
    followed = strategies.cadence_for(policy, choice.strategy.id, arm)
    due = cadence.step_due_at(followed, 0, anchor or case.opened_at, None)
    reason = f"waits for the due date ({facts.payment_terms})" if anchor else ""
    courtesy = None
    if anchor is not None and choice.strategy.courtesy_days:
        zone = zone_of_customer(case.snapshot.customer if case.snapshot else None, policy)
        courtesy = strategies.courtesy_time(anchor, choice.strategy.courtesy_days, zone)
        courtesy = courtesy if courtesy > case.opened_at else None
    cancel_days = choice.strategy.cancel_after_days
    return replace(
        taken,
        status=DunningStatus.SCHEDULED,
        next_at=due,
        reason=reason,
        anchor_at=anchor,
        courtesy_at=courtesy,
        cancel_at=case.opened_at + timedelta(days=cancel_days) if cancel_days else None,
    )


# The customer's earlier cases a strategy's `past_cases` condition reads, newest first.
MAX_PAST_CASES = 25


def customer_history(case: Case) -> str:
    """The customer's record with the shop from their earlier cases (found through the
    customer links the privacy requests use: one Query per identity the case names, then
    at most MAX_PAST_CASES cases); read only when a strategy asks."""
    opened = case.opened_at
    ids = customer_links.case_ids(case.shop, erasure.case_identities(case)) - {case.case_id}
    newest = sorted(ids, key=lambda i: (len(i), i), reverse=True)[:MAX_PAST_CASES]
    found = case_store.load_many(case.shop, newest).values()
    past = [
        (s.case, s.dunning)
        for s in found
        if s.case.merged_into is None and s.case.opened_at and opened and s.case.opened_at < opened
    ]
    return case_facts.history_of(past)


def _rematched(prior: StoredCase | None, case: Case, risk: str) -> Dunning | None:
    """Before its first message, a case whose facts changed (a decline reason arrived, the
    terms got a due date) is matched again; None: it keeps its strategy."""
    current = prior.dunning if prior else None
    if current is None or case.status is not CaseStatus.OPEN or case.opened_at is None:
        return None
    untouched = not current.sent and current.claimed_step < 0 and current.next_step == 0
    waiting = current.status is DunningStatus.SCHEDULED or (
        current.status is DunningStatus.HELD and current.held_by == "fraud"
    )
    if not (untouched and waiting and current.strategy):
        return None
    fresh = _start(case, risk)
    if fresh is None or fresh.status is not DunningStatus.SCHEDULED:
        return None
    same = (fresh.strategy, fresh.arm, fresh.anchor_at, fresh.next_at) == (
        current.strategy,
        current.arm,
        current.anchor_at,
        current.next_at,
    )
    if same:
        return None
    # Only what the match decides changes: the retries, claims and requests stay, and a
    # courtesy reminder is planned again only for a new due date (it may have gone).
    moved = current.anchor_at != fresh.anchor_at
    rematched = replace(
        current,
        policy_version=fresh.policy_version,
        strategy=fresh.strategy,
        strategy_why=fresh.strategy_why,
        experiment=fresh.experiment,
        arm=fresh.arm,
        anchor_at=fresh.anchor_at,
        next_at=fresh.next_at,
        courtesy_at=fresh.courtesy_at if moved else current.courtesy_at,
        cancel_at=fresh.cancel_at,
    )
    if current.status is DunningStatus.HELD:  # still held: only where it resumes changes
        return rematched
    return replace(rematched, reason=fresh.reason)


__all__ = ["customer_history", "followed", "gate_reminders", "on_case_change", "reminder_policy"]
