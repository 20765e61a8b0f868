"""Fraud rules: operators, every default rule and its reason, hard overrides, shop settings,
refusals naming the field, odd and missing signals, and determinism."""

from __future__ import annotations

import copy
import json
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoup.domain.fraud import (
    DEFAULT_RULES,
    DEFAULT_SETTINGS,
    LOCKED_RULES,
    FraudAction,
    FraudLevel,
    FraudResult,
    FraudSettingsError,
    HighValueCatalogue,
    Item,
    Reason,
    ScoredAt,
    ShopFraudSettings,
    Signals,
    check_email,
    email_checks,
    parse_rule,
    parse_settings,
    record_score,
    rule_to_dict,
    score,
    settings_to_dict,
    unscored,
)
from recoup.domain.fraud.defaults import DEFAULT_RULE_DATA, FRAUD_DECLINE_CODES, HIGH_AT, REVIEW_AT
from recoup.domain.fraud.rules import AllOf, AnyOf, Compare, Not, Op, evaluate
from recoup.domain.fraud.signals import FIELD_SPECS, Kind, signal_values
from recoup.domain.money import Money

# A customer about whom everything is known and nothing is odd: no default rule fires.
# (AVS "unchecked" keeps card_checks_passed, a score-lowering rule, from firing too.)
NEUTRAL: dict[str, Any] = {
    "shopify_recommendation": "accept",
    "shopify_risk_level": "low",
    "shopify_risk_facts": [],
    "billing_country": "US",
    "shipping_country": "US",
    "billing_postcode": "97210",
    "shipping_postcode": "97210",
    "billing_name": "Daniel Okafor",
    "shipping_name": "Daniel Okafor",
    "shipping_is_forwarder": False,
    "customer_orders_count": 1,
    "customer_age_days": 100,
    "browser_ip": "203.0.113.42",
    "browser_ip_country": "US",
    "ip_is_proxy": False,
    "order_total": {"minor": 129900, "currency": "USD"},
    "high_value_items": 1,
    "max_quantity_same_high_value_item": 1,
    "expedited_shipping": False,
    "stripe_risk_level": "normal",
    "stripe_risk_score": 32,
    "stripe_network_status": "declined_by_network",
    "stripe_outcome_type": "issuer_declined",
    "stripe_outcome_reason": "insufficient_funds",
    "avs_line1_check": "unchecked",
    "avs_postcode_check": "unchecked",
    "cvc_check": "pass",
    "card_country": "US",
    "card_funding": "credit",
    "early_fraud_warning": False,
    "dispute_reason": "none",  # known: no dispute
    "decline_codes": ["insufficient_funds"],
    "failed_payments_email_1h": 1,
    "failed_payments_email_24h": 1,
    "failed_payments_card_1h": 1,
    "failed_payments_card_24h": 1,
    "failed_payments_ip_1h": 1,
    "failed_payments_ip_24h": 1,
    "distinct_cards_24h": 1,
    "accounts_sharing_shipping_address": 0,
    "email": "daniel.okafor@example.com",
}


def _signals(**changes: Any) -> Signals:
    data = copy.deepcopy(NEUTRAL)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return Signals.from_dict(data)


def _reasons(result: FraudResult) -> dict[str, Reason]:
    return {reason.rule: reason for reason in result.reasons}


def _rule_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "ships_to_gb",
        "weight": 30,
        "when": {"signal": "shipping_country", "op": "eq", "value": "GB"},
        "reason": "ships to {shipping_country}",
    }
    data.update(changes)
    return data


# --- the baseline -----------------------------------------------------------------------------


def test_the_neutral_customer_fires_no_rule_and_is_low_with_full_confidence() -> None:
    # Given a customer about whom everything is known and nothing is odd
    # When scored with the defaults
    result = score(_signals())
    # Then nothing fires, the level is low, and every rule input was known
    assert result.reasons == ()
    assert (result.score, result.level, result.action) == (0, FraudLevel.LOW, FraudAction.REMIND)
    assert result.confidence == 1.0
    assert result.notes == ()


# --- operators --------------------------------------------------------------------------------


def _eval(condition: dict[str, Any], **changes: Any) -> bool | None:
    from recoup.domain.fraud.rules import parse_condition

    values, _ = signal_values(_signals(**changes))
    return evaluate(parse_condition(condition, "when"), values)


