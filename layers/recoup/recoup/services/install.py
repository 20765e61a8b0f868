"""Install and uninstall a shop: the two requests of the OAuth flow (begin, complete), the
token exchange when the merchant opens the embedded app, and what the app/uninstalled
webhook does (deactivate, forget the token, stop every sequence).

Every refusal of the OAuth flow raises an `OAuthRejected` naming the problem before anything
is stored; nothing here logs a secret, an authorization code, a state or a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from recoup.domain.dunning import DunningStatus
from recoup.integrations import shopify_http
from recoup.integrations import shopify_oauth as oauth
from recoup.integrations.shopify_admin import ShopifyAdmin, ShopifyApiError
from recoup.observability import logger, metrics
from recoup.services import shopify_access
from recoup.settings import get_settings
from recoup.store import shops as shop_store
from recoup.store import tokens

if TYPE_CHECKING:
    from recoup.domain.aggregate import StoredCase

CALLBACK_PATH = "/auth/callback"
UNINSTALLED = "app uninstalled"


@dataclass(frozen=True, slots=True)
class Begun:
    authorize_url: str
    state_cookie: str  # the signed value of the recoup_oauth_state cookie


def begin(raw_query: str, *, now: datetime) -> Begun:
    """GET /auth: Shopify signed this request; send the merchant to Shopify's authorize page
    with a state nonce that the cookie binds to this browser and this shop."""
    settings = get_settings()
    api_key = settings.require("shopify_api_key")
    redirect_uri = settings.public_base_url() + CALLBACK_PATH
    params = oauth.parse_query(raw_query)
    shop = oauth.require_shop(params)
    secrets = settings.shopify_secrets()
    oauth.verify_signed_request(params, secrets=secrets, now=now)
    nonce, cookie = oauth.new_state(shop, now=now, secret=secrets[0])
    logger.info("OAuth started", extra={"shop": shop})
    return Begun(
        oauth.authorize_url(shop, api_key=api_key, redirect_uri=redirect_uri, state=nonce), cookie
    )


def complete(
    raw_query: str,
    state_cookies: Sequence[str],
    *,
    now: datetime,
    transport: shopify_http.Transport | None = None,
) -> str:
    """GET /auth/callback: check the request and the state, exchange the code for the offline
    token, check the scopes, then store the token (encrypted) and mark the shop installed.
    Returns where to send the merchant: the app's page inside their admin."""
    settings = get_settings()
    api_key = settings.require("shopify_api_key")
    params = oauth.parse_query(raw_query)
    shop = oauth.require_shop(params)
    secrets = settings.shopify_secrets()
    oauth.verify_signed_request(params, secrets=secrets, now=now)
    oauth.verify_state(
        state_cookies, oauth.text_param(params, "state"), shop, now=now, secrets=secrets
    )
    code = oauth.text_param(params, "code")
    if code is None:
        raise oauth.BadOAuthRequest("code is missing")
    grant = oauth.exchange_code(
        shop,
        code,
        api_key=api_key,
        secret=secrets[0],
        transport=transport or shopify_http.urllib_transport,
    )
    missing = oauth.missing_scopes(grant.scopes)
    if missing:
        raise oauth.OAuthForbidden(
            f"Shopify granted {grant.scopes or 'no scopes'}, but Recoup needs "
            f"{', '.join(missing)} as well: approve the app's full access request"
        )
    # Installed first, token second: a failure in between leaves an installed shop without
    # a token (tagging waits), which the merchant's next visit to the app repairs.
    shop_store.mark_installed(shop, installed_at=now)
    shopify_access.store_grant(shop, grant, now=now)
    read_identity(shop, grant.access_token, now=now, transport=transport)
    logger.info("Shop installed", extra={"shop": shop, "scopes": grant.scopes})
    metrics.add_metric(name="ShopInstalled", unit="Count", value=1)
    return f"https://{shop}/admin/apps/{api_key}"


def _exchange(
    shop: str, session_token: str, transport: shopify_http.Transport | None
) -> oauth.Grant:
    settings = get_settings()
    return oauth.exchange_session_token(
        shop,
        session_token,
        api_key=settings.require("shopify_api_key"),
        secret=settings.shopify_secrets()[0],
        transport=transport or shopify_http.urllib_transport,
    )


def install_from_session(
    shop: str,
    session_token: str,
    *,
    now: datetime,
    transport: shopify_http.Transport | None = None,
) -> bool:
    """Shopify-managed installation: the merchant installed the app in Shopify and opened it,
    and Recoup has no record of the shop. The verified session token shows Shopify issued it
    for this app and shop; exchanging it for an expiring offline token installs the shop (no
    OAuth redirect). False when Shopify refuses the exchange (the app is not installed there)
    or grants too little; nothing is stored then."""
    try:
        grant = _exchange(shop, session_token, transport)
    except oauth.OAuthRejected as refused:
        logger.warning(
            "Token exchange refused for a shop without an installation",
            extra={"shop": shop, "status": refused.status, "reason": refused.message},
        )
        return False
    missing = oauth.missing_scopes(grant.scopes)
    if missing:
        logger.warning("Install refused: scopes missing", extra={"shop": shop, "missing": missing})
        return False
    shop_store.mark_installed(shop, installed_at=now)
    shopify_access.store_grant(shop, grant, now=now)
    read_identity(shop, grant.access_token, now=now, transport=transport)
    logger.info("Shop installed by token exchange", extra={"shop": shop})
    metrics.add_metric(name="ShopInstalled", unit="Count", value=1)
    return True


