"""Fraud rules as data: a name, a condition over the signals, a weight and a human reason.

A condition is a small declarative tree, read from JSON and never executed as code:

    {"signal": "stripe_risk_score", "op": "gte", "value": 65}
    {"signal": "card_country", "op": "ne", "other": "browser_ip_country"}
    {"signal": "decline_codes", "op": "any_in", "value": ["stolen_card", "lost_card"]}
    {"all": [...]}   {"any": [...]}   {"not": {...}}

Operators: eq, ne, gt, gte, lt, lte (against a `value` or an `other` signal of the same
kind), in (the signal is one of `value`), any_in (a list signal shares an entry with
`value`), is_true, missing, present. Which operators a signal accepts follows its kind (no
ordering of text, no `any_in` on a number); values are checked and normalised exactly as the
signal itself is ("gb" -> "GB"), so a rule cannot compare against something the signal could
never hold. Money thresholds are given per currency: {"USD": "1500.00", "EUR": "1400.00"}.

Evaluation is three-valued: a comparison over an unknown signal is *unknown* (None), `all`
is false if any part is false and unknown if any is unknown, `any` the mirror image, `not`
keeps unknown unknown. A rule fires only when its condition is true, so an unknown signal
never fires a rule and never raises; the scorer counts it toward lower confidence.

The reason is a template filled from the signals: "card country {card_country} differs from
IP country {browser_ip_country}". Placeholders must name signals; nothing else (no
attributes, indexes, conversions or format specs) is allowed.
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias

from recoup.domain import fields
from recoup.domain.fields import FieldError
from recoup.domain.fraud.result import FraudLevel
from recoup.domain.fraud.signals import SIGNALS, Kind, OddValue, SignalValue
from recoup.domain.money import Money, MoneyError, normalise_currency

MAX_WEIGHT = 100
MAX_DEPTH = 6
MAX_NODES = 40
MAX_LIST = 500
MAX_REASON = 300
MAX_DESCRIPTION = 500
_RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
_CODE = re.compile(r"[a-z0-9_]{1,64}")


class FraudSettingsError(FieldError):
    """An invalid rule or setting. `field` is a path into the data ("rules[3].when.op")."""


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    ANY_IN = "any_in"
    IS_TRUE = "is_true"
    MISSING = "missing"
    PRESENT = "present"


_ORDERING = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
_COMPARING = _ORDERING | {Op.EQ, Op.NE}  # take a `value` or an `other`
_BARE = frozenset({Op.IS_TRUE, Op.MISSING, Op.PRESENT})  # take neither
_OPS_BY_KIND: dict[Kind, frozenset[Op]] = {
    Kind.TEXT: frozenset({Op.EQ, Op.NE, Op.IN, Op.MISSING, Op.PRESENT}),
    Kind.INT: frozenset({*_COMPARING, Op.IN, Op.MISSING, Op.PRESENT}),
    Kind.BOOL: frozenset({Op.EQ, Op.NE, Op.IS_TRUE, Op.MISSING, Op.PRESENT}),
    Kind.MONEY: frozenset({*_ORDERING, Op.MISSING, Op.PRESENT}),
    Kind.TEXTS: frozenset({Op.ANY_IN, Op.MISSING, Op.PRESENT}),
}
_CMP: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
}


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    """One test of one signal. `value` is normalised on construction: a signal value, a
    frozenset for `in`/`any_in`, or a currency -> Money mapping for money thresholds."""

    signal: str
    op: Op
    value: Any = field(default=None, hash=False)
    other: str | None = None

    def __post_init__(self) -> None:
        spec = SIGNALS.get(self.signal) if isinstance(self.signal, str) else None
        if spec is None:
            raise FraudSettingsError("signal", f"unknown signal {_show(self.signal)}")
        try:
            op = Op(self.op)
        except ValueError:
            allowed = ", ".join(str(o) for o in Op)
            raise FraudSettingsError(
                "op", f"unknown operator {_show(self.op)}; operators are {allowed}"
            ) from None
        object.__setattr__(self, "op", op)
        if op not in _OPS_BY_KIND[spec.kind]:
            allowed = ", ".join(sorted(str(o) for o in _OPS_BY_KIND[spec.kind]))
            raise FraudSettingsError(
                "op",
                f"{op} does not apply to {self.signal} ({spec.kind}); use one of {allowed}",
            )
        if op in _BARE:
            if self.value is not None or self.other is not None:
                raise FraudSettingsError(
                    "value" if self.value is not None else "other", f"{op} takes no value"
                )
            return
        if self.other is not None:
            self._check_other(op, spec.kind)
            return
        if self.value is None:
            raise FraudSettingsError("value", f"{op} needs a value")
        object.__setattr__(self, "value", self._normalise_value(op, spec.kind))

    def _check_other(self, op: Op, kind: Kind) -> None:
        if self.value is not None:
            raise FraudSettingsError("other", "give either a value or another signal, not both")
        if op not in _COMPARING:
            raise FraudSettingsError("other", f"{op} compares with a value, not another signal")
        other = SIGNALS.get(self.other) if isinstance(self.other, str) else None
        if other is None:
            raise FraudSettingsError("other", f"unknown signal {_show(self.other)}")
        if other.kind is not kind:
            raise FraudSettingsError(
                "other",
                f"{self.other} ({other.kind}) cannot be compared with {self.signal} ({kind})",
            )
        if self.other == self.signal:
            raise FraudSettingsError("other", "compares the signal with itself")

    def _normalise_value(self, op: Op, kind: Kind) -> Any:
        if kind is Kind.MONEY:
            return _money_thresholds(self.value)
        if op in (Op.IN, Op.ANY_IN):
            items = self.value
            if isinstance(items, frozenset):
                items = sorted(items, key=str)
            if isinstance(items, str | bytes) or not isinstance(items, Sequence):
                raise FraudSettingsError("value", f"{op} needs a list, got {_show(items)}")
            if not 1 <= len(items) <= MAX_LIST:
                raise FraudSettingsError("value", f"must list 1 to {MAX_LIST} values")
            clean = self._clean_text_item if kind is Kind.TEXTS else self._clean_scalar
            return frozenset(clean(item, f"value[{i}]") for i, item in enumerate(items))
        return self._clean_scalar(self.value, "value")

    def _clean_scalar(self, raw: object, path: str) -> SignalValue:
        try:
            value = SIGNALS[self.signal].clean(raw)
        except OddValue as odd:
            raise FraudSettingsError(
                path, f"not a possible value of {self.signal}: {odd}"
            ) from None
        if value is None:
            raise FraudSettingsError(path, f"{_show(raw)} means 'unknown' for {self.signal}")
        return value

    def _clean_text_item(self, raw: object, path: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise FraudSettingsError(path, f"expected text, got {_show(raw)}")
        if self.signal != "decline_codes":
            return " ".join(raw.split())
        code = raw.strip().lower()
        if not _CODE.fullmatch(code):
            raise FraudSettingsError(path, f"{_show(raw)} is not a code of a-z, 0-9 and '_'")
        return code


@dataclass(frozen=True, slots=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


Condition: TypeAlias = Compare | AllOf | AnyOf | Not


def _money_thresholds(raw: object) -> dict[str, Money]:
    if not isinstance(raw, Mapping) or not raw:
        raise FraudSettingsError(
            "value", f"a money threshold is an object of currency to amount, got {_show(raw)}"
        )
    out: dict[str, Money] = {}
    for currency, amount in raw.items():
        path = f"value.{currency}"
        try:
            code = normalise_currency(currency)
            if isinstance(amount, Money):
                money = amount
            elif isinstance(amount, int | Decimal | str) and not isinstance(amount, bool):
                money = Money.parse(str(amount), code)
            else:
                raise MoneyError(
                    f"amount must be a decimal string such as '1500.00', got {_show(amount)}"
                )
        except MoneyError as exc:
            raise FraudSettingsError(path, str(exc)) from None
        if money.currency != code:
            raise FraudSettingsError(path, f"is in {money.currency}, not {code}")
        if code in out:
            raise FraudSettingsError(path, f"{code} is given twice")
        out[code] = money
    return out


def evaluate(
    condition: Condition, values: Mapping[str, SignalValue], notes: list[str] | None = None
) -> bool | None:
    """True, False, or None when the signals it needs are unknown. Never raises on values."""
    if isinstance(condition, Compare):
        return _compare(condition, values, notes)
    if isinstance(condition, AllOf):
        unknown = False
        for part in condition.conditions:
            result = evaluate(part, values, notes)
            if result is False:
                return False
            unknown = unknown or result is None
        return None if unknown else True
    if isinstance(condition, AnyOf):
        unknown = False
        for part in condition.conditions:
            result = evaluate(part, values, notes)
            if result is True:
                return True
            unknown = unknown or result is None
        return None if unknown else False
    result = evaluate(condition.condition, values, notes)
    return None if result is None else not result


def _compare(
    test: Compare, values: Mapping[str, SignalValue], notes: list[str] | None
) -> bool | None:
    value = values.get(test.signal)
    op = test.op
    if op is Op.MISSING:
        return value is None
    if op is Op.PRESENT:
        return value is not None
    if value is None:
        return None
    if op is Op.IS_TRUE:
        return value is True
    if op is Op.ANY_IN:
        return isinstance(value, tuple) and not test.value.isdisjoint(value)
    if op is Op.IN:
        return value in test.value
    target: Any
    if test.other is not None:
        target = values.get(test.other)
        if target is None:
            return None
    else:
        target = test.value
    if isinstance(value, Money):
        if isinstance(target, Money):
            if target.currency != value.currency:
                return None
            threshold = target
        else:
            found = target.get(value.currency)
            if found is None:
                if notes is not None:
                    notes.append(f"{test.signal}: no threshold in {value.currency}; rule skipped")
                return None
            threshold = found
        return _CMP[op](value.minor, threshold.minor)
    return _CMP[op](value, target)


def inputs_of(condition: Condition) -> frozenset[str]:
    """The signals whose being unknown leaves the condition undecided (missing/present read
    only whether a signal is known, so they always decide)."""
    if isinstance(condition, Compare):
        if condition.op in (Op.MISSING, Op.PRESENT):
            return frozenset()
        names = {condition.signal}
        if condition.other is not None:
            names.add(condition.other)
        return frozenset(names)
    if isinstance(condition, Not):
        return inputs_of(condition.condition)
    out: frozenset[str] = frozenset()
    for part in condition.conditions:
        out |= inputs_of(part)
    return out


# --- reason templates -------------------------------------------------------------------------

TemplatePart: TypeAlias = tuple[str, str | None]  # (literal text, signal to insert after it)


def compile_template(text: object) -> tuple[TemplatePart, ...]:
    if not isinstance(text, str) or not text.strip():
        raise FraudSettingsError("reason", f"must be a non-empty text, got {_show(text)}")
    if len(text) > MAX_REASON:
        raise FraudSettingsError("reason", f"must be at most {MAX_REASON} characters")
    parts: list[TemplatePart] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise FraudSettingsError("reason", f"is not a valid template: {exc}") from None
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None))
            continue
        if spec or conversion or name not in SIGNALS:
            raise FraudSettingsError(
                "reason",
                f"placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} must be a signal name such as {{card_country}}",
            )
        parts.append((literal, name))
    return tuple(parts)


def render(parts: tuple[TemplatePart, ...], values: Mapping[str, SignalValue]) -> str:
    out: list[str] = []
    for literal, name in parts:
        out.append(literal)
        if name is not None:
            out.append(show_value(values.get(name)))
    return "".join(out)


def show_value(value: SignalValue) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return "; ".join(value) if value else "none"
    return str(value)


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. `forces` raises the level to at least REVIEW or HIGH whatever the score."""

    name: str
    weight: int
    when: Condition
    reason: str
    description: str = ""
    forces: FraudLevel | None = None
    _template: tuple[TemplatePart, ...] = field(init=False, repr=False, compare=False)
    inputs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _RULE_NAME.fullmatch(self.name):
            raise FraudSettingsError(
                "name",
                "must be 1 to 60 characters of a-z, 0-9 and '_', starting with a letter; "
                f"got {_show(self.name)}",
            )
        check_weight(self.weight, "weight")
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            raise FraudSettingsError(
                "description", f"must be a text of at most {MAX_DESCRIPTION} characters"
            )
        if self.forces is not None:
            try:
                forces = FraudLevel(self.forces)
            except ValueError:
                forces = None
            if forces not in (FraudLevel.REVIEW, FraudLevel.HIGH):
                raise FraudSettingsError(
                    "forces", f"must be 'review' or 'high', got {_show(self.forces)}"
                )
            object.__setattr__(self, "forces", forces)
        _check_tree(self.when, "when", depth=1, budget=[MAX_NODES])
        object.__setattr__(self, "_template", compile_template(self.reason))
        object.__setattr__(self, "inputs", inputs_of(self.when))

    def matches(self, values: Mapping[str, SignalValue], notes: list[str] | None = None) -> bool:
        return evaluate(self.when, values, notes) is True

    def explain(self, values: Mapping[str, SignalValue]) -> str:
        return render(self._template, values)

    def with_weight(self, weight: int) -> Rule:
        return replace(self, weight=weight)


