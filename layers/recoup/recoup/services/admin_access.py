"""Whether a shop may use the admin, installing it on the way when Shopify already has.

A request with a verified session token is for an installed shop, or for one installed in
Shopify that Recoup has not heard of yet (Shopify-managed installation): its first visit
installs it by token exchange, with no redirect. A launch of the page that Shopify signed
for a shop Recoup holds no token for is sent through OAuth instead.
"""

from __future__ import annotations

from datetime import datetime

from recoup.errors import NotInstalled
from recoup.integrations import shopify_oauth
from recoup.services import install
from recoup.settings import get_settings
from recoup.store import shops


def open_session(shop: str, session_token: str, *, now: datetime) -> None:
    """Let a staff member of `shop` in, or raise NotInstalled. An installed shop still on a
    non-expiring token, or one Shopify refused to refresh, gets an expiring offline token
    by token exchange (one status read otherwise)."""
    if shops.is_installed(shop):
        install.connect_from_session(shop, session_token, now=now)
    elif not install.install_from_session(shop, session_token, now=now):
        raise NotInstalled(f"{shop} has not installed Recoup")


def needs_install(raw_query: str, *, now: datetime) -> bool:
    """A launch Shopify signed, for a shop without an access token: OAuth must run first.
    An unsigned or stale query is not a launch; the page then loads as usual and its API
    calls stand or fall on their session tokens."""
    try:
        params = shopify_oauth.parse_query(raw_query)
        shop = shopify_oauth.require_shop(params)
        shopify_oauth.verify_signed_request(
            params, secrets=get_settings().shopify_secrets(), now=now
        )
    except (shopify_oauth.BadOAuthRequest, shopify_oauth.OAuthUnauthorized):
        return False
    item = shops.get(shop)
    return item is None or not item.active or not item.access_token
