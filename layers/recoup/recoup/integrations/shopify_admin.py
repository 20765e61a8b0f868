"""The one client of Shopify's GraphQL Admin API (`shopify_version.API_VERSION`), within
its rate limits.

Shopify meters GraphQL by calculated query cost: a bucket per app and shop that refills at
`restoreRate` points a second (https://shopify.dev/docs/api/usage/limits). Every answer
reports `extensions.cost.throttleStatus`; the client remembers it, and before a query it
cannot afford it waits until the bucket has refilled enough. A `THROTTLED` error waits as
the throttle status says and retries; HTTP 429 honours `Retry-After`; 5xx and connection
failures retry with capped exponential backoff; any other 4xx is final. Attempts are
bounded, and no error message carries the access token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recoup.errors import RecoupError
from recoup.integrations import shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse, TransportError
from recoup.integrations.shopify_version import API_VERSION

MAX_ATTEMPTS = 5
BACKOFF_FIRST = 0.5  # seconds; doubles per retry
BACKOFF_CAP = 8.0
# A single wait longer than this is not waited out in a Lambda: the job fails and SQS
# retries it later, when the bucket has refilled.
MAX_WAIT = 20.0
# What a query costs before Shopify has said so (a mutation is 10; these reads are small).
DEFAULT_COST = 10

_ADD_TAGS = """
mutation RecoupTagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
_REMOVE_TAGS = """
mutation RecoupTagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
# Cancelling an unpaid order: the stock goes back, anything paid goes back to how it was
# paid, Shopify's own cancellation email stays off (Recoup told the customer already).
_CANCEL_ORDER = """
mutation RecoupOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $restock: Boolean!,
    $refundMethod: OrderCancelRefundMethodInput!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, restock: $restock,
      refundMethod: $refundMethod, notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}"""
_ORDER = """
query RecoupOrder($id: ID!) {
  order(id: $id) { id name displayFinancialStatus tags customer { id } }
}"""


class ShopifyApiError(RecoupError):
    """The Admin API call failed for good (a final answer, or every attempt used up)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ShopifyUserError(ShopifyApiError):
    """The mutation ran and Shopify refused the input; `fields` names what it refused."""

    def __init__(self, message: str, fields: Sequence[str]) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str  # the numeric id, as Recoup's case ids are
    name: str
    financial_status: str | None  # displayFinancialStatus: PENDING, PAID, ...
    customer_id: str | None
    tags: tuple[str, ...]


@dataclass(slots=True)
class _Bucket:
    """The last throttle status Shopify reported, and when."""

    available: float
    maximum: float
    restore_rate: float
    seen_at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.seen_at))


