"""Staff members' display names per shop, as Shopify last gave them, so that an admin action
can say "by Ana Ruiz" without asking Shopify every time.

One item per shop and user (`SHOP#<shop>` / `STAFF#<user id>`): the name and when it was
fetched. A name older than FRESH is fetched again (people change their names); the item
expires after KEPT. It lives in the shop's partition, so shop/redact erases it with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist

from recoup.store.bind import bind
from recoup.store.models import StaffNameItem, shop_pk

FRESH = timedelta(days=7)
KEPT = timedelta(days=30)
_PREFIX = "STAFF#"


@dataclass(frozen=True, slots=True)
class StaffName:
    name: str
    fetched_at: datetime

    def fresh(self, now: datetime) -> bool:
        return now - self.fetched_at < FRESH


def get(shop: str, user: str, *, now: datetime) -> StaffName | None:
    """The name kept for the user, unless it is past KEPT (the TTL deletes lazily)."""
    bind()
    try:
        item = StaffNameItem.get(shop_pk(shop), _PREFIX + user)
    except DoesNotExist:
        return None
    if now - item.fetched_at >= KEPT:
        return None
    return StaffName(item.name, item.fetched_at)


def put(shop: str, user: str, name: str, *, now: datetime) -> None:
    bind()
    StaffNameItem(
        shop_pk(shop), _PREFIX + user, name=name, fetched_at=now, expires_at=now + KEPT
    ).save()


__all__ = ["FRESH", "KEPT", "StaffName", "get", "put"]
