"""Signed webhook deliveries for the benchmarks.

Bodies come from the project's test events (tests/events/shopify/order_pending.json and
tests/events/stripe/payment_intent.payment_failed.json) with fresh ids per delivery; if a
file is missing or no longer reads as the event it should be, a minimal body of the same
shape is built here instead, so the benchmarks never depend on the fixtures' state.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fresh import ROOT
from recoup.integrations import shopify, stripe
from recoup.integrations.shopify import sign as shopify_sign

SHOP = "demo-electronics.myshopify.com"
STRIPE_ACCOUNT = "acct_1DemoElectronics"
SHOPIFY_TOPIC = "orders/create"
SHOPIFY_EVENT = ROOT / "tests" / "events" / "shopify" / "order_pending.json"
STRIPE_EVENT = ROOT / "tests" / "events" / "stripe" / "payment_intent.payment_failed.json"
WRONG_SECRET = "not-the-signing-secret"  # noqa: S105 - what a forger would sign with
_FIRST_ORDER_ID = 7_000_000_000_000_000_001  # above 2**53, like real Shopify ids


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


def _fallback_order() -> dict[str, Any]:
    return {
        "id": _FIRST_ORDER_ID,
        "name": "#1042",
        "email": "dana.whitfield@example.com",
        "currency": "USD",
        "financial_status": "pending",
        "total_price": "1899.00",
        "current_total_price": "1899.00",
        "total_outstanding": "1899.00",
        "created_at": "2026-11-02T10:15:00-05:00",
        "updated_at": "2026-11-02T10:15:00-05:00",
        "cancelled_at": None,
        "customer": {"id": 7_000_000_000_000_000_901, "first_name": "Dana", "last_name": "W"},
        "billing_address": {"country_code": "US", "province_code": "OR", "zip": "97210"},
        "line_items": [{"title": "Mirrorless camera", "quantity": 1, "price": "1899.00"}],
    }


def _fallback_stripe_event() -> dict[str, Any]:
    return {
        "id": "evt_bench",
        "object": "event",
        "account": STRIPE_ACCOUNT,
        "api_version": "2024-06-20",
        "created": 1793715161,
        "type": "payment_intent.payment_failed",
        "livemode": False,
        "data": {
            "object": {
                "id": "pi_bench",
                "object": "payment_intent",
                "amount": 189900,
                "currency": "usd",
                "latest_charge": "ch_bench",
                "metadata": {"shop_domain": SHOP, "shopify_order_id": str(_FIRST_ORDER_ID)},
                "last_payment_error": {
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                },
            }
        },
    }


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Deliveries:
    """Makes signed deliveries, one order per index: Shopify's order `i` and the Stripe
    payment failure for that same order (linked through metadata.shopify_order_id)."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:10]
        self.order, self.order_source = self._pick(
            _load(SHOPIFY_EVENT), _fallback_order(), self._check_order, SHOPIFY_EVENT
        )
        self.event, self.event_source = self._pick(
            _load(STRIPE_EVENT), _fallback_stripe_event(), self._check_event, STRIPE_EVENT
        )

    def _pick(
        self,
        loaded: dict[str, Any] | None,
        fallback: dict[str, Any],
        check: Callable[[dict[str, Any]], None],
        path: Path,
    ) -> tuple[dict[str, Any], str]:
        reason = "missing"
        if loaded is not None:
            try:
                check(loaded)
                return loaded, str(path.relative_to(ROOT))
            except Exception as exc:  # noqa: BLE001 - any doubt about the fixture: fall back
                reason = f"unusable: {exc}"
        check(fallback)
        return fallback, f"built inline ({path.relative_to(ROOT)} {reason})"

    def _check_order(self, order: dict[str, Any]) -> None:
        body = self.shopify_body(0, order)
        headers = self._shopify_headers(body, "x", 0)
        event = shopify.normalise(shopify.read_delivery(headers), body)
        if event is None or event.shop != SHOP:
            raise ValueError("not an order event for the demo shop")

    def _check_event(self, data: dict[str, Any]) -> None:
        event = stripe.normalise(stripe.read_event(self.stripe_body(0, data)))
        if event is None or event.shop != SHOP or not event.linked:
            raise ValueError("not a linked Stripe payment event for the demo shop")

    # ------------------------------------------------------------------ bodies
    def order_id(self, index: int) -> int:
        return _FIRST_ORDER_ID + index

    def shopify_body(self, index: int, template: dict[str, Any] | None = None) -> bytes:
        order = copy.deepcopy(template if template is not None else self.order)
        order["id"] = self.order_id(index)
        return json.dumps(order, separators=(",", ":")).encode()

    def stripe_body(self, index: int, template: dict[str, Any] | None = None) -> bytes:
        event = copy.deepcopy(template if template is not None else self.event)
        event["id"] = f"evt_bench{self.run}{index:06d}"
        obj = event["data"]["object"]
        obj["id"] = f"pi_bench{self.run}{index:06d}"
        for key in ("latest_charge", "charge"):
            if isinstance(obj.get(key), str):
                obj[key] = f"ch_bench{self.run}{index:06d}"
        metadata = obj.setdefault("metadata", {})
        metadata["shop_domain"] = SHOP
        metadata["shopify_order_id"] = str(self.order_id(index))
        return json.dumps(event, separators=(",", ":")).encode()

    # ------------------------------------------------------------------ deliveries
    def _shopify_headers(
        self, body: bytes, secret: str, index: int, topic: str = SHOPIFY_TOPIC
    ) -> dict[str, str]:
        suffix = "" if topic == SHOPIFY_TOPIC else "-" + topic.replace("/", "-")
        return {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_sign(body, secret),
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": f"bench-{self.run}-{index:06d}{suffix}",
            "X-Shopify-API-Version": "2024-10",
        }

    def shopify(self, index: int, secret: str) -> Delivery:
        body = self.shopify_body(index)
        return Delivery("/webhooks/shopify", self._shopify_headers(body, secret, index), body)

    def shopify_update(
        self, index: int, secret: str, *, topic: str, changes: dict[str, Any]
    ) -> Delivery:
        """A later delivery about order `index` (`orders/paid`, ...): the order's body with
        `changes` applied, under its own webhook id."""
        order = copy.deepcopy(self.order)
        order.update(changes)
        body = self.shopify_body(index, order)
        return Delivery(
            "/webhooks/shopify", self._shopify_headers(body, secret, index, topic), body
        )

    def stripe(self, index: int, secret: str) -> Delivery:
        body = self.stripe_body(index)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(body, secret),
        }
        return Delivery("/webhooks/stripe", headers, body)


def stripe_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme v1: t=<unix time>,v1=hex(HMAC-SHA256(secret, "<t>.<body>"))."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"