@pytest.mark.parametrize(
    ("condition", "changes", "expected"),
    [
        # eq / ne against a value, and against another signal
        ({"signal": "card_country", "op": "eq", "value": "us"}, {}, True),
        ({"signal": "card_country", "op": "eq", "value": "GB"}, {}, False),
        ({"signal": "card_country", "op": "ne", "value": "GB"}, {}, True),
        ({"signal": "card_country", "op": "ne", "other": "browser_ip_country"}, {}, False),
        (
            {"signal": "card_country", "op": "ne", "other": "browser_ip_country"},
            {"browser_ip_country": "NG"},
            True,
        ),
        ({"signal": "early_fraud_warning", "op": "eq", "value": False}, {}, True),
        # ordering
        ({"signal": "stripe_risk_score", "op": "gt", "value": 31}, {}, True),
        ({"signal": "stripe_risk_score", "op": "gt", "value": 32}, {}, False),
        ({"signal": "stripe_risk_score", "op": "gte", "value": 32}, {}, True),
        ({"signal": "stripe_risk_score", "op": "gte", "value": 33}, {}, False),
        ({"signal": "stripe_risk_score", "op": "lt", "value": 33}, {}, True),
        ({"signal": "stripe_risk_score", "op": "lt", "value": 32}, {}, False),
        ({"signal": "stripe_risk_score", "op": "lte", "value": 32}, {}, True),
        ({"signal": "stripe_risk_score", "op": "lte", "value": 31}, {}, False),
        (
            {"signal": "failed_payments_card_1h", "op": "lt", "other": "failed_payments_card_24h"},
            {"failed_payments_card_24h": 4},
            True,
        ),
        # membership
        ({"signal": "stripe_outcome_type", "op": "in", "value": ["blocked", "invalid"]}, {}, False),
        (
            {"signal": "stripe_outcome_type", "op": "in", "value": ["blocked", "issuer_declined"]},
            {},
            True,
        ),
        ({"signal": "customer_orders_count", "op": "in", "value": [0, 1]}, {}, True),
        ({"signal": "decline_codes", "op": "any_in", "value": ["stolen_card"]}, {}, False),
        (
            {"signal": "decline_codes", "op": "any_in", "value": ["Stolen_Card", "lost_card"]},
            {"decline_codes": ["generic_decline", "stolen_card"]},
            True,
        ),
        ({"signal": "decline_codes", "op": "any_in", "value": ["x"]}, {"decline_codes": []}, False),
        # booleans and knowledge
        ({"signal": "ip_is_proxy", "op": "is_true"}, {}, False),
        ({"signal": "ip_is_proxy", "op": "is_true"}, {"ip_is_proxy": True}, True),
        ({"signal": "dispute_reason", "op": "missing"}, {"dispute_reason": None}, True),
        ({"signal": "dispute_reason", "op": "present"}, {"dispute_reason": None}, False),
        ({"signal": "dispute_reason", "op": "present"}, {}, True),
        ({"signal": "email", "op": "present"}, {}, True),
        ({"signal": "email", "op": "missing"}, {"email": None}, True),
        # money thresholds per currency
        ({"signal": "order_total", "op": "gte", "value": {"USD": "1299.00"}}, {}, True),
        ({"signal": "order_total", "op": "gt", "value": {"USD": "1299.00"}}, {}, False),
        ({"signal": "order_total", "op": "lt", "value": {"USD": 1300}}, {}, True),
        ({"signal": "order_total", "op": "lte", "value": {"EUR": "1.00"}}, {}, None),
    ],
)
def test_each_operator(condition: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    # Given a condition and the neutral signals with some changes
    # When it is evaluated
    # Then it answers as the operator means
    assert _eval(condition, **changes) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"signal": "card_country", "op": "eq", "value": "GB"},
        {"signal": "card_country", "op": "ne", "other": "browser_ip_country"},
        {"signal": "stripe_risk_score", "op": "gte", "value": 10},
        {"signal": "decline_codes", "op": "any_in", "value": ["stolen_card"]},
        {"signal": "ip_is_proxy", "op": "is_true"},
        {"signal": "order_total", "op": "gte", "value": {"USD": "1.00"}},
    ],
)
def test_a_condition_over_a_missing_signal_is_unknown_not_an_error(
    condition: dict[str, Any],
) -> None:
    # Given signals in which the tested signal is unknown
    changes = {
        "card_country": None,
        "stripe_risk_score": None,
        "decline_codes": None,
        "ip_is_proxy": None,
        "order_total": None,
    }
    # When the condition is evaluated
    # Then the answer is unknown (and so the rule does not fire)
    assert _eval(condition, **changes) is None


def test_all_any_and_not_use_three_valued_logic() -> None:
    # Given one true, one false and one unknown condition
    true = Compare("card_country", Op.EQ, "US")
    false = Compare("card_country", Op.EQ, "GB")
    unknown = Compare("dispute_reason", Op.EQ, "fraudulent")
    values, _ = signal_values(_signals(dispute_reason=None))
    # Then all is false if any part is false, else unknown if any is unknown
    assert evaluate(AllOf((true, unknown, false)), values) is False
    assert evaluate(AllOf((true, unknown)), values) is None
    assert evaluate(AllOf((true, true)), values) is True
    # and any is true if any part is true, else unknown if any is unknown
    assert evaluate(AnyOf((false, unknown, true)), values) is True
    assert evaluate(AnyOf((false, unknown)), values) is None
    assert evaluate(AnyOf((false, false)), values) is False
    # and not keeps unknown unknown
    assert evaluate(Not(true), values) is False
    assert evaluate(Not(false), values) is True
    assert evaluate(Not(unknown), values) is None


def test_a_money_threshold_in_another_currency_is_unknown_and_noted() -> None:
    # Given a EUR order and the default high-value thresholds, and a rule with USD only
    rule = parse_rule(
        _rule_data(
            name="big",
            when={"signal": "order_total", "op": "gte", "value": {"USD": "100.00"}},
            reason="big order {order_total}",
        )
    )
    shop = ShopFraudSettings(rules=(rule,))
    # When scored
    result = score(_signals(order_total={"minor": 500000, "currency": "EUR"}), shop)
    # Then the rule does not fire and the missing threshold is noted
    assert "big" not in _reasons(result)
    assert "order_total: no threshold in EUR; rule skipped" in result.notes


# --- every default rule, with its reason --------------------------------------------------------

