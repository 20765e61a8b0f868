"""An order's taxes, shipping and discounts from a Shopify order body, for the case file.

Lenient by design: a charge line that is malformed is left out rather than refusing the
delivery, since nothing but the case file reads these.
"""

from __future__ import annotations

from typing import Any

from recoup.domain.charges import ChargeLine, OrderCharges
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook
from recoup.integrations.payloads import money

MAX_LINES = 50  # per kind: more is not an order a person reads
MAX_TITLE = 200


def order_charges(order: dict[str, Any], currency: str) -> OrderCharges | None:
    """The order's charges (current values where Shopify sends them), or None if it states
    none of them."""

    def amount(value: Any) -> Money | None:
        if value is None or value == "":
            return None
        try:
            return money(value, currency, "charge")
        except MalformedWebhook:
            return None

    shipping_set = order.get("total_shipping_price_set")
    shop_money = shipping_set.get("shop_money") if isinstance(shipping_set, dict) else None
    lines = [
        *_lines(order.get("tax_lines"), "tax", "title", "price", amount),
        *_lines(order.get("shipping_lines"), "shipping", "title", "price", amount),
        *_lines(order.get("discount_codes"), "discount", "code", "amount", amount),
    ]
    charges = OrderCharges(
        subtotal=amount(order.get("current_subtotal_price", order.get("subtotal_price"))),
        total_tax=amount(order.get("current_total_tax", order.get("total_tax"))),
        total_shipping=amount(shop_money.get("amount")) if isinstance(shop_money, dict) else None,
        total_discounts=amount(order.get("current_total_discounts", order.get("total_discounts"))),
        taxes_included=order.get("taxes_included") is True,
        lines=tuple(lines),
    )
    return None if charges == OrderCharges() else charges


def _lines(raw: Any, kind: str, title_key: str, amount_key: str, amount: Any) -> list[ChargeLine]:
    found: list[ChargeLine] = []
    for item in raw[:MAX_LINES] if isinstance(raw, list) else ():
        if not isinstance(item, dict) or item.get("is_removed") is True:
            continue
        value = amount(item.get(amount_key))
        if value is None:
            continue
        rate = item.get("rate")
        found.append(
            ChargeLine(
                kind,
                str(item.get(title_key) or kind)[:MAX_TITLE],
                value,
                str(rate)[:20] if isinstance(rate, int | float | str) and rate != "" else None,
            )
        )
    return found


__all__ = ["order_charges"]
