"""Fraud screening before Recoup chases a customer: signals in, score, level and reasons out.

Pure: no I/O, no clock, no environment. The worker fills `Signals` from the Shopify and
Stripe payloads and from velocity counts it reads across the shop's cases, loads the shop's
`ShopFraudSettings` (`parse_settings`), calls `score`, and acts on `FraudResult.action`.

The names below are loaded on first use: every function reads a case's stored screening
(`screening`, `result`), while only the scorer and the settings page need the rules, the
defaults and the signals (parsing the default rules is most of this package's import).
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoup.domain.fraud.defaults import DEFAULT_RULES, LOCKED_RULES
    from recoup.domain.fraud.email_checks import EmailFacts, check_email
    from recoup.domain.fraud.result import (
        FraudAction,
        FraudLevel,
        FraudResult,
        Reason,
        ScoredAt,
        record_score,
        unscored,
    )
    from recoup.domain.fraud.rules import (
        FraudSettingsError,
        Rule,
        parse_rule,
        rule_to_dict,
    )
    from recoup.domain.fraud.score import (
        DEFAULT_SETTINGS,
        ShopFraudSettings,
        parse_settings,
        score,
        settings_to_dict,
    )
    from recoup.domain.fraud.signals import HighValueCatalogue, Item, Signals

# Each name and the submodule that defines it.
_HOMES = {
    "DEFAULT_RULES": "defaults",
    "LOCKED_RULES": "defaults",
    "EmailFacts": "email_checks",
    "check_email": "email_checks",
    "FraudAction": "result",
    "FraudLevel": "result",
    "FraudResult": "result",
    "Reason": "result",
    "ScoredAt": "result",
    "record_score": "result",
    "unscored": "result",
    "FraudSettingsError": "rules",
    "Rule": "rules",
    "parse_rule": "rules",
    "rule_to_dict": "rules",
    "DEFAULT_SETTINGS": "score",
    "ShopFraudSettings": "score",
    "parse_settings": "score",
    "score": "score",
    "settings_to_dict": "score",
    "HighValueCatalogue": "signals",
    "Item": "signals",
    "Signals": "signals",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = import_module(f"{__name__}.{home}")
    value = getattr(module, name)
    globals()[name] = value
    return value


class _Package(ModuleType):
    """`score` names both a submodule and the scoring function this package exports. The
    import system sets a submodule on its package once it is loaded, which would replace the
    function whichever way `score.py` came to be imported first; the function stays."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "score" and isinstance(value, ModuleType):
            value = value.score
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
