"""Fraud screening before Recoup chases a customer: signals in, score, level and reasons out.

Pure: no I/O, no clock, no environment. The worker fills `Signals` from the Shopify and
Stripe payloads and from velocity counts it reads across the shop's cases, loads the shop's
`ShopFraudSettings` (`parse_settings`), calls `score`, and acts on `FraudResult.action`.
"""

from recoup.domain.fraud.defaults import DEFAULT_RULES, LOCKED_RULES
from recoup.domain.fraud.email_checks import EmailFacts, check_email
from recoup.domain.fraud.rules import (
    FraudLevel,
    FraudSettingsError,
    Rule,
    parse_rule,
    rule_to_dict,
)
from recoup.domain.fraud.score import (
    DEFAULT_SETTINGS,
    FraudAction,
    FraudResult,
    Reason,
    ScoredAt,
    ShopFraudSettings,
    parse_settings,
    record_score,
    score,
    settings_to_dict,
    unscored,
)
from recoup.domain.fraud.signals import HighValueCatalogue, Item, Signals

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_SETTINGS",
    "LOCKED_RULES",
    "EmailFacts",
    "FraudAction",
    "FraudLevel",
    "FraudResult",
    "FraudSettingsError",
    "HighValueCatalogue",
    "Item",
    "Reason",
    "Rule",
    "ScoredAt",
    "ShopFraudSettings",
    "Signals",
    "check_email",
    "parse_rule",
    "parse_settings",
    "record_score",
    "rule_to_dict",
    "score",
    "settings_to_dict",
    "unscored",
]
