"""Score one order: the shop's rules over its signals give a score, a level and the reasons.

    score = clamp(sum of the weights of the rules that fired, 0, 100)

A sum keeps every point explainable: each reason carries the weight it added, and a shop that
changes a weight can predict the effect. Weights may be negative (a returning customer, card
checks passed) so that good customers who look odd in one way are not held for it.

The level follows from the score and the shop's thresholds (low < review <= score < high),
except that a rule with `forces` raises it (the hard overrides force "high": an early fraud
warning, a dispute for fraud, a decline as stolen, lost or fraudulent). Confidence is the
share of the rules' inputs that are known. A "low" result with confidence below the shop's
minimum becomes "unscored": too little was known to let reminders run. A check that cannot
run at all (a bug, input that is not `Signals`) also answers "unscored", never raises.

Actions: low -> reminders run; review and unscored -> reminders held until the merchant
decides; high -> no reminders, flagged as fraud (`FraudResult.action`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recoup.domain.fraud.defaults import (
    DEFAULT_RULES,
    HIGH_AT,
    HIGH_VALUE_PRODUCT_TYPES,
    HIGH_VALUE_TAGS,
    LOCKED_RULES,
    MIN_CONFIDENCE,
    REVIEW_AT,
)
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
    check_keys,
    check_weight,
    join_path,
    object_at,
    parse_rule,
    rule_to_dict,
)
from recoup.domain.fraud.signals import HighValueCatalogue, Signals, signal_values

MAX_CUSTOM_RULES = 50
MAX_CATALOGUE = 500
_DEFAULT_NAMES = frozenset(rule.name for rule in DEFAULT_RULES)


def default_catalogue() -> HighValueCatalogue:
    return HighValueCatalogue(
        product_types=frozenset(HIGH_VALUE_PRODUCT_TYPES), tags=frozenset(HIGH_VALUE_TAGS)
    )


# --- the shop's settings ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopFraudSettings:
    """A shop's changes to the defaults. Construction validates everything (errors name the
    field as in the JSON form: "thresholds.review", "weights.cvc_failed", "rules[2].when.op").

    - `rules`: the shop's own rules; one named like a default rule replaces it.
    - `weights`: rule name -> weight, for default or own rules.
    - `disabled`: rules switched off (not the hard overrides in `LOCKED_RULES`).
    - `high_value`: what counts as a high-value item when the worker counts them.
    """

    review_at: int = REVIEW_AT
    high_at: int = HIGH_AT
    min_confidence: float = MIN_CONFIDENCE
    weights: Mapping[str, int] = field(default_factory=dict, hash=False)
    disabled: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = ()
    high_value: HighValueCatalogue = field(default_factory=default_catalogue)
    # Derived on construction:
    rules_in_force: tuple[Rule, ...] = field(init=False, repr=False, compare=False)
    inputs: frozenset[str] = field(init=False, repr=False, compare=False)
    ruleset: str = field(init=False, repr=False, compare=False)  # digest of what scores

    def __post_init__(self) -> None:
        for name, path in (("review_at", "thresholds.review"), ("high_at", "thresholds.high")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise FraudSettingsError(path, f"must be an integer from 1 to 100, got {value!r}")
        if self.review_at >= self.high_at:
            raise FraudSettingsError(
                "thresholds.review",
                f"must be below thresholds.high ({self.high_at}), got {self.review_at}",
            )
        confidence = self.min_confidence
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not math.isfinite(confidence)
            or not 0 <= confidence <= 1
        ):
            raise FraudSettingsError(
                "min_confidence", f"must be a number from 0 to 1, got {confidence!r}"
            )
        object.__setattr__(self, "min_confidence", float(confidence))
        if not isinstance(self.high_value, HighValueCatalogue):
            raise FraudSettingsError("high_value", "must be a HighValueCatalogue")
        own = self._check_rules()
        known = _DEFAULT_NAMES | set(own)
        weights = self._check_weights(known)
        disabled = self._check_disabled(known)
        merged = [own.pop(rule.name, rule) for rule in DEFAULT_RULES] + list(own.values())
        in_force = tuple(
            rule.with_weight(weights[rule.name]) if rule.name in weights else rule
            for rule in merged
            if rule.name not in disabled
        )
        object.__setattr__(self, "rules_in_force", in_force)
        inputs: frozenset[str] = frozenset()
        for rule in in_force:
            inputs |= rule.inputs
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "ruleset", self._digest())

    def _check_rules(self) -> dict[str, Rule]:
        rules = self.rules
        if isinstance(rules, list):
            rules = tuple(rules)
            object.__setattr__(self, "rules", rules)
        if not isinstance(rules, tuple):
            raise FraudSettingsError("rules", "must be a list of rules")
        if len(rules) > MAX_CUSTOM_RULES:
            raise FraudSettingsError("rules", f"a shop may have at most {MAX_CUSTOM_RULES} rules")
        own: dict[str, Rule] = {}
        for i, rule in enumerate(rules):
            path = f"rules[{i}]"
            if not isinstance(rule, Rule):
                raise FraudSettingsError(path, "must be a rule")
            if rule.name in LOCKED_RULES:
                raise FraudSettingsError(
                    f"{path}.name", f"{rule.name!r} is a hard override and cannot be replaced"
                )
            if rule.name in own:
                raise FraudSettingsError(f"{path}.name", f"{rule.name!r} is given twice")
            own[rule.name] = rule
        return own

    def _check_weights(self, known: set[str] | frozenset[str]) -> dict[str, int]:
        if not isinstance(self.weights, Mapping):
            raise FraudSettingsError("weights", "must be an object of rule name to weight")
        weights: dict[str, int] = {}
        for name, weight in self.weights.items():
            path = join_path("weights", str(name))
            if name not in known:
                raise FraudSettingsError(path, f"there is no rule named {name!r}")
            weights[name] = check_weight(weight, path)
        object.__setattr__(self, "weights", dict(sorted(weights.items())))
        return weights

    def _check_disabled(self, known: set[str] | frozenset[str]) -> frozenset[str]:
        names = self.disabled
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise FraudSettingsError("disabled", "must be a list of rule names")
        out = frozenset(names)
        for name in sorted(out, key=str):
            if name not in known:
                raise FraudSettingsError("disabled", f"there is no rule named {name!r}")
            if name in LOCKED_RULES:
                raise FraudSettingsError(
                    "disabled", f"{name!r} is a hard override and cannot be switched off"
                )
        object.__setattr__(self, "disabled", out)
        return out

    def _digest(self) -> str:
        body = {
            "review_at": self.review_at,
            "high_at": self.high_at,
            "min_confidence": self.min_confidence,
            "rules": [rule_to_dict(rule) for rule in self.rules_in_force],
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def rule(self, name: str) -> Rule | None:
        """The rule in force under `name`, or None."""
        return next((rule for rule in self.rules_in_force if rule.name == name), None)


DEFAULT_SETTINGS = ShopFraudSettings()

_SETTINGS_KEYS = ("thresholds", "min_confidence", "weights", "disabled", "rules", "high_value")
_CATALOGUE_KEYS = ("product_types", "tags", "skus")


def parse_settings(data: object) -> ShopFraudSettings:
    """Read a shop's fraud settings as the admin API and the table hold them; every key is
    optional. Raises `FraudSettingsError` naming the first problem ("rules[3].when.op")."""
    root = object_at(data, "settings")
    check_keys(root, "", (), _SETTINGS_KEYS)
    kwargs: dict[str, Any] = {}
    if "thresholds" in root:
        thresholds = object_at(root["thresholds"], "thresholds")
        check_keys(thresholds, "thresholds", (), ("review", "high"))
        kwargs["review_at"] = thresholds.get("review", REVIEW_AT)
        kwargs["high_at"] = thresholds.get("high", HIGH_AT)
    if "min_confidence" in root:
        kwargs["min_confidence"] = root["min_confidence"]
    raw_rules = root.get("rules", [])
    if not isinstance(raw_rules, list | tuple):
        raise FraudSettingsError(
            "rules", f"must be a list of rules, got {type(raw_rules).__name__}"
        )
    if len(raw_rules) > MAX_CUSTOM_RULES:
        raise FraudSettingsError("rules", f"a shop may have at most {MAX_CUSTOM_RULES} rules")
    kwargs["rules"] = tuple(parse_rule(raw, f"rules[{i}]") for i, raw in enumerate(raw_rules))
    if "weights" in root:
        kwargs["weights"] = dict(object_at(root["weights"], "weights"))
    if "disabled" in root:
        disabled = root["disabled"]
        if not isinstance(disabled, list | tuple):
            raise FraudSettingsError("disabled", "must be a list of rule names")
        for i, name in enumerate(disabled):
            if not isinstance(name, str):
                raise FraudSettingsError(f"disabled[{i}]", f"must be a rule name, got {name!r}")
            if name in LOCKED_RULES:
                raise FraudSettingsError(
                    f"disabled[{i}]", f"{name!r} is a hard override and cannot be switched off"
                )
            if name not in _DEFAULT_NAMES and not any(r.name == name for r in kwargs["rules"]):
                raise FraudSettingsError(f"disabled[{i}]", f"there is no rule named {name!r}")
        kwargs["disabled"] = frozenset(disabled)
    if "high_value" in root:
        kwargs["high_value"] = _parse_catalogue(root["high_value"])
    return ShopFraudSettings(**kwargs)


def _parse_catalogue(data: object) -> HighValueCatalogue:
    obj = object_at(data, "high_value")
    check_keys(obj, "high_value", (), _CATALOGUE_KEYS)
    lists: dict[str, frozenset[str]] = {}
    for key in _CATALOGUE_KEYS:
        path = f"high_value.{key}"
        words = obj.get(key, [])
        if not isinstance(words, list | tuple):
            raise FraudSettingsError(path, "must be a list of texts")
        if len(words) > MAX_CATALOGUE:
            raise FraudSettingsError(path, f"must list at most {MAX_CATALOGUE} entries")
        for i, word in enumerate(words):
            if not isinstance(word, str) or not word.strip() or len(word) > 100:
                raise FraudSettingsError(
                    f"{path}[{i}]", f"must be a text of 1 to 100 characters, got {word!r}"
                )
        lists[key] = frozenset(words)
    return HighValueCatalogue(**lists)


def settings_to_dict(settings: ShopFraudSettings) -> dict[str, Any]:
    """JSON-safe; `parse_settings` reads it back to equal settings."""
    return {
        "thresholds": {"review": settings.review_at, "high": settings.high_at},
        "min_confidence": settings.min_confidence,
        "weights": dict(settings.weights),
        "disabled": sorted(settings.disabled),
        "rules": [rule_to_dict(rule) for rule in settings.rules],
        "high_value": settings.high_value.to_dict(),
    }


# --- scoring ----------------------------------------------------------------------------------


def score(signals: Signals, settings: ShopFraudSettings | None = None) -> FraudResult:
    """Score one order. Pure and deterministic; never raises (a failure is "unscored")."""
    active = DEFAULT_SETTINGS if settings is None else settings
    ruleset = active.ruleset if isinstance(active, ShopFraudSettings) else ""
    try:
        if not isinstance(signals, Signals):
            raise TypeError(f"expected Signals, got {type(signals).__name__}")
        if not isinstance(active, ShopFraudSettings):
            raise TypeError(f"expected ShopFraudSettings, got {type(active).__name__}")
        return _score(signals, active)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run holds the case
        return unscored(f"the fraud check could not run: {type(exc).__name__}: {exc}", ruleset)


def _score(signals: Signals, settings: ShopFraudSettings) -> FraudResult:
    values, email = signal_values(signals)
    notes = list(signals.data_quality)
    if email.note:
        notes.append(email.note)
    total = 0
    forced: FraudLevel | None = None
    fired: list[Reason] = []
    for rule in settings.rules_in_force:
        if not rule.matches(values, notes):
            continue
        total += rule.weight
        fired.append(Reason(rule.name, rule.weight, rule.explain(values), rule.forces))
        if rule.forces is FraudLevel.HIGH or (rule.forces is not None and forced is None):
            forced = rule.forces
    points = max(0, min(100, total))
    inputs = settings.inputs
    known = sum(1 for name in inputs if values.get(name) is not None)
    confidence = round(known / len(inputs), 3) if inputs else 0.0
    if forced is FraudLevel.HIGH or points >= settings.high_at:
        level = FraudLevel.HIGH
    elif forced is FraudLevel.REVIEW or points >= settings.review_at:
        level = FraudLevel.REVIEW
    else:
        level = FraudLevel.LOW
    if level is FraudLevel.LOW and confidence < settings.min_confidence:
        level = FraudLevel.UNSCORED
        notes.append(
            f"only {known} of {len(inputs)} rule inputs are known (confidence "
            f"{confidence:.2f}, below {settings.min_confidence:.2f}): held for review"
        )
    fired.sort(key=lambda reason: -reason.weight)
    return FraudResult(
        score=points,
        level=level,
        reasons=tuple(fired),
        confidence=confidence,
        notes=tuple(dict.fromkeys(notes)),
        ruleset=settings.ruleset,
    )


__all__ = [
    "DEFAULT_SETTINGS",
    "FraudAction",
    "FraudResult",
    "Reason",
    "ScoredAt",
    "ShopFraudSettings",
    "default_catalogue",
    "parse_settings",
    "record_score",
    "score",
    "settings_to_dict",
    "unscored",
]
