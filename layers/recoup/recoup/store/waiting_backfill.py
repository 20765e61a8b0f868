"""The one-off that gives a marker to each case already waiting for the merchant when the
markers were introduced (`recoup mark-waiting`): a case write puts a marker only when the
reason changes, so a case that waited before the upgrade and has not changed since would
never be in the merchant's digest.

An operator's one-off, never a function's: a Scan of the case items (of one shop, or all),
and for each case that waits and has no marker, one transaction of its marker (absent) with
a check that the case is still the version read; the shop is registered for its notices.
Idempotent: a case that has its marker, or stopped waiting meanwhile, is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from recoup.domain.notices import waiting_reason
from recoup.store import upgrade_scan, waiting
from recoup.store.bind import bind, connection
from recoup.store.cases import stored
from recoup.store.models import WAITING, CaseItem, WaitingItem, shop_part


@dataclass
class MarkWaiting:
    marked: int = 0  # cases given their marker by this run
    present: int = 0  # cases that had one, or changed between the read and the write
    shops: set[str] = field(default_factory=set)  # the shops registered for their notices

    def summary(self) -> str:
        return (
            f"waiting markers: {self.marked} case(s) marked, {self.present} had one or "
            f"changed meanwhile, in {len(self.shops)} shop(s)"
        )


def mark_waiting(
    *, now: datetime, shop: str | None = None, progress: Callable[[str], None] = lambda _: None
) -> MarkWaiting:
    """Put the marker of every waiting case that has none (see the module's words)."""
    bind()
    report = MarkWaiting()
    for raw in upgrade_scan.case_items(shop, "attribute_exists(doc)"):
        found = CaseItem.from_raw_data(raw)
        held = stored(found)
        case = held.case
        reason = waiting_reason(case, held.dunning, held.screening, held.referrals)
        if reason is None:
            continue
        marker = WaitingItem(
            found.pk,
            waiting.WAIT_SK,
            case_id=case.case_id,
            reason=str(reason),
            since=now,
            shop_part=shop_part(case.shop, case.case_id),
            shop_sort=WAITING + case.case_id,
        )
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.condition_check(
                    CaseItem, found.pk, found.sk, condition=CaseItem.version == found.version
                )
                tx.save(marker, condition=WaitingItem.pk.does_not_exist())
        except TransactWriteError:
            report.present += 1
            continue
        waiting.register(case.shop, now=now, immediate=False)
        report.marked += 1
        report.shops.add(case.shop)
        if report.marked % 1000 == 0:
            progress(report.summary())
    progress(report.summary())
    return report