def connect_from_session(
    shop: str,
    session_token: str,
    *,
    now: datetime,
    transport: shopify_http.Transport | None = None,
) -> str:
    """The merchant opened the embedded app with a verified session token: when the shop has
    no token, a non-expiring one, or one Shopify refused to refresh, exchange the session
    token for an expiring offline token (token exchange, no redirect). Says what was done;
    a failed exchange is logged and left for the next visit (the page still works)."""
    state = tokens.status(shop)
    if state.expiring and not state.needs_reauth:
        return "token current"
    try:
        grant = _exchange(shop, session_token, transport)
    except oauth.OAuthRejected as refused:
        logger.warning(
            "Token exchange failed; the next visit tries again",
            extra={"shop": shop, "status": refused.status, "reason": refused.message},
        )
        metrics.add_metric(name="TokenExchangeFailed", unit="Count", value=1)
        return f"token exchange failed: {refused.message}"
    shopify_access.store_grant(shop, grant, now=now)
    read_identity(shop, grant.access_token, now=now, transport=transport)
    why = "reconnected" if state.needs_reauth else "migrated" if state.present else "connected"
    logger.info("Shop token exchanged", extra={"shop": shop, "why": why})
    metrics.add_metric(name="TokenExchanged", unit="Count", value=1)
    return f"token {why}"


def read_identity(
    shop: str, access_token: str, *, now: datetime, transport: shopify_http.Transport | None = None
) -> str:
    """Read the shop's identity with a token just granted and keep it (best effort: a
    failure is logged, and shop/update or the next exchange fills it in)."""
    try:
        # No waiting between retries: this runs inside the merchant's request.
        admin = ShopifyAdmin(shop, access_token, transport=transport, sleep=_no_wait)
        found = admin.shop_identity()
    except ShopifyApiError as error:
        logger.warning(
            "Reading the shop's identity failed", extra={"shop": shop, "error": str(error)}
        )
        return "identity not read"
    identity = shop_store.Identity(
        name=found.name,
        contact_email=found.contact_email,
        timezone=found.timezone,
        currency=found.currency,
        country=found.country,
        primary_domain=found.primary_domain,
    )
    shop_store.set_identity(shop, identity, at=now)
    return "identity read"


def apply_shop_update(shop: str, payload: dict[str, object], *, now: datetime) -> str:
    """shop/update: the shop's name, contact email, zone, currency, country, locale and
    domain as the body gives them, unless a newer version is already held."""

    def text(key: str) -> str | None:
        value = payload.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    stamp = text("updated_at")
    try:
        at = datetime.fromisoformat(stamp) if stamp else now
    except ValueError:
        at = now
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    identity = shop_store.Identity(
        name=text("name"),
        contact_email=text("customer_email") or text("email"),
        timezone=text("iana_timezone"),
        currency=text("currency"),
        country=text("country_code"),
        locale=text("primary_locale"),
        primary_domain=text("domain"),
    )
    if not shop_store.set_identity(shop, identity, at=at):
        return "shop identity: a newer version is held (or no such shop)"
    return "shop identity updated"


def _no_wait(_seconds: float) -> None:
    return None


# ---------------------------------------------------------------- uninstall


@dataclass(frozen=True, slots=True)
class Uninstalled:
    shop: str
    applied: bool  # False: no such shop, or it was installed again after the uninstall
    sequences_stopped: int


def uninstall(shop: str, *, now: datetime) -> Uninstalled:
    """app/uninstalled: mark the shop not installed, delete its access token, and stop every
    reminder sequence it has, at once (out of the due index). `now` is when the uninstall
    happened: a shop installed again since then is left alone. Idempotent: a redelivery finds
    the token gone and the sequences stopped."""
    # The case store only here: installing, and the admin's session check on every request,
    # never read a case.
    from recoup.store import cases as case_store

    if not shop_store.mark_uninstalled(shop, at=now):
        logger.info("Uninstall not applied: unknown shop or installed again", extra={"shop": shop})
        return Uninstalled(shop, applied=False, sequences_stopped=0)
    tokens.delete_token(shop)
    every = case_store.tracked_cases(shop, page_size=case_store.WHOLE_LISTING)
    stopped = sum(1 for stored in every if _stop(stored, now))
    logger.info("Shop uninstalled", extra={"shop": shop, "sequences_stopped": stopped})
    metrics.add_metric(name="ShopUninstalled", unit="Count", value=1)
    return Uninstalled(shop, applied=True, sequences_stopped=stopped)


def _stop(stored: StoredCase, now: datetime) -> bool:
    """Finish the case's sequence as stopped, with an audit entry saying why; re-read and
    retry when another writer (the sender, the worker) got there first."""
    from recoup.store import cases as case_store

    def decide(current: StoredCase | None) -> bool | case_store.Change[bool]:
        dunning = current.dunning if current else None
        if current is None or dunning is None or dunning.status is DunningStatus.STOPPED:
            return False
        entry = case_store.recoup_entry(
            current,
            source="recoup",
            kind="reminders.stopped",
            event_id=f"recoup:uninstall:{current.case.case_id}:{now.isoformat()}",
            summary="the app was uninstalled: reminders stopped",
            effect=UNINSTALLED,
            now=now,
        )
        stopped = dunning.finish(DunningStatus.STOPPED, UNINSTALLED)
        return case_store.Change(current.case, entry, True, dunning=stopped)

    return case_store.change(stored.case.shop, stored.case.case_id, decide, now=now, first=stored)
