"""A usable Admin API token for a shop: the stored one while it has more than REFRESH_MARGIN
to live, else a refreshed one (a non-expiring token is migrated instead), and the token
exchange that the embedded page's session token allows.

Only one function refreshes a token version: it first takes a lease on the shop's token
record (a conditional write on the version it read); a function that loses waits for the
new version and uses it, so two functions never spend the same refresh token. A refresh
whose answer is lost, or whose new token could not be stored, is asked for again with the
same refresh token, which Shopify keeps valid until its replacement is used; a lease left by
a function that died expires after LEASE. When Shopify refuses for good, the shop is marked
"needs re-authentication" (metric ShopifyReauthNeeded): calls stop until the merchant opens
the app, whose first request exchanges a new token (`services.install.connect_from_session`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from recoup.errors import RecoupError
from recoup.integrations import shopify_http
from recoup.integrations import shopify_oauth as oauth
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import tokens

REFRESH_MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=30)
WAIT_SECONDS = 0.5  # between reads while another function refreshes
ATTEMPTS = 8


class NoToken(RecoupError):
    """The shop has no token (never installed, or uninstalled)."""


class NeedsReauth(RecoupError):
    """Shopify refused to refresh the shop's token: the merchant must open the app."""


class TokenBusy(RecoupError):
    """Another function held the refresh for longer than this one waited: try again later."""


def access_token(
    shop: str, *, now: datetime, transport: shopify_http.Transport | None = None
) -> str:
    """The shop's access token, refreshed (or migrated) first when it is about to expire."""
    send = transport or shopify_http.urllib_transport
    for _ in range(ATTEMPTS):
        stored = tokens.load(shop)
        if stored is None:
            raise NoToken(f"{shop} has no access token")
        if stored.needs_reauth:
            raise NeedsReauth(f"{shop}: {stored.needs_reauth}")
        if stored.expires_at is not None and stored.expires_at - now > REFRESH_MARGIN:
            return stored.access_token
        if stored.lease_until is not None and stored.lease_until > now:
            time.sleep(WAIT_SECONDS)  # another function is refreshing this version
            now = now + timedelta(seconds=WAIT_SECONDS)
            continue
        if not tokens.claim_refresh(shop, version=stored.version, now=now, lease=LEASE):
            continue  # another function took the lease or replaced the token: read again
        try:
            grant = _renew(shop, stored, now, send)
        except oauth.ShopifyUnavailable:
            # No answer, or an answer lost: the refresh token is still good; let the retry
            # (this job's, or the next function's) ask again.
            tokens.release_refresh(shop, version=stored.version)
            raise
        if store_grant(shop, grant, now=now, version=stored.version):
            metrics.add_metric(name="ShopifyTokenRefreshed", unit="Count", value=1)
            return grant.access_token
        # The new token could not be stored (another write won): read what is there now.
    raise TokenBusy(f"{shop}: the token is being refreshed elsewhere; try again")


def store_grant(
    shop: str, grant: oauth.Grant, *, now: datetime, version: int | None = None
) -> bool:
    """Keep what the token endpoint gave (encrypted); `version`: the token version it
    replaces (False when another write changed it since), None for an install or exchange."""
    return tokens.save_grant(
        shop,
        grant.access_token,
        scopes=grant.scopes,
        now=now,
        refresh_token=grant.refresh_token,
        expires_in=grant.expires_in,
        refresh_expires_in=grant.refresh_token_expires_in,
        version=version,
    )


def _renew(
    shop: str, stored: tokens.StoredToken, now: datetime, send: shopify_http.Transport
) -> oauth.Grant:
    """The new grant; marks the shop for re-authentication when Shopify refuses for good."""
    settings = get_settings()
    api_key, secret = settings.require("shopify_api_key"), settings.shopify_secrets()[0]
    keys = {"api_key": api_key, "secret": secret}
    try:
        if stored.expires_at is None or stored.refresh_token is None:
            return oauth.migrate_token(shop, stored.access_token, transport=send, **keys)
        if stored.refresh_expires_at is not None and stored.refresh_expires_at <= now:
            raise oauth.RefreshRefused("the refresh token has expired (not used for too long)")
        return oauth.refresh(shop, stored.refresh_token, transport=send, **keys)
    except oauth.RefreshRefused as refused:
        reason = f"Shopify refused to renew the access token ({refused.message}): open the app"
        tokens.mark_needs_reauth(shop, reason, version=stored.version)
        metrics.add_metric(name="ShopifyReauthNeeded", unit="Count", value=1)
        logger.warning("Shop needs re-authentication", extra={"shop": shop})
        raise NeedsReauth(f"{shop}: {reason}") from None
