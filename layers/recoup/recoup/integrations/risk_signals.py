"""The fraud signals a verified Shopify or Stripe payload states, as raw JSON-safe values.

Each reader takes one payload shape and returns `{signal name: raw value}`, names from
`recoup.domain.fraud.signals.FIELD_SPECS`. Only what the payload states is reported: an
absent, empty or non-scalar field is left out, and so is a value that `Signals` reads as
"unknown" without a note ("pending", "not_assessed", ""), so that it cannot replace a value
another delivery knew (the case keeps the newest value of each signal). Odd values ("USA",
a risk score of "abc") are passed on as sent: `Signals` cleans them and notes what was odd.
A few signals are computed here: the customer's earlier orders and account age, the order
total in minor units, and whether shipping is expedited. Nothing here raises on odd input.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from recoup.domain.fraud.signals import FIELD_SPECS, MAX_FACT_LENGTH, MAX_FACTS
from recoup.domain.money import Money, MoneyError
from recoup.integrations.payloads import optional_time

Reported = dict[str, Any]

# Longer text is no value any signal accepts; it is dropped rather than carried in the case.
_MAX_TEXT = 1000
_MAX_FINGERPRINT = 64
# A count, score or id larger than 64 bits is no signal; it is dropped like overlong text.
_MAX_INT = 2**63 - 1
# Shipping line words for express, overnight, next-day, priority or same-day delivery.
_EXPEDITED = re.compile(
    r"express|expedit|overnight|priorit|next[\s_-]*(business[\s_-]*)?day|same[\s_-]*day"
    r"|\b(one|1)[\s_-]*day\b",
    re.IGNORECASE,
)
_CARD_CHECKS = {
    "address_line1_check": "avs_line1_check",
    "address_postal_code_check": "avs_postcode_check",
    "cvc_check": "cvc_check",
}
_OUTCOME = {
    "risk_level": "stripe_risk_level",
    "risk_score": "stripe_risk_score",
    "network_status": "stripe_network_status",
    "type": "stripe_outcome_type",
    "reason": "stripe_outcome_reason",
}


# --- Shopify ----------------------------------------------------------------------------------


def shopify_order(order: dict[str, Any], topic: str) -> Reported:
    """Signals of an order topic's body (orders/create, updated, paid, cancelled)."""
    out: Reported = {}
    for prefix in ("billing", "shipping"):
        address = _object(order, f"{prefix}_address")
        _put(out, f"{prefix}_country", _scalar(address.get("country_code")))
        _put(out, f"{prefix}_postcode", _scalar(address.get("zip")))
        _put(out, f"{prefix}_name", _person(address))
    customer = _object(order, "customer")
    if topic == "orders/create":
        # Only at creation: a later topic's count may include orders placed after this one.
        _put(out, "customer_orders_count", _earlier_orders(customer.get("orders_count")))
    _put(out, "customer_age_days", _age_days(order.get("created_at"), customer.get("created_at")))
    client = _object(order, "client_details")
    _put(out, "browser_ip", _scalar(client.get("browser_ip")) or _scalar(order.get("browser_ip")))
    _put(out, "order_total", _total(order.get("total_price"), order.get("currency")))
    _put(out, "expedited_shipping", _expedited(order.get("shipping_lines")))
    return out


def shopify_risk_assessment(body: dict[str, Any]) -> Reported:
    """Signals of an orders/risk_assessment_changed body: the level, a recommendation if
    one is given, and the descriptions of the facts with a negative sentiment."""
    out: Reported = {}
    level = _scalar(body.get("risk_level"))
    if isinstance(level, str) and level.strip().lower() == "pending":
        return out  # the assessment is still running: it states nothing yet
    _put(out, "shopify_risk_level", level)
    _put(out, "shopify_recommendation", _scalar(body.get("recommendation")))
    facts = body.get("facts")
    if isinstance(facts, list):
        _put(out, "shopify_risk_facts", _negative_facts(facts))
    return out


def _person(address: dict[str, Any]) -> str | None:
    name = _text(address.get("name"))
    if name:
        return name
    parts = [_text(address.get(key)) for key in ("first_name", "last_name")]
    return " ".join(part for part in parts if part) or None


