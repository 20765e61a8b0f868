"""What a final notice announces: the referral the shop's policy will make if the customer
does not pay by the date the notice gives.

Pure: it asks the referral decision (`domain.referral.decide`) about the case as it will be
then (the sequence spent and the notice sent now), so the notice and the later referral
check read the same policy with the same rules. An agency or legal referral is named; a
write-off, or a case the merchant decides on, is announced as neither.
"""

from __future__ import annotations

from datetime import datetime

from recoup.domain.case import Case
from recoup.domain.money import Money
from recoup.domain.referral import (
    DecisionKind,
    ReferralFacts,
    ReferralKind,
    ReferralPolicy,
    case_money,
    decide,
)


def what_follows(
    case: Case, policy: ReferralPolicy, notice_at: datetime, owed: Money | None = None
) -> ReferralKind | None:
    """The referral a final notice sent at `notice_at` leads to if nothing is paid, or None.
    `owed` is the amount the notice states (default: what the case owes now)."""
    money = case_money(case)
    owed = owed if owed is not None else case.amount_owed
    if owed is None or owed.minor <= 0:
        return None
    same = money is not None and money.paid.currency == owed.currency
    facts = ReferralFacts(
        owed=owed,
        paid=money.paid if money is not None and same else None,
        refunded=money.refunded if money is not None and same else None,
        dispute_open=case.dispute_open,
        sequence_spent_at=notice_at,
        final_notice_at=notice_at,
    )
    decision = decide(facts, policy, notice_at)
    kind = decision.pending if decision.kind is DecisionKind.WAIT else decision.kind
    if kind is DecisionKind.AGENCY:
        return ReferralKind.AGENCY
    if kind is DecisionKind.LEGAL:
        return ReferralKind.LEGAL
    return None


__all__ = ["what_follows"]
