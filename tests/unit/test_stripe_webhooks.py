"""Stripe events: signature (with the stripe library), replay window, and their meaning."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from recoup.domain.events import Fact
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook, SignatureInvalid
from recoup.integrations import stripe
from tests.conftest import event_bytes, event_json, stripe_signature

SECRET = "whsec_test_secret"


def _event(name: str) -> Any:
    return stripe.normalise(stripe.read_event(event_bytes(f"stripe/{name}.json")))


def test_a_fresh_signature_verifies() -> None:
    body = event_bytes("stripe/charge.failed.json")
    stripe.verify_signature(body, stripe_signature(body, SECRET), [SECRET])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Stripe-Signature"),
        ("t=123", "Stripe-Signature rejected"),
        ("garbage", "Stripe-Signature rejected"),
    ],
)
def test_a_missing_or_broken_header_is_refused(header: str | None, message: str) -> None:
    with pytest.raises(SignatureInvalid, match=message):
        stripe.verify_signature(event_bytes("stripe/charge.failed.json"), header, [SECRET])


def test_a_signature_older_than_the_tolerance_is_a_replay() -> None:
    body = event_bytes("stripe/charge.failed.json")
    old = stripe_signature(body, SECRET, timestamp=int(time.time()) - stripe.TOLERANCE_SECONDS - 5)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        stripe.verify_signature(body, old, [SECRET])


def test_a_signature_by_another_secret_is_refused_but_a_rotated_one_is_accepted() -> None:
    body = event_bytes("stripe/charge.failed.json")
    header = stripe_signature(body, "whsec_other")
    with pytest.raises(SignatureInvalid):
        stripe.verify_signature(body, header, [SECRET])
    stripe.verify_signature(body, header, [SECRET, "whsec_other"])


@pytest.mark.parametrize(
    ("name", "fact", "succeeded"),
    [
        ("payment_intent.payment_failed", Fact.PAYMENT_FAILED, False),
        ("charge.failed", Fact.PAYMENT_FAILED, False),
        ("invoice.payment_failed", Fact.PAYMENT_FAILED, False),
        ("checkout.session.async_payment_failed", Fact.PAYMENT_FAILED, False),
        ("payment_intent.succeeded", Fact.PAID, True),
        # A charge made by a PaymentIntent leaves the status to the PaymentIntent's event,
        # which carries the metadata (an instalment's charge must not read as paid in full).
        ("charge.succeeded", Fact.OBSERVED, True),
        ("invoice.paid", Fact.PAID, True),
    ],
)
def test_payment_events_are_attempts(name: str, fact: Fact, succeeded: bool) -> None:
    event = _event(name)
    assert event.fact is fact
    assert event.attempt.succeeded is succeeded


def test_a_linked_payment_intent_names_its_shop_and_order() -> None:
    raw = event_json("stripe/payment_intent.payment_failed.json")
    event = _event("payment_intent.payment_failed")
    assert event.shop == raw["data"]["object"]["metadata"]["shop_domain"]
    assert event.case_id == raw["data"]["object"]["metadata"]["shopify_order_id"]
    assert event.linked
    assert event.attempt.code == "insufficient_funds"
    assert event.snapshot.amount_owed == Money.of(189900, "USD")
    assert raw["data"]["object"]["id"] in event.stripe_refs


def test_a_charge_without_metadata_is_keyed_by_its_payment_intent() -> None:
    raw = event_json("stripe/charge.failed.json")["data"]["object"]
    event = _event("charge.failed")
    assert not event.linked
    assert event.shop is None
    assert event.stripe_account == "acct_1DemoElectronics"
    assert event.case_id == raw["payment_intent"]
    assert len(set(event.stripe_refs)) == len(event.stripe_refs)


def test_yen_amounts_are_not_divided_by_a_hundred() -> None:
    event = _event("jpy.payment_intent.payment_failed")
    assert event.snapshot.amount_owed == Money.of(129800, "JPY")


def test_an_invoice_owes_what_remains() -> None:
    raw = event_json("stripe/invoice.payment_failed.json")["data"]["object"]
    event = _event("invoice.payment_failed")
    assert event.snapshot.amount_owed.minor == raw["amount_remaining"]


def test_a_full_refund_cancels_and_disputes_and_warnings_flag() -> None:
    assert _event("charge.refunded").fact is Fact.CANCELLED
    dispute = _event("charge.dispute.created")
    assert (dispute.fact, dispute.extra["reason"]) == (Fact.DISPUTE_OPENED, "fraudulent")
    warning = _event("radar.early_fraud_warning.created")
    assert (warning.fact, warning.extra["fraud_type"]) == (
        Fact.FRAUD_WARNING,
        "made_with_stolen_card",
    )


def test_types_recoup_does_not_handle_are_ignored() -> None:
    assert _event("customer.created") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("id"), "id is missing"),
        (lambda e: e.update(id="ch_123"), "not a Stripe event id"),
        (lambda e: e.pop("data"), "data is missing"),
        (lambda e: e["data"].update(object="x"), "data.object has the wrong type"),
        (lambda e: e["data"]["object"].update(currency="zzz"), "unknown currency"),
        (lambda e: e["data"]["object"].update(amount=18.99), "must be an integer"),
    ],
)
def test_a_malformed_event_names_the_field(change: Any, message: str) -> None:
    raw = event_json("stripe/payment_intent.payment_failed.json")
    change(raw)
    with pytest.raises(MalformedWebhook, match=message):
        stripe.normalise(stripe.read_event(json.dumps(raw).encode()))


@pytest.mark.parametrize("method", [0, None, "pm_1Pu44a1qnqUkCJLb", [], True])
def test_a_payment_method_that_is_not_an_object_is_read_as_absent(method: Any) -> None:
    # Given a failed PaymentIntent whose error's payment method is not an object
    raw = event_json("stripe/payment_intent.payment_failed.json")
    raw["data"]["object"]["last_payment_error"]["payment_method"] = method
    # Then the event is read without its billing details, from the fields that remain
    event = stripe.normalise(stripe.read_event(json.dumps(raw).encode()))
    assert event.fact is Fact.PAYMENT_FAILED
    assert event.attempt.code == "insufficient_funds"
    customer = event.snapshot.customer
    assert customer.email == raw["data"]["object"]["receipt_email"]
    assert (customer.first_name, customer.country) == (None, None)


def _refused(name: str, change: Any) -> str:
    raw = event_json(f"stripe/{name}.json")
    change(raw)
    with pytest.raises(MalformedWebhook) as caught:
        stripe.normalise(stripe.read_event(json.dumps(raw).encode()))
    return caught.value.message


def _object(**values: Any) -> Any:
    return lambda raw: raw["data"]["object"].update(values)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        # Unix times far from now: 1970, past 2038, past what a datetime can hold.
        ("charge.failed", lambda raw: raw.update(created=0), "created is outside 2000-01-01"),
        ("charge.failed", lambda raw: raw.update(created=2**63), "created is outside"),
        ("charge.failed", lambda raw: raw.update(created=-(2**63)), "created is outside"),
        ("charge.failed", lambda raw: raw.update(created=4102444800), "created is outside"),
        # Amounts: never negative, never past 10^12 major units, never a float.
        ("charge.failed", _object(amount=-500), "data.object.amount: amount must not be negative"),
        ("charge.failed", _object(amount=10**20), "data.object.amount: amount is above"),
        ("charge.failed", _object(amount=10**400), "data.object.amount: Stripe amount"),
        ("charge.failed", _object(amount=1e308), "must be an integer"),
        ("invoice.payment_failed", _object(amount_remaining=-1), "amount_remaining: amount must"),
        ("charge.refunded", _object(amount_refunded=-100), "amount_refunded: amount must not"),
        # Ids Stripe writes: letters, digits, underscores, at most 255.
        ("charge.failed", _object(id="ch_" + "a" * 300), "data.object.id is not a Stripe id"),
        ("charge.failed", _object(id="ch_\u00e9"), "data.object.id is not a Stripe id"),
        ("charge.failed", _object(payment_intent="pi 1"), "payment_intent is not a Stripe id"),
        ("charge.failed", lambda raw: raw.update(account="acct x"), "account is not a Stripe id"),
        ("charge.failed", lambda raw: raw.update(id="evt_\u00e9"), "id is not a Stripe id"),
        ("charge.failed", lambda raw: raw.update(id="evt_" + "1" * 97), "not a Stripe event id"),
        # Routable: a charge carries no metadata, so without its account no shop is named.
        ("charge.failed", lambda raw: raw.pop("account"), "account is missing and data.object"),
        # Text: per-field limits.
        (
            "charge.failed",
            lambda raw: raw["data"]["object"]["billing_details"].update(email="e" * 300),
            "billing_details.email is longer than 254",
        ),
    ],
)
def test_absurd_values_are_refused_naming_the_field(name: str, change: Any, message: str) -> None:
    assert message in _refused(name, change)


def test_the_largest_accepted_amount_is_accepted() -> None:
    # Given a charge of exactly 10^12 dollars (Stripe's minor units: cents)
    raw = event_json("stripe/charge.failed.json")
    raw["data"]["object"]["amount"] = 10**14
    event = stripe.normalise(stripe.read_event(json.dumps(raw).encode()))
    assert event.attempt.amount == Money.of(10**14, "USD")
