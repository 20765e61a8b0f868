"""A case with everything kept beside it: the unit a change reads and writes whole.

`version`, `audit_seq` and `audit_head` are what a write is conditioned on and chained to;
the reminder sequence, the fraud screening and the referrals are the case's parts that
change on their own schedules. The store loads and commits it; services change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recoup.domain.case import Case
from recoup.domain.dunning import Dunning

if TYPE_CHECKING:  # annotations only: the store reads these parts when a case has them
    from recoup.domain.fraud.screening import Screening
    from recoup.domain.referral import Referrals


@dataclass(frozen=True, slots=True)
class StoredCase:
    case: Case
    version: int
    audit_seq: int
    audit_head: str
    dunning: Dunning | None = None
    screening: Screening | None = None
    referrals: Referrals | None = None
    # The rollup version (domain.rollup.VERSION) its figures were counted under; 0: none,
    # so the next write counts the whole case (store.cases, store.rollup_upgrade).
    rollup_version: int = 0

    def dunning_or_raise(self) -> Dunning:
        if self.dunning is None:
            raise ValueError(f"case {self.case.case_id} has no reminder sequence")
        return self.dunning
