"""A stand-in for Shopify's token endpoint (`/admin/oauth/access_token`) on the local stack:
it answers token exchange (for an offline token, or an online one naming the staff member
the session token is about: local staff "1" is Ana Ruiz), the migration of a non-expiring
token, the refresh and the authorization code, as Shopify does, with one-hour tokens and
refresh tokens that rotate on every use (the previous one stays valid until the new one is
used). It can be told to lose
its next answer after acting, or to refuse refreshes or exchanges, to rehearse those
failures. Every shop is granted the required scopes; a shop in `optional_granted` (one whose
merchant approved the optional `write_orders`, for cancelling unpaid orders) is granted the
optional scopes too.

It also answers the GraphQL Admin API calls Recoup makes, kept per shop: the shop identity
query, `tagsAdd` and `tagsRemove` on customers, and `orderCancel` (the first call for an
order cancels it, restocked or not as asked, and answers its job; a repeat answers Shopify's
"already cancelled" user error). Any other request finds no shop.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import jwt

from recoup.integrations import shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse, TransportError
from recoup.integrations.shopify_oauth import (
    ONLINE_TOKEN,
    OPTIONAL_SCOPES,
    REQUIRED_SCOPES,
    TOKEN_EXCHANGE,
)

ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = 90 * 24 * 3600
TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105 (a URL path)
ONLINE_LIFETIME = 24 * 3600
ALREADY_CANCELLED = "Order has already been cancelled"
# The local shops' staff, by user id (the session token's `sub`): first and last name.
LOCAL_STAFF = {"1": ("Ana", "Ruiz"), "2": ("Ben", "Okafor")}


@dataclass
class TokenEndpoint:
    """Shopify's token endpoint for every shop; counts what it was asked."""

    inner: shopify_http.Transport
    refresh_tokens: dict[str, set[str]] = field(default_factory=dict)  # shop -> valid ones
    refreshes: int = 0
    exchanges: int = 0
    lose_next_answer: bool = False
    refuse_refresh: bool = False
    refuse_exchange: bool = False  # as Shopify does once the app's access is revoked
    online_exchanges: int = 0  # exchanges for an online token (a staff member's name)
    refuse_online: bool = False
    lose_next_online_answer: bool = False  # the online exchange acts, its answer is lost
    # Shops whose merchant approved the optional scopes: their tokens carry them too.
    optional_granted: set[str] = field(default_factory=set)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.url.endswith(TOKEN_PATH):
            return self.inner(request)
        shop = request.url.removeprefix("https://").split("/", 1)[0]
        body = json.loads(request.body)
        if body.get("requested_token_type") == ONLINE_TOKEN:
            return self._online(shop, body)
        answer = self._answer(shop, body)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TransportError(f"no answer from {shop}: timed out (after acting)")
        return answer

    def _answer(self, shop: str, body: dict[str, str]) -> HttpResponse:
        grant = body.get("grant_type")
        if grant == "refresh_token":
            self.refreshes += 1
            valid = self.refresh_tokens.get(shop, set())
            if self.refuse_refresh or body.get("refresh_token") not in valid:
                return _error(400, "invalid_grant", "Token has been expired or revoked.")
            # The one used and its replacement stay valid until the replacement is used.
            return self._issue(shop, keep={str(body["refresh_token"])})
        if grant == TOKEN_EXCHANGE or body.get("code"):
            self.exchanges += 1
            if self.refuse_exchange:
                return _error(400, "invalid_subject_token", "The session token was rejected.")
            if body.get("expiring") != "1":
                return _error(400, "invalid_request", "only expiring tokens are issued here")
            return self._issue(shop, keep=set())
        return _error(400, "unsupported_grant_type", f"grant_type {grant!r}")

    def _online(self, shop: str, body: dict[str, str]) -> HttpResponse:
        """An online token for the session token's user, as Shopify answers it (the
        session token was verified by the caller; only its `sub` is read here)."""
        self.online_exchanges += 1
        if self.refuse_online or body.get("grant_type") != TOKEN_EXCHANGE:
            return _error(400, "invalid_subject_token", "The session token was rejected.")
        claims = jwt.decode(str(body.get("subject_token")), options={"verify_signature": False})
        user = str(claims.get("sub"))
        first, last = LOCAL_STAFF.get(user, ("Staff", f"Member {user}"))
        answer = {
            "access_token": f"shpua_{secrets.token_hex(16)}",
            "scope": self.scopes(shop),
            "expires_in": ONLINE_LIFETIME,
            "associated_user_scope": self.scopes(shop),
            "associated_user": {
                "id": int(user) if user.isdigit() else user,
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}@{shop.split('.', 1)[0]}.example",
                "email_verified": True,
                "account_owner": user == "1",
                "locale": "en",
                "collaborator": False,
            },
        }
        if self.lose_next_online_answer:
            self.lose_next_online_answer = False
            raise TransportError(f"no answer from {shop}: timed out (after acting)")
        return HttpResponse(200, json.dumps(answer).encode(), {"content-type": "application/json"})

    def scopes(self, shop: str) -> str:
        """The scopes a token of the shop carries, as Shopify lists them."""
        optional = OPTIONAL_SCOPES if shop in self.optional_granted else ()
        return ",".join((*REQUIRED_SCOPES, *optional))

    def _issue(self, shop: str, *, keep: set[str]) -> HttpResponse:
        refresh = f"shprt_{secrets.token_hex(16)}"
        previous = self.refresh_tokens.get(shop, set())
        # Using a replacement retires the ones before it: keep what was used now, and the new.
        self.refresh_tokens[shop] = (keep & previous) | {refresh}
        return HttpResponse(
            200,
            json.dumps(
                {
                    "access_token": f"shpat_{secrets.token_hex(16)}",
                    "scope": self.scopes(shop),
                    "expires_in": ACCESS_LIFETIME,
                    "refresh_token": refresh,
                    "refresh_token_expires_in": REFRESH_LIFETIME,
                }
            ).encode(),
            {"content-type": "application/json"},
        )