DEFAULT_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "early_fraud_warning": (
        {"early_fraud_warning": True},
        "the card issuer sent an early fraud warning",
    ),
    "fraud_dispute": (
        {"dispute_reason": "fraudulent"},
        "the cardholder's bank opened a dispute for fraud",
    ),
    "fraud_decline_code": (
        {"decline_codes": ["insufficient_funds", "stolen_card"]},
        "a payment was declined as stolen, lost or fraudulent "
        "(codes: insufficient_funds; stolen_card)",
    ),
    "shopify_high_risk": (
        {
            "shopify_recommendation": "cancel",
            "shopify_risk_level": "high",
            "shopify_risk_facts": [
                "The IP address is far from the billing address",
                "There were 6 payment attempts",
            ],
        },
        "Shopify rates the order high risk and recommends cancelling it (facts: The IP "
        "address is far from the billing address; There were 6 payment attempts)",
    ),
    "shopify_investigate": (
        {
            "shopify_recommendation": "investigate",
            "shopify_risk_level": "medium",
            "shopify_risk_facts": ["There was 1 payment attempt"],
        },
        "Shopify recommends investigating the order (facts: There was 1 payment attempt)",
    ),
    "stripe_risk_highest": (
        {"stripe_risk_level": "highest", "stripe_risk_score": 91},
        "Stripe Radar rates the payment highest risk (score 91)",
    ),
    "stripe_risk_elevated": (
        {"stripe_risk_level": "elevated", "stripe_risk_score": 68},
        "Stripe Radar rates the payment elevated risk (score 68)",
    ),
    "stripe_blocked": (
        {"stripe_outcome_type": "blocked", "stripe_outcome_reason": "highest_risk_level"},
        "Stripe's outcome for the payment was blocked (reason: highest_risk_level)",
    ),
    "payment_reversed": (
        {"stripe_network_status": "reversed_after_approval"},
        "the card network reversed the payment after approving it",
    ),
    "other_dispute": (
        {"dispute_reason": "product_not_received"},
        "the cardholder's bank opened a dispute (reason: product_not_received)",
    ),
    "cvc_failed": ({"cvc_check": "fail"}, "the card's CVC check failed"),
    "avs_failed": (
        {"avs_line1_check": "fail", "avs_postcode_check": "pass"},
        "the card's address check failed (street: fail, postcode: pass)",
    ),
    "avs_both_failed": (
        {"avs_line1_check": "fail", "avs_postcode_check": "fail"},
        "both the street and the postcode of the billing address failed the card check",
    ),
    "prepaid_card": ({"card_funding": "prepaid"}, "the card is a prepaid card"),
    "card_country_vs_ip": (
        {"card_country": "GB", "browser_ip_country": "NG", "billing_country": "GB"},
        "card country GB differs from IP country NG",
    ),
    "card_country_vs_billing": (
        {"card_country": "GB", "browser_ip_country": "GB"},
        "card country GB differs from billing country US",
    ),
    "billing_vs_shipping_country": (
        {"shipping_country": "CA", "shipping_postcode": "M5V 2T6"},
        "billing country US differs from shipping country CA",
    ),
    "billing_vs_shipping_postcode": (
        {"shipping_postcode": "60614"},
        "billing postcode 97210 differs from shipping postcode 60614",
    ),
    "billing_vs_shipping_name": (
        {"shipping_name": "Grace Okafor"},
        "the billing name differs from the shipping name",
    ),
    "forwarder_address": (
        {"shipping_is_forwarder": True},
        "the order ships to a parcel forwarder or reshipper address",
    ),
    "proxy_ip": (
        {"ip_is_proxy": True, "browser_ip": "192.0.2.66"},
        "the order was placed through a proxy or anonymising network (IP 192.0.2.66)",
    ),
    "new_customer": (
        {"customer_orders_count": 0, "customer_age_days": 0},
        "a new customer with no earlier orders",
    ),
    "returning_customer": (
        {"customer_orders_count": 4, "customer_age_days": 900},
        "a returning customer: 4 earlier orders, account 900 days old",
    ),
    "card_checks_passed": (
        {"avs_line1_check": "pass", "avs_postcode_check": "pass"},
        "the card's CVC, street and postcode checks passed and Stripe rates the risk normal",
    ),
    "high_value_order": (
        {"order_total": {"amount": "1899.00", "currency": "USD"}},
        "a high-value order (USD 1,899.00)",
    ),
    "bulk_high_value_item": (
        {"max_quantity_same_high_value_item": 4, "high_value_items": 4},
        "4 units of the same high-value item",
    ),
    "expedited_high_value": (
        {"expedited_shipping": True, "high_value_items": 2},
        "expedited shipping on 2 high-value item(s)",
    ),
    "card_testing": (
        {"distinct_cards_24h": 5},
        "5 different cards tried in 24 hours (card testing)",
    ),
    "failed_payments_burst": (
        {"failed_payments_card_1h": 4, "failed_payments_card_24h": 4},
        "repeated failed payments within an hour (email 1, card 4, IP 1)",
    ),
    "failed_payments_day": (
        {"failed_payments_ip_24h": 7, "failed_payments_email_24h": 2},
        "many failed payments within a day (email 2, card 1, IP 7)",
    ),
    "shared_shipping_address": (
        {"accounts_sharing_shipping_address": 3},
        "3 other customers ship to this address",
    ),
    "invalid_email": ({"email": "daniel.okafor@gmail"}, "the email address is not valid"),
    "disposable_email": (
        {"email": "qx7h2k@mailinator.com"},
        "the email address uses a disposable domain (mailinator.com)",
    ),
}


def test_every_default_rule_has_a_case_here() -> None:
    # Given the default rules
    # Then each one is exercised below (a new default rule needs a case)
    assert set(DEFAULT_CASES) == {rule.name for rule in DEFAULT_RULES}
    assert len(DEFAULT_RULES) >= 20


@pytest.mark.parametrize("name", sorted(DEFAULT_CASES))
def test_each_default_rule_fires_with_its_reason(name: str) -> None:
    # Given the neutral customer changed just enough to trip one rule
    changes, text = DEFAULT_CASES[name]
    rule = DEFAULT_SETTINGS.rule(name)
    assert rule is not None
    # When scored with the defaults
    result = score(_signals(**changes))
    # Then the rule fires with its weight and its reason, filled from the signals
    assert _reasons(result)[name] == Reason(name, rule.weight, text, rule.forces)
    # and it does not fire on the neutral customer
    assert name not in _reasons(score(_signals()))


