"""An order's taxes, shipping and discounts, read from Shopify's order body for the case file,
kept through the queue and the case item, and never a reason to refuse a delivery."""

from __future__ import annotations

import json
from typing import Any

from recoup.domain.case import Case, apply, new_case
from recoup.domain.charges import ChargeLine
from recoup.domain.events import DomainEvent
from recoup.domain.money import Money
from recoup.integrations import shopify
from tests.conftest import event_bytes, event_json, shopify_headers

SHOP = "demo-electronics.myshopify.com"


def _normalise(order: dict[str, Any]) -> DomainEvent:
    body = json.dumps(order).encode()
    delivery = shopify.read_delivery(shopify_headers(body, "secret", "orders/create"))
    event = shopify.normalise(delivery, body)
    assert event is not None
    return event


def test_taxes_shipping_and_discounts_are_read_and_survive_queue_and_case() -> None:
    # Given a pending order with a shipping line, and a tax line and a discount code added
    order = event_json("shopify/order_pending.json")
    order["tax_lines"] = [{"title": "State tax", "rate": 0.0625, "price": "117.38"}]
    order["discount_codes"] = [{"code": "WELCOME10", "amount": "10.00", "type": "fixed_amount"}]
    order["shipping_address"]["address2"] = "Suite 400"
    # When it is normalised, put on the queue and folded into a case
    event = DomainEvent.from_dict(json.loads(json.dumps(_normalise(order).to_dict())))
    case = Case.from_dict(apply(new_case(SHOP, event.case_id), event).case.to_dict())
    # Then the case keeps every charge line and total as the order stated them
    assert case.snapshot is not None and case.snapshot.charges is not None
    charges = case.snapshot.charges
    assert charges.lines == (
        ChargeLine("tax", "State tax", Money("USD", 11_738), "0.0625"),
        ChargeLine("shipping", "UPS 2nd Day Air", Money("USD", 2_100)),
        ChargeLine("discount", "WELCOME10", Money("USD", 1_000)),
    )
    assert charges.subtotal == Money("USD", 187_800)
    assert charges.total_shipping == Money("USD", 2_100)
    assert charges.taxes_included is False
    assert case.snapshot.customer is not None
    assert case.snapshot.customer.address2 == "Suite 400"


def test_a_malformed_charge_line_is_left_out_not_refused() -> None:
    order = event_json("shopify/order_pending.json")
    order["tax_lines"] = ["tax", {"title": "VAT", "price": "abc"}, {"title": "VAT", "price": "1"}]
    event = _normalise(order)
    assert event.snapshot is not None and event.snapshot.charges is not None
    assert [line.title for line in event.snapshot.charges.lines if line.kind == "tax"] == ["VAT"]


def test_the_project_payloads_all_normalise() -> None:
    for name in ("order_pending", "order_partially_paid", "order_jpy_pending"):
        body = event_bytes(f"shopify/{name}.json")
        delivery = shopify.read_delivery(shopify_headers(body, "secret", "orders/updated"))
        assert shopify.normalise(delivery, body) is not None
