"""What waits for the merchant, kept so that it is found without reading the shop's cases.

- A case that waits (`domain.notices.waiting_reason`) has a marker in its own partition
  (sk `WAIT`) carrying the shop index's keys (`N#<case id>`): the case write that makes it
  wait puts it, in the same transaction (`store.cases.save_all`); the write that ends the
  wait puts it again without the index keys, so it leaves the index (a put, never a delete:
  every function that writes cases may put, and the item costs a few bytes in a partition
  the case's erasure deletes whole). A write that leaves the reason as it was writes nothing.
- A referral made puts `REFERRED#<referral id>` (`N#R#<case id>#<referral id>`, TTL 30 days)
  in the transaction that records it.
- The shops to consider are in `NOTIFY#<shard>` (sk: the shop; shop index keys, so
  shop/redact erases it): written before the transaction that puts a new marker, once per
  shop and container (an immediate reason every time, with `pending_at`); a registration
  whose transaction then failed costs one empty check. The scheduler reads these 8
  partitions and queues the notice jobs.

Listing a shop's markers is one keys-only Query per shard of the shop index (`N#` only) and a
BatchGetItem of the markers: a cost that follows what waits, not the shop's history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case
from recoup.domain.dunning import Dunning
from recoup.domain.fraud.screening import Screening
from recoup.domain.notices import new_referrals, waiting_reason
from recoup.domain.referral import Referrals
from recoup.store.bind import bind
from recoup.store.models import (
    WAITING,
    CaseItem,
    DigestItem,
    NoticeShopItem,
    WaitingItem,
    case_pk,
    shop_part,
    shop_parts,
    shop_pk,
)

WAIT_SK = "WAIT"
REFERRED = "REFERRED#"
REFERRED_KEPT = timedelta(days=30)
REGISTRY_SHARDS = 8
DIGEST_SK = "NOTIFY#DIGEST"
# The sort key of a registration in the shop index: shop/redact finds it there.
_REGISTERED = WAITING + "SHOP"


@dataclass(frozen=True, slots=True)
class Marker:
    case_id: str
    reason: str  # a WaitReason, or "referred"
    since: datetime
    key: tuple[str, str]
    notified: bool = False


@dataclass(frozen=True, slots=True)
class MarkerWrites:
    items: list[WaitingItem]
    registers: bool  # a new marker: the shop must be in the registry
    immediate: bool  # ... and an immediate notice may be due


def marker_writes(
    prior: StoredCase | None,
    case: Case,
    dunning: Dunning | None,
    screening: Screening | None,
    referrals: Referrals | None,
    now: datetime,
) -> MarkerWrites:
    """The markers a case write changes, to put in its transaction."""
    before = (
        waiting_reason(prior.case, prior.dunning, prior.screening, prior.referrals)
        if prior is not None
        else None
    )
    after = waiting_reason(case, dunning, screening, referrals)
    items: list[WaitingItem] = []
    pk = case_pk(case.shop, case.case_id)
    if after != before:
        item = WaitingItem(pk, WAIT_SK, case_id=case.case_id)
        if after is not None:
            item.reason, item.since = str(after), now
            item.shop_part = shop_part(case.shop, case.case_id)
            item.shop_sort = WAITING + case.case_id
        items.append(item)
    made = new_referrals(prior.referrals if prior else None, referrals)
    for referral_id, referral in made:
        items.append(
            WaitingItem(
                pk,
                REFERRED + referral_id,
                case_id=case.case_id,
                reason="referred",
                since=referral.referred_at,
                expires_at=now + REFERRED_KEPT,
                shop_part=shop_part(case.shop, case.case_id),
                shop_sort=f"{WAITING}R#{case.case_id}#{referral_id}",
            )
        )
    fresh = after is not None and after != before
    immediate = bool(made) or (fresh and after is not None and after.immediate)
    return MarkerWrites(items, registers=fresh or bool(made), immediate=immediate)


# Shops this container has registered: a registry write per new marker would be a hot item.
_registered: set[str] = set()


def register(shop: str, *, now: datetime, immediate: bool) -> None:
    """Put the shop in the registry (and flag an immediate notice as possibly due)."""
    if shop in _registered and not immediate:
        return
    bind()
    item = NoticeShopItem(registry_pk(shop), shop)
    actions: list[Action] = [
        NoticeShopItem.registered_at.set(now),
        NoticeShopItem.shop_part.set(shop_part(shop, _REGISTERED)),
        NoticeShopItem.shop_sort.set(_REGISTERED),
    ]
    if immediate:
        actions.append(NoticeShopItem.pending_at.set(now))
    item.update(actions=actions)
    _registered.add(shop)


def forget_registrations() -> None:
    """Forget which shops this process registered (tests, a new local stack)."""
    _registered.clear()


def registry_pk(shop: str) -> str:
    return f"NOTIFY#{hashlib.sha256(shop.encode()).digest()[0] % REGISTRY_SHARDS}"


@dataclass(frozen=True, slots=True)
class Registered:
    shop: str
    pending_at: datetime | None


def registered_shops() -> Iterator[Registered]:
    """Every shop in the registry: one Query per shard."""
    bind()
    for shard in range(REGISTRY_SHARDS):
        for item in NoticeShopItem.query(f"NOTIFY#{shard}"):
            yield Registered(item.sk, item.pending_at)


def pending_at(shop: str) -> datetime | None:
    """When an immediate notice of the shop was flagged as possibly due (None: not)."""
    bind()
    try:
        item = NoticeShopItem.get(registry_pk(shop), shop, consistent_read=True)
    except DoesNotExist:
        return None
    return item.pending_at


def clear_pending(shop: str, pending_at: datetime) -> None:
    """The immediate notices flagged at `pending_at` are handled (a newer flag stays)."""
    bind()
    try:
        NoticeShopItem(registry_pk(shop), shop).update(
            actions=[NoticeShopItem.pending_at.remove()],
            condition=NoticeShopItem.pending_at == pending_at,
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


# ---------------------------------------------------------------- reading markers


def markers(shop: str) -> list[Marker]:
    """The shop's waiting cases and referrals made (kept 30 days), by case id."""
    bind()
    keys: list[tuple[str, str]] = []
    for part in shop_parts(shop):
        found = CaseItem.shop_index.query(part, CaseItem.shop_sort.startswith(WAITING))
        keys += [
            (str(i.pk), str(i.sk))
            for i in found
            if str(i.sk) == WAIT_SK or str(i.sk).startswith(REFERRED)
        ]
    out = [
        Marker(
            str(item.case_id),
            str(item.reason),
            item.since,
            (str(item.pk), str(item.sk)),
            item.notified_at is not None,
        )
        for item in WaitingItem.batch_get(keys)
        if item.shop_sort is not None and item.reason and item.since is not None
    ]
    return sorted(out, key=lambda m: (m.since, m.case_id, m.key[1]))


