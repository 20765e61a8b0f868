"""The rules every shop starts with, as data, and the thresholds that turn a score into a level.

Weights and thresholds were tuned on the labelled set in `tests/data/fraud/` (how it was made,
and the precision and recall they reach, are in its README). A shop can change any weight,
switch rules off and move the thresholds (`recoup.domain.fraud.score.ShopFraudSettings`),
except for the hard overrides in `LOCKED_RULES`: an issuer's early fraud warning, a dispute
for fraud, and a decline that says the card is stolen, lost or fraudulent always mean "high".

Nothing here judges a country: rules compare the order's own countries with each other.
"""

from __future__ import annotations

from typing import Any

from recoup.domain.fraud.rules import Rule, parse_rule

REVIEW_AT = 40  # score at or above: reminders held for the merchant's decision
HIGH_AT = 70  # score at or above: flagged as fraud, no reminders
# Below this share of known rule inputs a "low" result means too little was known to say
# so: the case is "unscored" and held for review instead.
MIN_CONFIDENCE = 0.25

# dispute_reason when the worker knows no dispute was opened (unknown is None).
NO_DISPUTE = "none"

FRAUD_DECLINE_CODES = ("stolen_card", "lost_card", "fraudulent", "pickup_card")

# Money thresholds for "a high-value order", per currency; a currency not listed leaves the
# rule undecided (and noted), never wrong.
HIGH_VALUE_ORDER = {
    "USD": "1500.00",
    "EUR": "1400.00",
    "GBP": "1200.00",
    "CAD": "2000.00",
    "AUD": "2300.00",
    "NZD": "2500.00",
    "CHF": "1400.00",
    "SEK": "16000.00",
    "NOK": "16000.00",
    "DKK": "10500.00",
    "PLN": "6000.00",
    "JPY": "220000",
    "SGD": "2000.00",
    "HKD": "11500.00",
    "INR": "125000.00",
    "MXN": "26000.00",
    "BRL": "8000.00",
}

# What a new shop counts as high-value electronics until it sets its own list.
HIGH_VALUE_PRODUCT_TYPES = (
    "Phones",
    "Mobile Phones",
    "Smartphones",
    "Laptops",
    "Notebooks",
    "Tablets",
    "Graphics Cards",
    "GPUs",
    "Cameras",
    "Game Consoles",
    "Smartwatches",
    "Drones",
)
HIGH_VALUE_TAGS = ("high-value",)


def _cmp(signal: str, op: str, value: Any = None, *, other: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"signal": signal, "op": op}
    if value is not None:
        out["value"] = value
    if other is not None:
        out["other"] = other
    return out


def _unknown_or(signal: str, op: str, value: Any) -> dict[str, Any]:
    """True when the signal is unknown or passes the test: "not (known and the opposite)"."""
    return {"any": [_cmp(signal, "missing"), _cmp(signal, op, value)]}


