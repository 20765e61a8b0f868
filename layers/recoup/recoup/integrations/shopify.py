"""Shopify webhooks: verify the HMAC on the raw body, then normalise into domain events.

Shopify signs each delivery with the app's client secret: base64(HMAC-SHA256(secret, body))
in `X-Shopify-Hmac-Sha256` (https://shopify.dev/docs/apps/build/webhooks/subscribe/https).
ShopifyAPI has no helper for the body HMAC, so it is computed here, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recoup import clock
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    LineItem,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook, SignatureInvalid
from recoup.integrations import risk_signals
from recoup.integrations.payloads import (
    bounded_list,
    header_value,
    iso_time,
    money,
    optional_id,
    optional_str,
    optional_time,
    parse_json_object,
    platform_id,
    require,
    total,
)
from recoup.integrations.shopify_charges import order_charges

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/paid", "orders/cancelled"})
RISK_TOPIC = "orders/risk_assessment_changed"
HANDLED_TOPICS = ORDER_TOPICS | {"refunds/create", "order_transactions/create", RISK_TOPIC}
_ORDER_GID = "gid://shopify/Order/"

_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com$")
# Shopify's webhook ids are UUIDs; "shopify:<id>" becomes SQS's deduplication id, which
# takes printable ASCII only, up to 128 characters (a cut id could collide with another).
_WEBHOOK_ID = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,120}")
_TOPIC = re.compile(r"[a-z_]{1,64}/[a-z_]{1,64}")
_MAX_LINE_QUANTITY = 1_000_000
_UNPAID_STATUSES = frozenset({"pending", "voided", "expired", "partially_paid"})
_PAID_STATUSES = frozenset({"paid", "partially_refunded"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """The headers Shopify sends with every webhook, checked."""

    topic: str
    shop: str
    webhook_id: str
    api_version: str | None
    triggered_at: datetime | None
    # X-Shopify-Order-Id: the order, for bodies that do not name it (2024-10 risk assessments).
    order_id: str | None = None


def verify_signature(raw_body: bytes, signature: str | None, secrets: Iterable[str]) -> None:
    """Raise SignatureInvalid unless one of the secrets signed these exact bytes.

    More than one secret is accepted so the app's client secret can be rotated.
    """
    if not signature:
        raise SignatureInvalid("missing X-Shopify-Hmac-Sha256 header")
    given = signature.strip().encode()
    for secret in secrets:
        digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
        if hmac.compare_digest(base64.b64encode(digest), given):
            return
    raise SignatureInvalid("X-Shopify-Hmac-Sha256 does not match the body")


def sign(raw_body: bytes, secret: str) -> str:
    """The header value Shopify would send; for local tools and tests."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def read_delivery(headers: Mapping[str, str]) -> Delivery:
    """Read the delivery headers (case-insensitive); call only after verify_signature."""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [
        name
        for name in ("x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id")
        if not lower.get(name)
    ]
    if missing:
        raise MalformedWebhook("missing header(s): " + ", ".join(missing))
    shop = lower["x-shopify-shop-domain"].strip().lower()
    if not _SHOP_DOMAIN.match(shop):
        raise MalformedWebhook(
            f"X-Shopify-Shop-Domain is not a myshopify.com domain: {shop[:120]!r}"
        )
    topic = lower["x-shopify-topic"].strip()
    if not _TOPIC.fullmatch(topic):
        raise MalformedWebhook(f"X-Shopify-Topic is not a topic: {topic[:80]!r}")
    webhook_id = lower["x-shopify-webhook-id"].strip()
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise MalformedWebhook("X-Shopify-Webhook-Id is not up to 120 printable ASCII characters")
    # Triggered-At only stands in for a time the body does not state: an odd value is
    # ignored, not refused (it is a hint beside the signed body).
    return Delivery(
        topic=topic,
        shop=shop,
        webhook_id=webhook_id,
        api_version=header_value(lower.get("x-shopify-api-version")),
        triggered_at=optional_time(header_value(lower.get("x-shopify-triggered-at"))),
        order_id=optional_id(header_value(lower.get("x-shopify-order-id"))),
    )