def claim_notices(found: Iterable[Marker], *, now: datetime) -> list[Marker]:
    """Claim each marker for the immediate notice (once, ever); the ones claimed now."""
    bind()
    claimed = []
    for marker in found:
        try:
            WaitingItem(*marker.key).update(
                actions=[WaitingItem.notified_at.set(now)],
                condition=WaitingItem.pk.exists() & WaitingItem.notified_at.does_not_exist(),
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                continue
            raise
        claimed.append(marker)
    return claimed


def release_notices(found: Iterable[Marker]) -> None:
    """Give claims back: the notice certainly was not sent."""
    bind()
    for marker in found:
        WaitingItem(*marker.key).update(
            actions=[WaitingItem.notified_at.remove()], condition=WaitingItem.pk.exists()
        )


# ---------------------------------------------------------------- the digest's day


@dataclass(frozen=True, slots=True)
class DigestState:
    day: str | None  # the local day of the last digest claimed
    sent_at: datetime | None


def digest_state(shop: str) -> DigestState:
    bind()
    try:
        item = DigestItem.get(shop_pk(shop), DIGEST_SK, consistent_read=True)
    except DoesNotExist:
        return DigestState(None, None)
    return DigestState(item.day, item.sent_at)


def claim_digest(shop: str, day: str, *, now: datetime) -> bool:
    """Claim the day's digest before the send: False if it was claimed already."""
    bind()
    state = digest_state(shop)
    if state.day == day:
        return False
    item = DigestItem(shop_pk(shop), DIGEST_SK)
    actions: list[Action] = [
        DigestItem.day.set(day),
        DigestItem.status.set("sending"),
        DigestItem.previous_day.set(state.day) if state.day else DigestItem.previous_day.remove(),
    ]
    condition = (
        DigestItem.day.does_not_exist() if state.day is None else DigestItem.day == state.day
    )
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_digest(shop: str, day: str) -> None:
    """The day's digest certainly was not sent: the next run may send it."""
    bind()
    item = DigestItem(shop_pk(shop), DIGEST_SK)
    state = DigestItem.get(shop_pk(shop), DIGEST_SK, consistent_read=True)
    restored = (
        DigestItem.day.set(state.previous_day) if state.previous_day else DigestItem.day.remove()
    )
    try:
        item.update(
            actions=[restored, DigestItem.status.set("released")], condition=DigestItem.day == day
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


def finish_digest(shop: str, status: str, *, now: datetime) -> None:
    """What became of the claimed digest: `sent`, `unknown` or `empty`."""
    bind()
    DigestItem(shop_pk(shop), DIGEST_SK).update(
        actions=[DigestItem.status.set(status), DigestItem.sent_at.set(now)]
    )