DEFAULT_RULE_DATA: tuple[dict[str, Any], ...] = (
    # --- hard overrides: level high whatever the score ------------------------------------
    {
        "name": "early_fraud_warning",
        "description": "Stripe sent radar.early_fraud_warning.created for the order's charge.",
        "weight": 100,
        "when": _cmp("early_fraud_warning", "is_true"),
        "reason": "the card issuer sent an early fraud warning",
        "forces": "high",
    },
    {
        "name": "fraud_dispute",
        "description": "charge.dispute.created with reason 'fraudulent'.",
        "weight": 100,
        "when": _cmp("dispute_reason", "eq", "fraudulent"),
        "reason": "the cardholder's bank opened a dispute for fraud",
        "forces": "high",
    },
    {
        "name": "fraud_decline_code",
        "description": "A payment was declined with a code that means fraud.",
        "weight": 80,
        "when": _cmp("decline_codes", "any_in", list(FRAUD_DECLINE_CODES)),
        "reason": "a payment was declined as stolen, lost or fraudulent (codes: {decline_codes})",
        "forces": "high",
    },
    # --- what the platforms already computed ----------------------------------------------
    {
        "name": "shopify_high_risk",
        "description": "Shopify's risk analysis recommends cancelling, or rates the risk high.",
        "weight": 45,
        "when": {
            "any": [
                _cmp("shopify_recommendation", "eq", "cancel"),
                _cmp("shopify_risk_level", "eq", "high"),
            ]
        },
        "reason": "Shopify rates the order high risk and recommends cancelling it "
        "(facts: {shopify_risk_facts})",
    },
    {
        "name": "shopify_investigate",
        "description": "Shopify's risk analysis recommends investigating the order.",
        "weight": 20,
        "when": {
            "all": [
                _cmp("shopify_recommendation", "eq", "investigate"),
                _unknown_or("shopify_risk_level", "ne", "high"),
            ]
        },
        "reason": "Shopify recommends investigating the order (facts: {shopify_risk_facts})",
    },
    {
        "name": "stripe_risk_highest",
        "description": "Radar's risk level is 'highest', or its score is 75 or more.",
        "weight": 45,
        "when": {
            "any": [
                _cmp("stripe_risk_level", "eq", "highest"),
                _cmp("stripe_risk_score", "gte", 75),
            ]
        },
        "reason": "Stripe Radar rates the payment {stripe_risk_level} risk "
        "(score {stripe_risk_score})",
    },
    {
        "name": "stripe_risk_elevated",
        "description": "Radar's risk level is 'elevated', or its score is 65 to 74.",
        "weight": 25,
        "when": {
            "all": [
                # not already stripe_risk_highest (an unknown half does not block it)
                _unknown_or("stripe_risk_level", "ne", "highest"),
                _unknown_or("stripe_risk_score", "lt", 75),
                {
                    "any": [
                        _cmp("stripe_risk_level", "eq", "elevated"),
                        _cmp("stripe_risk_score", "gte", 65),
                    ]
                },
            ]
        },
        "reason": "Stripe Radar rates the payment {stripe_risk_level} risk "
        "(score {stripe_risk_score})",
    },
    {
        "name": "stripe_blocked",
        "description": "Radar blocked a payment, or placed it in manual review.",
        "weight": 25,
        "when": _cmp("stripe_outcome_type", "in", ["blocked", "manual_review"]),
        "reason": "Stripe's outcome for the payment was {stripe_outcome_type} "
        "(reason: {stripe_outcome_reason})",
    },
    {
        "name": "payment_reversed",
        "description": "The card network reversed an approved payment.",
        "weight": 20,
        "when": _cmp("stripe_network_status", "eq", "reversed_after_approval"),
        "reason": "the card network reversed the payment after approving it",
    },
    {
        "name": "other_dispute",
        "description": "A dispute for a reason other than fraud: no reminders while the bank "
        "and the merchant settle it, so the case goes to review.",
        "weight": 25,
        "forces": "review",
        "when": {
            "all": [
                _cmp("dispute_reason", "present"),
                {"not": _cmp("dispute_reason", "in", ["fraudulent", NO_DISPUTE])},
            ]
        },
        "reason": "the cardholder's bank opened a dispute (reason: {dispute_reason})",
    },
    # --- card checks ---------------------------------------------------------------------
    {
        "name": "cvc_failed",
        "description": "The card's CVC check failed.",
        "weight": 25,
        "when": _cmp("cvc_check", "eq", "fail"),
        "reason": "the card's CVC check failed",
    },
    {
        "name": "avs_failed",
        "description": "The card's street or postcode check failed.",
        "weight": 10,
        "when": {
            "any": [_cmp("avs_line1_check", "eq", "fail"), _cmp("avs_postcode_check", "eq", "fail")]
        },
        "reason": "the card's address check failed (street: {avs_line1_check}, "
        "postcode: {avs_postcode_check})",
    },
    {
        "name": "avs_both_failed",
        "description": "Both the street and the postcode checks failed (adds to avs_failed).",
        "weight": 10,
        "when": {
            "all": [_cmp("avs_line1_check", "eq", "fail"), _cmp("avs_postcode_check", "eq", "fail")]
        },
        "reason": "both the street and the postcode of the billing address failed the card check",
    },
    {
        "name": "prepaid_card",
        "description": "The card is prepaid.",
        "weight": 10,
        "when": _cmp("card_funding", "eq", "prepaid"),
        "reason": "the card is a prepaid card",
    },
    # --- countries and addresses ---------------------------------------------------------
    {
        "name": "card_country_vs_ip",
        "description": "The card's issuing country is not the browser IP's country.",
        "weight": 20,
        "when": _cmp("card_country", "ne", other="browser_ip_country"),
        "reason": "card country {card_country} differs from IP country {browser_ip_country}",
    },
    {
        "name": "card_country_vs_billing",
        "description": "The card's issuing country is not the billing address's country.",
        "weight": 15,
        "when": _cmp("card_country", "ne", other="billing_country"),
        "reason": "card country {card_country} differs from billing country {billing_country}",
    },
    {
        "name": "billing_vs_shipping_country",
        "description": "The order ships to another country than the billing address.",
        "weight": 15,
        "when": _cmp("billing_country", "ne", other="shipping_country"),
        "reason": "billing country {billing_country} differs from shipping country "
        "{shipping_country}",
    },
    {
        "name": "billing_vs_shipping_postcode",
        "description": "Same country, another postcode (often a gift; weak on its own).",
        "weight": 5,
        "when": {
            "all": [
                _cmp("billing_country", "eq", other="shipping_country"),
                _cmp("billing_postcode", "ne", other="shipping_postcode"),
            ]
        },
        "reason": "billing postcode {billing_postcode} differs from shipping postcode "
        "{shipping_postcode}",
    },
    {
        "name": "billing_vs_shipping_name",
        "description": "The billing and shipping names differ (often a gift; weak on its own).",
        "weight": 5,
        "when": _cmp("billing_name", "ne", other="shipping_name"),
        "reason": "the billing name differs from the shipping name",
    },
    {
        "name": "forwarder_address",
        "description": "The order ships to a parcel forwarder or reshipper.",
        "weight": 20,
        "when": _cmp("shipping_is_forwarder", "is_true"),
        "reason": "the order ships to a parcel forwarder or reshipper address",
    },
    {
        "name": "proxy_ip",
        "description": "The order was placed through a proxy, VPN or Tor.",
        "weight": 20,
        "when": _cmp("ip_is_proxy", "is_true"),
        "reason": "the order was placed through a proxy or anonymising network (IP {browser_ip})",
    },
    # --- the customer --------------------------------------------------------------------
    {
        "name": "new_customer",
        "description": "No earlier orders and an account at most a day old (or a guest).",
        "weight": 10,
        "when": {
            "all": [
                _cmp("customer_orders_count", "eq", 0),
                {
                    "any": [
                        _cmp("customer_age_days", "lte", 1),
                        _cmp("customer_age_days", "missing"),
                    ]
                },
            ]
        },
        "reason": "a new customer with no earlier orders",
    },
    {
        "name": "returning_customer",
        "description": "Three or more earlier orders over at least six months (lowers the score).",
        "weight": -15,
        "when": {
            "all": [
                _cmp("customer_orders_count", "gte", 3),
                _cmp("customer_age_days", "gte", 180),
            ]
        },
        "reason": "a returning customer: {customer_orders_count} earlier orders, account "
        "{customer_age_days} days old",
    },
    {
        "name": "card_checks_passed",
        "description": "CVC, street and postcode checks passed and Radar's risk is normal "
        "(lowers the score).",
        "weight": -10,
        "when": {
            "all": [
                _cmp("cvc_check", "eq", "pass"),
                _cmp("avs_line1_check", "eq", "pass"),
                _cmp("avs_postcode_check", "eq", "pass"),
                _cmp("stripe_risk_level", "eq", "normal"),
            ]
        },
        "reason": "the card's CVC, street and postcode checks passed and Stripe rates the "
        "risk normal",
    },
    # --- what is bought and how it ships --------------------------------------------------
    {
        "name": "high_value_order",
        "description": "The order's total is at or above the high-value threshold.",
        "weight": 10,
        "when": _cmp("order_total", "gte", HIGH_VALUE_ORDER),
        "reason": "a high-value order ({order_total})",
    },
    {
        "name": "bulk_high_value_item",
        "description": "Three or more of the same high-value item (resale pattern).",
        "weight": 25,
        "when": _cmp("max_quantity_same_high_value_item", "gte", 3),
        "reason": "{max_quantity_same_high_value_item} units of the same high-value item",
    },
    {
        "name": "expedited_high_value",
        "description": "Express or overnight shipping on high-value items.",
        "weight": 10,
        "when": {
            "all": [_cmp("expedited_shipping", "is_true"), _cmp("high_value_items", "gte", 1)]
        },
        "reason": "expedited shipping on {high_value_items} high-value item(s)",
    },
    # --- velocity across the shop's cases -------------------------------------------------
    {
        "name": "card_testing",
        "description": "Three or more different cards tried by one customer in 24 hours.",
        "weight": 35,
        "when": _cmp("distinct_cards_24h", "gte", 3),
        "reason": "{distinct_cards_24h} different cards tried in 24 hours (card testing)",
    },
    {
        "name": "failed_payments_burst",
        "description": "Three or more failed payments in an hour by email, card or IP.",
        "weight": 25,
        "when": {
            "any": [
                _cmp("failed_payments_email_1h", "gte", 3),
                _cmp("failed_payments_card_1h", "gte", 3),
                _cmp("failed_payments_ip_1h", "gte", 3),
            ]
        },
        "reason": "repeated failed payments within an hour (email {failed_payments_email_1h}, "
        "card {failed_payments_card_1h}, IP {failed_payments_ip_1h})",
    },
    {
        "name": "failed_payments_day",
        "description": "Six or more failed payments in a day by email, card or IP.",
        "weight": 15,
        "when": {
            "any": [
                _cmp("failed_payments_email_24h", "gte", 6),
                _cmp("failed_payments_card_24h", "gte", 6),
                _cmp("failed_payments_ip_24h", "gte", 6),
            ]
        },
        "reason": "many failed payments within a day (email {failed_payments_email_24h}, "
        "card {failed_payments_card_24h}, IP {failed_payments_ip_24h})",
    },
    {
        "name": "shared_shipping_address",
        "description": "Two or more other customers ship to the same address.",
        "weight": 20,
        "when": _cmp("accounts_sharing_shipping_address", "gte", 2),
        "reason": "{accounts_sharing_shipping_address} other customers ship to this address",
    },
    # --- the email -----------------------------------------------------------------------
    {
        "name": "invalid_email",
        "description": "The email address is not syntactically valid.",
        "weight": 15,
        "when": _cmp("email_valid", "eq", False),
        "reason": "the email address is not valid",
    },
    {
        "name": "disposable_email",
        "description": "The email address is at a disposable-email domain.",
        "weight": 25,
        "when": _cmp("email_disposable", "is_true"),
        "reason": "the email address uses a disposable domain ({email_domain})",
    },
)

DEFAULT_RULES: tuple[Rule, ...] = tuple(
    parse_rule(data, f"defaults[{i}]") for i, data in enumerate(DEFAULT_RULE_DATA)
)

# Hard overrides: a shop cannot switch these off or replace them.
LOCKED_RULES = frozenset({"early_fraud_warning", "fraud_dispute", "fraud_decline_code"})

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_RULE_DATA",
    "FRAUD_DECLINE_CODES",
    "HIGH_AT",
    "HIGH_VALUE_ORDER",
    "HIGH_VALUE_PRODUCT_TYPES",
    "HIGH_VALUE_TAGS",
    "LOCKED_RULES",
    "MIN_CONFIDENCE",
    "NO_DISPUTE",
    "REVIEW_AT",
]