def check_weight(weight: object, path: str) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise FraudSettingsError(path, f"must be an integer, got {_show(weight)}")
    if not -MAX_WEIGHT <= weight <= MAX_WEIGHT:
        raise FraudSettingsError(path, f"must be between {-MAX_WEIGHT} and {MAX_WEIGHT}")
    return weight


def _check_tree(condition: object, path: str, depth: int, budget: list[int]) -> None:
    """Rules built in code get the same limits as parsed ones."""
    budget[0] -= 1
    if budget[0] < 0:
        raise FraudSettingsError(path, f"a rule's condition may have at most {MAX_NODES} parts")
    if depth > MAX_DEPTH:
        raise FraudSettingsError(path, f"conditions may nest at most {MAX_DEPTH} deep")
    if isinstance(condition, Compare):
        return
    if isinstance(condition, Not):
        _check_tree(condition.condition, f"{path}.not", depth + 1, budget)
        return
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        if not isinstance(condition.conditions, tuple) or not condition.conditions:
            raise FraudSettingsError(f"{path}.{key}", "must be a non-empty tuple of conditions")
        for i, part in enumerate(condition.conditions):
            _check_tree(part, f"{path}.{key}[{i}]", depth + 1, budget)
        return
    raise FraudSettingsError(path, f"must be a condition, got {_show(condition)}")