def test_stripe_risk_rules_are_exclusive_and_fire_on_either_half() -> None:
    # Given Radar's level and score, each known or not
    def fired(**changes: Any) -> set[str]:
        names = set(_reasons(score(_signals(**changes))))
        return names & {"stripe_risk_highest", "stripe_risk_elevated"}

    # Then highest and elevated never both fire, and either half alone suffices
    assert fired(stripe_risk_level="highest", stripe_risk_score=70) == {"stripe_risk_highest"}
    assert fired(stripe_risk_level="elevated", stripe_risk_score=80) == {"stripe_risk_highest"}
    assert fired(stripe_risk_level="elevated", stripe_risk_score=None) == {"stripe_risk_elevated"}
    assert fired(stripe_risk_level=None, stripe_risk_score=70) == {"stripe_risk_elevated"}
    assert fired(stripe_risk_level=None, stripe_risk_score=64) == set()
    assert fired(stripe_risk_level="normal", stripe_risk_score=75) == {"stripe_risk_highest"}


def test_a_guest_with_no_earlier_orders_is_a_new_customer() -> None:
    # Given a guest checkout: no orders before, no account age
    result = score(_signals(customer_orders_count=0, customer_age_days=None))
    # Then new_customer fires
    assert "new_customer" in _reasons(result)


def test_a_disposable_subdomain_counts_too() -> None:
    # Given an address at a subdomain of a listed disposable domain
    facts = check_email("someone@mx.mailinator.com")
    # Then it is disposable
    assert (facts.valid, facts.domain, facts.disposable) == (True, "mx.mailinator.com", True)
    assert check_email("someone@example.com").disposable is False


def test_without_the_disposable_list_the_email_check_is_unknown_and_noted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the disposable-domain package is not installed
    monkeypatch.setattr(email_checks, "disposable_domains", lambda: None)
    # When a disposable address is scored
    result = score(_signals(email="qx7h2k@mailinator.com"))
    # Then the rule cannot fire, and the note says why
    assert "disposable_email" not in _reasons(result)
    assert any("disposable-email-domains list is not installed" in n for n in result.notes)
    assert result.confidence < 1.0


# --- hard overrides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"early_fraud_warning": True},
        {"dispute_reason": "fraudulent"},
        *({"decline_codes": [code]} for code in FRAUD_DECLINE_CODES),
    ],
)
def test_hard_overrides_force_high_whatever_the_score(changes: dict[str, Any]) -> None:
    # Given a trusted customer (score-lowering rules fire) and one hard-override signal
    trusted = {
        "customer_orders_count": 9,
        "customer_age_days": 2000,
        "avs_line1_check": "pass",
        "avs_postcode_check": "pass",
    }
    # And a shop that made the override rules weigh nothing and raised its thresholds
    shop = ShopFraudSettings(
        review_at=90,
        high_at=100,
        weights=dict.fromkeys(LOCKED_RULES, 0),
    )
    # When scored
    result = score(_signals(**trusted, **changes), shop)
    # Then the level is high, the action is flag, and the reason says it forced the level
    assert result.score < shop.review_at
    assert (result.level, result.action) == (FraudLevel.HIGH, FraudAction.FLAG)
    assert any(r.forces is FraudLevel.HIGH for r in result.reasons)


def test_an_early_fraud_warning_is_high_even_when_nothing_else_is_known() -> None:
    # Given only an early fraud warning
    result = score(Signals(early_fraud_warning=True))
    # Then the result is high, not unscored, although confidence is near zero
    assert result.level is FraudLevel.HIGH
    assert result.confidence < DEFAULT_SETTINGS.min_confidence


def test_a_non_fraud_dispute_holds_reminders_for_review() -> None:
    # Given an open dispute for a reason other than fraud on an otherwise clean order
    result = score(_signals(dispute_reason="product_not_received"))
    # Then the level is review (reminders held) though the score is below the threshold
    assert result.score < REVIEW_AT
    assert (result.level, result.action) == (FraudLevel.REVIEW, FraudAction.HOLD)


@pytest.mark.parametrize("name", sorted(LOCKED_RULES))
def test_a_shop_cannot_switch_off_or_replace_a_hard_override(name: str) -> None:
    # Given settings that disable or replace a hard override
    # Then they are refused, naming the field
    with pytest.raises(FraudSettingsError) as disabled:
        parse_settings({"disabled": ["cvc_failed", name]})
    assert disabled.value.field == "disabled[1]"
    assert "hard override" in disabled.value.message
    with pytest.raises(FraudSettingsError) as replaced:
        parse_settings({"rules": [_rule_data(name=name)]})
    assert replaced.value.field == "rules[0].name"
    with pytest.raises(FraudSettingsError) as in_code:
        ShopFraudSettings(disabled=frozenset({name}))
    assert in_code.value.field == "disabled"


# --- shop overrides ---------------------------------------------------------------------------

MISMATCH = {
    "card_country": "GB",
    "browser_ip_country": "NG",
    "billing_country": "GB",
    "shipping_country": "GB",
}


def test_a_shop_can_change_a_weight() -> None:
    # Given a card/IP country mismatch (default weight 20)
    before = score(_signals(**MISMATCH))
    # When the shop weighs that rule 45
    shop = parse_settings({"weights": {"card_country_vs_ip": 45}})
    after = score(_signals(**MISMATCH), shop)
    # Then the score and the reason's weight follow, and the level moves to review
    assert (before.score, before.level) == (20, FraudLevel.LOW)
    assert (after.score, after.level) == (45, FraudLevel.REVIEW)
    assert _reasons(after)["card_country_vs_ip"].weight == 45
    assert before.ruleset != after.ruleset


