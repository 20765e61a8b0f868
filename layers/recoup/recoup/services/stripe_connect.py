"""A merchant connects the Stripe account that takes the shop's payments (Stripe Connect
OAuth, Standard accounts), or disconnects it; Stripe's account.application.deauthorized
disconnects too.

The state names the shop and a nonce, expires after STATE_LIFETIME, and is signed with the
Shopify app secret under its own context (the admin API that starts the flow and the OAuth
function that finishes it both hold that secret); the callback uses each nonce once (a
conditional put), so a replayed or forged callback connects nothing. A connection is one
transaction: the account's mapping (refused if another shop holds the account), the shop
item, and the previous account's mapping removed. Events of a disconnected account are
then ignored by the worker (`services.cases`), never dead-lettered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as random_tokens
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from recoup.errors import RecoupError
from recoup.integrations import stripe_connect
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import shops

STATE_LIFETIME = timedelta(minutes=10)
CALLBACK_PATH = "/stripe/callback"
_CONTEXT = b"recoup-stripe-connect\n"


class ConnectRefused(RecoupError):
    """The connection cannot be made; the message tells the merchant why and what to do."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectUnavailable(ConnectRefused):
    """Stripe Connect is not configured on this deployment, or Stripe failed."""

    status = 503


@dataclass(frozen=True, slots=True)
class Connected:
    shop: str
    account: str
    location: str  # where to send the merchant: the app in their Shopify admin


def begin(shop: str, *, now: datetime) -> str:
    """The Stripe page where the merchant picks the account to connect."""
    settings = get_settings()
    client_id = settings.stripe_connect_client_id
    if not client_id or not settings.stripe_api_key():
        raise ConnectUnavailable(
            "Stripe Connect is not configured for this app (StripeConnectClientId and the "
            "stripe-api-key parameter): pay links open the Shopify order's payment page"
        )
    payload = json.dumps(
        {
            "s": shop,
            "n": random_tokens.token_urlsafe(18),
            "e": int((now + STATE_LIFETIME).timestamp()),
        },
        separators=(",", ":"),
    ).encode()
    state = f"{_b64(payload)}.{_b64(_mac(settings.shopify_secrets()[0], payload))}"
    redirect = settings.public_base_url() + CALLBACK_PATH
    return stripe_connect.authorize_url(
        client_id=client_id, state=state, redirect_uri=redirect, api_base=settings.stripe_api_base
    )


def complete(raw_query: str, *, now: datetime) -> Connected:
    """GET /stripe/callback: check the state, use it once, exchange the code, connect."""
    settings = get_settings()
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    shop, nonce, expires = _verify_state(params.get("state") or "", now)
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise ConnectRefused(f"Stripe did not connect the account ({detail[:200]})")
    code = params.get("code")
    if not code:
        raise ConnectRefused("the callback has no code: start again from the app")
    if not shops.use_connect_state(nonce, shop, expires=expires):
        raise ConnectRefused("this connection link was already used: start again from the app")
    api_key = settings.stripe_api_key()
    if not api_key:
        raise ConnectUnavailable("the platform's Stripe key is not configured")
    try:
        account = stripe_connect.exchange_code(
            code, api_key=api_key, api_base=settings.stripe_api_base
        )
        previous = shops.connect_stripe(shop, account)
    except stripe_connect.ConnectFailed as failed:
        raise ConnectRefused(f"{failed}: start again from the app") from None
    except shops.AccountTaken:
        raise ConnectRefused(
            f"the Stripe account {account} is connected to another shop; disconnect it there first"
        ) from None
    logger.info("Stripe connected", extra={"shop": shop, "account": account, "previous": previous})
    metrics.add_metric(name="StripeConnected", unit="Count", value=1)
    return Connected(
        shop, account, f"https://{shop}/admin/apps/{settings.require('shopify_api_key')}"
    )


def disconnect(shop: str) -> str | None:
    """The merchant disconnects: Stripe revokes the platform's access, and the connection is
    forgotten here even if Stripe cannot be reached (the merchant's choice stands; revoking
    can be done from Stripe's dashboard). Returns the account that was connected."""
    item = shops.get_fresh(shop)
    account = item.stripe_account if item else None
    if not account:
        return None
    settings = get_settings()
    api_key, client_id = settings.stripe_api_key(), settings.stripe_connect_client_id
    if api_key and client_id:
        try:
            stripe_connect.deauthorize(
                account, api_key=api_key, client_id=client_id, api_base=settings.stripe_api_base
            )
        except stripe_connect.ConnectFailed as failed:
            logger.warning(
                "Stripe did not confirm the disconnection",
                extra={"shop": shop, "account": account, "reason": str(failed)},
            )
    shops.disconnect_stripe(shop, account)
    metrics.add_metric(name="StripeDisconnected", unit="Count", value=1)
    return account


def deauthorized(account: str) -> str:
    """account.application.deauthorized: the merchant revoked access from Stripe."""
    shop = shops.shop_for_stripe_account(account)
    if shop is None or not shops.disconnect_stripe(shop, account):
        return f"{account}: not connected to any shop"
    metrics.add_metric(name="StripeDisconnected", unit="Count", value=1)
    return f"{account}: disconnected from {shop}"


def _verify_state(state: str, now: datetime) -> tuple[str, str, datetime]:
    try:
        payload_text, mac_text = state.split(".", 1)
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        data = json.loads(payload)
    except ValueError:
        raise ConnectRefused(
            "the state is missing or malformed: start again from the app"
        ) from None
    if not any(
        hmac.compare_digest(_mac(secret, payload), mac)
        for secret in get_settings().shopify_secrets()
    ):
        raise ConnectRefused("the state's signature does not match: start again from the app")
    expires = datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo)
    if expires < now:
        raise ConnectRefused("the connection link expired (10 minutes): start again from the app")
    return str(data["s"]), str(data["n"]), expires


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