# --- JSON -------------------------------------------------------------------------------------

_RULE_REQUIRED = ("name", "weight", "when", "reason")
_RULE_OPTIONAL = ("description", "forces")
_LEAF_KEYS = ("signal", "op", "value", "other")


def parse_rule(data: object, path: str = "") -> Rule:
    """Read one rule; raises `FraudSettingsError` naming the field under `path`."""
    obj = object_at(data, path)
    check_keys(obj, path, _RULE_REQUIRED, _RULE_OPTIONAL)
    when = parse_condition(obj["when"], join_path(path, "when"))
    try:
        return Rule(
            name=obj["name"],
            weight=obj["weight"],
            when=when,
            reason=obj["reason"],
            description=obj.get("description", ""),
            forces=obj.get("forces"),
        )
    except FraudSettingsError as exc:
        raise exc.under(path) from None


def parse_condition(data: object, path: str, depth: int = 1) -> Condition:
    if depth > MAX_DEPTH:
        raise FraudSettingsError(path, f"conditions may nest at most {MAX_DEPTH} deep")
    obj = object_at(data, path)
    if "all" in obj or "any" in obj or "not" in obj:
        if len(obj) != 1:
            raise FraudSettingsError(
                path, "a combinator is an object with exactly one key: all, any or not"
            )
        key = next(iter(obj))
        if key == "not":
            return Not(parse_condition(obj["not"], f"{path}.not", depth + 1))
        parts = obj[key]
        if isinstance(parts, str | bytes) or not isinstance(parts, Sequence) or not parts:
            raise FraudSettingsError(f"{path}.{key}", "must be a non-empty list of conditions")
        if len(parts) > MAX_NODES:
            raise FraudSettingsError(f"{path}.{key}", f"must list at most {MAX_NODES} conditions")
        conditions = tuple(
            parse_condition(part, f"{path}.{key}[{i}]", depth + 1) for i, part in enumerate(parts)
        )
        return AllOf(conditions) if key == "all" else AnyOf(conditions)
    check_keys(obj, path, ("signal", "op"), ("value", "other"))
    if "value" in obj and obj["value"] is None:
        raise FraudSettingsError(join_path(path, "value"), "must not be null")
    try:
        return Compare(
            signal=obj["signal"], op=obj["op"], value=obj.get("value"), other=obj.get("other")
        )
    except FraudSettingsError as exc:
        raise exc.under(path) from None


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, AllOf):
        return {"all": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, Not):
        return {"not": condition_to_dict(condition.condition)}
    out: dict[str, Any] = {"signal": condition.signal, "op": str(condition.op)}
    if condition.other is not None:
        out["other"] = condition.other
    elif condition.value is not None:
        out["value"] = _value_to_json(condition.value)
    return out