def test_a_shop_can_switch_a_rule_off() -> None:
    # Given a shop that switched the card/IP rule off
    shop = parse_settings({"disabled": ["card_country_vs_ip"]})
    # When the mismatch is scored
    result = score(_signals(**MISMATCH), shop)
    # Then the rule does not fire and its inputs no longer count for confidence
    assert "card_country_vs_ip" not in _reasons(result)
    assert result.score == 0
    assert shop.rule("card_country_vs_ip") is None


def test_a_shop_can_move_the_thresholds() -> None:
    # Given an order scoring 45 (card/IP mismatch 20 + CVC failure 25)
    signals = _signals(**MISMATCH, cvc_check="fail")
    assert score(signals).level is FraudLevel.REVIEW
    # When the shop moves review to 50, or high to 45
    lenient = parse_settings({"thresholds": {"review": 50}})
    strict = parse_settings({"thresholds": {"review": 20, "high": 45}})
    # Then the level follows
    assert score(signals, lenient).level is FraudLevel.LOW
    assert score(signals, strict).level is FraudLevel.HIGH


def test_a_shop_can_add_a_rule_and_replace_a_default_one() -> None:
    # Given a shop rule that forces review for one country, and a stricter risk-score rule
    shop = parse_settings(
        {
            "rules": [
                _rule_data(weight=5, forces="review"),
                {
                    "name": "stripe_risk_elevated",
                    "weight": 30,
                    "when": {"signal": "stripe_risk_score", "op": "gte", "value": 50},
                    "reason": "Radar score {stripe_risk_score} is 50 or more",
                },
            ]
        }
    )
    # When an order to GB with a Radar score of 55 is scored
    result = score(
        _signals(shipping_country="GB", shipping_postcode="E16AN", stripe_risk_score=55), shop
    )
    reasons = _reasons(result)
    # Then both shop rules fire, the replacement with its own reason, and review is forced
    assert reasons["ships_to_gb"] == Reason("ships_to_gb", 5, "ships to GB", FraudLevel.REVIEW)
    assert reasons["stripe_risk_elevated"].text == "Radar score 55 is 50 or more"
    assert result.level is FraudLevel.REVIEW
    # and the replaced rule keeps its place among the defaults
    names = [rule.name for rule in shop.rules_in_force]
    assert names.index("stripe_risk_elevated") == [r.name for r in DEFAULT_RULES].index(
        "stripe_risk_elevated"
    )
    assert names[-1] == "ships_to_gb"


def test_settings_round_trip_through_json() -> None:
    # Given settings with every kind of change
    data = {
        "thresholds": {"review": 35, "high": 80},
        "min_confidence": 0.5,
        "weights": {"proxy_ip": 30, "ships_to_gb": 10},
        "disabled": ["billing_vs_shipping_name"],
        "rules": [_rule_data()],
        "high_value": {"product_types": ["Laptops"], "tags": ["flagship"], "skus": ["GPU-4090"]},
    }
    shop = parse_settings(data)
    # When written out and read back
    again = parse_settings(json.loads(json.dumps(settings_to_dict(shop))))
    # Then the settings are equal and score the same
    assert again == shop
    assert again.ruleset == shop.ruleset
    assert settings_to_dict(parse_settings({})) == settings_to_dict(DEFAULT_SETTINGS)


def test_default_rules_round_trip_through_json() -> None:
    # Given the default rules as data
    # When each is parsed and written back
    # Then the data is unchanged apart from normalisation (sorted lists), and re-parses equal
    for data, rule in zip(DEFAULT_RULE_DATA, DEFAULT_RULES, strict=True):
        assert parse_rule(json.loads(json.dumps(rule_to_dict(rule)))) == rule
        assert rule_to_dict(rule)["name"] == data["name"]


