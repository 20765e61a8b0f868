"""The one-off count of every case under a new rollup version (`recoup count-figures`).

A new `domain.rollup.VERSION` keys its rollup items apart (store/rollups.py), so they start
empty. A case item says which version its figures are counted under (`rollup_version`):
every write counts the case under the current version (the whole case when it was not
counted yet), and `count_all` counts each case that no write has touched since the upgrade.
It reads the table once (a paginated Scan of the case items not counted yet, run by an
operator, never by a function) and, per case, one TransactWriteItems: the case item's
`rollup_version` set and its `version` moved on (conditioned on the version read, so a
concurrent write and the count never both count it), with its whole contribution added to
the rollups. Idempotent and resumable: a counted case no longer matches the Scan, and a run
stopped halfway is finished by running it again. A count adds to days of the shop's history
that its last read may not have put in place (store/rollups.py, "Reads"): each shop it counted
a case of has its items put in place again from its first month by its next read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from recoup import aws
from recoup.domain import rollup
from recoup.domain.aggregate import StoredCase
from recoup.settings import get_settings
from recoup.store import cases, rollups, upgrade_scan
from recoup.store.models import CASE_SK, CaseItem, case_pk

# Tries per case when a concurrent write cancels the count (that write may have counted it).
ATTEMPTS = 5


@dataclass
class Report:
    counted: int = 0  # counted by this run, with what they add to the figures
    empty: int = 0  # marked counted, nothing to add (never owed, merged into another)
    already: int = 0  # counted meanwhile by a write of the case

    def summary(self) -> str:
        return (
            f"rollup version {rollup.VERSION}: counted {self.counted} case(s), "
            f"{self.empty} with nothing to count, {self.already} counted meanwhile"
        )


def count_all(
    *, shop: str | None = None, progress: Callable[[str], None] = lambda _: None
) -> Report:
    """Count every case of the table (or of one shop) not counted under the current rollup
    version yet, once."""
    report = Report()
    counted_in: set[str] = set()
    for raw in _uncounted(shop):
        held = cases.stored(CaseItem.from_raw_data(raw))
        for _ in range(ATTEMPTS):
            if held.rollup_version == rollup.VERSION:
                report.already += 1
                break
            counted = _count(held)
            if counted is not None:
                if counted:
                    report.counted += 1
                    counted_in.add(held.case.shop)
                else:
                    report.empty += 1
                break
            again = cases.load(held.case.shop, held.case.case_id)
            if again is None:  # erased meanwhile
                break
            held = again
        else:
            raise cases.ConcurrentUpdate(f"case {held.case.case_id}: still changing")
        done = report.counted + report.empty + report.already
        if done % 1000 == 0:
            progress(report.summary())
    for counted_shop in sorted(counted_in):
        rollups.prepare_again(counted_shop)
    progress(report.summary())
    return report


def _count(held: StoredCase) -> bool | None:
    """Count one case on the version read: whether it added to the figures; None if a
    write of the case got there first."""
    case = held.case
    change = rollup.delta(
        None, rollup.contribution(case, held.dunning, held.screening, held.referrals)
    )
    table = get_settings().table_name
    client = aws.client("dynamodb")
    mark: dict[str, Any] = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": case_pk(case.shop, case.case_id)}, "sk": {"S": CASE_SK}},
            "UpdateExpression": "SET #counted = :counted, #version = #version + :one",
            "ConditionExpression": "#version = :read",
            "ExpressionAttributeNames": {"#counted": "rollup_version", "#version": "version"},
            "ExpressionAttributeValues": {
                ":counted": {"N": str(rollup.VERSION)},
                ":one": {"N": "1"},
                ":read": {"N": str(held.version)},
            },
        }
    }
    updates = rollups.raw_updates(case.shop, case.case_id, change) if change else []
    items: Any = [mark, *updates]
    try:
        client.transact_write_items(TransactItems=items)
    except client.exceptions.TransactionCanceledException:
        return None
    return bool(change)


def _uncounted(shop: str | None) -> Iterator[dict[str, Any]]:
    """The case items (of one shop, or all) not counted under the current version."""
    return upgrade_scan.case_items(
        shop,
        "attribute_not_exists(rollup_version) OR rollup_version <> :version",
        {":version": {"N": str(rollup.VERSION)}},
    )