def normalise(delivery: Delivery, raw_body: bytes) -> DomainEvent | None:
    """The domain event a verified delivery means, or None for topics Recoup ignores."""
    if delivery.topic not in HANDLED_TOPICS:
        return None
    body = parse_json_object(raw_body)
    if delivery.topic in ORDER_TOPICS:
        return _order_event(delivery, body)
    if delivery.topic == "refunds/create":
        return _refund_event(delivery, body)
    if delivery.topic == RISK_TOPIC:
        return _risk_event(delivery, body)
    return _transaction_event(delivery, body)


def order_fact(financial_status: str | None, cancelled: bool) -> Fact:
    if cancelled or financial_status == "refunded":
        return Fact.CANCELLED
    if financial_status in _PAID_STATUSES:
        return Fact.PAID
    if financial_status in _UNPAID_STATUSES:
        return Fact.UNPAID
    return Fact.OBSERVED  # authorized, or a status this version doesn't know


def _gateways(names: Any) -> tuple[str, ...]:
    """The order's payment gateway names, as far as they are names: a few, each short."""
    if not isinstance(names, list):
        return ()
    return tuple(name[:64] for name in names if isinstance(name, str) and name)[:10]


def _payment_terms(terms: Any) -> dict[str, Any]:
    """The order's payment terms: their name and the due date of the earliest schedule not
    yet paid (none once every schedule is; none while the terms have no date yet)."""
    if not isinstance(terms, dict):
        return {}
    name = terms.get("payment_terms_name")
    schedules = terms.get("payment_schedules")
    open_dates = []
    for i, schedule in enumerate(schedules if isinstance(schedules, list) else ()):
        if isinstance(schedule, dict) and schedule.get("completed_at") is None:
            due = schedule.get("due_at")
            if due is not None:
                open_dates.append(_due_time(due, f"payment_terms.payment_schedules[{i}].due_at"))
    return {
        "payment_terms": name[:64] if isinstance(name, str) and name else "payment terms",
        "payment_due_at": min(open_dates) if open_dates else None,
    }


