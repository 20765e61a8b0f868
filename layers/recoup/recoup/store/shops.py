"""Shop installations and the Stripe accounts connected to them."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from recoup.store.bind import bind
from recoup.store.models import ShopItem, StripeAccountItem, shop_pk

META = "META"


def save_installation(
    shop: str,
    *,
    installed_at: datetime,
    stripe_account: str | None,
    shop_name: str | None = None,
    contact_email: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
) -> None:
    bind()
    ShopItem(
        shop_pk(shop),
        META,
        installed_at=installed_at,
        stripe_account=stripe_account,
        shop_name=shop_name,
        contact_email=contact_email,
        timezone=timezone,
        locale=locale,
    ).save()
    if stripe_account:
        StripeAccountItem(f"STRIPEACCT#{stripe_account}", META, shop=shop).save()


def is_installed(shop: str) -> bool:
    bind()
    try:
        item = ShopItem.get(shop_pk(shop), META)
    except DoesNotExist:
        return False
    return bool(item.active)


def shop_for_stripe_account(account: str) -> str | None:
    bind()
    try:
        return str(StripeAccountItem.get(f"STRIPEACCT#{account}", META).shop)
    except DoesNotExist:
        return None


def get(shop: str) -> ShopItem | None:
    bind()
    try:
        return ShopItem.get(shop_pk(shop), META)
    except DoesNotExist:
        return None
