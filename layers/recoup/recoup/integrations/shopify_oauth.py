"""Shopify OAuth for the shop's *expiring* offline token (one hour, with a refresh token that
Shopify rotates on every use; required of public apps from 1 January 2027): the checks on
what Shopify signed (shop domain, request HMAC, timestamp), the signed state nonce, the
authorize URL, and the four requests to the token endpoint: the authorization code
exchange (the non-embedded install), token exchange of the embedded page's session token,
the migration of a non-expiring token, and the refresh.

ShopifyAPI does the steps it has: the request HMAC (`Session.validate_hmac`: hex
HMAC-SHA256 over the sorted parameters without `hmac`, compared in constant time), the
authorize URL (`Session.create_permission_url`) and scope coverage (`ApiAccess.covers`, a
write scope implies its read scope). Its freshness check allows a day and its code exchange
posts a form with no timeout, so the timestamp and the exchange are done here. `shopify` is
imported on first use: it takes about 0.2 s, and the event worker imports this package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets as random_tokens
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from recoup.errors import RecoupError
from recoup.integrations.shopify_http import HttpRequest, Transport, TransportError
from recoup.integrations.shopify_version import API_VERSION

# Grant and token type names of OAuth token exchange (RFC 8693), not secrets.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105
ONLINE_TOKEN = "urn:shopify:params:oauth:token-type:online-access-token"  # noqa: S105
# The least Recoup needs (README, "Shopify app"): orders for the webhooks and order lookups,
# customers (write implies read) for the tags it puts on customers.
REQUIRED_SCOPES = ("read_orders", "write_customers")
# Granted on request, for one feature: cancelling unpaid manual-payment orders.
OPTIONAL_SCOPES = ("write_orders",)
STATE_COOKIE = "recoup_oauth_state"
STATE_LIFETIME = timedelta(minutes=10)
# Shopify's own libraries accept a signed request up to 90 seconds either side of now.
TIMESTAMP_TOLERANCE = timedelta(seconds=90)

# Use fullmatch: with match, `$` would let a trailing newline through.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_STATE_CONTEXT = b"recoup-oauth-state\n"  # the app secret also signs webhooks: keep MACs apart


class OAuthRejected(RecoupError):
    """A request of the OAuth flow that is refused; nothing was stored."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadOAuthRequest(OAuthRejected):
    status = 400


class OAuthUnauthorized(OAuthRejected):
    status = 401


class OAuthForbidden(OAuthRejected):
    status = 403


class ShopifyUnavailable(OAuthRejected):
    """Shopify did not answer the code exchange properly: not the merchant's fault."""

    status = 502


Params = dict[str, str | list[str]]


def parse_query(raw_query: str) -> Params:
    """The query as Shopify signed it: `name[]` parameters are lists, any other name may
    appear once (a repeated one would make the signed message ambiguous)."""
    params: Params = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        if name.endswith("[]"):
            listed = params.setdefault(name, [])
            if isinstance(listed, list):
                listed.append(value)
        elif name in params:
            raise BadOAuthRequest(f"query parameter {name} appears more than once")
        else:
            params[name] = value
    return params


