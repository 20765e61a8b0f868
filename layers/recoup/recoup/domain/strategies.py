"""Strategies: which reminder sequence fits which case.

A shop keeps an ordered list of strategies in its reminder policy; each has conditions over
the case's facts (how the order was to be paid, why a payment was declined, the amount, the
customer's country, a first or returning customer and their earlier cases, the fraud risk,
payment terms) and its own steps. The first strategy whose conditions all hold takes the
case; when none does, the policy's own steps do (the default strategy, which is what every
shop had before strategies existed, so a stored policy needs no migration). The case
records which strategy took it and why, and, when the strategy runs an experiment, its arm
(`domain/experiments.py`). The facts are `domain/case_facts.py`'s.

A policy that never set its strategies gets the shipped ones (`shipped`): bank transfers and
cash on delivery waited for longer, worded by their payment situation, never "your card".

Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from recoup.domain import cadence, experiments, retries
from recoup.domain.cadence import Anchor, Channel, PolicyError, Step, Tone
from recoup.domain.case_facts import (
    DEFAULT_ID,
    HISTORIES,
    MANUAL_METHODS,
    NO_DECLINE,
    RISKS,
    CaseFacts,
    CustomerKind,
    Method,
)
from recoup.domain.experiments import Arm, Experiment
from recoup.domain.fields import FieldError, check_keys, is_int, join_path, object_at, show
from recoup.domain.money import Money, normalise_currency

if TYPE_CHECKING:
    from recoup.domain.cadence import ReminderPolicy

MAX_STRATEGIES = 20
MAX_COURTESY_DAYS = 14
MAX_CANCEL_DAYS = 90
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Band:
    """An amount band of one currency: from `low` (included) to `high` (excluded; None: no
    upper bound), in minor units."""

    low: int = 0
    high: int | None = None

    def holds(self, minor: int) -> bool:
        return minor >= self.low and (self.high is None or minor < self.high)


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a case must be for a strategy to take it; an empty condition holds for any."""

    methods: frozenset[Method] = frozenset()
    declines: frozenset[str] = frozenset()
    amount: Mapping[str, Band] = field(default_factory=dict, hash=False)
    countries: frozenset[str] = frozenset()
    customer: CustomerKind = CustomerKind.ANY
    risks: frozenset[str] = frozenset()
    payment_terms: bool | None = None  # True: only orders with terms; False: only without
    histories: frozenset[str] = frozenset()  # the customer's past cases (HISTORIES)

    def holds(self, facts: CaseFacts) -> bool:
        """Whether the case matches, without saying why (matching every case is hot)."""
        f = facts
        if (self.methods and f.method not in self.methods) or (
            self.declines and f.decline not in self.declines
        ):
            return False
        if self.countries and f.country not in self.countries:
            return False
        if (self.risks and f.risk not in self.risks) or (
            self.histories and f.history not in self.histories
        ):
            return False
        if self.payment_terms is not None and self.payment_terms != (f.payment_terms is not None):
            return False
        if self.customer is not CustomerKind.ANY and (
            f.returning is None or f.returning != (self.customer is CustomerKind.RETURNING)
        ):
            return False
        return not self.amount or _amount_fails(self, f) is None

    def failure(self, facts: CaseFacts) -> str | None:
        """Why the case does not match, in words; None when it does."""
        for check in _CHECKS:
            why = check(self, facts)
            if why is not None:
                return why
        return None

    def described(self, facts: CaseFacts) -> str:
        """The conditions that held, in words ("any case" when there are none)."""
        said = [words for words in (_said(self, facts, name) for name in _NAMES) if words]
        return "; ".join(said) or "any case"


def _method_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.methods and f.method not in c.methods:
        return f"paid by {f.method}, not {_either(c.methods)}"
    return None


def _decline_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.declines and f.decline not in c.declines:
        return f"decline {f.decline}, not {_either(c.declines)}"
    return None


def _amount_fails(c: Conditions, f: CaseFacts) -> str | None:
    if not c.amount:
        return None
    if f.owed is None:
        return "nothing owed"
    band = c.amount.get(f.owed.currency)
    if band is None:
        return f"owes {f.owed.currency}, no band for it"
    if not band.holds(f.owed.minor):
        return f"owes {f.owed}, outside {_band_words(band, f.owed.currency)}"
    return None


def _country_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.countries and f.country not in c.countries:
        return f"country {f.country or 'unknown'}, not {_either(c.countries)}"
    return None