# --- refusal of invalid shop settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_data", "field"),
    [
        (
            {"rules": [{}, {}, {}, _rule_data(when={"signal": "card_country", "op": "like"})]},
            "rules[0].name",
        ),
        (
            {
                "rules": [
                    _rule_data(name="a"),
                    _rule_data(name="b"),
                    _rule_data(name="c"),
                    _rule_data(
                        name="d", when={"signal": "card_country", "op": "like", "value": "x"}
                    ),
                ]
            },
            "rules[3].when.op",
        ),
        (
            {"rules": [_rule_data(when={"signal": "card_colour", "op": "eq", "value": "x"})]},
            "rules[0].when.signal",
        ),
        (
            {
                "rules": [
                    _rule_data(
                        when={
                            "all": [
                                {"signal": "ip_is_proxy", "op": "is_true"},
                                {"signal": "cvc_check", "op": "gt", "value": "fail"},
                            ]
                        }
                    )
                ]
            },
            "rules[0].when.all[1].op",
        ),
        (
            {
                "rules": [
                    _rule_data(when={"signal": "stripe_risk_score", "op": "gte", "value": "high"})
                ]
            },
            "rules[0].when.value",
        ),
        (
            {
                "rules": [
                    _rule_data(when={"signal": "stripe_risk_score", "op": "gte", "value": 140})
                ]
            },
            "rules[0].when.value",
        ),
        (
            {
                "rules": [
                    _rule_data(when={"signal": "card_country", "op": "in", "value": ["GB", "XX"]})
                ]
            },
            "rules[0].when.value[1]",
        ),
        (
            {
                "rules": [
                    _rule_data(
                        when={"signal": "card_country", "op": "ne", "other": "stripe_risk_score"}
                    )
                ]
            },
            "rules[0].when.other",
        ),
        (
            {
                "rules": [
                    _rule_data(when={"signal": "card_country", "op": "ne", "other": "ip_colour"})
                ]
            },
            "rules[0].when.other",
        ),
        (
            {"rules": [_rule_data(when={"signal": "ip_is_proxy", "op": "is_true", "value": True})]},
            "rules[0].when.value",
        ),
        (
            {"rules": [_rule_data(when={"signal": "card_country", "op": "eq"})]},
            "rules[0].when.value",
        ),
        (
            {
                "rules": [
                    _rule_data(when={"signal": "order_total", "op": "gte", "value": {"XYZ": "1"}})
                ]
            },
            "rules[0].when.value.XYZ",
        ),
        (
            {
                "rules": [
                    _rule_data(
                        when={"signal": "card_country", "op": "eq", "value": "GB", "code": "x"}
                    )
                ]
            },
            "rules[0].when.code",
        ),
        ({"rules": [_rule_data(when={"all": [], "any": []})]}, "rules[0].when"),
        ({"rules": [_rule_data(when={"any": []})]}, "rules[0].when.any"),
        ({"rules": [_rule_data(reason="ships to {shipping_colour}")]}, "rules[0].reason"),
        ({"rules": [_rule_data(reason="{card_country.__class__}")]}, "rules[0].reason"),
        ({"rules": [_rule_data(reason="{card_country!r}")]}, "rules[0].reason"),
        ({"rules": [_rule_data(reason="{card_country:>99999}")]}, "rules[0].reason"),
        ({"rules": [_rule_data(weight=101)]}, "rules[0].weight"),
        ({"rules": [_rule_data(weight=True)]}, "rules[0].weight"),
        ({"rules": [_rule_data(name="Bad Name")]}, "rules[0].name"),
        ({"rules": [_rule_data(forces="low")]}, "rules[0].forces"),
        ({"rules": [_rule_data(), _rule_data()]}, "rules[1].name"),
        ({"rules": "all of them"}, "rules"),
        ({"weights": {"no_such_rule": 10}}, "weights.no_such_rule"),
        ({"weights": {"cvc_failed": 1.5}}, "weights.cvc_failed"),
        ({"weights": {"cvc_failed": -101}}, "weights.cvc_failed"),
        ({"disabled": ["cvc_failed", "no_such_rule"]}, "disabled[1]"),
        ({"disabled": "cvc_failed"}, "disabled"),
        ({"thresholds": {"review": 70, "high": 70}}, "thresholds.review"),
        ({"thresholds": {"high": 101}}, "thresholds.high"),
        ({"thresholds": {"review": 0}}, "thresholds.review"),
        ({"thresholds": {"medium": 50}}, "thresholds.medium"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": float("nan")}, "min_confidence"),
        ({"high_value": {"skus": ["GPU-4090", ""]}}, "high_value.skus[1]"),
        ({"high_value": {"brands": []}}, "high_value.brands"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_shop_settings_are_refused_naming_the_field(
    settings_data: dict[str, Any], field: str
) -> None:
    # Given invalid settings
    # When parsed
    with pytest.raises(FraudSettingsError) as refused:
        parse_settings(settings_data)
    # Then the error names the field
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def test_conditions_nest_only_so_deep() -> None:
    # Given a condition nested seven levels deep
    condition: dict[str, Any] = {"signal": "ip_is_proxy", "op": "is_true"}
    for _ in range(7):
        condition = {"not": condition}
    # Then it is refused
    with pytest.raises(FraudSettingsError, match="nest at most"):
        parse_settings({"rules": [_rule_data(when=condition)]})


def test_settings_must_be_an_object() -> None:
    with pytest.raises(FraudSettingsError) as refused:
        parse_settings(["not", "an", "object"])
    assert refused.value.field == "settings"


# --- odd and missing signals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "note"),
    [
        ("stripe_risk_score", 140, "stripe_risk_score: 140 is out of range 0..100"),
        ("stripe_risk_score", -3, "stripe_risk_score: -3 is out of range 0..100"),
        ("stripe_risk_score", "88", "stripe_risk_score: expected a number, got '88'"),
        ("stripe_risk_score", 12.5, "stripe_risk_score: expected a whole number, got 12.5"),
        ("stripe_risk_score", float("nan"), "stripe_risk_score: expected a finite number"),
        ("distinct_cards_24h", -1, "distinct_cards_24h: -1 is out of range"),
        ("customer_orders_count", True, "customer_orders_count: expected a number, got True"),
        ("billing_country", "USA", "billing_country: 'USA' is not an ISO 3166-1 alpha-2"),
        ("card_country", "XX", "card_country: 'XX' is not an ISO 3166-1 alpha-2"),
        ("card_country", "EU", "card_country: 'EU' is not an ISO 3166-1 alpha-2"),
        ("browser_ip", "999.1.1.1", "browser_ip: '999.1.1.1' is not an IP address"),
        ("order_total", {"minor": 100, "currency": "XYZ"}, "order_total: unknown currency 'XYZ'"),
        ("order_total", {"minor": -100, "currency": "USD"}, "order_total: USD -1.00 is negative"),
        ("order_total", 1899, "order_total: expected an amount and currency, got 1899"),
        ("stripe_risk_level", "extreme", "stripe_risk_level: 'extreme' is not one of"),
        ("cvc_check", "passed", "cvc_check: 'passed' is not one of"),
        ("ip_is_proxy", "yes", "ip_is_proxy: expected true or false, got 'yes'"),
        ("decline_codes", "stolen_card", "decline_codes: expected a list, got 'stolen_card'"),
        ("billing_postcode", "!!!", "billing_postcode: '!!!' is not a postcode"),
    ],
)
def test_odd_values_become_unknown_with_a_note(name: str, raw: object, note: str) -> None:
    # Given a signal with an odd value
    # When read
    signals = Signals.from_dict({**NEUTRAL, name: raw})
    # Then the signal is unknown, a note names it, and scoring still works with less confidence
    assert getattr(signals, name) is None
    assert any(n.startswith(note) for n in signals.data_quality), signals.data_quality
    result = score(signals)
    assert result.level is not FraudLevel.UNSCORED
    assert any(n.startswith(note) for n in result.notes)
    if name in DEFAULT_SETTINGS.inputs:
        assert result.confidence < 1.0


def test_values_are_normalised_so_rules_can_compare_them() -> None:
    # Given values as platforms and people write them
    signals = Signals(
        billing_country=" gb ",
        billing_postcode="sw1a 1aa",
        shipping_postcode="SW1A-1AA",
        billing_name="  JANE   Doe ",
        shipping_name="jane doe",
        stripe_risk_level="Elevated",
        browser_ip="2001:DB8:0:0:0:0:0:1",
        decline_codes=("Stolen_Card", "stolen_card", 7),  # type: ignore[arg-type]
        stripe_risk_score=Decimal("42"),  # as DynamoDB returns numbers  # type: ignore[arg-type]
        order_total={"amount": "1899.00", "currency": "usd"},  # type: ignore[arg-type]
    )
    # Then they come out normalised, and only the odd entry is noted
    assert signals.billing_country == "GB"
    assert signals.billing_postcode == signals.shipping_postcode == "SW1A1AA"
    assert signals.billing_name == signals.shipping_name == "jane doe"
    assert signals.stripe_risk_level == "elevated"
    assert signals.browser_ip == "2001:db8::1"
    assert signals.decline_codes == ("stolen_card",)
    assert signals.stripe_risk_score == 42
    assert signals.order_total == Money("USD", 189900)
    assert signals.data_quality == (
        "decline_codes: dropped 1 entries that are not codes (or past 50)",
    )


def test_platform_words_for_unknown_mean_unknown_without_a_note() -> None:
    # Given Stripe's and Shopify's own "no assessment" values
    signals = Signals(
        stripe_risk_level="not_assessed", shopify_recommendation="none", card_funding="unknown"
    )
    # Then they are unknown, and nothing odd is noted
    assert (signals.stripe_risk_level, signals.shopify_recommendation, signals.card_funding) == (
        None,
        None,
        None,
    )
    assert signals.data_quality == ()


def test_a_short_window_count_above_the_long_one_is_corrected_and_noted() -> None:
    signals = Signals(failed_payments_card_1h=5, failed_payments_card_24h=2)
    assert signals.failed_payments_card_24h == 5
    assert signals.data_quality == (
        "failed_payments_card_24h: 2 is less than failed_payments_card_1h (5); raised to 5",
    )


def test_unknown_keys_and_non_objects_are_noted_not_raised() -> None:
    assert Signals.from_dict({"card_colour": "gold"}).data_quality == (
        "'card_colour': not a signal; ignored",
    )
    assert Signals.from_dict(["not", "a", "dict"]).data_quality == (
        "signals: expected an object, got ['not', 'a', 'dict']; ignored",
    )


def test_missing_signals_lower_confidence() -> None:
    # Given the neutral customer, then the same with Stripe's side unknown, then nothing known
    full = score(_signals())
    stripe_unknown = score(
        _signals(
            stripe_risk_level=None,
            stripe_risk_score=None,
            cvc_check=None,
            avs_line1_check=None,
            avs_postcode_check=None,
            card_country=None,
        )
    )
    nothing = score(Signals())
    # Then confidence falls as knowledge does
    assert full.confidence > stripe_unknown.confidence > nothing.confidence == 0.0
    # and with nothing known the case is unscored, held for review, with the reason noted
    assert (nothing.level, nothing.action) == (FraudLevel.UNSCORED, FraudAction.HOLD)
    assert nothing.notes[-1].startswith("only 0 of ")


def test_a_check_that_cannot_run_is_unscored_not_an_exception() -> None:
    # Given input that is not Signals, and settings that are not settings
    bad_input = score({"email": "x@example.com"})  # type: ignore[arg-type]
    bad_settings = score(_signals(), settings="strict")  # type: ignore[arg-type]
    # Then both answer unscored, saying why
    for result in (bad_input, bad_settings):
        assert result.level is FraudLevel.UNSCORED
        assert result.notes[0].startswith("the fraud check could not run: TypeError")


def test_a_failing_rule_evaluation_is_unscored(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an evaluation that fails unexpectedly
    # (the package's `score` is the function; the module is reached by its full name)
    score_module = sys.modules["recoup.domain.fraud.score"]

    def broken(*_: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(score_module, "signal_values", broken)
    # When scored
    result = score(_signals())
    # Then the case is unscored (held), not crashed
    assert result.level is FraudLevel.UNSCORED
    assert result.notes == ("the fraud check could not run: RuntimeError: boom",)


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=8),
    st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none()), max_size=6),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers()), max_size=3),
)
_PLAUSIBLE_BY_KIND: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.TEXT: st.sampled_from(
        [
            "US",
            "gb",
            "NG",
            "97210",
            "SW1A 1AA",
            "cancel",
            "elevated",
            "fail",
            "pass",
            "fraudulent",
            "192.0.2.1",
            "x@mailinator.com",
            "a@example.com",
            "prepaid",
        ]
    ),
    Kind.INT: st.integers(min_value=-5, max_value=150),
    Kind.BOOL: st.booleans(),
    Kind.MONEY: st.fixed_dictionaries(
        {
            "minor": st.integers(min_value=-10, max_value=10**9),
            "currency": st.sampled_from(["USD", "EUR", "JPY", "KWD", "XYZ", "usd", ""]),
        }
    ),
    Kind.TEXTS: st.lists(
        st.sampled_from(["stolen_card", "insufficient_funds", "Lost_Card", "bad code", ""]),
        max_size=4,
    ),
}
SIGNAL_DICTS = st.fixed_dictionaries(
    {},
    optional={
        **{
            name: st.one_of(_PLAUSIBLE_BY_KIND[spec.kind], ODD)
            for name, spec in FIELD_SPECS.items()
        },
        "not_a_signal": ODD,
        "data_quality": ODD,
    },
)


