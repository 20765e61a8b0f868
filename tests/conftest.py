"""Shared fixtures: the project's own webhook events, signing, and the local stack."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recoup.integrations.shopify import sign as shopify_sign
from recoup_local.stripe_signing import stripe_signature

EVENTS = Path(__file__).parent / "events"
SHOP = "demo-electronics.myshopify.com"
STRIPE_ACCOUNT = "acct_1DemoElectronics"


def event_bytes(name: str) -> bytes:
    """A body exactly as stored: tests sign and send these bytes."""
    return (EVENTS / name).read_bytes()


def event_json(name: str) -> dict[str, Any]:
    return json.loads(event_bytes(name))


def shopify_headers(
    body: bytes, secret: str, topic: str, *, webhook_id: str | None = None, shop: str = SHOP
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": shopify_sign(body, secret),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2024-10",
        "X-Shopify-Triggered-At": "2026-11-02T15:15:00.000000Z",
    }


def stripe_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature(body, secret, timestamp=timestamp),
    }


@pytest.fixture
def shipped_strategies() -> None:
    """Asked for beside `local`: the shop keeps the shipped strategies (a bank transfer's
    own, slower sequence) instead of the default sequence for every case."""


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The local stack with moto in-process: template.yaml's resources, the real handlers,
    and an installed demo shop. Most tests open their cases with the pending order fixture,
    paid by bank transfer, to exercise the reminder sequence itself: unless a test asks for
    `shipped_strategies`, the shop has no shipped strategy, so every case follows the
    policy's own steps (the shipped ones are tested where they are asked for, and by the
    served stack and the demo, which never drop them)."""
    from recoup.domain import strategies
    from recoup.services import shops
    from recoup_local.stack import in_process

    if "shipped_strategies" not in request.fixturenames:
        monkeypatch.setattr(strategies, "shipped", tuple)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for name in ("RECOUP_SHOPIFY_API_SECRET", "RECOUP_STRIPE_WEBHOOK_SECRET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with in_process() as stack:
        shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
        yield stack


def save_expiring_token(
    shop: str, token: str, *, lifetime: int = 3600, scopes: str = "read_orders,write_customers"
) -> None:
    """Store an expiring offline token for the shop, valid for `lifetime` seconds from the
    real clock (as token exchange would), with a refresh token."""
    from datetime import UTC, datetime

    from recoup.store import tokens

    tokens.save_grant(
        shop,
        token,
        scopes=scopes,
        now=datetime.now(tz=UTC),
        refresh_token=f"shprt_{token}",
        expires_in=lifetime,
    )