def _customer_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.customer is CustomerKind.ANY:
        return None
    if f.returning is None:
        return "whether the customer ordered before is not known"
    kind = CustomerKind.RETURNING if f.returning else CustomerKind.FIRST
    return None if kind is c.customer else f"a {kind} customer, not {c.customer}"


def _risk_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.risks and f.risk not in c.risks:
        return f"risk {f.risk}, not {_either(c.risks)}"
    return None


def _history_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.histories and f.history not in c.histories:
        return f"past cases: {f.history or 'not known'}, not {_either(c.histories)}"
    return None


def _terms_fails(c: Conditions, f: CaseFacts) -> str | None:
    if c.payment_terms is None or c.payment_terms == (f.payment_terms is not None):
        return None
    return "no payment terms" if c.payment_terms else f"payment terms ({f.payment_terms})"


_CHECKS = (
    _method_fails,
    _decline_fails,
    _amount_fails,
    _country_fails,
    _customer_fails,
    _risk_fails,
    _history_fails,
    _terms_fails,
)
_NAMES = (
    "methods",
    "declines",
    "amount",
    "countries",
    "customer",
    "risks",
    "histories",
    "payment_terms",
)


def _said(c: Conditions, f: CaseFacts, name: str) -> str:
    if name == "methods" and c.methods:
        return f"paid by {f.method}"
    if name == "declines" and c.declines:
        return f"decline {f.decline}" + (f" ({f.decline_code})" if f.decline_code else "")
    if name == "amount" and c.amount and f.owed is not None:
        return f"owes {f.owed} within {_band_words(c.amount[f.owed.currency], f.owed.currency)}"
    if name == "countries" and c.countries:
        return f"country {f.country}"
    if name == "customer" and c.customer is not CustomerKind.ANY:
        return f"a {c.customer} customer"
    if name == "risks" and c.risks:
        return f"risk {f.risk}"
    if name == "histories" and c.histories:
        return f"past cases: {f.history}"
    if name == "payment_terms" and c.payment_terms is not None:
        return f"payment terms ({f.payment_terms})" if c.payment_terms else "no payment terms"
    return ""


def _either(values: frozenset[Any]) -> str:
    return " or ".join(sorted(str(v) for v in values))


def _band_words(band: Band, currency: str) -> str:
    low = Money.of(band.low, currency)
    if band.high is None:
        return f"{low} and up"
    return f"{low} to under {Money.of(band.high, currency)}"


