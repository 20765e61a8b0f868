"""Which cases name a customer: one item per identity and case (`WHO#<shop>#<hash>` /
`<case id>`), written in the case's transaction when the case first names the identity, so
a privacy request reads its customer's cases and nothing else.

The hash is the keyed identity hash (store/identity.py) of the identity's normalised form
(domain/erasure.case_identities): the key names no one.
"""

from __future__ import annotations

from collections.abc import Iterable

from recoup.store import identity
from recoup.store.bind import bind
from recoup.store.models import CUSTOMER_LINK, CustomerLinkItem, shop_part


def link_pk(shop: str, who: str) -> str:
    return f"WHO#{shop}#{identity.keyed(who)[:32]}"


def link(shop: str, who: str, case_id: str) -> CustomerLinkItem:
    pk = link_pk(shop, who)
    return CustomerLinkItem(
        pk,
        case_id,
        shop_part=shop_part(shop, f"{pk}#{case_id}"),
        shop_sort=f"{CUSTOMER_LINK}{pk}#{case_id}",
    )


def case_ids(shop: str, identities: Iterable[str]) -> set[str]:
    """The ids of the cases linked to any of these identities: one Query each."""
    bind()
    found: set[str] = set()
    for who in sorted(set(identities)):
        found |= {str(item.sk) for item in CustomerLinkItem.query(link_pk(shop, who))}
    return found


def keys_of(shop: str, identities: Iterable[str]) -> list[tuple[str, str]]:
    """The keys of these identities' links (to delete them with the customer's data)."""
    bind()
    return [
        (str(item.pk), str(item.sk))
        for who in sorted(set(identities))
        for item in CustomerLinkItem.query(link_pk(shop, who))
    ]