@settings(max_examples=300, deadline=None)
@given(SIGNAL_DICTS)
def test_any_signals_score_without_raising_and_stay_in_range(data: dict[str, Any]) -> None:
    # Given signals read from any mix of plausible and odd values
    signals = Signals.from_dict(data)
    # When scored
    result = score(signals)
    # Then the check ran (no failure note), and the figures are in range
    assert not any("could not run" in note for note in result.notes)
    assert 0 <= result.score <= 100
    assert 0.0 <= result.confidence <= 1.0
    assert result.level in set(FraudLevel)
    # and the signals survive a JSON round trip unchanged, scoring the same
    again = Signals.from_dict(json.loads(json.dumps(signals.to_dict())))
    assert again == signals
    assert score(again) == result


@settings(max_examples=100, deadline=None)
@given(SIGNAL_DICTS, st.randoms(use_true_random=False))
def test_scoring_is_deterministic_and_independent_of_key_order(
    data: dict[str, Any], rnd: Any
) -> None:
    # Given the same signals, with their keys in another order
    keys = list(data)
    rnd.shuffle(keys)
    shuffled = {key: data[key] for key in keys}
    # When scored twice
    first = score(Signals.from_dict(data))
    second = score(Signals.from_dict(shuffled))
    # Then the results are identical, reasons in the same order
    assert first == second
    assert first.to_dict() == second.to_dict()


