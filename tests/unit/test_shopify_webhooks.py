"""Shopify deliveries: the HMAC on raw bytes, the headers, and what each order state means."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain import payment_situation
from recoup.domain.case import Case, apply, new_case
from recoup.domain.events import Fact
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook, SignatureInvalid
from recoup.integrations import shopify
from tests.conftest import event_bytes, event_json, shopify_headers

SECRET = "test-client-secret"


def _event(name: str, topic: str) -> Any:
    body = event_bytes(f"shopify/{name}.json")
    delivery = shopify.read_delivery(shopify_headers(body, SECRET, topic, webhook_id="wh-1"))
    return shopify.normalise(delivery, body)


def test_a_body_signed_with_the_secret_verifies() -> None:
    body = event_bytes("shopify/order_pending.json")
    shopify.verify_signature(body, shopify.sign(body, SECRET), [SECRET])


@pytest.mark.parametrize(
    ("signature", "secrets", "message"),
    [
        (None, [SECRET], "missing"),
        ("", [SECRET], "missing"),
        ("c2lnbmF0dXJl", [SECRET], "does not match"),
        ("sign-with-other", [SECRET], "does not match"),
        ("sign-with-secret", [], "does not match"),
    ],
)
def test_anything_else_is_refused(signature: str | None, secrets: list[str], message: str) -> None:
    body = event_bytes("shopify/order_pending.json")
    if signature == "sign-with-other":
        signature = shopify.sign(body, "another-secret")
    elif signature == "sign-with-secret":
        signature = shopify.sign(body, SECRET)
    with pytest.raises(SignatureInvalid, match=message):
        shopify.verify_signature(body, signature, secrets)


def test_one_changed_byte_breaks_the_signature() -> None:
    body = event_bytes("shopify/order_pending.json")
    signature = shopify.sign(body, SECRET)
    with pytest.raises(SignatureInvalid):
        shopify.verify_signature(body.replace(b"1899.00", b"1899.01", 1), signature, [SECRET])


def test_headers_are_read_case_insensitively_and_the_shop_is_checked() -> None:
    headers = {k.upper(): v for k, v in shopify_headers(b"{}", SECRET, "orders/paid").items()}
    delivery = shopify.read_delivery(headers)
    assert delivery.topic == "orders/paid"
    assert delivery.shop == "demo-electronics.myshopify.com"
    assert delivery.api_version == "2024-10"
    headers["X-SHOPIFY-SHOP-DOMAIN"] = "demo.myshopify.com.evil.example"
    with pytest.raises(MalformedWebhook, match=r"not a myshopify\.com domain"):
        shopify.read_delivery(headers)


@pytest.mark.parametrize(
    ("name", "fact"),
    [
        ("order_pending", Fact.UNPAID),
        ("order_voided", Fact.UNPAID),
        ("order_expired", Fact.UNPAID),
        ("order_partially_paid", Fact.UNPAID),
        ("order_jpy_pending", Fact.UNPAID),
        ("order_authorized", Fact.OBSERVED),
        ("order_paid", Fact.PAID),
        ("order_paid_normal", Fact.PAID),
        ("order_cancelled", Fact.CANCELLED),
    ],
)
def test_each_financial_status_means_one_fact(name: str, fact: Fact) -> None:
    assert _event(name, "orders/updated").fact is fact


def test_an_order_event_carries_exact_ids_amounts_and_the_customer() -> None:
    # Given an order whose id is beyond 2**53
    order = event_json("shopify/order_partially_paid.json")
    event = _event("order_partially_paid", "orders/create")
    # Then the id survives exactly, and amounts are minor units of the order's currency
    assert event.case_id == str(order["id"])
    assert event.case_id == order["admin_graphql_api_id"].rsplit("/", 1)[1]
    assert event.snapshot.amount_owed == Money.parse(order["total_outstanding"], "EUR")
    assert event.snapshot.order_total.currency == "EUR"
    assert event.snapshot.customer.email == order["email"]
    assert event.snapshot.customer.country == order["shipping_address"]["country_code"]
    assert [i.title for i in event.snapshot.line_items] == [i["title"] for i in order["line_items"]]
    assert event.occurred_at.utcoffset().total_seconds() == 0


def test_a_bank_deposit_order_is_worded_as_a_transfer_awaited_not_a_card_problem() -> None:
    # Given a pending order the customer chose to pay by bank deposit
    order = {**event_json("shopify/order_partially_paid.json"), "financial_status": "pending"}
    order["total_outstanding"] = order["current_total_price"]
    order["payment_gateway_names"] = ["Bank Deposit", 7, ""]  # junk entries are dropped
    event = _normalise(order)
    assert event.snapshot.payment_gateways == ("Bank Deposit",)
    # When the case folds it and survives a round trip through its stored form
    case = Case.from_dict(apply(new_case("s.myshopify.com", event.case_id), event).case.to_dict())
    # Then its messages speak of a transfer awaited
    assert payment_situation.of(case) is payment_situation.Situation.MANUAL_PAYMENT_PENDING


def test_a_paid_order_owes_nothing() -> None:
    event = _event("order_paid", "orders/paid")
    assert event.snapshot.amount_owed == Money.zero("USD")


def test_refunds_sum_their_successful_refund_transactions() -> None:
    refund = event_json("shopify/refund_partial.json")
    event = _event("refund_partial", "refunds/create")
    expected = sum(
        Money.parse(t["amount"], t["currency"]).minor
        for t in refund["transactions"]
        if t["kind"] == "refund" and t["status"] == "success"
    )
    assert event.fact is Fact.REFUNDED
    assert event.refunded.minor == expected
    assert event.case_id == str(refund["order_id"])


def test_a_failed_transaction_is_a_failed_payment_attempt() -> None:
    event = _event("order_transaction_failure", "order_transactions/create")
    assert event.fact is Fact.PAYMENT_FAILED
    assert event.attempt.code == "card_declined"
    assert not event.attempt.succeeded


def test_topics_recoup_does_not_handle_are_ignored() -> None:
    assert _event("order_pending", "products/update") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "id is missing"),
        ({"id": "5960359936123456789"}, "id has the wrong type"),
        ({"id": -4}, "id must be a positive integer"),
        ({"currency": None}, "currency is missing"),
        ({"currency": "XYZ"}, "unknown currency"),
        ({"total_price": "12.345", "current_total_price": "12.345"}, "more decimals"),
        ({"updated_at": "yesterday"}, "not an ISO 8601 time"),
        ({"updated_at": "2026-11-02T10:15:00"}, "has no time zone"),
        ({"line_items": ["laptop"]}, "line_items[0] must be an object"),
    ],
)
def test_a_malformed_order_names_the_field(change: dict[str, Any], message: str) -> None:
    order = event_json("shopify/order_pending.json")
    order.update(change)
    body = json.dumps(order).encode()
    delivery = shopify.read_delivery(shopify_headers(body, SECRET, "orders/create"))
    with pytest.raises(MalformedWebhook, match=message.replace("[", r"\[").replace("]", r"\]")):
        shopify.normalise(delivery, body)


def _normalise(order: dict[str, Any], topic: str = "orders/create", **headers: str) -> Any:
    body = json.dumps(order).encode()
    delivery = shopify.read_delivery({**shopify_headers(body, SECRET, topic), **headers})
    return shopify.normalise(delivery, body)


def _refused(order: dict[str, Any], topic: str = "orders/create", **headers: str) -> str:
    with pytest.raises(MalformedWebhook) as caught:
        _normalise(order, topic, **headers)
    return caught.value.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Amounts: not negative (a case would owe a negative debt), not absurdly large.
        ({"total_outstanding": "-10.00"}, "total_outstanding: amount must not be negative"),
        ({"total_price": "-1.00", "current_total_price": "-1.00"}, "total_price: amount must"),
        ({"current_total_price": "1e308"}, "total_price: amount '1e308' is too large"),
        ({"current_total_price": "9" * 400}, "total_price: amount is longer than 64"),
        ({"current_total_price": "1E+999999999999999999"}, "total_price: amount '1E+9"),
        ({"total_outstanding": "1000000000000.01"}, "total_outstanding: amount is above"),
        # Times: within 2000-01-01 .. now + 1 day; a zone may not push them off the calendar.
        ({"updated_at": "0001-01-01T00:00:00+01:00"}, "updated_at is not an ISO 8601 time"),
        ({"updated_at": "9999-12-31T23:59:59-01:00"}, "updated_at is not an ISO 8601 time"),
        ({"updated_at": "10000-01-01T00:00:00Z"}, "updated_at is not an ISO 8601 time"),
        ({"updated_at": "0001-01-01T00:00:00Z"}, "updated_at is outside 2000-01-01"),
        ({"updated_at": "9999-12-31T23:59:59Z"}, "updated_at is outside 2000-01-01"),
        ({"created_at": "1999-12-31T23:59:59Z"}, "created_at is outside"),
        ({"cancelled_at": "9999-01-01T00:00:00Z"}, "cancelled_at is outside"),
        # Ids: 64-bit, as Shopify's are.
        ({"id": 2**63}, "id must be a positive integer"),
        ({"id": 10**400 // 10**100}, "id must be a positive integer"),
        # Text: per-field limits.
        ({"email": "a" * 250 + "@x.io"}, "email is longer than 254"),
        ({"name": "#" + "9" * 300}, "name is longer than 255"),
        ({"line_items": [{"title": "t" * 513, "quantity": 1}]}, "line_items[0].title is longer"),
        ({"line_items": [{"title": "laptop", "quantity": -3}]}, "line_items[0].quantity must"),
        ({"line_items": [{"title": "x", "quantity": 1}] * 2001}, "line_items has more than 2000"),
    ],
)
def test_absurd_values_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    order = event_json("shopify/order_pending.json")
    order.update(change)
    assert message in _refused(order)


def test_a_long_address_line_is_refused_naming_where_it_is() -> None:
    order = event_json("shopify/order_pending.json")
    order["shipping_address"]["address1"] = "Street " * 50
    assert "shipping_address.address1 is longer than 255" in _refused(order)


def test_a_refund_in_two_currencies_is_refused_not_a_crash() -> None:
    refund = event_json("shopify/refund_partial.json")
    second = dict(refund["transactions"][0], kind="refund", status="success", currency="EUR")
    refund["transactions"] = [dict(second, currency="USD"), second]
    assert "more than one currency" in _refused(refund, "refunds/create")


def test_a_refund_whose_parts_add_up_past_the_maximum_is_refused() -> None:
    refund = event_json("shopify/refund_partial.json")
    part = dict(refund["transactions"][0], kind="refund", status="success", currency="USD")
    refund["transactions"] = [dict(part, amount="900000000000.00")] * 2
    assert "transactions: amount is above" in _refused(refund, "refunds/create")


def test_a_body_nested_thousands_deep_is_refused() -> None:
    body = b'{"id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    delivery = shopify.read_delivery(shopify_headers(body, SECRET, "orders/create"))
    with pytest.raises(MalformedWebhook, match="nests deeper than 32"):
        shopify.normalise(delivery, body)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    order = event_json("shopify/order_pending.json")
    nested: Any = 1
    for _ in range(31):  # the order itself is the first level
        nested = [nested]
    order["note_attributes"] = nested
    assert _normalise(order).fact is Fact.UNPAID


def test_an_order_with_hundreds_of_line_items_is_accepted() -> None:
    order = event_json("shopify/order_pending.json")
    item = order["line_items"][0]
    order["line_items"] = [dict(item, id=item["id"] + n) for n in range(600)]
    assert len(_normalise(order).snapshot.line_items) == 600


@pytest.mark.parametrize(
    "triggered",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "10000-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "x" * 5000,
        "nonsense",
    ],
)
def test_an_absurd_unsigned_triggered_at_header_is_ignored(triggered: str) -> None:
    # Given an order whose body states no time, and an odd header nobody signed
    order = event_json("shopify/order_pending.json")
    del order["updated_at"]
    event = _normalise(order, **{"X-Shopify-Triggered-At": triggered})
    # Then the delivery is accepted and the time is the time it arrived
    assert event is not None
    assert abs((event.occurred_at - datetime.now(tz=UTC)).total_seconds()) < 60


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("X-Shopify-Webhook-Id", "wh-\u00e9", "X-Shopify-Webhook-Id is not"),
        ("X-Shopify-Webhook-Id", "w" * 121, "X-Shopify-Webhook-Id is not"),
        ("X-Shopify-Webhook-Id", "two words", "X-Shopify-Webhook-Id is not"),
        ("X-Shopify-Topic", "orders/" + "x" * 100, "X-Shopify-Topic is not a topic"),
    ],
)
def test_an_id_header_sqs_could_not_carry_is_refused(header: str, value: str, message: str) -> None:
    headers = {**shopify_headers(b"{}", SECRET, "orders/create"), header: value}
    with pytest.raises(MalformedWebhook, match=message):
        shopify.read_delivery(headers)