def text_param(params: Params, name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value else None


def require_shop(params: Params) -> str:
    shop = text_param(params, "shop")
    if shop is None:
        raise BadOAuthRequest("shop is missing")
    if not SHOP_DOMAIN.fullmatch(shop) or len(shop) > 255:
        raise BadOAuthRequest(f"shop is not a *.myshopify.com domain: {shop[:100]!r}")
    return shop


def verify_signed_request(params: Params, *, secrets: Iterable[str], now: datetime) -> None:
    """Shopify signed these parameters (with any of the app's secrets) and recently."""
    given = params.get("hmac")
    if not isinstance(given, str) or not given:
        raise OAuthUnauthorized("hmac is missing")
    if not any(_session_type(secret=secret).validate_hmac(params) for secret in secrets):
        raise OAuthUnauthorized("hmac does not match the query parameters")
    stamp = text_param(params, "timestamp")
    if stamp is None or not stamp.isdigit():
        raise BadOAuthRequest("timestamp is missing or not a number of seconds")
    skew = abs(now.timestamp() - int(stamp))
    if skew > TIMESTAMP_TOLERANCE.total_seconds():
        raise OAuthUnauthorized(
            f"timestamp is {int(skew)} s away from now (at most "
            f"{int(TIMESTAMP_TOLERANCE.total_seconds())} s): start again from Shopify"
        )


# ---------------------------------------------------------------- the state nonce


def new_state(shop: str, *, now: datetime, secret: str) -> tuple[str, str]:
    """A fresh nonce for the authorize URL and the cookie that binds it to this browser and
    this shop: base64url(JSON) "." base64url(HMAC-SHA256), expiring with the cookie."""
    nonce = random_tokens.token_urlsafe(24)
    expires = int((now + STATE_LIFETIME).timestamp())
    payload = json.dumps({"n": nonce, "s": shop, "e": expires}, separators=(",", ":")).encode()
    return nonce, f"{_b64(payload)}.{_b64(_state_mac(secret, payload))}"


def verify_state(
    cookies: Sequence[str],
    state: str | None,
    shop: str,
    *,
    now: datetime,
    secrets: Iterable[str],
) -> None:
    """The callback's `state` is the nonce this browser was given for this shop, unexpired."""
    if not cookies:
        raise OAuthForbidden(f"the {STATE_COOKIE} cookie is missing: start again from Shopify")
    if not state:
        raise OAuthForbidden("state is missing")
    problem = "the state cookie is malformed"
    for cookie in cookies:
        try:
            payload_text, mac_text = cookie.split(".", 1)
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except ValueError:
            continue
        if not any(hmac.compare_digest(_state_mac(s, payload), mac) for s in secrets):
            problem = "the state cookie's signature does not match"
            continue
        data = json.loads(payload)
        if int(data["e"]) < now.timestamp():
            problem = "the state has expired (10 minutes): start again from Shopify"
        elif not hmac.compare_digest(str(data["s"]).encode(), shop.encode()):
            problem = "the state was issued for another shop"
        elif not hmac.compare_digest(str(data["n"]).encode(), state.encode()):
            problem = "state does not match the state cookie"
        else:
            return
    raise OAuthForbidden(problem)


def _state_mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _STATE_CONTEXT + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("not base64url") from None


# ---------------------------------------------------------------- authorize and exchange


def authorize_url(shop: str, *, api_key: str, redirect_uri: str, state: str) -> str:
    """Shopify's consent page for an offline token (no `grant_options[]=per-user`)."""
    session = _session_type(api_key=api_key)(shop, API_VERSION)
    return str(session.create_permission_url(list(REQUIRED_SCOPES), redirect_uri, state))


class RefreshRefused(OAuthRejected):
    """Shopify refused a refresh token or a token to migrate for good (revoked, expired,
    uninstalled): only the merchant opening the app again can give a new one."""

    status = 401


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token endpoint gave: an expiring offline token and its refresh token."""

    access_token: str = field(repr=False)
    scopes: str
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None  # seconds the access token lives (None: never expires)
    refresh_token_expires_in: int | None = None

    @property
    def expiring(self) -> bool:
        return self.expires_in is not None and self.refresh_token is not None


def exchange_code(
    shop: str, code: str, *, api_key: str, secret: str, transport: Transport
) -> Grant:
    """Trade the authorization code for the shop's expiring offline token."""
    body = {"client_id": api_key, "client_secret": secret, "code": code, "expiring": "1"}
    return _token_request(shop, body, transport, "the authorization code", BadOAuthRequest)


def exchange_session_token(
    shop: str, session_token: str, *, api_key: str, secret: str, transport: Transport
) -> Grant:
    """Token exchange: the embedded page's session token (an ID token) for the shop's
    expiring offline token, without a redirect."""
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": session_token,
        "subject_token_type": ID_TOKEN,
        "requested_token_type": OFFLINE_TOKEN,
        "expiring": "1",
    }
    return _token_request(shop, body, transport, "the session token", BadOAuthRequest)


def migrate_token(
    shop: str, offline_token: str, *, api_key: str, secret: str, transport: Transport
) -> Grant:
    """A non-expiring offline token for an expiring one (no user needed). Shopify answers a
    retry with the same token within seven days, so a lost answer can be asked for again."""
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": offline_token,
        "subject_token_type": OFFLINE_TOKEN,
        "requested_token_type": OFFLINE_TOKEN,
        "expiring": "1",
    }
    return _token_request(shop, body, transport, "the non-expiring token", RefreshRefused)


