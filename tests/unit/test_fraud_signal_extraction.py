"""Fraud signals from verified deliveries: what each Shopify and Stripe payload reports,
that it survives the queue, that `Signals` reads it without notes, and that odd payloads
report less instead of failing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from recoup.domain.case import apply, new_case
from recoup.domain.events import DomainEvent, Fact, Source
from recoup.domain.fraud.signals import Signals
from recoup.errors import MalformedWebhook
from recoup.integrations import shopify, stripe
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers

SECRET = "test-client-secret"
RISKY_ID = "5960368347812345679"

PORTLAND_ORDER = {
    "billing_country": "US",
    "billing_postcode": "97210",
    "billing_name": "Daniel Okafor",
    "shipping_country": "US",
    "shipping_postcode": "97210",
    "shipping_name": "Daniel Okafor",
    "customer_age_days": 0,
    "browser_ip": "203.0.113.42",
    "order_total": {"minor": 189900, "currency": "USD"},
    "expedited_shipping": False,
}
RISKY_ORDER = {
    "billing_country": "GB",
    "billing_postcode": "E1 6QE",
    "billing_name": "Oliver Bennett",
    "shipping_country": "NG",
    "shipping_postcode": "101241",
    "shipping_name": "Chinedu Eze",
    "customer_age_days": 0,
    "browser_ip": "198.51.100.201",
    "order_total": {"minor": 608600, "currency": "USD"},
    "expedited_shipping": True,
}
RISKY_ASSESSMENT = {
    "shopify_risk_level": "high",
    "shopify_risk_facts": [
        "The billing address is in a different country from the shipping address",
        "The customer account was created minutes before the order was placed",
        "The order contains several units of the same high-priced item",
    ],
}
DECLINED_CHARGE = {
    "stripe_risk_level": "normal",
    "stripe_risk_score": 32,
    "stripe_network_status": "declined_by_network",
    "stripe_outcome_type": "issuer_declined",
    "stripe_outcome_reason": "insufficient_funds",
    "avs_line1_check": "pass",
    "avs_postcode_check": "pass",
    "cvc_check": "pass",
    "card_country": "US",
    "card_funding": "credit",
    "billing_country": "US",
    "billing_postcode": "97210",
    "billing_name": "Daniel Okafor",
}
RISKY_CHARGE = {
    "stripe_risk_level": "elevated",
    "stripe_risk_score": 71,
    "stripe_network_status": "declined_by_network",
    "stripe_outcome_type": "issuer_declined",
    "stripe_outcome_reason": "incorrect_cvc",
    "avs_line1_check": "unavailable",
    "avs_postcode_check": "unavailable",
    "cvc_check": "fail",
    "card_country": "US",
    "card_funding": "credit",
    "billing_country": "GB",
    "billing_postcode": "E1 6QE",
    "billing_name": "Oliver Bennett",
}

# Every project payload Recoup normalises, with the topic it is delivered under.
SHOPIFY_PAYLOADS = [
    ("order_pending", "orders/create"),
    ("order_pending_updated", "orders/updated"),
    ("order_paid", "orders/paid"),
    ("order_paid_normal", "orders/create"),
    ("order_partially_paid", "orders/updated"),
    ("order_voided", "orders/updated"),
    ("order_cancelled", "orders/cancelled"),
    ("order_expired", "orders/updated"),
    ("order_authorized", "orders/create"),
    ("order_jpy_pending", "orders/create"),
    ("order_risky", "orders/create"),
    ("order_risk_assessment_changed", "orders/risk_assessment_changed"),
    ("refund_partial", "refunds/create"),
    ("order_transaction_failure", "order_transactions/create"),
]
STRIPE_PAYLOADS = [
    "charge.dispute.created",
    "charge.failed",
    "charge.failed.elevated_risk",
    "charge.refunded",
    "charge.succeeded",
    "checkout.session.async_payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "jpy.payment_intent.payment_failed",
    "payment_intent.payment_failed",
    "payment_intent.payment_failed.unlinked",
    "payment_intent.succeeded",
    "radar.early_fraud_warning.created",
]


def _deliver(body: bytes, topic: str, **headers: str) -> DomainEvent:
    delivery_headers = shopify_headers(body, SECRET, topic)
    delivery_headers.update(headers)
    event = shopify.normalise(shopify.read_delivery(delivery_headers), body)
    assert event is not None
    return event


def _shopify(name: str, topic: str) -> DomainEvent:
    return _deliver(event_bytes(f"shopify/{name}.json"), topic)


def _shopify_changed(
    name: str, topic: str, change: Callable[[dict[str, Any]], object]
) -> DomainEvent:
    body = event_json(f"shopify/{name}.json")
    change(body)
    return _deliver(json.dumps(body).encode(), topic)


def _stripe(name: str) -> DomainEvent:
    return _stripe_body(event_bytes(f"stripe/{name}.json"))


def _stripe_body(body: bytes) -> DomainEvent:
    event = stripe.normalise(stripe.read_event(body))
    assert event is not None
    return event


def _stripe_changed(name: str, change: Callable[[dict[str, Any]], object]) -> DomainEvent:
    raw = event_json(f"stripe/{name}.json")
    change(raw["data"]["object"])
    return _stripe_body(json.dumps(raw).encode())


def _all_payload_events() -> list[DomainEvent]:
    events = [_shopify(name, topic) for name, topic in SHOPIFY_PAYLOADS]
    return events + [_stripe(name) for name in STRIPE_PAYLOADS]


# --- Shopify orders ---------------------------------------------------------------------------


def test_a_pending_order_reports_its_addresses_client_total_and_shipping() -> None:
    assert _shopify("order_pending", "orders/create").signals == PORTLAND_ORDER


def test_the_risky_order_reports_foreign_addresses_a_fresh_account_and_express_shipping() -> None:
    event = _shopify("order_risky", "orders/create")
    assert event.signals == RISKY_ORDER
    # Three identical laptops: one line, with what a catalogue matches and "the same item".
    [line] = event.snapshot.line_items
    assert (line.quantity, line.sku, line.variant_id) == (
        3,
        "APPLE-MBP14-M3P-18-512-SB",
        "48123456789101",
    )


def test_every_order_topic_reports_the_order_signals() -> None:
    for topic in ("orders/updated", "orders/paid", "orders/cancelled"):
        assert _shopify("order_risky", topic).signals == RISKY_ORDER


@pytest.mark.parametrize(
    ("line", "expedited"),
    [
        ({"title": "UPS 2nd Day Air", "code": "UPS 2nd Day Air"}, False),
        ({"title": "Free Standard Shipping", "code": "STANDARD"}, False),
        ({"title": "Royal Mail Tracked 48", "code": None}, False),
        ({"title": "DHL Express Worldwide", "code": None}, True),
        ({"title": "FedEx Standard Overnight", "code": "FEDEX_OVERNIGHT"}, True),
        ({"title": "Delivery", "code": "NEXT_DAY"}, True),
        ({"title": "UPS Next Business Day", "code": None}, True),
        ({"title": "Same-day courier", "code": None}, True),
        ({"title": "USPS Priority Mail", "code": None}, True),
        ({"title": "Expressversand", "code": None}, True),
        ({"title": "Shipping", "code": None, "delivery_category": "expedited"}, True),
    ],
)
def test_a_shipping_line_is_expedited_by_its_code_title_or_category(
    line: dict[str, Any], expedited: bool
) -> None:
    event = _shopify_changed(
        "order_pending", "orders/create", lambda o: o.update(shipping_lines=[line])
    )
    assert event.signals["expedited_shipping"] is expedited


def test_removed_or_missing_shipping_lines_say_nothing_about_speed() -> None:
    removed = [{"title": "DHL Express", "is_removed": True}]
    for lines in ([], removed, None, "express"):
        event = _shopify_changed(
            "order_pending", "orders/create", lambda o, lines=lines: o.update(shipping_lines=lines)
        )
        assert "expedited_shipping" not in event.signals


@pytest.mark.parametrize(
    ("topic", "orders_count", "reported"),
    [
        ("orders/create", 4, 3),  # Shopify's count includes the order being created
        ("orders/create", 1, 0),
        ("orders/create", 0, 0),
        ("orders/updated", 4, None),  # later counts may include later orders
        ("orders/create", "4", None),
        ("orders/create", -2, None),
        ("orders/create", True, None),
    ],
)
def test_earlier_orders_are_counted_at_creation_only(
    topic: str, orders_count: object, reported: int | None
) -> None:
    event = _shopify_changed(
        "order_pending", topic, lambda o: o["customer"].update(orders_count=orders_count)
    )
    assert event.signals.get("customer_orders_count") == reported


@pytest.mark.parametrize(
    ("customer_created", "days"),
    [
        ("2024-03-01T08:00:00-05:00", 979),
        ("2026-11-04T21:41:10-05:00", 0),  # 23:59:59 before the order
        ("2026-11-04T21:41:09-05:00", 1),
        ("2026-11-05T21:50:00-05:00", 0),  # stamped after its own order: a new account
        ("last tuesday", None),
        (None, None),
    ],
)
def test_the_account_age_is_whole_days_before_the_order(
    customer_created: str | None, days: int | None
) -> None:
    event = _shopify_changed(
        "order_risky", "orders/create", lambda o: o["customer"].update(created_at=customer_created)
    )
    assert event.signals.get("customer_age_days") == days


def test_the_browser_ip_falls_back_to_the_order_level_field() -> None:
    event = _shopify_changed(
        "order_risky", "orders/create", lambda o: o.update(client_details=None)
    )
    assert event.signals["browser_ip"] == "198.51.100.201"
    event = _shopify_changed(
        "order_risky", "orders/create", lambda o: o.update(client_details=None, browser_ip=None)
    )
    assert "browser_ip" not in event.signals


def test_a_name_is_built_from_first_and_last_when_the_address_has_none() -> None:
    def change(order: dict[str, Any]) -> None:
        order["billing_address"]["name"] = ""
        order["shipping_address"].update(name=None, first_name=None)

    event = _shopify_changed("order_risky", "orders/create", change)
    assert (event.signals["billing_name"], event.signals["shipping_name"]) == (
        "Oliver Bennett",
        "Eze",
    )


# --- Shopify risk assessments -----------------------------------------------------------------


def test_a_risk_assessment_is_an_observed_fact_about_its_order() -> None:
    event = _shopify("order_risk_assessment_changed", "orders/risk_assessment_changed")
    assert (event.fact, event.source, event.kind) == (
        Fact.OBSERVED,
        Source.SHOPIFY,
        "orders/risk_assessment_changed",
    )
    assert (event.shop, event.case_id) == (SHOP, RISKY_ID)
    assert event.occurred_at.isoformat() == "2026-11-06T02:41:40+00:00"
    assert event.snapshot is None and event.attempt is None
    assert event.signals == RISKY_ASSESSMENT


def test_a_recommendation_is_reported_when_the_assessment_has_one() -> None:
    event = _shopify_changed(
        "order_risk_assessment_changed",
        "orders/risk_assessment_changed",
        lambda a: a.update(recommendation="cancel"),
    )
    assert event.signals == {**RISKY_ASSESSMENT, "shopify_recommendation": "cancel"}


@pytest.mark.parametrize(
    ("level", "reported"),
    [
        ("pending", {}),  # still running: states nothing, so it cannot hide a known level
        ("none", {"shopify_risk_facts": RISKY_ASSESSMENT["shopify_risk_facts"]}),
        ("HIGH", {**RISKY_ASSESSMENT, "shopify_risk_level": "HIGH"}),
    ],
)
def test_levels_that_say_nothing_are_left_out(level: str, reported: dict[str, Any]) -> None:
    event = _shopify_changed(
        "order_risk_assessment_changed",
        "orders/risk_assessment_changed",
        lambda a: a.update(risk_level=level),
    )
    assert event.signals == reported
    assert Signals.from_dict(event.signals).data_quality == ()


def test_a_2024_10_assessment_names_its_order_in_the_headers() -> None:
    # The 2024-10 body (Shopify's sample) has no order id; X-Shopify-Order-Id names it.
    body = json.dumps(
        {"provider_id": None, "provider_title": None, "risk_level": "medium", "created_at": None}
    ).encode()
    event = _deliver(body, "orders/risk_assessment_changed", **{"X-Shopify-Order-Id": RISKY_ID})
    assert event.case_id == RISKY_ID
    assert event.signals == {"shopify_risk_level": "medium"}
    assert event.occurred_at.isoformat() == "2026-11-02T15:15:00+00:00"  # X-Shopify-Triggered-At


@pytest.mark.parametrize(
    ("ids", "case_id"),
    [
        ({"order_id": RISKY_ID}, RISKY_ID),
        ({"order_id": None}, RISKY_ID),  # then the GID
        ({"order_id": None, "admin_graphql_api_order_id": None}, None),
    ],
)
def test_the_order_comes_from_the_id_then_the_gid(ids: dict[str, Any], case_id: str | None) -> None:
    body = event_json("shopify/order_risk_assessment_changed.json")
    body.update(ids)
    raw = json.dumps(body).encode()
    if case_id is None:
        with pytest.raises(MalformedWebhook, match="order_id is missing"):
            _deliver(raw, "orders/risk_assessment_changed")
    else:
        assert _deliver(raw, "orders/risk_assessment_changed").case_id == case_id


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({"order_id": "abc"}, "order_id must be a positive integer"),
        ({"order_id": -7}, "order_id must be a positive integer"),
        (
            {"order_id": None, "admin_graphql_api_order_id": "gid://shopify/Order/x1"},
            "not an order GID",
        ),
    ],
)
def test_an_unreadable_order_id_is_refused_naming_the_field(
    ids: dict[str, Any], message: str
) -> None:
    body = event_json("shopify/order_risk_assessment_changed.json")
    body.update(ids)
    with pytest.raises(MalformedWebhook, match=message):
        _deliver(json.dumps(body).encode(), "orders/risk_assessment_changed")


# --- Stripe -----------------------------------------------------------------------------------


def test_a_declined_charge_reports_radar_the_card_and_the_billing_details() -> None:
    event = _stripe("charge.failed")
    assert event.signals == DECLINED_CHARGE
    assert event.attempt.card_fingerprint == "Xt4Gk2LmQ9pR7vWz"


def test_the_risky_charge_reports_elevated_risk_a_failed_cvc_and_a_foreign_card() -> None:
    event = _stripe("charge.failed.elevated_risk")
    assert event.signals == RISKY_CHARGE
    assert event.attempt.card_fingerprint == "Rb7Zq1NwE5xKc2Tf"
    assert event.fact is Fact.PAYMENT_FAILED


def test_a_failed_payment_intent_reports_its_payment_method_and_shipping() -> None:
    event = _stripe("payment_intent.payment_failed")
    assert event.signals == {
        "avs_line1_check": "pass",
        "avs_postcode_check": "pass",
        "cvc_check": "pass",
        "card_country": "US",
        "card_funding": "credit",
        "billing_country": "US",
        "billing_postcode": "97210",
        "billing_name": "Daniel Okafor",
        "shipping_country": "US",
        "shipping_postcode": "97210",
        "shipping_name": "Daniel Okafor",
    }
    assert event.attempt.card_fingerprint == "Xt4Gk2LmQ9pR7vWz"


def test_an_expanded_latest_charge_adds_radar_and_its_own_checks_win() -> None:
    charge = event_json("stripe/charge.failed.elevated_risk.json")["data"]["object"]
    event = _stripe_changed(
        "payment_intent.payment_failed", lambda pi: pi.update(latest_charge=charge)
    )
    assert event.signals == {
        **RISKY_CHARGE,
        "shipping_country": "US",
        "shipping_postcode": "97210",
        "shipping_name": "Daniel Okafor",
    }
    assert event.attempt.card_fingerprint == "Rb7Zq1NwE5xKc2Tf"


def test_a_succeeded_payment_intent_without_expanded_objects_reports_its_shipping_only() -> None:
    event = _stripe("payment_intent.succeeded")
    assert event.signals == {
        "shipping_country": "US",
        "shipping_postcode": "97210",
        "shipping_name": "Daniel Okafor",
    }
    assert event.attempt.card_fingerprint is None


def test_a_checkout_session_reports_its_customer_as_billing_details() -> None:
    event = _stripe("checkout.session.async_payment_failed")
    assert event.signals == {
        "billing_country": "DE",
        "billing_postcode": "10119",
        "billing_name": "Katrin Vogel",
    }


def test_disputes_warnings_and_invoices() -> None:
    assert _stripe("charge.dispute.created").signals == {"dispute_reason": "fraudulent"}
    assert _stripe("radar.early_fraud_warning.created").signals == {"early_fraud_warning": True}
    assert _stripe("invoice.payment_failed").signals == {}
    assert _stripe("invoice.paid").signals == {}


def test_an_unassessed_charge_states_no_risk_level() -> None:
    def unassessed(charge: dict[str, Any]) -> None:
        charge["outcome"].update(risk_level="not_assessed", risk_score=None)
        charge["payment_method_details"]["card"]["funding"] = "unknown"

    event = _stripe_changed("charge.failed", unassessed)
    assert not {"stripe_risk_level", "stripe_risk_score", "card_funding"} & set(event.signals)


# --- every payload ----------------------------------------------------------------------------


def test_signals_survive_the_queue() -> None:
    for event in _all_payload_events():
        wire = json.dumps(event.to_dict(), allow_nan=False)
        back = DomainEvent.from_dict(json.loads(wire))
        assert back.signals == event.signals
        assert back.attempt == event.attempt
        assert back.snapshot == event.snapshot  # line items keep their variant ids


def test_signals_of_good_payloads_are_read_without_notes() -> None:
    for event in _all_payload_events():
        signals = Signals(**event.signals)
        assert signals.data_quality == (), event.kind
        # every value reported is one Signals knows: nothing reported says "unknown"
        assert signals.known() == frozenset(event.signals), event.kind


def test_the_case_keeps_what_the_order_and_its_assessment_reported() -> None:
    order = _shopify("order_risky", "orders/create")
    assessment = _shopify("order_risk_assessment_changed", "orders/risk_assessment_changed")
    case = new_case(SHOP, RISKY_ID)
    for event in (assessment, order):  # whatever the order of delivery
        case = apply(case, event).case
    assert case.signal_values() == {**RISKY_ORDER, **RISKY_ASSESSMENT}


# --- odd payloads -----------------------------------------------------------------------------


def _drop_addresses(order: dict[str, Any]) -> None:
    order.update(billing_address=None, shipping_address=None)


def _odd_countries(order: dict[str, Any]) -> None:
    order["billing_address"]["country_code"] = "USA"
    order["shipping_address"]["country_code"] = {"code": "NG"}


def _odd_types(order: dict[str, Any]) -> None:
    order["billing_address"]["zip"] = 10119
    order["client_details"] = {"browser_ip": "not an ip"}
    order["customer"] = "a string"
    order["total_price"] = "lots"
    order["line_items"][0]["variant_id"] = "abc"


def _huge_name(order: dict[str, Any]) -> None:
    order["billing_address"]["name"] = "x" * 5000


ODD_ORDERS: list[tuple[Callable[[dict[str, Any]], None], dict[str, Any], list[str]]] = [
    (
        _drop_addresses,
        {
            "customer_age_days": 0,
            "browser_ip": "198.51.100.201",
            "order_total": {"minor": 608600, "currency": "USD"},
            "expedited_shipping": True,
        },
        [],
    ),
    (
        _odd_countries,
        {
            k: v
            for k, v in {**RISKY_ORDER, "billing_country": "USA"}.items()
            if k != "shipping_country"
        },
        ["billing_country: 'USA' is not an ISO 3166-1 alpha-2 country code; treated as unknown"],
    ),
    (
        _odd_types,
        {
            **{
                k: v
                for k, v in RISKY_ORDER.items()
                if k not in ("customer_age_days", "order_total")
            },
            "billing_postcode": 10119,
            "browser_ip": "not an ip",
        },
        [
            "billing_postcode: expected text, got 10119; treated as unknown",
            "browser_ip: 'not an ip' is not an IP address; treated as unknown",
        ],
    ),
    # Too long to be a name: the first and last names are used instead.
    (_huge_name, RISKY_ORDER, []),
]


@pytest.mark.parametrize(("change", "reported", "notes"), ODD_ORDERS)
def test_an_odd_order_reports_less_and_still_normalises(
    change: Callable[[dict[str, Any]], None], reported: dict[str, Any], notes: list[str]
) -> None:
    event = _shopify_changed("order_risky", "orders/create", change)
    assert event.fact is Fact.UNPAID
    assert event.signals == reported
    assert list(Signals(**event.signals).data_quality) == notes
    json.dumps(event.to_dict(), allow_nan=False)


def test_an_odd_line_item_variant_is_left_out() -> None:
    event = _shopify_changed("order_risky", "orders/create", _odd_types)
    assert event.snapshot.line_items[0].variant_id is None


def _odd_outcome(charge: dict[str, Any]) -> None:
    charge["outcome"]["risk_score"] = "abc"
    charge["outcome"]["risk_level"] = ["elevated"]
    charge["billing_details"]["address"]["country"] = "USA"


def _no_details(charge: dict[str, Any]) -> None:
    charge.update(outcome=None, payment_method_details=None, billing_details="Oliver")


def _odd_card(charge: dict[str, Any]) -> None:
    card = charge["payment_method_details"]["card"]
    card.update(checks=["fail"], country=None, funding="gift", fingerprint={"id": 1})


ODD_CHARGES: list[tuple[Callable[[dict[str, Any]], None], dict[str, Any], list[str]]] = [
    (
        _odd_outcome,
        {
            **{k: v for k, v in RISKY_CHARGE.items() if k != "stripe_risk_level"},
            "stripe_risk_score": "abc",
            "billing_country": "USA",
        },
        [
            "stripe_risk_score: expected a number, got 'abc'; treated as unknown",
            "billing_country: 'USA' is not an ISO 3166-1 alpha-2 country code; treated as unknown",
        ],
    ),
    (_no_details, {}, []),
    (
        _odd_card,
        {
            k: v
            for k, v in {**RISKY_CHARGE, "card_funding": "gift"}.items()
            if k not in ("avs_line1_check", "avs_postcode_check", "cvc_check", "card_country")
        },
        ["card_funding: 'gift' is not one of credit, debit, prepaid; treated as unknown"],
    ),
]


@pytest.mark.parametrize(("change", "reported", "notes"), ODD_CHARGES)
def test_an_odd_charge_reports_less_and_still_normalises(
    change: Callable[[dict[str, Any]], None], reported: dict[str, Any], notes: list[str]
) -> None:
    event = _stripe_changed("charge.failed.elevated_risk", change)
    assert event.fact is Fact.PAYMENT_FAILED
    assert event.signals == reported
    assert sorted(Signals(**event.signals).data_quality) == sorted(notes)
    json.dumps(event.to_dict(), allow_nan=False)


def test_a_non_finite_risk_score_is_left_out() -> None:
    body = event_bytes("stripe/charge.failed.elevated_risk.json")
    body = body.replace(b'"risk_score": 71', b'"risk_score": NaN', 1)
    event = _stripe_body(body)
    assert "stripe_risk_score" not in event.signals
    json.dumps(event.to_dict(), allow_nan=False)


def test_an_odd_fingerprint_is_not_a_card() -> None:
    event = _stripe_changed("charge.failed.elevated_risk", _odd_card)
    assert event.attempt.card_fingerprint is None


def test_odd_risk_facts_keep_the_readable_negative_ones() -> None:
    facts = [
        "a bare string",
        {"description": 42, "sentiment": "negative"},
        {"description": "Shipping to a freight forwarder", "sentiment": "NEGATIVE"},
        {"description": "  ", "sentiment": "negative"},
        {"description": "Long " + "y" * 400, "sentiment": "negative"},
    ]
    event = _shopify_changed(
        "order_risk_assessment_changed",
        "orders/risk_assessment_changed",
        lambda a: a.update(facts=copy.deepcopy(facts)),
    )
    reported = event.signals["shopify_risk_facts"]
    assert reported[0] == "Shipping to a freight forwarder"
    assert reported[1].startswith("Long y") and len(reported[1]) == 300
    assert len(reported) == 2
    assert Signals(**event.signals).data_quality == ()


def test_an_assessment_with_odd_facts_or_level_still_normalises() -> None:
    event = _shopify_changed(
        "order_risk_assessment_changed",
        "orders/risk_assessment_changed",
        lambda a: a.update(facts="none", risk_level=3),
    )
    assert event.signals == {"shopify_risk_level": 3}
    assert Signals(**event.signals).data_quality == (
        "shopify_risk_level: expected text, got 3; treated as unknown",
    )
