"""What an experiment's figures read: each of its cases' arm and outcome, kept by every case
write in its own transaction, and each arm's complaints and unsubscribes.

A case in an experiment (`Dunning.experiment`, `Dunning.arm`) has one item in its own
partition (`EXP#<experiment>`) carrying the shop index's keys in the case's shard, its sort
`E#<experiment>#<case>|<arm>|<status>|<recovered minor>|<currency>|<opened>|<paid>`: the
figures are sixteen keys-only Queries whatever else the shop holds, growing with the
experiment's cases only. The item is put again only when its sort changes (the case paid,
cancelled, or its recovered amount moved). A complaint (an SES report on one of the case's
messages) or an unsubscribe (the customer turning messages off on their page) adds one to
its arm's counters (`EXPC#<shop>#<experiment>`, sk the arm): rare, so counters. Neither
holds personal data; shop/redact deletes both through the shop index, the case item's
partition with the case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning
from recoup.store.bind import bind
from recoup.store.models import (
    EXPERIMENT,
    CaseItem,
    ExperimentCaseItem,
    ExperimentCountItem,
    case_pk,
    shop_part,
    shop_parts,
)

SK_PREFIX = "EXP#"
_STATUS = {CaseStatus.OPEN: "o", CaseStatus.PAID: "p", CaseStatus.CANCELLED: "c"}
# Trail entries that count against an arm: a complaint about one of its messages, the
# customer turning messages off on their page.
COMPLAINT = ("message.delivery", "complaint")
UNSUBSCRIBE = "customer.preferences"


@dataclass(frozen=True, slots=True)
class Row:
    """One experiment case as its key holds it."""

    case_id: str
    arm: str
    status: str  # "o" open, "p" paid, "c" cancelled
    recovered_minor: int
    currency: str
    opened_at: datetime
    paid_at: datetime | None


@dataclass(frozen=True, slots=True)
class ArmCounts:
    complaints: int = 0
    unsubscribes: int = 0


def sort_of(case: Case, dunning: Dunning | None) -> str | None:
    """The case's key in its experiment, or None when it is in none."""
    if dunning is None or not dunning.experiment or not dunning.arm:
        return None
    opened = case.opened_at
    status = _STATUS.get(case.status)
    if opened is None or status is None:
        return None
    recovered = case.recovered
    currency = (
        recovered.currency
        if recovered
        else (
            case.snapshot.order_total.currency
            if case.snapshot and case.snapshot.order_total
            else ""
        )
    )
    paid = case.closed_at if case.status is CaseStatus.PAID else None
    fields = (
        dunning.arm,
        status,
        str(recovered.minor if recovered else 0),
        currency,
        _time(opened),
        _time(paid) if paid else "-",
    )
    return f"{EXPERIMENT}{dunning.experiment}#{case.case_id}|{'|'.join(fields)}"


def writes_of(
    case: Case,
    dunning: Dunning | None,
    prior: tuple[Case, Dunning | None] | None,
    entry: AuditEntry,
) -> tuple[list[ExperimentCaseItem], list[tuple[ExperimentCountItem, list[Any]]]]:
    """The items a case write changes: its experiment key when it moved, and its arm's
    counters when the entry written is a complaint or an unsubscribe."""
    sort = sort_of(case, dunning)
    if sort is None or dunning is None:
        return [], []
    before = sort_of(*prior) if prior is not None else None
    puts = []
    if sort != before:
        puts.append(
            ExperimentCaseItem(
                case_pk(case.shop, case.case_id),
                SK_PREFIX + dunning.experiment,
                shop_part=shop_part(case.shop, case.case_id),
                shop_sort=sort,
            )
        )
    counted = _counted(entry)
    updates: list[tuple[ExperimentCountItem, list[Any]]] = []
    if counted is not None:
        item = _count_item(case.shop, dunning.experiment, dunning.arm)
        attribute = getattr(ExperimentCountItem, counted)
        updates.append(
            (
                item,
                [
                    attribute.add(1),
                    ExperimentCountItem.shop_part.set(item.shop_part),
                    ExperimentCountItem.shop_sort.set(item.shop_sort),
                ],
            )
        )
    return puts, updates


def _counted(entry: AuditEntry) -> str | None:
    kind = entry.body.get("kind")
    if kind == COMPLAINT[0] and entry.body.get("outcome") == COMPLAINT[1]:
        return "complaints"
    if kind == UNSUBSCRIBE and entry.body.get("effect"):
        return "unsubscribes"
    return None


def _count_item(shop: str, experiment: str, arm: str) -> ExperimentCountItem:
    return ExperimentCountItem(
        f"EXPC#{shop}#{experiment}",
        arm,
        shop_part=shop_part(shop, f"{experiment}~{arm}"),
        shop_sort=f"{EXPERIMENT}{experiment}~{arm}",
    )


def rows(shop: str, experiment: str) -> Iterator[Row]:
    """The experiment's cases, from the shop index's keys (eventually consistent)."""
    bind()
    prefix = f"{EXPERIMENT}{experiment}#"
    for part in shop_parts(shop):
        for found in CaseItem.shop_index.query(part, CaseItem.shop_sort.startswith(prefix)):
            row = _row(str(found.shop_sort)[len(prefix) :])
            if row is not None:
                yield row


def counts(shop: str, experiment: str, arms: tuple[str, ...]) -> dict[str, ArmCounts]:
    """Each arm's complaints and unsubscribes (one BatchGetItem)."""
    bind()
    keys = [(f"EXPC#{shop}#{experiment}", arm) for arm in arms]
    found = {str(item.sk): item for item in ExperimentCountItem.batch_get(keys)}
    return {
        arm: ArmCounts(int(found[arm].complaints or 0), int(found[arm].unsubscribes or 0))
        if arm in found
        else ArmCounts()
        for arm in arms
    }


def _row(sort: str) -> Row | None:
    parts = sort.split("|")
    if len(parts) != 7:
        return None
    case_id, arm, status, recovered, currency, opened, paid = parts
    return Row(
        case_id,
        arm,
        status,
        int(recovered),
        currency,
        _parse(opened),
        None if paid == "-" else _parse(paid),
    )


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


__all__ = ["ArmCounts", "Row", "counts", "rows", "sort_of", "writes_of"]
