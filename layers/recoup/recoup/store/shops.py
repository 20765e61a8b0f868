"""Shop installations, their identity, and the Stripe accounts connected to them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from recoup.store.bind import bind, connection
from recoup.store.models import ConnectStateItem, ShopItem, StripeAccountItem, shop_pk

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
    forget(shop)


# Shop items change rarely (install, settings, uninstall); a warm container reads each at
# most once a minute instead of once per event and per message.
SHOP_CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, ShopItem | None]] = {}


def is_installed(shop: str) -> bool:
    item = get(shop)
    return bool(item is not None and item.active)


def shop_for_stripe_account(account: str) -> str | None:
    bind()
    try:
        return str(StripeAccountItem.get(f"STRIPEACCT#{account}", META).shop)
    except DoesNotExist:
        return None


def get(shop: str) -> ShopItem | None:
    cached = _cache.get(shop)
    if cached is not None and time.monotonic() < cached[0]:
        return cached[1]
    bind()
    try:
        item: ShopItem | None = ShopItem.get(shop_pk(shop), META)
    except DoesNotExist:
        item = None
    remember(shop, item)
    return item


def is_cached(shop: str) -> bool:
    cached = _cache.get(shop)
    return cached is not None and time.monotonic() < cached[0]


def remember(shop: str, item: ShopItem | None) -> None:
    """Cache a shop item read with other items (store.case_reads) as `get` would."""
    _cache[shop] = (time.monotonic() + SHOP_CACHE_SECONDS, item)


def forget(shop: str | None = None) -> None:
    """Drop cached shop items (after a write here; tests; the local stack's restarts)."""
    if shop is None:
        _cache.clear()
    else:
        _cache.pop(shop, None)


def save_templates(shop: str, templates: dict[str, Any]) -> None:
    bind()
    ShopItem(shop_pk(shop), META).update(actions=[ShopItem.templates.set(templates)])
    forget(shop)


def replace_templates(shop: str, templates: dict[str, Any], *, read: Any) -> bool:
    """Write the shop's templates if they are still `read`, what the caller changed (None:
    the shop had none); False when another save came in between, and nothing is written."""
    unchanged = ShopItem.templates.does_not_exist() if read is None else ShopItem.templates == read
    return _update_if(shop, [ShopItem.templates.set(templates)], unchanged)


@dataclass(frozen=True, slots=True)
class Identity:
    """The shop as Shopify describes it; None fields are left as they are."""

    name: str | None = None
    contact_email: str | None = None
    timezone: str | None = None  # IANA
    currency: str | None = None
    country: str | None = None
    locale: str | None = None
    primary_domain: str | None = None


def reply_address(item: ShopItem | None) -> str | None:
    """Where customers' replies go: the address the admin set, else the shop's contact email."""
    if item is None:
        return None
    return item.reply_to or item.contact_email


def set_reply_to(shop: str, address: str | None) -> bool:
    """Set (or clear, with None: back to the contact email) where customers' replies go."""
    action = ShopItem.reply_to.set(address) if address else ShopItem.reply_to.remove()
    return _update_if(shop, [action], ShopItem.pk.exists())


def set_identity(shop: str, identity: Identity, *, at: datetime) -> bool:
    """Keep the shop's identity as of `at` (Shopify's time for it); False when a newer one
    is already held (shop/update deliveries arrive in any order) or there is no such shop."""
    fields = (
        (ShopItem.shop_name, identity.name),
        (ShopItem.contact_email, identity.contact_email),
        (ShopItem.timezone, identity.timezone),
        (ShopItem.currency, identity.currency),
        (ShopItem.country, identity.country),
        (ShopItem.locale, identity.locale),
        (ShopItem.primary_domain, identity.primary_domain),
    )
    actions: list[Action] = [attribute.set(value) for attribute, value in fields if value]
    actions.append(ShopItem.identity_at.set(at))
    newer_held = ShopItem.identity_at.does_not_exist() | (ShopItem.identity_at <= at)
    return _update_if(shop, actions, ShopItem.pk.exists() & newer_held)


def _update_if(shop: str, actions: list[Action], condition: Any) -> bool:
    """Update the shop item if the condition holds; False if it did not."""
    bind()
    try:
        ShopItem(shop_pk(shop), META).update(actions=actions, condition=condition)
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    finally:
        forget(shop)
    return True


def mark_installed(shop: str, *, installed_at: datetime) -> None:
    """Installed (again): active, with its install time. An update, not a put, so a shop
    that comes back keeps its settings, templates and connected Stripe account."""
    bind()
    ShopItem(shop_pk(shop), META).update(
        actions=[
            ShopItem.active.set(True),
            ShopItem.installed_at.set(installed_at),
            ShopItem.uninstalled_at.remove(),
        ]
    )
    forget(shop)


def mark_uninstalled(shop: str, *, at: datetime) -> bool:
    """Not installed since `at`; False when there is nothing to mark: no such shop, or it
    was installed again after `at` (a late uninstall webhook must not undo a re-install)."""
    return _update_if(
        shop,
        [ShopItem.active.set(False), ShopItem.uninstalled_at.set(at)],
        ShopItem.pk.exists() & (ShopItem.installed_at <= at),
    )


class AccountTaken(Exception):
    """The Stripe account is connected to another shop."""


def connect_stripe(shop: str, account: str) -> str | None:
    """Make `account` the shop's connected Stripe account, in one transaction: the account's
    mapping (refused if it names another shop), the shop item, and the previous account's
    mapping removed. Returns the previous account, if any."""
    bind()
    item = get_fresh(shop)
    if item is None:
        raise DoesNotExist(f"no shop {shop}")
    previous = item.stripe_account if item.stripe_account != account else None
    mapping = StripeAccountItem(f"STRIPEACCT#{account}", META, shop=shop)
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.save(
                mapping,
                condition=StripeAccountItem.pk.does_not_exist() | (StripeAccountItem.shop == shop),
            )
            tx.update(
                ShopItem(shop_pk(shop), META),
                actions=[ShopItem.stripe_account.set(account)],
                condition=ShopItem.pk.exists(),
            )
            if previous:
                tx.delete(
                    StripeAccountItem(f"STRIPEACCT#{previous}", META),
                    condition=StripeAccountItem.shop == shop,
                )
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in getattr(error, "cancellation_reasons", [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise AccountTaken(f"{account} is connected to another shop") from None
        raise
    finally:
        forget(shop)
    return previous


def disconnect_stripe(shop: str, account: str) -> bool:
    """Forget the shop's connection to `account` (its mapping, if it names this shop, and the
    shop item's account, if it is this one); False if there was nothing to forget."""
    removed = remove_stripe_account_mapping(shop, account)
    removed |= _update_if(
        shop,
        [ShopItem.stripe_account.remove()],
        ShopItem.pk.exists() & (ShopItem.stripe_account == account),
    )
    return removed


def remove_stripe_account_mapping(shop: str, account: str) -> bool:
    """Delete the account's mapping to the shop; False, leaving it, when it names another
    shop (one that connected the account since) or there is none."""
    bind()
    try:
        StripeAccountItem(f"STRIPEACCT#{account}", META).delete(
            condition=StripeAccountItem.shop == shop
        )
    except DeleteError as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        return False
    return True


def get_fresh(shop: str) -> ShopItem | None:
    """The shop item read now, consistently (not from the cache)."""
    bind()
    try:
        return ShopItem.get(shop_pk(shop), META, consistent_read=True)
    except DoesNotExist:
        return None


def use_connect_state(nonce: str, shop: str, *, expires: datetime) -> bool:
    """Mark a Connect state as used; False if it already was (a replayed callback)."""
    bind()
    try:
        ConnectStateItem(f"CONNECTSTATE#{nonce}", META, shop=shop, expires_at=expires).save(
            condition=ConnectStateItem.pk.does_not_exist()
        )
    except PutError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True