def _earlier_orders(count: Any) -> int | None:
    """Shopify's `orders_count` at orders/create includes the order being created."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _MAX_INT:
        return None
    return max(count - 1, 0)


def _age_days(order_created: Any, customer_created: Any) -> int | None:
    ordered, joined = optional_time(order_created), optional_time(customer_created)
    if ordered is None or joined is None:
        return None
    # An account stamped after its own order (clock skew, imports) is a new account.
    return max((ordered - joined) // timedelta(days=1), 0)


def _total(amount: Any, currency: Any) -> dict[str, Any] | None:
    if not isinstance(currency, str) or not isinstance(amount, str | int):
        return None
    try:
        return Money.parse(amount, currency).to_dict()
    except MoneyError:
        return None


def _expedited(lines: Any) -> bool | None:
    """True if a shipping line is expedited, False if none is, None without shipping lines."""
    if not isinstance(lines, list):
        return None
    kept = [line for line in lines if isinstance(line, dict) and line.get("is_removed") is not True]
    if not kept:
        return None
    return any(
        isinstance(text, str) and _EXPEDITED.search(text[:_MAX_TEXT]) is not None
        for line in kept
        for text in (line.get("code"), line.get("title"), line.get("delivery_category"))
    )


def _negative_facts(facts: list[Any]) -> list[str]:
    described: list[str] = []
    for fact in facts:
        if not isinstance(fact, dict):
            continue
        sentiment, description = fact.get("sentiment"), _text(fact.get("description"))
        if isinstance(sentiment, str) and sentiment.strip().lower() == "negative" and description:
            described.append(description[:MAX_FACT_LENGTH])
    return described[:MAX_FACTS]


# --- Stripe -----------------------------------------------------------------------------------


def stripe_object(kind: str, obj: dict[str, Any]) -> Reported:
    """Signals of a Stripe event's `data.object`: Radar's outcome, the card, the billing and
    shipping details of a charge, a PaymentIntent's payment method and (expanded) latest
    charge, a Checkout Session's customer; a dispute's reason; an early fraud warning."""
    out: Reported = {}
    if kind == "radar.early_fraud_warning.created":
        out["early_fraud_warning"] = True
        return out
    if kind == "charge.dispute.created":
        _put(out, "dispute_reason", _scalar(obj.get("reason")))
        return out
    if obj.get("object") == "checkout.session":
        _details(out, "billing", obj.get("customer_details"))
        _details(out, "shipping", obj.get("shipping_details"))
    _details(out, "shipping", obj.get("shipping"))
    # The payment method first: the charge's own checks, made for this payment, win.
    method = _payment_method(obj)
    if method is not None:
        _card(out, method.get("card"))
        _details(out, "billing", method.get("billing_details"))
    charge = _charge(obj)
    if charge is not None:
        outcome = _object(charge, "outcome")
        for field, name in _OUTCOME.items():
            _put(out, name, _scalar(outcome.get(field)))
        _card(out, _object(charge, "payment_method_details").get("card"))
        _details(out, "billing", charge.get("billing_details"))
    return out


def card_fingerprint(obj: dict[str, Any]) -> str | None:
    """The fingerprint of the card a Stripe charge or PaymentIntent used, when it is sent."""
    charge = _charge(obj)
    if charge is not None:
        card = _object(_object(charge, "payment_method_details"), "card")
        found = _fingerprint(card.get("fingerprint"))
        if found:
            return found
    method = _payment_method(obj)
    if method is not None:
        return _fingerprint(_object(method, "card").get("fingerprint"))
    return None


def _charge(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The charge itself, or the one an object names when Stripe sent it expanded."""
    if obj.get("object") == "charge":
        return obj
    for key in ("latest_charge", "charge"):
        value = obj.get(key)
        if isinstance(value, dict) and value.get("object") == "charge":
            return value
    return None


def _payment_method(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A PaymentIntent's payment method object: the failed one, or an expanded one."""
    for holder in (_object(obj, "last_payment_error"), obj):
        method = holder.get("payment_method")
        if isinstance(method, dict):
            return method
    return None


def _card(out: Reported, card: Any) -> None:
    if not isinstance(card, dict):
        return
    checks = _object(card, "checks")
    for field, name in _CARD_CHECKS.items():
        _put(out, name, _scalar(checks.get(field)))
    _put(out, "card_country", _scalar(card.get("country")))
    _put(out, "card_funding", _scalar(card.get("funding")))


def _details(out: Reported, prefix: str, details: Any) -> None:
    """Stripe's `{name, address: {country, postal_code}}` (billing or shipping details)."""
    if not isinstance(details, dict):
        return
    address = _object(details, "address")
    _put(out, f"{prefix}_country", _scalar(address.get("country")))
    _put(out, f"{prefix}_postcode", _scalar(address.get("postal_code")))
    _put(out, f"{prefix}_name", _text(details.get("name")))


def _fingerprint(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value.strip()) <= _MAX_FINGERPRINT:
        return value.strip()
    return None


# --- values -----------------------------------------------------------------------------------


def _put(out: Reported, name: str, value: Any) -> None:
    """Report `value` for `name`, unless it is missing or says nothing."""
    if value is None:
        return
    try:
        # "", "none", "not_assessed", "unknown": the payload does not know.
        says_nothing = FIELD_SPECS[name].clean(value) is None
    except Exception:  # noqa: BLE001 - an odd value is kept: Signals notes it when scoring
        says_nothing = False
    if not says_nothing:
        out[name] = value


def _scalar(value: Any) -> str | int | float | bool | None:
    """A JSON scalar as sent (text not too long, numbers finite), else None."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_INT else None
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_TEXT:
        return value.strip()
    return None


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


__all__ = ["card_fingerprint", "shopify_order", "shopify_risk_assessment", "stripe_object"]
