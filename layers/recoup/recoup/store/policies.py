"""A shop's policies (reminders, fraud, referral): stored versioned, read with defaults.

Each kind is one item (`POLICY#<KIND>`) holding its newest version; a save must be exactly
one version ahead of what is stored, so two admins editing at once cannot overwrite each
other silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from recoup.domain.cadence import ReminderPolicy, default_policy, parse_policy, policy_to_dict
from recoup.store.bind import bind, connection
from recoup.store.models import PolicyItem, shop_pk

REMINDERS = "REMINDERS"
FRAUD = "FRAUD"
REFERRAL = "REFERRAL"


class PolicyConflict(Exception):
    """Someone saved a newer version first."""


Doc = tuple[int, dict[str, Any]]
# Policies already read for the event under way (store/case_reads.py), by (shop, kind).
_held: ContextVar[dict[tuple[str, str], Doc | None] | None] = ContextVar("held", default=None)


@contextmanager
def held(shop: str, docs: dict[str, Doc | None]) -> Iterator[None]:
    """Within the block, `load_doc` answers these kinds of this shop without a read."""
    token = _held.set({(shop, kind): doc for kind, doc in docs.items()})
    try:
        yield
    finally:
        _held.reset(token)


def load_doc(shop: str, kind: str) -> Doc | None:
    """The stored (version, document) of one policy kind, or None if the shop has none."""
    known = _held.get()
    if known is not None and (shop, kind) in known:
        return known[(shop, kind)]
    bind()
    try:
        item = PolicyItem.get(shop_pk(shop), f"POLICY#{kind}")
    except DoesNotExist:
        return None
    return int(item.version), dict(item.doc)


def save_doc(shop: str, kind: str, version: int, doc: dict[str, Any], *, now: datetime) -> None:
    """Store a new version; refused unless it is exactly one more than the stored one."""
    bind()
    item = PolicyItem(shop_pk(shop), f"POLICY#{kind}", version=version, doc=doc, updated_at=now)
    try:
        item.save(condition=_next_version(version))
    except PutError as exc:
        raise PolicyConflict(
            f"{kind.lower()} policy version {version} is not the next one"
        ) from exc


def save_docs(shop: str, docs: list[tuple[str, int, dict[str, Any]]], *, now: datetime) -> None:
    """Store new versions of several kinds, (kind, version, document) each, all or none: one
    transaction, each refused unless exactly one more than the stored one (PolicyConflict
    names the kinds that were not)."""
    bind()
    try:
        with TransactWrite(connection=connection()) as tx:
            for kind, version, doc in docs:
                tx.save(
                    PolicyItem(
                        shop_pk(shop), f"POLICY#{kind}", version=version, doc=doc, updated_at=now
                    ),
                    condition=_next_version(version),
                )
    except TransactWriteError as exc:
        reasons = [r.code if r else None for r in getattr(exc, "cancellation_reasons", None) or []]
        stale = [
            kind
            for (kind, _, _), code in zip(docs, reasons, strict=False)
            if code == "ConditionalCheckFailed"
        ]
        if not stale:  # refused for another reason (throttled, say): not a conflict
            raise
        raise PolicyConflict(f"{', '.join(k.lower() for k in stale)} changed meanwhile") from exc


def _next_version(version: int) -> Any:
    return PolicyItem.pk.does_not_exist() if version == 1 else PolicyItem.version == version - 1


def load(shop: str, *, shop_timezone: str = "UTC") -> ReminderPolicy:
    stored = load_doc(shop, REMINDERS)
    if stored is None:
        return default_policy(shop_timezone)
    return parse_policy(stored[1])


def save(shop: str, policy: ReminderPolicy, *, now: datetime) -> None:
    save_doc(shop, REMINDERS, policy.version, policy_to_dict(policy), now=now)