# --- results, history, catalogue --------------------------------------------------------------


def test_a_result_reads_back_from_json_and_summarises() -> None:
    # Given a result with reasons and notes
    result = score(_signals(**MISMATCH, cvc_check="fail", stripe_risk_score=140))
    # When written to JSON and read back
    again = FraudResult.from_dict(json.loads(json.dumps(result.to_dict())))
    # Then it is equal, and its summary lists the reasons, heaviest first
    assert again == result
    assert result.summary() == (
        "review (score 45): the card's CVC check failed; card country GB differs from IP country NG"
    )
    assert [r.weight for r in result.reasons] == sorted(
        (r.weight for r in result.reasons), reverse=True
    )


def test_actions_follow_levels() -> None:
    assert unscored("no signals").action is FraudAction.HOLD
    assert unscored("no signals").held and not unscored("no signals").flagged
    high = score(Signals(early_fraud_warning=True))
    assert high.flagged and high.held and high.action is FraudAction.FLAG
    assert not score(_signals()).held


def test_the_score_history_keeps_changes_only() -> None:
    # Given a first score, the same again, then a rescore after new signals
    t0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    first = ScoredAt(t0, score(_signals()))
    same = ScoredAt(t0 + timedelta(minutes=5), score(_signals()))
    changed = ScoredAt(t0 + timedelta(hours=1), score(_signals(early_fraud_warning=True)))
    # When recorded in turn
    history = record_score((), first)
    history = record_score(history, same)
    history = record_score(history, changed)
    # Then the repeat is not kept, the change is
    assert history == (first, changed)
    assert ScoredAt.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed
    # and a long history keeps the first entry and the newest ones
    long: tuple[ScoredAt, ...] = ()
    for i in range(10):
        entry = ScoredAt(t0 + timedelta(hours=i), unscored(f"attempt {i}"))
        long = record_score(long, entry, limit=4)
    assert len(long) == 4
    assert long[0].at == t0 and long[-1].at == t0 + timedelta(hours=9)


def test_the_catalogue_counts_high_value_units_and_the_largest_quantity_of_one_item() -> None:
    # Given a shop whose high-value items are laptops, anything tagged flagship, and one SKU
    catalogue = HighValueCatalogue(
        product_types=frozenset({"Laptops"}),
        tags=frozenset({"Flagship"}),
        skus=frozenset({"GPU-4090"}),
    )
    items = [
        Item(quantity=2, product_type="laptops", sku="LAP-1", key="variant-1"),
        Item(quantity=1, product_type="Laptops", sku="LAP-1", key="variant-1"),  # same item again
        Item(quantity=1, product_type="Phones", tags=("flagship",)),
        Item(quantity=2, sku="gpu-4090"),
        Item(quantity=5, product_type="Cables"),
        Item(quantity=0, product_type="Laptops"),
    ]
    # When counted
    # Then 6 high-value units, 3 of the same laptop
    assert catalogue.count(items) == (6, 3)
    assert DEFAULT_SETTINGS.high_value.matches(Item(quantity=1, product_type="Graphics Cards"))


def test_rules_built_in_code_are_validated_like_parsed_ones() -> None:
    with pytest.raises(FraudSettingsError) as refused:
        Compare("card_country", "gte", "GB")  # type: ignore[arg-type]
    assert refused.value.field == "op"
    with pytest.raises(FraudSettingsError):
        replace(DEFAULT_RULES[0], reason="{nope}")
    with pytest.raises(FraudSettingsError):
        ShopFraudSettings(review_at=HIGH_AT, high_at=HIGH_AT)


def test_confidence_is_the_share_of_rule_inputs_known() -> None:
    # Given only the card and IP countries are known
    result = score(Signals(card_country="GB", browser_ip_country="NG"))
    # Then confidence is 2 of all the default rules' inputs
    assert math.isclose(result.confidence, round(2 / len(DEFAULT_SETTINGS.inputs), 3))
    assert result.level is FraudLevel.UNSCORED
