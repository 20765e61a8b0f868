"""The pay link of every reminder: `/pay/<token>`, decided on the click, for as long as the
case is open; a paid case answers "already paid"; each day's first click is on the trail."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from recoup import clock, links
from recoup.services import cases
from recoup.settings import get_settings
from recoup_local.outbox import sent_messages
from recoup_local.stack import LOCAL_STRIPE_KEYS
from tests.conftest import (
    SHOP,
    STRIPE_ACCOUNT,
    event_bytes,
    event_json,
    shopify_headers,
    stripe_headers,
)

PENDING = event_json("shopify/order_pending.json")
CASE_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)


class FakeSessions:
    calls: list[dict[str, Any]] = []

    def create(self, params: dict[str, Any], options: dict[str, Any]) -> Any:
        self.calls.append({"params": params, "options": options})
        number = len(self.calls)
        return type("Session", (), {"url": f"https://checkout.stripe.com/c/pay/cs_test_{number}"})()


class FakeStripe:
    def __init__(self, api_key: str, **_options: Any) -> None:
        checkout = type("Checkout", (), {"sessions": FakeSessions()})()
        self.v1 = type("V1", (), {"checkout": checkout})()


@pytest.fixture
def now(local: Any) -> Any:
    moment = [OPENED]
    clock.use(lambda: moment[0])
    yield moment
    clock.use(None)


def _deliver(local: Any, name: str, topic: str) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def _first_reminder_link(local: Any, now: Any) -> str:
    _deliver(local, "order_pending", "orders/create")
    now[0] = OPENED + timedelta(days=1, hours=2)
    local.lambdas.run_schedules(now[0])
    local.lambdas.drain()
    (mail,) = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]
    text = mail.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+/pay/([A-Za-z0-9_.%-]+)", text)
    assert found, text
    return found[1]


def _click(local: Any, token: str) -> dict[str, Any]:
    answer = local.lambdas.invoke_http("GET", f"/pay/{token}", {}, b"")
    assert answer is not None
    return answer


def test_the_link_opens_the_orders_page_weeks_later_and_the_click_is_recorded(
    local: Any, now: Any
) -> None:
    token = _first_reminder_link(local, now)
    # When the customer clicks it 30 days later (a Checkout URL would have expired)
    now[0] = OPENED + timedelta(days=31)
    answer = _click(local, token)
    # Then they are sent to the order's own payment page (Stripe is not configured here)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == PENDING["order_status_url"]
    # and the click is on the trail once for the day, however often they click
    _click(local, token)
    clicks = [e for e in cases.timeline(SHOP, CASE_ID) if e.body["kind"] == "pay_link.opened"]
    assert len(clicks) == 1
    assert "USD 1,899.00" in clicks[0].body["summary"] or "1,899.00" in clicks[0].body["summary"]


def test_with_stripe_a_checkout_session_is_made_on_the_click_for_what_is_owed(
    local: Any, now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stripe

    FakeSessions.calls = []
    monkeypatch.setattr(stripe, "StripeClient", FakeStripe)
    token = _first_reminder_link(local, now)
    assert FakeSessions.calls == []  # nothing was made when the email was sent
    monkeypatch.setenv("RECOUP_STRIPE_API_KEY", "sk_test_platform")
    get_settings.cache_clear()
    now[0] = OPENED + timedelta(days=3)
    answer = _click(local, token)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"].startswith("https://checkout.stripe.com/")
    (call,) = FakeSessions.calls
    assert call["params"]["line_items"][0]["price_data"]["unit_amount"] == 189_900
    assert call["options"]["idempotency_key"] == f"recoup:pay:{SHOP}:{CASE_ID}:USD189900"


def test_the_stripe_sdk_makes_one_session_on_the_connected_account_and_reuses_it(
    local: Any, now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real SDK over HTTP, against the local stand-in for Stripe's API
    token = _first_reminder_link(local, now)
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    now[0] = OPENED + timedelta(days=3)
    first = _click(local, token)
    assert first["statusCode"] == 303
    assert first["headers"]["Location"].startswith(f"{local.stripe.url}/checkout/cs_test_")
    (session,) = local.stripe.sessions.values()
    assert (session.account, session.amount, session.currency) == (STRIPE_ACCOUNT, 189_900, "usd")
    # A second click for the same amount reuses the session (the same idempotency key)
    again = _click(local, token)
    assert again["headers"]["Location"] == first["headers"]["Location"]
    assert len(local.stripe.sessions) == 1
    # and the page at its URL names the amount
    page = urllib.request.urlopen(first["headers"]["Location"], timeout=10).read().decode()
    assert "USD 1,899.00" in page


def test_a_paid_case_says_already_paid(local: Any, now: Any) -> None:
    token = _first_reminder_link(local, now)
    body = event_bytes("stripe/payment_intent.succeeded.json")
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200
    local.lambdas.drain()
    answer = _click(local, token)
    assert answer["statusCode"] == 200
    assert "Already paid" in answer["body"]


def test_a_forged_or_expired_link_is_refused(local: Any, now: Any) -> None:
    secret = local.link_secret
    forged = links.sign_pay(SHOP, CASE_ID, now=OPENED, secret="not-the-secret")
    assert _click(local, forged)["statusCode"] == 400
    expired = links.sign_pay(SHOP, CASE_ID, now=OPENED - timedelta(days=200), secret=secret)
    answer = _click(local, expired)
    assert answer["statusCode"] == 400 and "expired" in answer["body"]
    # an unsubscribe token is not a pay token
    unsubscribe = links.sign_unsubscribe(SHOP, CASE_ID, now=OPENED, secret=secret)
    assert _click(local, unsubscribe)["statusCode"] == 400


def test_a_fault_behind_the_link_is_a_page_that_quotes_nothing(
    local: Any, now: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from recoup.services import pay_links

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("ann@example.com owes 1899.00")

    monkeypatch.setattr(pay_links, "open_link", broken)
    token = links.sign_pay(SHOP, CASE_ID, now=OPENED, secret=local.link_secret)
    answer = _click(local, token)
    assert answer["statusCode"] == 500
    assert answer["headers"]["Content-Type"].startswith("text/html")
    assert "Something went wrong" in answer["body"] and "ann@example.com" not in answer["body"]
    [failed] = [r for r in caplog.records if r.getMessage() == "Pay link failed"]
    assert failed.__dict__["error"] == "RuntimeError"
    assert "ann@example.com" not in repr([vars(r) for r in caplog.records])
