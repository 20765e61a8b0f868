"""Which strategy a case gets, for the admin: the tester of a reminder policy not yet saved,
and the reasons the case page shows for the strategy a case follows.

The tester reads the policy as the settings page holds it (the whole reminders document,
unsaved) and either one of the shop's cases, whose facts are read as the worker reads them
(`case_facts.facts_of`, with the risk of its newest fraud screening), or facts the admin
entered by hand. It answers every strategy tried, in order, with why it did not take the
case, up to the one that did. Nothing is written. A case of another shop is unknown (404),
as on the case routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recoup.domain import cadence, case_facts, retries, strategies
from recoup.domain.aggregate import StoredCase
from recoup.domain.dunning import DunningStatus
from recoup.domain.experiments import Arm
from recoup.domain.fields import FieldError, join_path
from recoup.domain.money import Money, MoneyError, normalise_currency
from recoup.domain.strategies import CaseFacts, Choice, Method, Strategy, Tried
from recoup.errors import InvalidInput, NotFound
from recoup.services import reminder_plan, shop_settings
from recoup.services.case_views import CASE_ID
from recoup.store import cases as case_store

# The key the request sends the reminders document under: a field at fault is named from it.
DOCUMENT = "reminders"
FACT_KEYS = (
    *("method", "decline", "decline_code", "amount", "currency", "country"),
    *("customer", "risk", "payment_terms"),
)
CUSTOMERS = ("first", "returning", "unknown")
DECLINES = (*retries.category_names(), case_facts.NO_DECLINE)


@dataclass(frozen=True, slots=True)
class TesterRequest:
    """The tester's question as sent: the unsaved reminders document, and either a case of
    the shop (`case_id`) or facts entered by hand; the service checks what they mean."""

    reminders: Mapping[str, Any]
    case_id: str | None = None
    facts: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Followed:
    """The strategy a case follows as it was chosen (its reminder progress records it), the
    strategy as the shop's policy holds it now (None: not there any more), and its arm."""

    strategy_id: str
    why: str
    strategy: Strategy | None = None
    arm_id: str = ""
    arm: Arm | None = None
    anchor_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TesterAnswer:
    """What the tester found: the facts as read, every strategy tried up to the one that
    takes the case, the choice (its arm only for a case: hand-entered facts have no id to
    draw one with), and for a case the strategy it follows now."""

    facts: CaseFacts
    tried: tuple[Tried, ...]
    choice: Choice
    case_id: str | None = None
    follows: Followed | None = None


@dataclass(frozen=True, slots=True)
class CaseReasons:
    """Why a case gets the reminders it gets, for its page: its facts and its strategy."""

    facts: CaseFacts
    follows: Followed | None


def try_strategies(shop: str, request: TesterRequest) -> TesterAnswer:
    """The strategy the case (or the facts) would get under the unsaved policy. Raises
    InvalidInput naming the field (`reminders.strategies[1].when.amount.USD.max`,
    `facts.risk`), NotFound for a case the shop does not have."""
    policy = draft_policy(shop, request.reminders)
    if request.case_id is not None:
        stored = _case(shop, request.case_id)
        facts = case_facts.facts_of(stored.case, risk_of(stored))
        if strategies.needs_history(policy):
            facts = replace(facts, history=reminder_plan.customer_history(stored.case))
        case_id = stored.case.case_id
        choice = strategies.choose(policy, facts, shop, case_id)
        tried = strategies.evaluate(policy, facts)
        return TesterAnswer(facts, tried, choice, case_id, followed(policy, stored))
    facts = facts_from(request.facts or {})
    chosen = strategies.choose(policy, facts, shop, "")
    choice = Choice(chosen.strategy, chosen.why)  # no case id: no arm
    return TesterAnswer(facts, strategies.evaluate(policy, facts), choice)


def case_reasons(shop: str, stored: StoredCase) -> CaseReasons:
    """A case's facts as its strategy read them, and the strategy it follows, named as the
    shop's policy names it now (one read of the policy)."""
    policy = shop_settings.reminder_policy(shop).value
    return CaseReasons(case_facts.facts_of(stored.case, risk_of(stored)), followed(policy, stored))


def draft_policy(shop: str, document: Mapping[str, Any]) -> cadence.ReminderPolicy:
    """The reminders document as the settings page holds it, parsed whole as a save would
    (the templates aside: the tester does not send); errors name `reminders.<path>`."""
    version = shop_settings.reminder_policy(shop).version + 1
    try:
        return cadence.parse_policy({**document, "version": version})
    except FieldError as exc:
        raise InvalidInput(exc.message, field=join_path(DOCUMENT, exc.field)) from None