def _error(status: int, code: str, description: str) -> HttpResponse:
    body = json.dumps({"error": code, "error_description": description}).encode()
    return HttpResponse(status, body, {"content-type": "application/json"})


@dataclass
class ShopApi:
    """The GraphQL Admin API of every shop, as far as Recoup uses it."""

    tags: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (shop, gid) -> tags
    # The orders cancelled through orderCancel: shop -> order gid -> restocked
    cancelled: dict[str, dict[str, bool]] = field(default_factory=dict)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.url.endswith("/graphql.json"):
            return _unreachable(request)
        handle = request.url.removeprefix("https://").split(".", 1)[0]
        shop = request.url.removeprefix("https://").split("/", 1)[0]
        body = json.loads(request.body)
        document, variables = str(body.get("query", "")), body.get("variables") or {}
        if "ShopIdentity" in document:
            return _data({"shop": _identity(handle)})
        if "orderCancel(" in document:
            return _data({"orderCancel": self._cancel(shop, variables)})
        for name in ("tagsAdd", "tagsRemove"):
            if f"{name}(" in document:
                held = self.tags.setdefault((shop, str(variables["id"])), set())
                change = set(variables["tags"])
                held.update(change) if name == "tagsAdd" else held.difference_update(change)
                return _data({name: {"node": {"id": variables["id"]}, "userErrors": []}})
        return _unreachable(request)

    def _cancel(self, shop: str, variables: dict[str, object]) -> dict[str, object]:
        """orderCancel's payload: the job that cancels the order, or, for an order cancelled
        already, the user error Shopify answers then."""
        order = str(variables["orderId"])
        held = self.cancelled.setdefault(shop, {})
        if order in held:
            error = {"field": ["orderId"], "message": ALREADY_CANCELLED, "code": "INVALID"}
            return {"job": None, "orderCancelUserErrors": [error]}
        held[order] = bool(variables.get("restock"))
        job = {"id": f"gid://shopify/Job/{secrets.token_hex(8)}", "done": False}
        return {"job": job, "orderCancelUserErrors": []}


def _identity(handle: str) -> dict[str, object]:
    """A shop's identity made from its handle (a shop "demo-electronics" is "Demo
    Electronics", help@demo-electronics.example)."""
    return {
        "name": handle.replace("-", " ").title(),
        "contactEmail": f"help@{handle}.example",
        "ianaTimezone": "America/New_York",
        "currencyCode": "USD",
        "billingAddress": {"countryCodeV2": "US"},
        "primaryDomain": {"host": f"{handle}.example"},
    }


def _data(data: dict[str, object]) -> HttpResponse:
    """A GraphQL answer with the cost extension Shopify sends (a full bucket)."""
    bucket = {"maximumAvailable": 2000.0, "currentlyAvailable": 1990.0, "restoreRate": 100.0}
    cost = {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": bucket}
    body = {"data": data, "extensions": {"cost": cost}}
    return HttpResponse(200, json.dumps(body).encode(), {"content-type": "application/json"})


def _unreachable(request: HttpRequest) -> HttpResponse:
    host = request.url.removeprefix("https://").split("/", 1)[0]
    raise TransportError(f"no answer from {host}: the local stack reaches no real shop")


@contextmanager
def installed() -> Iterator[TokenEndpoint]:
    """Route the process's Shopify calls through the stand-in while the stack runs."""
    original = shopify_http.urllib_transport
    endpoint = TokenEndpoint(inner=ShopApi())
    shopify_http.urllib_transport = endpoint
    try:
        yield endpoint
    finally:
        shopify_http.urllib_transport = original
