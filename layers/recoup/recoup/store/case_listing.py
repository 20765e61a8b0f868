"""The keys the admin's list finds a shop's tracked cases by, kept by every case write in
its own transaction: when the case opened, what it owes in its currency, and its search
terms (the order name, the customer's email under the keyed identity hash, first and last
name).

Each is an item in the case's own partition (`LIST#<keyed hash of its sort>`: the sort key
names no one) carrying the shop index's keys in the case's shard (`O#<opened>|<case>`,
`A#<currency>#<minor:015>|<case>`, `F#<kind>:<term>|<opened>|<case>`), so a list or a
search is sixteen keys-only Queries in key order, whatever the shop's size; a term carries
when its case opened, so a search orders its matches without reading them.

The case item lists the sorts written with it (`CaseItem.listed`): a write puts only what
changed, and a case stored before these keys existed gets them all from its next write (or
from `backfill`: docs/data-model.md). A key that no longer holds is put again without its
index keys: it leaves the index and keeps nothing but its hashed key, so the functions that
write cases need no DeleteItem. shop/redact deletes them with the case's partition;
customers/redact erases the case, whose write takes its name and email terms out (their
values were only in the index keys).
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from recoup.domain import listing
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case
from recoup.store import identity, upgrade_scan
from recoup.store.bind import bind, connection
from recoup.store.models import (
    FOUND,
    OPENED,
    OWED,
    CaseItem,
    ListingItem,
    case_pk,
    shop_part,
    shop_parts,
)

LIST_PREFIX = "LIST#"
MAX_MINOR = 10**15 - 1  # 15 digits: the owed key's width
SEP = listing.SEPARATOR
# "~" sorts after every character of a key's values (digits, ISO times, case ids).
LAST = "~"


def opened_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def owed_key(minor: int) -> str:
    return f"{min(max(minor, 0), MAX_MINOR):015d}"


def owed_prefix(currency: str) -> str:
    return f"{OWED}{currency}#"


def email_term(email: str) -> str:
    return identity.keyed(f"email:{email}")[:32]


def sorts_of(case: Case) -> frozenset[str]:
    """The shop index sort keys of a case's listing items: none unless it is tracked."""
    opened_at = case.opened_at
    if not case.opened or case.merged_into is not None or opened_at is None:
        return frozenset()
    case_id, opened = case.case_id, opened_key(opened_at)
    found = {f"{OPENED}{opened}{SEP}{case_id}"}
    owed = case.amount_owed
    if owed is not None and owed.minor > 0:
        found.add(f"{owed_prefix(owed.currency)}{owed_key(owed.minor)}{SEP}{case_id}")
    terms = listing.search_terms(case)
    named = [("o", terms.order), ("e", email_term(terms.email) if terms.email else None)]
    named += [("n", name) for name in sorted(terms.names)]
    found |= {f"{FOUND}{kind}:{term}{SEP}{opened}{SEP}{case_id}" for kind, term in named if term}
    return frozenset(found)


def item_sk(sort: str) -> str:
    return LIST_PREFIX + identity.keyed(f"list:{sort}")[:32]


def item(shop: str, case_id: str, sort: str) -> ListingItem:
    return ListingItem(
        case_pk(shop, case_id),
        item_sk(sort),
        shop_part=shop_part(shop, case_id),
        shop_sort=sort,
    )


def retired(shop: str, case_id: str, sort: str) -> ListingItem:
    """The item of a key that no longer holds, out of the index and holding no value."""
    return ListingItem(case_pk(shop, case_id), item_sk(sort))


# ---------------------------------------------------------------- what a write changes

# What each case item read listed, by (pk, version): a write on that version then knows
# which items exist without reading them. A version is written once, so an entry never
# goes stale; one missing (evicted, or a case stored before `listed`) makes the write put
# every item again, which is idempotent.
_READ_LIMIT = 4096
_read: OrderedDict[tuple[str, int], frozenset[str]] = OrderedDict()
_lock = threading.Lock()


def remember(pk: str, version: int, listed: Iterable[str] | None) -> None:
    if listed is None:
        return
    with _lock:
        _read[(pk, version)] = frozenset(listed)
        _read.move_to_end((pk, version))
        while len(_read) > _READ_LIMIT:
            _read.popitem(last=False)


def carry(shop: str, case_id: str, version: int) -> None:
    """A write that changed the case item but none of its listing items (a claim): the
    next version lists what this one did."""
    pk = case_pk(shop, case_id)
    with _lock:
        known = _read.get((pk, version))
    remember(pk, version + 1, known)


def _known(prior: StoredCase) -> frozenset[str] | None:
    with _lock:
        return _read.get((case_pk(prior.case.shop, prior.case.case_id), prior.version))


