"""What a final notice about to be sent announces: agency, legal or neither, from the shop's
referral policy (read here) and the case (`domain.final_notice`)."""

from __future__ import annotations

from datetime import datetime

from recoup.domain import final_notice
from recoup.domain.case import Case
from recoup.domain.money import Money


def what_follows(case: Case, now: datetime, owed: Money | None = None) -> str | None:
    """ "agency", "legal" or None, for `render.MessageContext.referral_to`."""
    from recoup.services.referrals import referral_policy  # the referral side, on use only

    kind = final_notice.what_follows(case, referral_policy(case.shop), now, owed)
    return str(kind) if kind is not None else None


__all__ = ["what_follows"]