@dataclass(frozen=True, slots=True)
class Strategy:
    """A named sequence for the cases its conditions describe. `courtesy_days`: for orders
    with payment terms, a reminder that many days before the due date (0: none).
    `experiment`: arms of the strategy, each with its own steps (`variants`, the strategy's
    own when an arm has none) or, for the holdout, none at all."""

    id: str
    name: str
    conditions: Conditions
    steps: tuple[Step, ...]
    courtesy_days: int = 0
    # Manual payments only: cancel the order in Shopify and restock it this many days after
    # the case opened, if still unpaid, the customer told first (0: never).
    cancel_after_days: int = 0
    experiment: Experiment | None = None
    variants: Mapping[str, tuple[Step, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise PolicyError(
                "id", f"must be 1 to 40 characters of a-z, 0-9, '_' or '-', got {show(self.id)}"
            )
        if not isinstance(self.name, str) or not 1 <= len(self.name.strip()) <= 80:
            raise PolicyError("name", f"must be 1 to 80 characters, got {show(self.name)}")
        object.__setattr__(self, "steps", cadence.check_steps(self.steps))
        days = self.courtesy_days
        if not is_int(days) or not 0 <= days <= MAX_COURTESY_DAYS:
            raise PolicyError(
                "courtesy_days",
                f"must be an integer between 0 and {MAX_COURTESY_DAYS}, got {show(days)}",
            )
        self._check_cancel()
        arms = {arm.id for arm in self.experiment.arms} if self.experiment else set()
        for arm_id, steps in self.variants.items():
            if arm_id not in arms:
                raise PolicyError(f"variants.{arm_id}", "names no arm of the strategy's experiment")
            try:
                cadence.check_steps(steps)
            except PolicyError as exc:
                raise exc.under(f"variants.{arm_id}") from None

    def _check_cancel(self) -> None:
        days = self.cancel_after_days
        if not is_int(days) or not 0 <= days <= MAX_CANCEL_DAYS:
            raise PolicyError(
                "cancel_after_days",
                f"must be an integer between 0 and {MAX_CANCEL_DAYS} (0: never), got {show(days)}",
            )
        methods = self.conditions.methods
        if days and (not methods or not methods <= MANUAL_METHODS):
            raise PolicyError(
                "cancel_after_days",
                "applies only to a strategy for manual payments: set when.methods to some of "
                f"{', '.join(sorted(MANUAL_METHODS))}",
            )

    def steps_for(self, arm: str) -> tuple[Step, ...]:
        return self.variants.get(arm, self.steps)


def shipped() -> tuple[Strategy, ...]:
    """The strategies a shop has until it sets its own: bank transfers and cash on delivery
    wait three days (a transfer takes one to three working days to land), then two firmer
    reminders, each worded for a payment awaited, with the payment instructions."""
    steps = (
        Step(timedelta(days=3), Anchor.OPENED, Channel.EMAIL, "friendly", Tone.FRIENDLY, True),
        Step(timedelta(days=4), Anchor.PREVIOUS, Channel.EMAIL_THEN_SMS, "firm", Tone.FIRM, True),
        Step(
            timedelta(days=7),
            Anchor.PREVIOUS,
            Channel.EMAIL,
            "final_notice",
            Tone.FINAL_NOTICE,
            True,
        ),
    )
    manual = Conditions(methods=frozenset({Method.BANK_TRANSFER, Method.CASH_ON_DELIVERY}))
    return (Strategy("manual-payments", "Bank transfer and cash on delivery", manual, steps),)


def in_force(policy: ReminderPolicy) -> tuple[Strategy, ...]:
    """The policy's strategies in the order they are tried, the default last."""
    own = shipped() if policy.strategies is None else policy.strategies
    return (*own, _default(policy.steps))


def needs_history(policy: ReminderPolicy) -> bool:
    """Whether a strategy asks about the customer's past cases (read only then)."""
    return any(s.conditions.histories for s in in_force(policy))


@lru_cache(maxsize=64)
def _default(steps: tuple[Step, ...]) -> Strategy:
    """The default strategy of these steps (built once: construction validates)."""
    return Strategy(DEFAULT_ID, "Default", Conditions(), steps)


@dataclass(frozen=True, slots=True)
class Choice:
    """The strategy that takes a case, why, and the experiment's arm it falls in."""

    strategy: Strategy
    why: str
    arm: Arm | None = None

    @property
    def holdout(self) -> bool:
        return self.arm is not None and self.arm.holdout

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.strategy.steps_for(self.arm.id if self.arm else "")


@dataclass(frozen=True, slots=True)
class Tried:
    """One strategy as the tester shows it: taken, or why not."""

    strategy: Strategy
    failure: str | None


def evaluate(policy: ReminderPolicy, facts: CaseFacts) -> tuple[Tried, ...]:
    """Every strategy in order with why it did not match, up to the one that did."""
    tried: list[Tried] = []
    for strategy in in_force(policy):
        failure = strategy.conditions.failure(facts)
        tried.append(Tried(strategy, failure))
        if failure is None:
            break
    return tuple(tried)


def choose(policy: ReminderPolicy, facts: CaseFacts, shop: str, case_id: str) -> Choice:
    """The first strategy whose conditions hold (the default when none does), and the arm.
    Only the taker is put in words (the tester, `evaluate`, says why each other missed)."""
    listed = in_force(policy)
    taken = next(s for s in listed if s.conditions.holds(facts))
    if taken.id == DEFAULT_ID and len(listed) > 1:
        missed = listed[:-1]
        named = "; ".join(f"{s.id}: {s.conditions.failure(facts)}" for s in missed[:3])
        more = f"; and {len(missed) - 3} more" if len(missed) > 3 else ""
        why = f"no other strategy matched ({named}{more})"
    else:
        why = taken.conditions.described(facts)
    experiment = taken.experiment
    arm = experiments.assign(experiment, shop, case_id) if experiment else None
    return Choice(taken, why, arm)


def cadence_for(policy: ReminderPolicy, strategy_id: str, arm: str = "") -> ReminderPolicy:
    """The policy as a case of that strategy (and arm) follows it: its steps instead of the
    default's. A strategy no longer in the policy falls back to the default."""
    if not strategy_id or strategy_id == DEFAULT_ID:
        return policy
    return _followed(policy, strategy_id, arm)


@lru_cache(maxsize=256)
def _followed(policy: ReminderPolicy, strategy_id: str, arm: str) -> ReminderPolicy:
    """`cadence_for`, kept: a policy made again is validated again (its currencies too)."""
    for strategy in in_force(policy):
        if strategy.id == strategy_id:
            steps = strategy.steps_for(arm)
            return policy if steps == policy.steps else replace(policy, steps=steps)
    return policy


def find(policy: ReminderPolicy, strategy_id: str) -> Strategy | None:
    return next((s for s in in_force(policy) if s.id == strategy_id), None)


def courtesy_time(due_at: datetime, days: int, zone: ZoneInfo) -> datetime:
    """When the courtesy reminder goes: 10:00 on the customer's calendar `days` days before
    the day the payment falls due (in their zone), in UTC."""
    day = due_at.astimezone(zone).date() - timedelta(days=days)
    return datetime.combine(day, time(10, 0), tzinfo=zone).astimezone(UTC)


# --- validation -------------------------------------------------------------------------------


def check_strategies(strategies: object) -> tuple[Strategy, ...]:
    if isinstance(strategies, list):
        strategies = tuple(strategies)
    if not isinstance(strategies, tuple):
        raise PolicyError("strategies", f"must be a list of strategies, got {show(strategies)}")
    if len(strategies) > MAX_STRATEGIES:
        raise PolicyError(
            "strategies", f"must have at most {MAX_STRATEGIES} strategies, got {len(strategies)}"
        )
    seen: set[str] = set()
    for i, strategy in enumerate(strategies):
        if not isinstance(strategy, Strategy):
            raise PolicyError(f"strategies[{i}]", f"must be a Strategy, got {show(strategy)}")
        if strategy.id == DEFAULT_ID or strategy.id in seen:
            taken = "is the default's" if strategy.id == DEFAULT_ID else "is used twice"
            raise PolicyError(f"strategies[{i}].id", f"{strategy.id!r} {taken}")
        seen.add(strategy.id)
    return strategies


# --- JSON -------------------------------------------------------------------------------------

_KEYS = ("id", "name", "steps")
_OPTIONAL = ("when", "courtesy_days", "cancel_after_days", "experiment", "variants")
_WHEN = (
    "methods",
    "declines",
    "amount",
    "countries",
    "customer",
    "risks",
    "past_cases",
    "payment_terms",
)
_DECLINES = (*(str(c) for c in retries.DeclineCategory), NO_DECLINE)


def parse_strategies(raw: object) -> tuple[Strategy, ...]:
    """The policy's `strategies` as JSON holds them; errors name `strategies[i]...`."""
    if not isinstance(raw, list | tuple):
        raise PolicyError("strategies", f"must be a list of strategies, got {show(raw)}")
    if len(raw) > MAX_STRATEGIES:
        raise PolicyError(
            "strategies", f"must have at most {MAX_STRATEGIES} strategies, got {len(raw)}"
        )
    parsed = []
    for i, item in enumerate(raw):
        try:
            parsed.append(parse_strategy(item))
        except FieldError as exc:
            raise PolicyError(join_path(f"strategies[{i}]", exc.field), exc.message) from None
    return check_strategies(tuple(parsed))


def parse_strategy(raw: object) -> Strategy:
    obj = object_at(raw, "", PolicyError)
    check_keys(obj, "", _KEYS, _OPTIONAL, PolicyError)
    steps = cadence.parse_steps(obj["steps"])
    experiment = None
    if obj.get("experiment") is not None:
        try:
            experiment = experiments.parse_experiment(obj["experiment"])
        except FieldError as exc:
            raise PolicyError(join_path("experiment", exc.field), exc.message) from None
    variants = object_at(obj.get("variants", {}), "variants", PolicyError)
    return Strategy(
        id=obj["id"],
        name=obj["name"],
        conditions=_parse_when(obj.get("when", {})),
        steps=steps,
        courtesy_days=obj.get("courtesy_days", 0),
        cancel_after_days=obj.get("cancel_after_days", 0),
        experiment=experiment,
        variants={str(arm): _steps_under(f"variants.{arm}", raw) for arm, raw in variants.items()},
    )


def _steps_under(path: str, raw: object) -> tuple[Step, ...]:
    try:
        return cadence.parse_steps(raw)
    except FieldError as exc:
        raise PolicyError(join_path(path, exc.field), exc.message) from None


def _parse_when(raw: object) -> Conditions:
    when = object_at(raw, "when", PolicyError)
    check_keys(when, "when", (), _WHEN, PolicyError)
    terms = when.get("payment_terms")
    if terms is not None and not isinstance(terms, bool):
        raise PolicyError("when.payment_terms", f"must be true, false or null, got {show(terms)}")
    return Conditions(
        methods=frozenset(
            Method(v) for v in _choices(when, "methods", tuple(str(m) for m in Method))
        ),
        declines=frozenset(_choices(when, "declines", _DECLINES)),
        amount=_bands(when.get("amount", {})),
        countries=frozenset(_countries(when.get("countries", []))),
        customer=CustomerKind(_choice(when, "customer", tuple(str(k) for k in CustomerKind))),
        risks=frozenset(_choices(when, "risks", RISKS)),
        histories=frozenset(_choices(when, "past_cases", HISTORIES)),
        payment_terms=terms,
    )


def _choices(when: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> list[str]:
    values = when.get(key, [])
    path = f"when.{key}"
    if not isinstance(values, list):
        raise PolicyError(path, f"must be a list, got {show(values)}")
    for i, value in enumerate(values):
        if value not in allowed:
            raise PolicyError(
                f"{path}[{i}]", f"must be one of {', '.join(allowed)}; got {show(value)}"
            )
    return [str(v) for v in values]


def _choice(when: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = when.get(key, allowed[0])
    if value not in allowed:
        raise PolicyError(f"when.{key}", f"must be one of {', '.join(allowed)}; got {show(value)}")
    return str(value)


def _countries(values: object) -> list[str]:
    if not isinstance(values, list):
        raise PolicyError("when.countries", f"must be a list, got {show(values)}")
    for i, value in enumerate(values):
        if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
            raise PolicyError(
                f"when.countries[{i}]",
                f"must be an ISO 3166-1 alpha-2 code in capitals such as 'DE', got {show(value)}",
            )
    return [str(v) for v in values]


def _bands(raw: object) -> dict[str, Band]:
    bands = object_at(raw, "when.amount", PolicyError)
    parsed: dict[str, Band] = {}
    for currency, band in bands.items():
        path = f"when.amount.{currency}"
        try:
            code = normalise_currency(currency)
        except ValueError:
            raise PolicyError(path, "must be a three-letter ISO 4217 currency code") from None
        obj = object_at(band, path, PolicyError)
        check_keys(obj, path, (), ("min", "max"), PolicyError)
        low, high = obj.get("min", 0), obj.get("max")
        if not is_int(low) or low < 0:
            raise PolicyError(f"{path}.min", f"must be whole minor units >= 0, got {show(low)}")
        if high is not None and (not is_int(high) or high <= low):
            raise PolicyError(
                f"{path}.max",
                f"must be whole minor units above min ({low}), or null, got {show(high)}",
            )
        parsed[code] = Band(low, high)
    return parsed


def strategy_to_dict(strategy: Strategy) -> dict[str, Any]:
    c = strategy.conditions
    when: dict[str, Any] = {
        "methods": sorted(str(m) for m in c.methods),
        "declines": sorted(c.declines),
        "amount": {
            cur: {"min": band.low, "max": band.high} for cur, band in sorted(c.amount.items())
        },
        "countries": sorted(c.countries),
        "customer": str(c.customer),
        "risks": sorted(c.risks),
        "past_cases": sorted(c.histories),
        "payment_terms": c.payment_terms,
    }
    data: dict[str, Any] = {
        "id": strategy.id,
        "name": strategy.name,
        "when": when,
        "steps": cadence.steps_to_list(strategy.steps),
        "courtesy_days": strategy.courtesy_days,
        "cancel_after_days": strategy.cancel_after_days,
    }
    if strategy.experiment is not None:
        data["experiment"] = experiments.experiment_to_dict(strategy.experiment)
        data["variants"] = {
            arm: cadence.steps_to_list(steps) for arm, steps in sorted(strategy.variants.items())
        }
    return data


__all__ = [
    "DEFAULT_ID",
    "CaseFacts",
    "Choice",
    "Conditions",
    "CustomerKind",
    "Method",
    "Strategy",
    "Tried",
    "cadence_for",
    "check_strategies",
    "choose",
    "courtesy_time",
    "evaluate",
    "find",
    "in_force",
    "needs_history",
    "parse_strategies",
    "shipped",
    "strategy_to_dict",
]
