"""The referral check: once a case's reminders are spent (or fraud flags it), decide whether
to refer it to an agency or to legal, write it off, wait, or leave it, and do it.

The scheduler queues a check when the case's `Dunning.escalation_due_at` has come (the due
index, like reminder steps). A check that is no longer due (already done by an earlier
delivery of the same job, or the case changed) does nothing, so a redelivered job creates
no second file set and no second hand-over. Each outcome is one version-conditioned case
write with its audit entry:

- wait: the check is moved to the decision's `not_before`;
- none: the reason goes on the trail once, and no check is scheduled again;
- write_off: recorded with the reason; reminders stop;
- agency or legal: the case file set is written (`services.referrals`), the referral and
  its pending hand-over recorded (the hand-over's outbox: the due index) and reminders
  stopped; then the hand-over's first attempt is queued and the customer tagged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recoup import clock
from recoup.domain import cadence
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Decision, Gate
from recoup.domain.referral import (
    DecisionKind,
    ReferralDecision,
    ReferralFacts,
    ReferralPolicy,
    Referrals,
    WriteOff,
    case_money,
)
from recoup.domain.referral import decide as decide_referral
from recoup.domain.timezones import normalise_phone, zone_of_customer
from recoup.observability import logger, metrics
from recoup.services import referrals as making
from recoup.services.reminder_plan import reminder_policy
from recoup.store import cases as store
from recoup.store import contacts, shops


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: str  # agency | legal | write_off | wait | none | stale
    detail: str


def check_job(body: str) -> CheckResult:
    job = json.loads(body)
    return check(str(job["shop"]), str(job["case_id"]), now=clock.now())


def check(shop: str, case_id: str, *, now: datetime) -> CheckResult:
    """Run the referral check for one case, re-reading when another writer got there first."""

    def decide(stored: StoredCase | None) -> CheckResult | store.Change[CheckResult]:
        if stored is None or stored.case.merged_into is not None or not stored.case.opened:
            return CheckResult("stale", "no such case")
        dunning = stored.dunning
        due = dunning.escalation_due_at if dunning else None
        if dunning is None or due is None or due > now:
            return CheckResult("stale", "no referral check is due")
        if not shops.is_installed(shop):
            return CheckResult("stale", f"{shop} is not installed: nothing is referred")
        policy = making.referral_policy(shop)
        decision = decide_referral(facts(stored, dunning), policy, now)
        return _outcome(stored, dunning, decision, policy, now)

    return store.change(shop, case_id, decide, now=now)


def facts(stored: StoredCase, dunning: Dunning) -> ReferralFacts:
    """What the decision reads about the case now."""
    case = stored.case
    money = case_money(case)
    customer = case.snapshot.customer if case.snapshot else None
    email = customer.email if customer else None
    phone = normalise_phone(
        customer.phone if customer else None, customer.country if customer else None
    )
    reach = contacts.reachability(case.shop, email, phone)
    screening = stored.screening
    reminders = reminder_policy(case.shop, shops.get(case.shop), dunning)
    return ReferralFacts(
        owed=money.owed if money else case.amount_owed,
        paid=money.paid if money else None,
        refunded=money.refunded if money else None,
        case_open=case.status is CaseStatus.OPEN,
        dispute_open=case.dispute_open,
        merchant_hold=dunning.held_by == "merchant",
        fraud_confirmed=screening is not None and screening.decision is Decision.CONFIRMED_FRAUD,
        fraud_flagged=screening is not None and screening.gate is Gate.FLAG,
        not_theirs=dunning.not_theirs,
        sequence_spent_at=dunning.spent_at,
        final_notice_at=_final_notice_at(reminders, dunning),
        last_referral=stored.referrals.latest if stored.referrals else None,
        email_reachable=bool(email) and not (reach.email_opted_out or reach.email_suppressed),
        sms_reachable=bool(phone) and not reach.sms_opted_out,
        customer_zone=zone_of_customer(customer, reminders),
    )


def _final_notice_at(reminders: cadence.ReminderPolicy, dunning: Dunning) -> datetime | None:
    """When the last final notice was sent, by the steps of the shop's reminder policy."""
    if not dunning.sent:
        return None
    steps = reminders.steps
    notices = [
        m.at
        for m in dunning.sent
        if m.channel != "unknown"
        and m.step < len(steps)
        and steps[m.step].tone is cadence.Tone.FINAL_NOTICE
    ]
    return max(notices) if notices else None


def _outcome(
    stored: StoredCase,
    dunning: Dunning,
    decision: ReferralDecision,
    policy: ReferralPolicy,
    now: datetime,
) -> store.Change[CheckResult]:
    """What the decision writes. A referral's case file set is written first (a retry after
    a conflict writes it again: the bucket keeps every version); the hand-over is queued and
    the customer tagged once the referral is recorded."""
    kind, reason = decision.kind, decision.reason
    if kind is DecisionKind.WAIT:
        assert decision.not_before is not None  # a wait always says until when
        waiting = dunning.escalate(decision.not_before)
        return _change(stored, "escalation.wait", reason, now, waiting, CheckResult("wait", reason))
    if kind is DecisionKind.NONE:
        summary = f"not referred: {reason}"
        left = dunning.escalate(None)
        return _change(stored, "escalation.none", summary, now, left, CheckResult("none", reason))
    if kind is DecisionKind.WRITE_OFF:
        written = (stored.referrals or Referrals()).write_off(WriteOff(now, reason, "recoup"))
        stopped = dunning.finish(DunningStatus.STOPPED, f"written off: {reason}")
        return _change(
            stored,
            "escalation.write_off",
            f"written off: {reason}",
            now,
            stopped,
            CheckResult("write_off", reason),
            written,
            then=lambda: metrics.add_metric(name="WrittenOff", unit="Count", value=1),
        )
    referral_kind = decision.referral_kind
    assert referral_kind is not None  # agency or legal
    prepared = making.prepare(
        stored, referral_kind, "; ".join((reason, *decision.notes)), policy, now
    )
    making.write_files(stored, prepared, now)
    return _change(
        stored,
        "escalation.referred",
        prepared.summary,
        now,
        prepared.dunning,
        CheckResult(str(referral_kind), prepared.summary),
        prepared.referrals,
        then=lambda: making.after_write(stored.case.shop, stored, prepared),
    )


def _change(
    stored: StoredCase,
    kind: str,
    summary: str,
    now: datetime,
    dunning: Dunning,
    result: CheckResult,
    referrals: Referrals | None = None,
    *,
    then: Callable[[], None] | None = None,
) -> store.Change[CheckResult]:
    """The check's outcome with its audit entry; `then` follows the commit."""
    entry = store.recoup_entry(
        stored,
        source="recoup",
        kind=kind,
        event_id=f"recoup:{kind}:{stored.case.case_id}:{now.isoformat()}",
        summary=summary,
        effect=dunning.reason or str(dunning.status),
        now=now,
    )

    def committed() -> None:
        logger.info("Referral check", extra={"case_id": stored.case.case_id, "kind": kind})
        if then is not None:
            then()

    return store.Change(
        stored.case, entry, result, dunning=dunning, referrals=referrals, after=committed
    )


__all__ = ["CheckResult", "check", "check_job", "facts"]
