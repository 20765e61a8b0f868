"""The worker's and the sender's reads for one event in one call: the case, the shop's
reminder and fraud policies and, when the container's cache of it is cold, the shop's
installation item, by one consistent BatchGetItem instead of a GetItem each. The sender's
read also takes the case's current page link (`store/case_pages.py`), which its message
carries.

The policies read are held for the event (`policies.held`) and the shop item cached as
`shops.get` caches it, so the screening, the reminder sequence and the installation check
that ask for them later in the same event use these instead of reading again; a retry after
a concurrent update reloads only the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recoup.domain.aggregate import StoredCase
from recoup.store import case_pages, policies, shops
from recoup.store.batch import get_many
from recoup.store.bind import bind
from recoup.store.cases import stored
from recoup.store.models import CASE_SK, CaseItem, PolicyItem, ShopItem, case_pk, shop_pk

Policies = dict[str, tuple[int, dict[str, Any]] | None]


def case_with_policies(
    shop: str, case_id: str, kinds: Sequence[str] = (policies.REMINDERS, policies.FRAUD)
) -> tuple[StoredCase | None, Policies]:
    """The case (None: new) and each policy kind's stored (version, document) (None: the
    shop has none, the defaults apply)."""
    case, docs, _ = _read(shop, case_id, kinds, page_link=False)
    return case, docs


def for_send(
    shop: str, case_id: str
) -> tuple[StoredCase | None, Policies, case_pages.CurrentLink | None]:
    """What a send reads first: the case, the reminder policy and the case's page link."""
    return _read(shop, case_id, (policies.REMINDERS,), page_link=True)


def _read(
    shop: str, case_id: str, kinds: Sequence[str], *, page_link: bool
) -> tuple[StoredCase | None, Policies, case_pages.CurrentLink | None]:
    bind()
    case_key = (case_pk(shop, case_id), CASE_SK)
    link_key = (case_pk(shop, case_id), case_pages.PAGE_SK)
    policy_keys = [(shop_pk(shop), f"POLICY#{kind}") for kind in kinds]
    shop_key = (shop_pk(shop), shops.META)
    read_shop = not shops.is_cached(shop)
    keys = [case_key, *policy_keys, *([shop_key] if read_shop else [])]
    found = get_many(keys + ([link_key] if page_link else []))
    if read_shop:
        raw_shop = found.get(shop_key)
        shops.remember(shop, ShopItem.from_raw_data(raw_shop) if raw_shop else None)
    raw_case = found.get(case_key)
    case = stored(CaseItem.from_raw_data(raw_case)) if raw_case else None
    raw_link = found.get(link_key)
    link = case_pages.from_raw(raw_link) if raw_link else None
    docs: Policies = {}
    for kind, key in zip(kinds, policy_keys, strict=True):
        raw = found.get(key)
        if raw is None:
            docs[kind] = None
        else:
            item = PolicyItem.from_raw_data(raw)
            docs[kind] = (int(item.version), dict(item.doc))
    return case, docs, link
