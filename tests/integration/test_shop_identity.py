"""The shop's identity from shop/update: kept when newer, and what the customer sees in the
From and Reply-To of the next reminder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.headerregistry import Address
from typing import Any

from recoup import clock
from recoup.services import shops as shop_service
from recoup.store import shops
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_bytes, event_json, shopify_headers

SHOP_RESOURCE = event_json("shopify/app_uninstalled.json")  # shop/update has the same body
PENDING = event_json("shopify/order_pending.json")
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)


def _shop_update(local: Any, **changes: Any) -> int:
    body = json.dumps({**SHOP_RESOURCE, **changes}).encode()
    headers = shopify_headers(body, local.shopify_secret, "shop/update")
    status = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"]
    local.lambdas.drain()
    return int(status)


def test_shop_update_renames_the_sender_of_the_next_reminder(local: Any) -> None:
    # Given the shop installed under its old name, and a case whose first reminder is due
    shop_service.install(
        SHOP, stripe_account=STRIPE_ACCOUNT, shop_name="Old Name", contact_email="old@x.example"
    )
    # When the merchant renames the shop and changes its contact email
    assert (
        _shop_update(
            local,
            name="Demo Electronics & Repairs",
            customer_email="care@demo-electronics.example",
            updated_at="2026-11-21T09:00:00-05:00",
        )
        == 200
    )
    # Then the shop item holds the new identity
    item = shops.get(SHOP)
    assert item is not None
    assert (item.shop_name, item.contact_email, item.locale, item.currency, item.country) == (
        "Demo Electronics & Repairs",
        "care@demo-electronics.example",
        "en",
        "USD",
        "US",
    )
    # and the next reminder comes from that name, with Reply-To the new contact email
    now = [OPENED]  # the case opens when the order was placed, as in production
    clock.use(lambda: now[0])
    try:
        body = event_bytes("shopify/order_pending.json")
        headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
        status = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
        assert status["statusCode"] == 200
        local.lambdas.drain()
        now[0] = OPENED + timedelta(days=1, hours=2)
        local.lambdas.run_schedules(now[0])
        local.lambdas.drain()
    finally:
        clock.use(None)
    (mail,) = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]
    sender = mail["From"].addresses[0]
    assert isinstance(sender, Address)
    assert sender.display_name == "Demo Electronics & Repairs"
    assert mail["Reply-To"].addresses[0].addr_spec == "care@demo-electronics.example"


def test_an_older_shop_update_does_not_undo_a_newer_one(local: Any) -> None:
    assert _shop_update(local, name="Newest", updated_at="2026-11-22T10:00:00Z") == 200
    # A delivery of an earlier version arrives late
    assert _shop_update(local, name="Older", updated_at="2026-11-22T09:00:00Z") == 200
    item = shops.get(SHOP)
    assert item is not None and item.shop_name == "Newest"


def test_a_shop_update_for_another_shop_or_with_an_oversized_name_is_refused(local: Any) -> None:
    assert _shop_update(local, myshopify_domain="other.myshopify.com") == 400
    assert _shop_update(local, name="x" * 300) == 400
    item = shops.get(SHOP)
    assert item is not None and item.shop_name != "x" * 300