@dataclass(frozen=True, slots=True)
class ListingWrite:
    put: tuple[ListingItem, ...]
    retire: tuple[ListingItem, ...]
    listed: frozenset[str]  # what the case item lists once written


def write_of(case: Case, prior: StoredCase | None) -> ListingWrite:
    """The listing items a case write puts and retires: those that changed since what was
    read, or all of the case's when what was read is not known."""
    wanted = sorts_of(case)
    known = _known(prior) if prior is not None else frozenset()
    before = known if known is not None else sorts_of(prior.case) if prior else frozenset()
    put = wanted - before if known is not None else wanted
    shop, case_id = case.shop, case.case_id
    return ListingWrite(
        put=tuple(item(shop, case_id, sort) for sort in sorted(put)),
        retire=tuple(retired(shop, case_id, sort) for sort in sorted(before - wanted)),
        listed=wanted,
    )


# ---------------------------------------------------------------- reads


def ordered(
    shop: str,
    prefix: str,
    *,
    descending: bool = False,
    low: str = "",
    high: str = LAST,
    after: str | None = None,
    page_size: int = 25,
) -> Iterator[str]:
    """The sorts under `prefix` (without it) from `low` to `high`, after `after` (in the
    direction read), across the shop's shards in order: each shard read `page_size` keys a
    Query, another only when the merge reaches its end. Keys only, eventually consistent."""
    bind()
    if after is not None:
        low, high = (low, after) if descending else (after, high)
    if low > high:
        return iter(())

    def shard(part: str) -> Iterator[str]:
        condition = CaseItem.shop_sort.between(prefix + low, prefix + high)
        for found in CaseItem.shop_index.query(
            part, condition, scan_index_forward=not descending, page_size=page_size
        ):
            sort = str(found.shop_sort)[len(prefix) :]
            if sort != after:
                yield sort

    return heapq.merge(*(shard(part) for part in shop_parts(shop)), reverse=descending)


def first_of(shop: str, prefix: str) -> str | None:
    """A sort under `prefix` (without it): the first of the first shard that holds one. One
    key read whatever the shop's size (a shard holding none reads none); None if no shard
    holds one. Keys only, eventually consistent."""
    bind()
    for part in shop_parts(shop):
        query = CaseItem.shop_index.query(
            part, CaseItem.shop_sort.startswith(prefix), limit=1, page_size=1
        )
        for found in query:
            return str(found.shop_sort)[len(prefix) :]
    return None


def matching(shop: str, prefixes: Iterable[str], *, limit: int) -> list[str]:
    """The sorts that begin with any of these prefixes (at most `limit` in all, read in key
    order shard by shard), without the prefix's kind: `<term>|<opened>|<case>`."""
    bind()
    found: list[str] = []
    for prefix in prefixes:
        for part in shop_parts(shop):
            if len(found) >= limit:
                return found
            left = limit - len(found)
            for hit in CaseItem.shop_index.query(
                part, CaseItem.shop_sort.startswith(prefix), limit=left, page_size=left
            ):
                found.append(str(hit.shop_sort)[len(FOUND) :])
    return found


# ---------------------------------------------------------------- the one-off backfill


@dataclass
class Backfill:
    written: int = 0  # cases given their listing keys by this run
    meanwhile: int = 0  # written by a case write between the read and ours (it wrote them)

    def summary(self) -> str:
        return f"listing keys: {self.written} case(s) written, {self.meanwhile} meanwhile"


def backfill(
    *, shop: str | None = None, progress: Callable[[str], None] = lambda _: None
) -> Backfill:
    """Give every case stored before the listing keys (no `listed`) its keys, once: a
    Scan of those case items (an operator's one-off, never a function's), and per case one
    transaction of its listing items and `listed`, conditioned on the version read and
    moving it on (a concurrent case write then reads again and keeps them). Idempotent: a
    case written since matches the Scan no more."""
    bind()
    report = Backfill()
    for raw in _unlisted(shop):
        found = CaseItem.from_raw_data(raw)
        version = int(found.version or 0)
        sorts = sorts_of(Case.from_dict(found.doc))
        update = CaseItem(found.pk, found.sk)
        update.version = version
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(update, actions=[CaseItem.listed.set(sorted(sorts))])
                for sort in sorted(sorts):
                    tx.save(item(_shop(found), _case_id(found), sort))
        except TransactWriteError:
            report.meanwhile += 1
            continue
        report.written += 1
        if report.written % 1000 == 0:
            progress(report.summary())
    progress(report.summary())
    return report


def _shop(found: CaseItem) -> str:
    return str(found.pk).split("#", 2)[1]


def _case_id(found: CaseItem) -> str:
    return str(found.pk).split("#", 2)[2]


def _unlisted(shop: str | None) -> Iterator[dict[str, Any]]:
    return upgrade_scan.case_items(shop, "attribute_not_exists(listed)")
