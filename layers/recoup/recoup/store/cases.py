"""Cases and their audit trails in DynamoDB: load, and save with one transaction.

A save is a single TransactWriteItems: the case item (conditioned on the version that was
read, so a concurrent writer forces a re-read), its next audit entry (conditioned on not
existing), and any cross references. Either all of it lands or none of it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from recoup.domain.audit import GENESIS, AuditEntry
from recoup.domain.case import Case, CaseStatus
from recoup.store.bind import bind
from recoup.store.models import (
    AuditItem,
    CaseItem,
    XrefItem,
    audit_prefix,
    audit_sk,
    case_sk,
    shop_pk,
    xref_sk,
)

# Orders that never owed anything are kept only long enough to absorb late deliveries.
UNTRACKED_RETENTION = timedelta(days=90)


class ConcurrentUpdate(Exception):
    """Another writer changed the case between our read and our write."""


@dataclass(frozen=True, slots=True)
class StoredCase:
    case: Case
    version: int
    audit_seq: int
    audit_head: str


def load(shop: str, case_id: str) -> StoredCase | None:
    bind()
    try:
        item = CaseItem.get(shop_pk(shop), case_sk(case_id), consistent_read=True)
    except DoesNotExist:
        return None
    return _stored(item)


def load_many(shop: str, case_ids: Iterable[str]) -> dict[str, StoredCase]:
    """The cases that exist among these ids, in one consistent BatchGetItem."""
    bind()
    keys = [(shop_pk(shop), case_sk(i)) for i in dict.fromkeys(case_ids)]
    if not keys:
        return {}
    found = (_stored(item) for item in CaseItem.batch_get(keys, consistent_read=True))
    return {stored.case.case_id: stored for stored in found}


def _stored(item: CaseItem) -> StoredCase:
    return StoredCase(
        case=Case.from_dict(item.doc),
        version=int(item.version or 0),
        audit_seq=int(item.audit_seq),
        audit_head=item.audit_head,
    )


@dataclass(frozen=True, slots=True)
class CaseWrite:
    """One case to write: its new state, what was read (None: new), its next audit entry."""

    case: Case
    prior: StoredCase | None
    entry: AuditEntry


def save(
    case: Case,
    prior: StoredCase | None,
    entry: AuditEntry,
    *,
    now: datetime,
    xrefs: Iterable[str] = (),
) -> None:
    """Write the case, its next audit entry and cross references atomically."""
    save_all([CaseWrite(case, prior, entry)], now=now, xrefs=xrefs)


def save_all(writes: list[CaseWrite], *, now: datetime, xrefs: Iterable[str] = ()) -> None:
    """Write several cases of one shop (a merge) in one transaction; xrefs point at the
    first case."""
    bind()
    try:
        with TransactWrite(connection=_connection()) as tx:
            for write in writes:
                _add_case(tx, write, now)
            target = writes[0].case
            for stripe_id in dict.fromkeys(xrefs):
                tx.save(XrefItem(shop_pk(target.shop), xref_sk(stripe_id), case_id=target.case_id))
    except TransactWriteError as exc:
        if _conflict(exc):
            names = ", ".join(w.case.case_id for w in writes)
            raise ConcurrentUpdate(f"case {names} changed concurrently") from exc
        raise


def _add_case(tx: TransactWrite, write: CaseWrite, now: datetime) -> None:
    case, prior, entry = write.case, write.prior, write.entry
    expires = None if case.opened else now + UNTRACKED_RETENTION
    item = CaseItem(
        shop_pk(case.shop),
        case_sk(case.case_id),
        status=str(case.status),
        opened=case.opened and case.merged_into is None,
        opened_at=case.opened_at,
        amount_owed_minor=case.amount_owed.minor if case.amount_owed else None,
        currency=case.snapshot.order_total.currency
        if case.snapshot and case.snapshot.order_total
        else None,
        doc=_minimised(case).to_dict(),
        audit_seq=entry.seq,
        audit_head=entry.hash,
        expires_at=expires,
    )
    if prior is not None:
        item.version = prior.version
    # PynamoDB adds the version condition (attribute_not_exists for a new item).
    tx.save(item)
    tx.save(
        AuditItem(
            shop_pk(case.shop),
            audit_sk(case.case_id, entry.seq),
            case_id=case.case_id,
            seq=entry.seq,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
            body=entry.body,
            expires_at=expires,
        ),
        condition=AuditItem.pk.does_not_exist(),
    )
    if case.opened and prior is not None and not prior.case.opened:
        # Entries written while the order owed nothing had a TTL: keep them now.
        for seq in range(1, prior.audit_seq + 1):
            tx.update(
                AuditItem(shop_pk(case.shop), audit_sk(case.case_id, seq)),
                actions=[AuditItem.expires_at.remove()],
                condition=AuditItem.pk.exists(),
            )


def _minimised(case: Case) -> Case:
    """An order that was paid or cancelled before it ever owed anything keeps no
    personal data: it is stored only to make late, out-of-order deliveries harmless."""
    if case.opened or case.status is CaseStatus.UNTRACKED or case.snapshot is None:
        return case
    return replace(case, snapshot=replace(case.snapshot, customer=None))


def _conflict(exc: TransactWriteError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)


def _connection() -> Connection:
    return Connection(region=CaseItem.Meta.region)


def resolve_xref(shop: str, stripe_ids: Iterable[str]) -> str | None:
    """The case a Stripe object was linked to, if any of the ids was seen linked before."""
    bind()
    keys = [(shop_pk(shop), xref_sk(i)) for i in dict.fromkeys(stripe_ids)]
    if not keys:
        return None
    found = {item.sk: item.case_id for item in XrefItem.batch_get(keys)}
    for _, sk in keys:
        if sk in found:
            return found[sk]
    return None


def list_cases(shop: str, *, include_untracked: bool = False) -> Iterator[Case]:
    bind()
    for item in CaseItem.query(shop_pk(shop), CaseItem.sk.startswith("CASE#")):
        case = Case.from_dict(item.doc)
        if case.merged_into is None and (include_untracked or case.opened):
            yield case


def audit_trail(shop: str, case_id: str) -> list[AuditEntry]:
    bind()
    return [
        AuditEntry(int(i.seq), i.prev_hash, i.hash, dict(i.body))
        for i in AuditItem.query(shop_pk(shop), AuditItem.sk.startswith(audit_prefix(case_id)))
    ]


__all__ = [
    "GENESIS",
    "CaseWrite",
    "ConcurrentUpdate",
    "StoredCase",
    "audit_trail",
    "list_cases",
    "load",
    "save",
    "save_all",
]