class _Retry(Exception):
    """This attempt failed in a way worth another, after `wait` seconds."""

    def __init__(self, reason: str, wait: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


@dataclass(frozen=True, slots=True)
class ShopIdentity:
    name: str | None
    contact_email: str | None
    timezone: str | None
    currency: str | None
    country: str | None
    primary_domain: str | None


_SHOP_IDENTITY = """
query ShopIdentity {
  shop {
    name
    contactEmail
    ianaTimezone
    currencyCode
    billingAddress { countryCodeV2 }
    primaryDomain { host }
  }
}
"""


def _already_cancelled(error: dict[str, Any]) -> bool:
    message = str(error.get("message") or "").lower()
    return "already" in message and "cancel" in message


def _text(value: Any) -> str | None:
    return value.strip()[:255] if isinstance(value, str) and value.strip() else None


class ShopifyAdmin:
    def __init__(
        self,
        shop: str,
        token: str,
        *,
        transport: shopify_http.Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shop = shop
        self._token = token
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._url = f"https://{shop}/admin/api/{API_VERSION}/graphql.json"
        self._bucket: _Bucket | None = None
        self._costs: dict[str, int] = {}  # requestedQueryCost Shopify reported, per document

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"ShopifyAdmin(shop={self.shop!r})"

    # ------------------------------------------------------------ operations

    def add_tags(self, gid: str, tags: Sequence[str]) -> None:
        """Add tags to a customer, order or other taggable (existing tags are kept, so
        repeating it changes nothing)."""
        self._mutate("tagsAdd", _ADD_TAGS, {"id": gid, "tags": list(tags)})

    def remove_tags(self, gid: str, tags: Sequence[str]) -> None:
        self._mutate("tagsRemove", _REMOVE_TAGS, {"id": gid, "tags": list(tags)})

    def cancel_order(self, order_id: str, *, staff_note: str) -> str | None:
        """Cancel an unpaid order as payment declined, restocking it (Shopify cancels in a
        background job; its orders/cancelled webhook follows). Returns the job's id. An
        order cancelled already is not an error: a retried job finds its work done.
        Raises ShopifyUserError when Shopify refuses (fulfilled, a pending authorization)."""
        numeric = order_id.rsplit("/", 1)[-1]
        if not numeric.isdigit():
            raise ValueError(f"order_id must be a Shopify order id, not {order_id!r}")
        variables = {
            "orderId": f"gid://shopify/Order/{numeric}",
            "reason": "DECLINED",
            "restock": True,
            "refundMethod": {"originalPaymentMethodsRefund": True},
            "notifyCustomer": False,
            "staffNote": staff_note[:255],
        }
        result = self.query(_CANCEL_ORDER, variables).get("orderCancel")
        result = result if isinstance(result, dict) else {}
        errors = [e for e in result.get("orderCancelUserErrors") or () if isinstance(e, dict)]
        refusals = [e for e in errors if not _already_cancelled(e)]
        if refusals:
            fields = [
                ".".join(str(p) for p in (e.get("field") or ())) or "orderId" for e in refusals
            ]
            detail = "; ".join(
                str(e.get("message") or e.get("code") or "refused") for e in refusals
            )
            raise ShopifyUserError(f"orderCancel on {self.shop} refused: {detail}", fields)
        job = result.get("job")
        return str(job["id"]) if isinstance(job, dict) and job.get("id") else None

    def order(self, order_id: str) -> Order | None:
        """The order's name, financial status, customer and tags; None if the shop has no
        such order (or no longer)."""
        numeric = order_id.rsplit("/", 1)[-1]
        if not numeric.isdigit():
            raise ValueError(f"order_id must be a Shopify order id, not {order_id!r}")
        data = self.query(_ORDER, {"id": f"gid://shopify/Order/{numeric}"})
        found = data.get("order")
        if not isinstance(found, dict):
            return None
        customer = found.get("customer")
        customer_gid = customer.get("id") if isinstance(customer, dict) else None
        return Order(
            order_id=numeric,
            name=str(found.get("name") or ""),
            financial_status=found.get("displayFinancialStatus"),
            customer_id=str(customer_gid).rsplit("/", 1)[-1] if customer_gid else None,
            tags=tuple(str(tag) for tag in found.get("tags") or ()),
        )

    def shop_identity(self) -> ShopIdentity:
        """The shop's name, contact email, IANA time zone, currency, billing country and
        primary domain (read_orders is enough; the locale needs read_locales, so it comes
        from shop/update's body instead)."""
        found = self.query(_SHOP_IDENTITY, {}).get("shop")
        if not isinstance(found, dict):
            raise self._error("the shop query returned no shop")
        billing = found.get("billingAddress")
        domain = found.get("primaryDomain")
        return ShopIdentity(
            name=_text(found.get("name")),
            contact_email=_text(found.get("contactEmail")),
            timezone=_text(found.get("ianaTimezone")),
            currency=_text(found.get("currencyCode")),
            country=_text(billing.get("countryCodeV2")) if isinstance(billing, dict) else None,
            primary_domain=_text(domain.get("host")) if isinstance(domain, dict) else None,
        )

    def _mutate(self, name: str, document: str, variables: dict[str, Any]) -> None:
        result = self.query(document, variables).get(name)
        errors = result.get("userErrors") if isinstance(result, dict) else None
        if errors:
            fields = [".".join(str(p) for p in (e.get("field") or ())) or "input" for e in errors]
            detail = "; ".join(
                f"{field}: {e.get('message', 'refused')}"
                for field, e in zip(fields, errors, strict=True)
            )
            raise ShopifyUserError(f"{name} on {self.shop} refused {detail}", fields)

    # ------------------------------------------------------------ the call

    def query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Run one GraphQL document; returns its `data`. Raises ShopifyApiError."""
        body = json.dumps({"query": document, "variables": dict(variables)}).encode()
        last = "no attempt made"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._wait_for(self._costs.get(document, DEFAULT_COST))
            try:
                return self._attempt(document, body, attempt)
            except _Retry as retry:
                last = retry.reason
                if attempt == MAX_ATTEMPTS:
                    break
                if retry.wait > MAX_WAIT:
                    raise self._error(f"{last}; Shopify asks to wait {retry.wait:.0f} s") from None
                self._sleep(retry.wait)
        raise self._error(f"gave up after {MAX_ATTEMPTS} attempts: {last}")

    def _attempt(self, document: str, body: bytes, attempt: int) -> dict[str, Any]:
        request = HttpRequest(
            self._url,
            body,
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-Shopify-Access-Token": self._token,
            },
        )
        backoff = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1))
        try:
            response = (self._transport or shopify_http.urllib_transport)(request)
        except TransportError as error:
            raise _Retry(str(error), backoff) from None
        if response.status == 429:
            raise _Retry("HTTP 429 (too many requests)", _retry_after(response, backoff))
        if response.status >= 500:
            raise _Retry(f"HTTP {response.status}", backoff)
        if response.status != 200:
            raise self._error(
                f"HTTP {response.status}{_hint(response.status)}: {_excerpt(response.body)}",
                status=response.status,
            )
        answer = _json(response.body)
        if answer is None:
            raise _Retry("the answer is not a JSON object", backoff)
        cost = self._note_cost(document, answer)
        errors = answer.get("errors")
        if errors:
            codes = {_code(e) for e in errors} if isinstance(errors, list) else set()
            if "THROTTLED" in codes:
                raise _Retry("THROTTLED", self._throttle_wait(cost, backoff))
            raise self._error(f"GraphQL errors: {_excerpt(json.dumps(errors).encode())}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self._error("the answer has no data")
        return data

    # ------------------------------------------------------------ the bucket

    def _note_cost(self, document: str, answer: Mapping[str, Any]) -> int | None:
        cost = (answer.get("extensions") or {}).get("cost")
        if not isinstance(cost, dict):
            return None
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float):
            self._costs[document] = int(requested)
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            try:
                self._bucket = _Bucket(
                    available=float(status["currentlyAvailable"]),
                    maximum=float(status.get("maximumAvailable") or status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]),
                    seen_at=self._clock(),
                )
            except (KeyError, TypeError, ValueError):
                self._bucket = None
        return int(requested) if isinstance(requested, int | float) else None

    def _wait_for(self, cost: int) -> None:
        """Sleep until the bucket, as last reported and refilled since, affords `cost`."""
        bucket = self._bucket
        if bucket is None or bucket.restore_rate <= 0:
            return
        short = cost - bucket.available_at(self._clock())
        if short > 1e-6:  # not a rounding error's worth of points
            self._sleep(min(MAX_WAIT, short / bucket.restore_rate))

    def _throttle_wait(self, cost: int | None, fallback: float) -> float:
        bucket = self._bucket
        if bucket is None or bucket.restore_rate <= 0 or cost is None:
            return fallback
        return max(0.0, (cost - bucket.available) / bucket.restore_rate)

    def _error(self, message: str, *, status: int | None = None) -> ShopifyApiError:
        text = f"Shopify Admin API on {self.shop}: {message}"
        if self._token:  # an answer could quote the request; never let the token through
            text = text.replace(self._token, "[token]")
        return ShopifyApiError(text, status=status)


def _retry_after(response: HttpResponse, fallback: float) -> float:
    value = response.header("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else fallback
    except ValueError:
        return fallback  # an HTTP date: Shopify sends seconds, so this is not expected


def _hint(status: int) -> str:
    return {
        401: " (the access token was refused: uninstalled, or the token was revoked)",
        402: " (the shop is frozen: its Shopify plan is unpaid)",
        403: " (a scope the call needs was not granted)",
        404: " (no such shop)",
        423: " (the shop is locked)",
    }.get(status, "")


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _code(error: Any) -> str | None:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return str(code) if code else None


def _excerpt(body: bytes) -> str:
    return body[:300].decode("utf-8", errors="replace")