def risk_of(stored: StoredCase) -> str:
    """The newest fraud level of the case's screening, as the worker reads it."""
    current = stored.screening.current if stored.screening else None
    return str(current.level) if current else "unscored"


def followed(policy: cadence.ReminderPolicy, stored: StoredCase) -> Followed | None:
    """The strategy the case's reminder progress records; None when it records none (a
    case not chased, or one whose reminders have not started)."""
    dunning = stored.dunning
    if dunning is None:
        return None
    if not dunning.strategy:
        if dunning.status is DunningStatus.NOT_CHASED:
            return None
        # Opened before strategies existed: the policy's own steps, the default's.
        return Followed(strategies.DEFAULT_ID, "", strategies.find(policy, strategies.DEFAULT_ID))
    strategy = strategies.find(policy, dunning.strategy)
    experiment = strategy.experiment if strategy else None
    arm = next((a for a in experiment.arms if a.id == dunning.arm), None) if experiment else None
    return Followed(
        dunning.strategy,
        dunning.strategy_why,
        strategy,
        dunning.arm,
        arm,
        dunning.anchor_at,
    )


def _case(shop: str, case_id: str) -> StoredCase:
    if not CASE_ID.fullmatch(case_id):
        raise NotFound("no such case in this shop")
    stored = case_store.load(shop, case_id)
    if stored is None or not stored.case.opened or stored.case.merged_into is not None:
        raise NotFound(f"no case {case_id} in this shop")
    return stored


# ---------------------------------------------------------------- facts entered by hand


def facts_from(raw: Mapping[str, Any]) -> CaseFacts:
    """Facts as the tester's form sends them; each may be left out (a card payment, no
    decline, nothing owed, country and customer unknown, unscored, no payment terms)."""
    unknown = sorted(str(key) for key in raw if key not in FACT_KEYS)
    if unknown:
        raise InvalidInput(f"unknown fact; allowed: {', '.join(FACT_KEYS)}", field=_at(unknown[0]))
    code = _text(raw, "decline_code", 64)
    decline = _choice(raw, "decline", DECLINES, None)
    if decline is None:
        decline = str(retries.category_of(code)) if code else case_facts.NO_DECLINE
    customer = _choice(raw, "customer", CUSTOMERS, "unknown")
    terms = raw.get("payment_terms", False)
    if not isinstance(terms, bool):
        raise InvalidInput("must be true or false", field=_at("payment_terms"))
    return CaseFacts(
        method=Method(_choice(raw, "method", tuple(str(m) for m in Method), "card")),
        decline=decline,
        decline_code=code,
        owed=_owed(raw),
        country=_country(raw),
        returning=None if customer == "unknown" else customer == "returning",
        risk=_choice(raw, "risk", case_facts.RISKS, "unscored"),
        payment_terms="payment terms" if terms else None,
    )


def _at(key: str) -> str:
    return f"facts.{key}"


def _choice(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: Any) -> Any:
    value = raw.get(key, default)
    if value is not default and value not in allowed:
        raise InvalidInput(f"must be one of {', '.join(allowed)}", field=_at(key))
    return value


def _text(raw: Mapping[str, Any], key: str, longest: int) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise InvalidInput(f"must be a text of at most {longest} characters", field=_at(key))
    return value.strip() or None


def _owed(raw: Mapping[str, Any]) -> Money | None:
    amount, currency = raw.get("amount"), raw.get("currency")
    if amount is None or amount == "":
        return None
    if not isinstance(currency, str) or not currency:
        raise InvalidInput("needs the currency it is in, such as USD", field=_at("currency"))
    try:
        code = normalise_currency(currency)
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=_at("currency")) from None
    if not isinstance(amount, str):
        raise InvalidInput("must be a decimal amount as text, such as 120.00", field=_at("amount"))
    try:
        owed = Money.parse(amount, code)
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=_at("amount")) from None
    if owed.minor < 0:
        raise InvalidInput("must not be negative", field=_at("amount"))
    return owed


def _country(raw: Mapping[str, Any]) -> str | None:
    value = _text(raw, "country", 2)
    if value is None:
        return None
    if len(value) != 2 or not (value.isascii() and value.isalpha()):
        raise InvalidInput("must be a two-letter country code such as DE", field=_at("country"))
    return value.upper()


__all__ = [
    "CaseReasons",
    "Followed",
    "TesterAnswer",
    "TesterRequest",
    "case_reasons",
    "draft_policy",
    "facts_from",
    "followed",
    "risk_of",
    "try_strategies",
]