def _due_time(value: Any, field: str) -> datetime:
    """A due date: an ISO 8601 time with a zone, at most ten years from now (a due date is
    in the future by nature, so the webhook window does not apply)."""
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedWebhook(f"{field} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise MalformedWebhook(f"{field} has no time zone: {value[:40]!r}")
    if abs(parsed - clock.now()) > timedelta(days=3660):
        raise MalformedWebhook(f"{field} is more than ten years away: {value[:40]!r}")
    return parsed.astimezone(UTC)


def _order_event(delivery: Delivery, order: dict[str, Any]) -> DomainEvent:
    order_id = platform_id(order, "id")
    currency = require(order, "currency", str, "")
    status = optional_str(order, "financial_status", "status")
    cancelled = order.get("cancelled_at") is not None
    if cancelled:
        iso_time(order["cancelled_at"], "cancelled_at")
    if order.get("created_at") is not None:
        iso_time(order["created_at"], "created_at")
    fact = order_fact(status, cancelled)
    total = money(
        order.get("current_total_price", order.get("total_price")), currency, "total_price"
    )
    if fact is Fact.UNPAID:
        outstanding = order.get("total_outstanding")
        owed = money(outstanding, currency, "total_outstanding") if outstanding else total
    else:
        owed = Money.zero(currency)
    occurred = _event_time(order.get("updated_at"), delivery)
    name = optional_str(order, "name", "name")
    snapshot = OrderSnapshot(
        amount_owed=owed,
        order_total=total,
        order_name=name,
        customer=_customer(order),
        line_items=tuple(_line_items(order.get("line_items"), currency)),
        financial_status=status,
        pay_url=_https(order.get("order_status_url")),
        charges=order_charges(order, currency),
        payment_gateways=_gateways(order.get("payment_gateway_names")),
        **_payment_terms(order.get("payment_terms")),
    )
    label = name or f"order {order_id}"
    state = "cancelled" if cancelled else status or "unknown status"
    summary = f"{label} {state}"
    if fact is Fact.UNPAID:
        summary += f": {owed} outstanding"
    return DomainEvent(
        event_id=delivery.webhook_id,
        source=Source.SHOPIFY,
        kind=delivery.topic,
        shop=delivery.shop,
        case_id=order_id,
        occurred_at=occurred,
        fact=fact,
        snapshot=snapshot,
        summary=summary,
        signals=risk_signals.shopify_order(order, delivery.topic),
    )


def _refund_event(delivery: Delivery, refund: dict[str, Any]) -> DomainEvent:
    order_id = platform_id(refund, "order_id")
    refund_id = platform_id(refund, "id")
    amounts: list[Money] = []
    for index, txn in enumerate(bounded_list(refund.get("transactions"), "transactions")):
        if not isinstance(txn, dict):
            raise MalformedWebhook(f"transactions[{index}] must be an object")
        if txn.get("kind") != "refund" or txn.get("status") != "success":
            continue
        amounts.append(
            money(txn.get("amount"), txn.get("currency"), f"transactions[{index}].amount")
        )
    refunded = total(amounts, "transactions")
    return DomainEvent(
        event_id=delivery.webhook_id,
        source=Source.SHOPIFY,
        kind=delivery.topic,
        shop=delivery.shop,
        case_id=order_id,
        occurred_at=_event_time(refund.get("processed_at") or refund.get("created_at"), delivery),
        fact=Fact.REFUNDED,
        refunded=refunded,
        summary=f"refund {refund_id}: {refunded or 'no amount'} refunded",
        extra={"refund_key": f"shopify-refund:{refund_id}"},
    )


def _risk_event(delivery: Delivery, assessment: dict[str, Any]) -> DomainEvent:
    """orders/risk_assessment_changed: one provider's new assessment of an order."""
    order_id = _assessed_order(assessment, delivery)
    signals = risk_signals.shopify_risk_assessment(assessment)
    provider = (optional_str(assessment, "provider_title", "name") or "Shopify")[:80]
    level = signals.get("shopify_risk_level", "no level")
    return DomainEvent(
        event_id=delivery.webhook_id,
        source=Source.SHOPIFY,
        kind=delivery.topic,
        shop=delivery.shop,
        case_id=order_id,
        occurred_at=_event_time(assessment.get("created_at"), delivery, "created_at"),
        fact=Fact.OBSERVED,
        summary=f"order {order_id} risk assessment by {provider}: {str(level)[:20]}",
        signals=signals,
    )


def _assessed_order(assessment: dict[str, Any], delivery: Delivery) -> str:
    """The body's order id (later API versions send it), else its order GID, else the
    X-Shopify-Order-Id header: a 2024-10 body names no order, Shopify names it in the headers."""
    given = assessment.get("order_id")
    if given is not None:
        order_id = optional_id(given)
        if order_id is None:
            raise MalformedWebhook("order_id must be a positive integer")
        return order_id
    gid = assessment.get("admin_graphql_api_order_id")
    if isinstance(gid, str) and gid.startswith(_ORDER_GID):
        order_id = optional_id(gid.removeprefix(_ORDER_GID))
        if order_id is None:
            raise MalformedWebhook(f"admin_graphql_api_order_id is not an order GID: {gid!r}")
        return order_id
    if delivery.order_id:
        return delivery.order_id
    raise MalformedWebhook(
        "order_id is missing (and no admin_graphql_api_order_id or X-Shopify-Order-Id)"
    )


def _transaction_event(delivery: Delivery, txn: dict[str, Any]) -> DomainEvent | None:
    """order_transactions/create: only failed payment attempts matter here."""
    if txn.get("status") not in ("failure", "error") or txn.get("kind") not in (
        "sale",
        "capture",
        "authorization",
    ):
        return None
    order_id = platform_id(txn, "order_id")
    at = _event_time(txn.get("processed_at") or txn.get("created_at"), delivery)
    amount_text = txn.get("amount")
    amount = money(amount_text, txn.get("currency"), "amount") if amount_text else None
    code = optional_str(txn, "error_code", "code")
    attempt = PaymentAttempt(
        attempt_id=f"shopify-txn:{platform_id(txn, 'id')}",
        provider=Source.SHOPIFY,
        succeeded=False,
        at=at,
        amount=amount,
        code=code,
        message=optional_str(txn, "message", "message"),
    )
    return DomainEvent(
        event_id=delivery.webhook_id,
        source=Source.SHOPIFY,
        kind=delivery.topic,
        shop=delivery.shop,
        case_id=order_id,
        occurred_at=at,
        fact=Fact.PAYMENT_FAILED,
        attempt=attempt,
        summary=f"payment of {amount or 'unknown amount'} failed ({code or 'no code'})",
    )


def _event_time(value: Any, delivery: Delivery, field: str = "updated_at") -> datetime:
    if value:
        return iso_time(value, field)
    return delivery.triggered_at or clock.now()


def _customer(order: dict[str, Any]) -> Customer:
    customer = _object(order, "customer")
    shipping = _object(order, "shipping_address")
    billing = _object(order, "billing_address")
    address = shipping or billing
    where = "shipping_address." if shipping else "billing_address."
    return Customer(
        customer_id=optional_id(customer.get("id")),
        email=optional_str(order, "email", "email")
        or optional_str(order, "contact_email", "email")
        or optional_str(customer, "email", "email", "customer."),
        phone=optional_str(order, "phone", "phone")
        or optional_str(customer, "phone", "phone", "customer.")
        or optional_str(address, "phone", "phone", where),
        first_name=optional_str(customer, "first_name", "name", "customer.")
        or optional_str(address, "first_name", "name", where),
        last_name=optional_str(customer, "last_name", "name", "customer.")
        or optional_str(address, "last_name", "name", where),
        locale=optional_str(order, "customer_locale", "locale"),
        country=optional_str(address, "country_code", "country", where),
        province=optional_str(address, "province_code", "province", where),
        zip=optional_str(address, "zip", "zip", where),
        address1=optional_str(address, "address1", "address", where),
        address2=optional_str(address, "address2", "address", where),
        city=optional_str(address, "city", "city", where),
    )


def _https(value: Any) -> str | None:
    """Only an https link may reach a customer's message."""
    if isinstance(value, str) and value.startswith("https://") and len(value) <= 2048:
        return value
    return None


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _line_items(items: Any, currency: str) -> Iterable[LineItem]:
    for index, item in enumerate(bounded_list(items, "line_items")):
        where = f"line_items[{index}]."
        if not isinstance(item, dict):
            raise MalformedWebhook(f"line_items[{index}] must be an object")
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            quantity = 1
        elif not 0 <= quantity <= _MAX_LINE_QUANTITY:
            raise MalformedWebhook(f"{where}quantity must be 0 to {_MAX_LINE_QUANTITY:,}")
        price = item.get("price")
        yield LineItem(
            title=optional_str(item, "title", "title", where)
            or optional_str(item, "name", "title", where)
            or "item",
            quantity=quantity,
            unit_price=money(price, currency, f"{where}price") if price else None,
            sku=optional_str(item, "sku", "sku", where),
            product_type=optional_str(item, "product_type", "name", where),
            variant_id=optional_id(item.get("variant_id")),
        )


__all__ = ["Delivery", "normalise", "read_delivery", "sign", "verify_signature"]
