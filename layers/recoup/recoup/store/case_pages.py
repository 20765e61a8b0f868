"""The customer's page links: which case a link id opens, the case's current link, and the
page's per-hour request counters.

- `PAGE#<link id>` / `META`: the shop and case a link id stands for, written once (never
  changed, so a link that was replaced still names its case and can offer a fresh one);
  in the case's shard of the `shop` index as `P#<link id>`, so shop/redact finds it.
- `CASE#<shop>#<case>` / `PAGE`: the case's current link id, until when it opens the page,
  and when it was revoked. A link opens its case only while it is this one, unexpired and
  not revoked.
- `CASE#<shop>#<case>` / `RATE#<kind>#<hour>`: requests counted in one UTC hour, raised
  with one conditional UpdateItem before the request is served (TTL a day later).

None of them holds personal data: ids, times and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from recoup.domain.aggregate import StoredCase
from recoup.store.batch import get_many
from recoup.store.bind import bind, connection
from recoup.store.cases import stored
from recoup.store.models import (
    CASE_SK,
    PAGE_LINK,
    CaseItem,
    CasePageItem,
    PageLinkItem,
    PageRateItem,
    case_pk,
    shop_part,
)

META = "META"
PAGE_SK = "PAGE"
RATE_KEPT = timedelta(days=1)  # a counter outlives its hour by this much, then TTL removes it


class LinkChanged(Exception):
    """The case's link is no longer the one read: someone issued or revoked it meanwhile."""


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a link id stands for."""

    shop: str
    case_id: str


@dataclass(frozen=True, slots=True)
class CurrentLink:
    """A case's current page link."""

    link_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def opens(self, link_id: str, now: datetime) -> bool:
        return self.link_id == link_id and self.revoked_at is None and now <= self.expires_at


def page_pk(link_id: str) -> str:
    return f"PAGE#{link_id}"


def target(link_id: str) -> LinkTarget | None:
    """The shop and case a link id stands for (one GetItem), None for an unknown id."""
    bind()
    try:
        item = PageLinkItem.get(page_pk(link_id), META, consistent_read=True)
    except DoesNotExist:
        return None
    return LinkTarget(item.shop, item.case_id)


def current(shop: str, case_id: str) -> CurrentLink | None:
    """The case's current link (one small consistent GetItem)."""
    bind()
    try:
        return _current(CasePageItem.get(case_pk(shop, case_id), PAGE_SK, consistent_read=True))
    except DoesNotExist:
        return None


def case_and_link(shop: str, case_id: str) -> tuple[StoredCase | None, CurrentLink | None]:
    """The case and its current link, in one consistent BatchGetItem."""
    bind()
    case_key, link_key = (case_pk(shop, case_id), CASE_SK), (case_pk(shop, case_id), PAGE_SK)
    found = get_many([case_key, link_key])
    raw_case, raw_link = found.get(case_key), found.get(link_key)
    case = stored(CaseItem.from_raw_data(raw_case)) if raw_case else None
    link = from_raw(raw_link) if raw_link else None
    return case, link


def from_raw(raw: dict[str, Any]) -> CurrentLink:
    """The case's link from its item as BatchGetItem returned it."""
    return _current(CasePageItem.from_raw_data(raw))


def _current(item: CasePageItem) -> CurrentLink:
    return CurrentLink(item.link_id, item.issued_at, item.link_expires_at, item.revoked_at)


def extend(shop: str, case_id: str, link_id: str, *, until: datetime) -> None:
    """Keep the case's link open until `until` (never shortened): conditioned on it still
    being the case's unrevoked link. Raises LinkChanged otherwise."""
    bind()
    item = CasePageItem(case_pk(shop, case_id), PAGE_SK)
    try:
        item.update(
            actions=[CasePageItem.link_expires_at.set(until)],
            condition=(CasePageItem.link_id == link_id)
            & CasePageItem.revoked_at.does_not_exist()
            & (CasePageItem.link_expires_at <= until),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise LinkChanged(case_id) from None
        raise


def issue(
    shop: str, case_id: str, link_id: str, *, replacing: str | None, now: datetime, until: datetime
) -> None:
    """Make `link_id` the case's link in one transaction: its mapping (new) and the case's
    `PAGE` item, conditioned on holding `replacing` (None: on there being none). Raises
    LinkChanged when the case's link is not the one the caller read."""
    bind()
    mapping = PageLinkItem(
        page_pk(link_id),
        META,
        shop=shop,
        case_id=case_id,
        created_at=now,
        shop_part=shop_part(shop, case_id),
        shop_sort=f"{PAGE_LINK}{link_id}",
    )
    pointer = CasePageItem(
        case_pk(shop, case_id), PAGE_SK, link_id=link_id, issued_at=now, link_expires_at=until
    )
    condition = (
        CasePageItem.pk.does_not_exist() if replacing is None else CasePageItem.link_id == replacing
    )
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.save(mapping, condition=PageLinkItem.pk.does_not_exist())
            tx.save(pointer, condition=condition)
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in getattr(error, "cancellation_reasons", [])]
        if "ConditionalCheckFailed" in reasons:
            raise LinkChanged(case_id) from None
        raise


def revoke(shop: str, case_id: str, *, now: datetime) -> bool:
    """Revoke the case's current link; False when it has none or it was revoked already."""
    bind()
    item = CasePageItem(case_pk(shop, case_id), PAGE_SK)
    try:
        item.update(
            actions=[CasePageItem.revoked_at.set(now)],
            condition=CasePageItem.pk.exists() & CasePageItem.revoked_at.does_not_exist(),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def count_request(shop: str, case_id: str, kind: str, *, limit: int, now: datetime) -> bool:
    """Count one request of `kind` in this UTC hour; False (nothing counted) when `limit`
    were counted already. One conditional UpdateItem."""
    bind()
    hour = now.strftime("%Y-%m-%dT%H")
    item = PageRateItem(case_pk(shop, case_id), f"RATE#{kind}#{hour}")
    ends = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    try:
        item.update(
            actions=[PageRateItem.requests.add(1), PageRateItem.expires_at.set(ends + RATE_KEPT)],
            condition=PageRateItem.requests.does_not_exist() | (PageRateItem.requests < limit),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


__all__ = [
    "CurrentLink",
    "LinkChanged",
    "LinkTarget",
    "case_and_link",
    "count_request",
    "current",
    "extend",
    "from_raw",
    "issue",
    "page_pk",
    "revoke",
    "target",
]