def _value_to_json(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value, key=lambda v: (str(type(v)), v))
    if isinstance(value, dict):
        return {code: _plain_decimal(m) for code, m in sorted(value.items())}
    if isinstance(value, Money):
        return value.to_dict()
    return value


def _plain_decimal(money: Money) -> str:
    return f"{money.decimal:f}"


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": rule.name,
        "weight": rule.weight,
        "when": condition_to_dict(rule.when),
        "reason": rule.reason,
    }
    if rule.description:
        out["description"] = rule.description
    if rule.forces is not None:
        out["forces"] = str(rule.forces)
    return out


# --- helpers shared with the settings parser ---------------------------------------------------


def object_at(value: object, path: str) -> Mapping[str, Any]:
    return fields.object_at(value, path, FraudSettingsError)


def check_keys(
    obj: Mapping[str, Any], path: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    fields.check_keys(obj, path, required, optional, FraudSettingsError)


join_path, _show = fields.join_path, fields.show


__all__ = [
    "AllOf",
    "AnyOf",
    "Compare",
    "Condition",
    "FraudLevel",
    "FraudSettingsError",
    "Not",
    "Op",
    "Rule",
    "condition_to_dict",
    "evaluate",
    "inputs_of",
    "parse_condition",
    "parse_rule",
    "rule_to_dict",
]