def refresh(
    shop: str, refresh_token: str, *, api_key: str, secret: str, transport: Transport
) -> Grant:
    """A new access token and a new refresh token for the current refresh token. Shopify
    keeps the old refresh token valid until the new one is used, so a lost answer can be
    asked for again with the old one."""
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return _token_request(shop, body, transport, "the refresh token", RefreshRefused)


@dataclass(frozen=True, slots=True)
class StaffMember:
    """The staff member an online token exchange names (`associated_user`)."""

    user_id: str
    first_name: str | None = field(default=None, repr=False)
    last_name: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str | None:
        joined = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return joined or None


def staff_member(
    shop: str, session_token: str, *, api_key: str, secret: str, transport: Transport
) -> StaffMember:
    """Who the session token's user is: token exchange for an online (per-user) access
    token, whose answer names its `associated_user`. Only the user is read; the online
    token is dropped, never kept or logged."""
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": session_token,
        "subject_token_type": ID_TOKEN,
        "requested_token_type": ONLINE_TOKEN,
    }
    answer = _token_answer(shop, body, transport, "the session token", BadOAuthRequest)
    user = answer.get("associated_user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or not str(user_id):
        raise ShopifyUnavailable("Shopify's online token response names no associated_user")
    assert isinstance(user, dict)
    return StaffMember(str(user_id), _text(user, "first_name"), _text(user, "last_name"))


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if not isinstance(value, str):
        return None
    return value.strip()[:100] or None


def _token_request(
    shop: str,
    fields: Mapping[str, str],
    transport: Transport,
    what: str,
    refused: type[OAuthRejected],
) -> Grant:
    return _grant(_token_answer(shop, fields, transport, what, refused))


def _token_answer(
    shop: str,
    fields: Mapping[str, str],
    transport: Transport,
    what: str,
    refused: type[OAuthRejected],
) -> Mapping[str, Any]:
    request = HttpRequest(
        f"https://{shop}/admin/oauth/access_token",
        json.dumps(fields).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        response = transport(request)
    except TransportError as error:
        raise ShopifyUnavailable(f"Shopify did not answer the token request: {error}") from None
    if response.status >= 500 or response.status == 429:
        raise ShopifyUnavailable(f"Shopify answered the token request with HTTP {response.status}")
    answer = _json_object(response.body)
    if response.status != 200:
        detail = answer.get("error_description") or answer.get("error") or "no reason given"
        raise refused(
            f"Shopify refused {what} (HTTP {response.status}: {str(detail)[:200]})"
            + (": start again from Shopify" if refused is BadOAuthRequest else "")
        )
    return answer


def _grant(answer: Mapping[str, Any]) -> Grant:
    token, scopes = answer.get("access_token"), answer.get("scope")
    if not isinstance(token, str) or not token:
        raise ShopifyUnavailable("Shopify's token response has no access_token")
    if not isinstance(scopes, str):
        raise ShopifyUnavailable("Shopify's token response has no scope")
    if "associated_user" in answer:
        raise ShopifyUnavailable("Shopify returned an online (per-user) token, not an offline one")
    expires_in = _seconds(answer, "expires_in")
    refresh_token = answer.get("refresh_token")
    if expires_in is not None and not (isinstance(refresh_token, str) and refresh_token):
        raise ShopifyUnavailable("Shopify's expiring token came without a refresh_token")
    return Grant(
        token,
        scopes,
        refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        expires_in=expires_in,
        refresh_token_expires_in=_seconds(answer, "refresh_token_expires_in"),
    )


def _seconds(answer: Mapping[str, Any], name: str) -> int | None:
    value = answer.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ShopifyUnavailable(f"Shopify's token response has a bad {name}")
    return value


def missing_scopes(granted: str) -> list[str]:
    """The required scopes the granted ones do not cover (write_x covers read_x)."""
    from shopify import ApiAccess, ApiAccessError

    try:
        access = ApiAccess(granted)
    except ApiAccessError as error:
        raise OAuthForbidden(f"the granted scopes are not valid scopes: {error}") from None
    return [scope for scope in REQUIRED_SCOPES if not access.covers(ApiAccess([scope]))]


def _json_object(body: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _session_type(*, api_key: str | None = None, secret: str | None = None) -> Any:
    """ShopifyAPI keeps the key and secret on the Session class; a subclass per call keeps
    them out of process-wide state (and lets any of several secrets verify)."""
    from shopify import Session

    return type("RecoupSession", (Session,), {"api_key": api_key, "secret": secret})
