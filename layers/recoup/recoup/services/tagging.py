"""Tag a customer in Shopify when Recoup flags them as fraud or refers their account.

The tag per purpose is the shop's setting (`ShopItem.tags`); the Admin API call itself runs
in the Shopify tasks worker, off the event path, within Shopify's rate limits.
"""

from __future__ import annotations

from recoup.domain.case import Case
from recoup.observability import logger
from recoup.store import shops

DEFAULT_TAGS = {"fraud": "recoup:fraud", "agency": "recoup:agency", "legal": "recoup:legal"}


def tag_for(shop: str, purpose: str) -> str:
    item = shops.get(shop)
    configured = (item.tags or {}) if item is not None else {}
    tag = configured.get(purpose) or DEFAULT_TAGS[purpose]
    return str(tag)


def flag_customer(case: Case, purpose: str, reason: str, *, tag: str | None = None) -> bool:
    """Queue the tag for the case's Shopify customer; False when there is none to tag (a
    guest checkout, or a payment no order was linked to). `tag` overrides the shop's tag for
    the purpose (a referral's comes from the shop's referral policy)."""
    from recoup.services import shopify_tasks

    customer = case.snapshot.customer if case.snapshot else None
    if customer is None or not customer.customer_id:
        logger.info("No Shopify customer to tag", extra={"case_id": case.case_id})
        return False
    tag = tag or tag_for(case.shop, purpose)
    shopify_tasks.enqueue_tag(case.shop, case.case_id, customer.customer_id, [tag], reason)
    return True
