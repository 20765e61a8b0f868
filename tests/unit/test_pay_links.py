"""The Stripe Checkout pay link: the amount still owed, on the shop's connected account,
idempotent per case and step, linked back to the order."""

from __future__ import annotations

from typing import Any

import pytest

from recoup.domain.money import Money
from recoup.integrations import stripe as stripe_integration


class FakeSessions:
    calls: list[dict[str, Any]] = []

    def create(self, params: dict[str, Any], options: dict[str, Any]) -> Any:
        self.calls.append({"params": params, "options": options})
        return type("Session", (), {"url": "https://checkout.stripe.com/c/pay/cs_test_1"})()


class FakeClient:
    def __init__(self, api_key: str, **_options: Any) -> None:
        self.api_key = api_key
        checkout = type("Checkout", (), {"sessions": FakeSessions()})()
        self.v1 = type("V1", (), {"checkout": checkout})()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import stripe

    FakeSessions.calls = []
    monkeypatch.setattr(stripe, "StripeClient", FakeClient)
    return FakeSessions.calls


@pytest.mark.parametrize(
    ("amount", "stripe_amount"),
    [
        (Money.of(189900, "USD"), 189900),
        (Money.of(129800, "JPY"), 129800),
        (Money.of(500, "ISK"), 50000),
    ],
)
def test_the_session_asks_for_what_is_owed_in_stripe_units(
    calls: list[dict[str, Any]], amount: Money, stripe_amount: int
) -> None:
    url = stripe_integration.create_checkout_session(
        api_key="sk_test_x",
        account="acct_1DemoElectronics",
        amount=amount,
        description="#1042 (demo-electronics.myshopify.com)",
        shop="demo-electronics.myshopify.com",
        case_id="5960359936123456789",
        return_url="https://demo-electronics.myshopify.com",
        idempotency_key="recoup:demo:5960359936123456789:step1",
    )
    (call,) = calls
    line = call["params"]["line_items"][0]["price_data"]
    assert url.startswith("https://checkout.stripe.com/")
    assert (line["unit_amount"], line["currency"]) == (stripe_amount, amount.currency.lower())
    assert call["options"] == {
        "stripe_account": "acct_1DemoElectronics",
        "idempotency_key": "recoup:demo:5960359936123456789:step1",
    }
    metadata = call["params"]["payment_intent_data"]["metadata"]
    assert metadata == {
        "shop_domain": "demo-electronics.myshopify.com",
        "shopify_order_id": "5960359936123456789",
    }


def test_every_call_names_the_api_version_the_sdk_and_the_endpoint_are_pinned_to() -> None:
    from stripe._api_version import _ApiVersion

    # The SDK's own pinned version: upgrading the SDK means moving this constant (and the
    # Connect endpoint's version, README) on purpose
    assert _ApiVersion.CURRENT == stripe_integration.API_VERSION


def test_the_client_is_made_with_the_pinned_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import stripe

    made: list[dict[str, Any]] = []

    class Recording(FakeClient):
        def __init__(self, api_key: str, **options: Any) -> None:
            super().__init__(api_key)
            made.append(options)

    monkeypatch.setattr(stripe, "StripeClient", Recording)
    stripe_integration.create_checkout_session(
        api_key="sk_test_x",
        account="acct_1",
        amount=Money.of(100, "USD"),
        description="#1",
        shop="demo-electronics.myshopify.com",
        case_id="1",
        return_url="https://demo-electronics.myshopify.com",
        idempotency_key="k",
    )
    assert made == [
        {
            "stripe_version": stripe_integration.API_VERSION,
            "client_id": None,
            "base_addresses": None,
        }
    ]


def test_the_readme_lists_the_connect_endpoints_version_and_events() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"API version `{stripe_integration.API_VERSION}`" in readme
    for event_type in stripe_integration.HANDLED_TYPES:
        assert f"`{event_type}`" in readme, event_type
