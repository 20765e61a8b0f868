"""The facts a fraud check reads: one plain, typed value object (`Signals`).

The worker fills it from what Shopify and Stripe already computed (risk assessments, card
checks, Radar's outcome, decline codes, disputes, early fraud warnings), from the order
itself (addresses, items, shipping), and from counts it reads across the shop's cases
(velocity). Every field is optional: None means unknown, and an unknown signal lowers the
check's confidence instead of failing it.

Construction never raises on odd data. A value of the wrong type or out of range (a risk
score of 140, a negative count, "USA" for a country code, an unknown currency, a malformed
IP) becomes None, and a note saying so is kept in `data_quality`. Values are normalised so
that rules can compare them: country codes upper case, postcodes without spaces or dashes,
names case-folded with single spaces, enumerations lower case.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple, TypeAlias

from recoup.domain.fraud.email_checks import EmailFacts, check_email
from recoup.domain.money import Money

SignalValue: TypeAlias = str | int | bool | Money | tuple[str, ...] | None

MAX_COUNT = 10_000_000  # a count above this is a bug upstream, not a fact
MAX_FACTS = 50
MAX_FACT_LENGTH = 300
MAX_CODES = 50
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320


class Kind(StrEnum):
    """What a signal holds; decides which operators a rule may apply to it."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    MONEY = "money"
    TEXTS = "texts"  # a tuple of strings


class OddValue(ValueError):
    """A value a signal cannot hold; the message says why (without the field name)."""


# --- cleaners: raw value -> normalised value, or OddValue -------------------------------------

Cleaner: TypeAlias = Callable[[Any], SignalValue]

_CODE = re.compile(r"[a-z0-9_]{1,64}")
_POSTCODE = re.compile(r"[A-Z0-9]{2,12}")
_SPACES = re.compile(r"\s+")
# Territory codes in CLDR that are not ISO 3166-1 countries (unknown, EU, eurozone, UN, ...).
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


def _show(value: object) -> str:
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not break the note
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 40 else shown[:37] + "..."


@cache
def _countries() -> frozenset[str]:
    from babel import Locale

    codes = Locale("en").territories.keys()
    return frozenset(
        code for code in codes if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def is_country(code: str) -> bool:
    return code in _countries()


def _text(value: Any, limit: int = 200) -> str:
    if not isinstance(value, str):
        raise OddValue(f"expected text, got {_show(value)}")
    text = value.strip()
    if len(text) > limit:
        raise OddValue(f"longer than {limit} characters")
    return text


def choice(*allowed: str, unknown: tuple[str, ...] = ()) -> Cleaner:
    """One of a fixed set of lower-case words; the `unknown` words mean None (no note)."""
    allowed_set = frozenset(allowed)
    unknown_set = frozenset(unknown)

    def clean(value: Any) -> SignalValue:
        word = _text(value, 64).lower()
        if word in unknown_set or not word:
            return None
        if word not in allowed_set:
            raise OddValue(f"{_show(value)} is not one of {', '.join(sorted(allowed_set))}")
        return word

    return clean


def _code(value: Any) -> SignalValue:
    """A machine code such as a decline code or a dispute reason: [a-z0-9_]."""
    return _code_text(value)


def _code_text(value: Any) -> str | None:
    word = _text(value, 64).lower()
    if not word:
        return None
    if not _CODE.fullmatch(word):
        raise OddValue(f"{_show(value)} is not a code of a-z, 0-9 and '_'")
    return word


def _country(value: Any) -> SignalValue:
    code = _text(value, 8).upper()
    if not code:
        return None
    if not is_country(code):
        raise OddValue(f"{_show(value)} is not an ISO 3166-1 alpha-2 country code")
    return code


def _postcode(value: Any) -> SignalValue:
    compact = re.sub(r"[\s\-]", "", _text(value, 20)).upper()
    if not compact:
        return None
    if not _POSTCODE.fullmatch(compact):
        raise OddValue(f"{_show(value)} is not a postcode")
    return compact


def _name(value: Any) -> SignalValue:
    name = _SPACES.sub(" ", _text(value, MAX_NAME_LENGTH)).casefold()
    return name or None


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise OddValue(f"expected a number, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise OddValue(f"expected a finite number, got {_show(value)}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise OddValue(f"expected a finite number, got {_show(value)}")
        if value != int(value):
            raise OddValue(f"expected a whole number, got {_show(value)}")
        return int(value)
    raise OddValue(f"expected a number, got {_show(value)}")


def _count(value: Any) -> SignalValue:
    number = _integer(value)
    if not 0 <= number <= MAX_COUNT:
        raise OddValue(f"{number} is out of range 0..{MAX_COUNT}")
    return number


def _risk_score(value: Any) -> SignalValue:
    number = _integer(value)
    if not 0 <= number <= 100:
        raise OddValue(f"{number} is out of range 0..100")
    return number


def _bool(value: Any) -> SignalValue:
    if not isinstance(value, bool):
        raise OddValue(f"expected true or false, got {_show(value)}")
    return value


def _money(value: Any) -> SignalValue:
    if isinstance(value, Money):
        money = value
    elif isinstance(value, Mapping):
        currency = value.get("currency")
        if not isinstance(currency, str):
            raise OddValue(f"expected a currency code, got {_show(currency)}")
        try:
            if "minor" in value:
                money = Money(currency=currency, minor=_integer(value["minor"]))
            elif "amount" in value:
                money = Money.parse(value["amount"], currency)
            else:
                raise OddValue("expected {'minor', 'currency'} or {'amount', 'currency'}")
        except (ValueError, TypeError) as exc:  # MoneyError is a ValueError
            raise OddValue(str(exc)) from None
    else:
        raise OddValue(f"expected an amount and currency, got {_show(value)}")
    if money.minor < 0:
        raise OddValue(f"{money} is negative")
    return money


def _ip(value: Any) -> SignalValue:
    text = _text(value, 64)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise OddValue(f"{_show(value)} is not an IP address") from None


def _email(value: Any) -> SignalValue:
    return _text(value, MAX_EMAIL_LENGTH) or None


def _domain(value: Any) -> SignalValue:
    return _text(value, 253).strip(".").lower() or None


def _sequence(value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise OddValue(f"expected a list, got {_show(value)}")
    return list(value)


def _facts(value: Any) -> SignalValue:
    """Free-text risk facts (Shopify's descriptions): trimmed, at most 50 of 300 characters."""
    items = _sequence(value)
    out: list[str] = []
    for item in items[:MAX_FACTS]:
        if isinstance(item, str) and item.strip():
            out.append(_SPACES.sub(" ", item.strip())[:MAX_FACT_LENGTH])
    if len(out) != len(items):
        raise _Partial(
            tuple(dict.fromkeys(out)),
            f"dropped {len(items) - len(out)} entries that are not text (or past {MAX_FACTS})",
        )
    return tuple(dict.fromkeys(out))


def _codes(value: Any) -> SignalValue:
    """Codes (decline codes): lower case, de-duplicated, in the order given."""
    items = _sequence(value)
    out: list[str] = []
    bad = 0
    for item in items[:MAX_CODES]:
        try:
            code = _code_text(item)
        except OddValue:
            bad += 1
            continue
        if code is not None:
            out.append(code)
    codes = tuple(dict.fromkeys(out))
    dropped = bad + max(0, len(items) - MAX_CODES)
    if dropped:
        raise _Partial(codes, f"dropped {dropped} entries that are not codes (or past {MAX_CODES})")
    return codes


class _Partial(OddValue):
    """The value was partly usable: keep `kept`, and note the rest."""

    def __init__(self, kept: SignalValue, message: str) -> None:
        super().__init__(message)
        self.kept = kept


# --- the signals ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalSpec:
    kind: Kind
    clean: Cleaner
    doc: str
    # Derived signals are computed from others (the email's validity); rules read them too.
    derived: bool = False


SHOPIFY_RECOMMENDATIONS = ("accept", "investigate", "cancel")
SHOPIFY_RISK_LEVELS = ("low", "medium", "high")
STRIPE_RISK_LEVELS = ("normal", "elevated", "highest")
STRIPE_NETWORK_STATUSES = (
    "approved_by_network",
    "declined_by_network",
    "not_sent_to_network",
    "reversed_after_approval",
)
STRIPE_OUTCOME_TYPES = ("authorized", "manual_review", "issuer_declined", "blocked", "invalid")
CARD_CHECKS = ("pass", "fail", "unavailable", "unchecked")
CARD_FUNDING = ("credit", "debit", "prepaid")

_check = choice(*CARD_CHECKS)

FIELD_SPECS: dict[str, SignalSpec] = {
    # Shopify: the order's risk assessment
    "shopify_recommendation": SignalSpec(
        Kind.TEXT,
        choice(*SHOPIFY_RECOMMENDATIONS, unknown=("none",)),
        "Shopify's recommendation: accept, investigate or cancel",
    ),
    "shopify_risk_level": SignalSpec(
        Kind.TEXT,
        choice(*SHOPIFY_RISK_LEVELS, unknown=("none", "pending")),
        "Shopify's risk assessment level: low, medium or high",
    ),
    "shopify_risk_facts": SignalSpec(
        Kind.TEXTS, _facts, "descriptions of the assessment's negative facts"
    ),
    # Shopify: addresses, customer, client
    "billing_country": SignalSpec(Kind.TEXT, _country, "billing address country (ISO alpha-2)"),
    "shipping_country": SignalSpec(Kind.TEXT, _country, "shipping address country (ISO alpha-2)"),
    "billing_postcode": SignalSpec(Kind.TEXT, _postcode, "billing postcode"),
    "shipping_postcode": SignalSpec(Kind.TEXT, _postcode, "shipping postcode"),
    "billing_name": SignalSpec(Kind.TEXT, _name, "name on the billing address"),
    "shipping_name": SignalSpec(Kind.TEXT, _name, "name on the shipping address"),
    "shipping_is_forwarder": SignalSpec(
        Kind.BOOL, _bool, "the shipping address is a parcel forwarder or reshipper"
    ),
    "customer_orders_count": SignalSpec(
        Kind.INT, _count, "the customer's earlier orders at this shop (this one excluded)"
    ),
    "customer_age_days": SignalSpec(Kind.INT, _count, "days since the customer account was made"),
    "browser_ip": SignalSpec(Kind.TEXT, _ip, "client_details.browser_ip"),
    "browser_ip_country": SignalSpec(Kind.TEXT, _country, "country of the browser IP"),
    "ip_is_proxy": SignalSpec(Kind.BOOL, _bool, "the IP is a known proxy, VPN or Tor exit"),
    # Shopify: what was bought and how it ships
    "order_total": SignalSpec(Kind.MONEY, _money, "the order's total price"),
    "high_value_items": SignalSpec(
        Kind.INT, _count, "units of high-value items (the shop's product types, tags, SKUs)"
    ),
    "max_quantity_same_high_value_item": SignalSpec(
        Kind.INT, _count, "the largest quantity of one high-value item"
    ),
    "expedited_shipping": SignalSpec(Kind.BOOL, _bool, "express or overnight shipping"),
    # Stripe: Radar's outcome and the card
    "stripe_risk_level": SignalSpec(
        Kind.TEXT,
        choice(*STRIPE_RISK_LEVELS, unknown=("not_assessed", "unknown")),
        "charge.outcome.risk_level",
    ),
    "stripe_risk_score": SignalSpec(Kind.INT, _risk_score, "charge.outcome.risk_score (0..100)"),
    "stripe_network_status": SignalSpec(
        Kind.TEXT, choice(*STRIPE_NETWORK_STATUSES), "charge.outcome.network_status"
    ),
    "stripe_outcome_type": SignalSpec(
        Kind.TEXT, choice(*STRIPE_OUTCOME_TYPES), "charge.outcome.type"
    ),
    "stripe_outcome_reason": SignalSpec(Kind.TEXT, _code, "charge.outcome.reason"),
    "avs_line1_check": SignalSpec(Kind.TEXT, _check, "card.checks.address_line1_check"),
    "avs_postcode_check": SignalSpec(Kind.TEXT, _check, "card.checks.address_postal_code_check"),
    "cvc_check": SignalSpec(Kind.TEXT, _check, "card.checks.cvc_check"),
    "card_country": SignalSpec(Kind.TEXT, _country, "card.country (issuing country)"),
    "card_funding": SignalSpec(
        Kind.TEXT, choice(*CARD_FUNDING, unknown=("unknown",)), "card.funding"
    ),
    "early_fraud_warning": SignalSpec(
        Kind.BOOL, _bool, "a radar.early_fraud_warning.created was received"
    ),
    "dispute_reason": SignalSpec(
        Kind.TEXT,
        _code,
        "charge.dispute.created: the dispute's reason; 'none' when known that there is none",
    ),
    "decline_codes": SignalSpec(
        Kind.TEXTS, _codes, "decline codes of the order's failed payments (decline_code, reason)"
    ),
    # Velocity across the shop's cases (Recoup's own counts)
    "failed_payments_email_1h": SignalSpec(Kind.INT, _count, "failed payments, this email, 1 h"),
    "failed_payments_email_24h": SignalSpec(Kind.INT, _count, "failed payments, this email, 24 h"),
    "failed_payments_card_1h": SignalSpec(Kind.INT, _count, "failed payments, this card, 1 h"),
    "failed_payments_card_24h": SignalSpec(Kind.INT, _count, "failed payments, this card, 24 h"),
    "failed_payments_ip_1h": SignalSpec(Kind.INT, _count, "failed payments, this IP, 1 h"),
    "failed_payments_ip_24h": SignalSpec(Kind.INT, _count, "failed payments, this IP, 24 h"),
    "distinct_cards_24h": SignalSpec(
        Kind.INT, _count, "distinct card fingerprints this customer tried in 24 h"
    ),
    "accounts_sharing_shipping_address": SignalSpec(
        Kind.INT, _count, "other customers (emails) shipping to this address"
    ),
    # The email
    "email": SignalSpec(Kind.TEXT, _email, "the order's email address"),
}

DERIVED_SPECS: dict[str, SignalSpec] = {
    "email_valid": SignalSpec(Kind.BOOL, _bool, "the email is syntactically valid", True),
    "email_disposable": SignalSpec(Kind.BOOL, _bool, "the email's domain is disposable", True),
    "email_domain": SignalSpec(Kind.TEXT, _domain, "the email's domain, lower case", True),
}

# Every name a rule may read, in a stable order.
SIGNALS: dict[str, SignalSpec] = {**FIELD_SPECS, **DERIVED_SPECS}

# Counts over a short and a long window: the long one cannot be smaller.
_WINDOWS = (
    ("failed_payments_email_1h", "failed_payments_email_24h"),
    ("failed_payments_card_1h", "failed_payments_card_24h"),
    ("failed_payments_ip_1h", "failed_payments_ip_24h"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signals:
    """What is known about one order when it is checked. None = unknown."""

    # Shopify: risk assessment
    shopify_recommendation: str | None = None
    shopify_risk_level: str | None = None
    shopify_risk_facts: tuple[str, ...] | None = None
    # Shopify: addresses, customer, client
    billing_country: str | None = None
    shipping_country: str | None = None
    billing_postcode: str | None = None
    shipping_postcode: str | None = None
    billing_name: str | None = None
    shipping_name: str | None = None
    shipping_is_forwarder: bool | None = None
    customer_orders_count: int | None = None
    customer_age_days: int | None = None
    browser_ip: str | None = None
    browser_ip_country: str | None = None
    ip_is_proxy: bool | None = None
    # Shopify: items and shipping
    order_total: Money | None = None
    high_value_items: int | None = None
    max_quantity_same_high_value_item: int | None = None
    expedited_shipping: bool | None = None
    # Stripe
    stripe_risk_level: str | None = None
    stripe_risk_score: int | None = None
    stripe_network_status: str | None = None
    stripe_outcome_type: str | None = None
    stripe_outcome_reason: str | None = None
    avs_line1_check: str | None = None
    avs_postcode_check: str | None = None
    cvc_check: str | None = None
    card_country: str | None = None
    card_funding: str | None = None
    early_fraud_warning: bool | None = None
    dispute_reason: str | None = None
    decline_codes: tuple[str, ...] | None = None
    # Velocity (Recoup's counts across the shop's cases)
    failed_payments_email_1h: int | None = None
    failed_payments_email_24h: int | None = None
    failed_payments_card_1h: int | None = None
    failed_payments_card_24h: int | None = None
    failed_payments_ip_1h: int | None = None
    failed_payments_ip_24h: int | None = None
    distinct_cards_24h: int | None = None
    accounts_sharing_shipping_address: int | None = None
    # The email
    email: str | None = None
    # What was odd about the input: each entry names the signal and what was done with it.
    data_quality: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        notes = [str(note) for note in _sequence_or_empty(self.data_quality)]
        for name, spec in FIELD_SPECS.items():
            raw = getattr(self, name)
            if raw is None:
                continue
            try:
                clean = spec.clean(raw)
            except _Partial as partial:
                clean = partial.kept
                notes.append(f"{name}: {partial}")
            except OddValue as odd:
                clean = None
                notes.append(f"{name}: {odd}; treated as unknown")
            except Exception as exc:  # noqa: BLE001 - odd input never breaks construction
                clean = None
                notes.append(f"{name}: unreadable ({type(exc).__name__}); treated as unknown")
            if clean is not raw:
                object.__setattr__(self, name, clean)
        for short, long in _WINDOWS:
            few, many = getattr(self, short), getattr(self, long)
            if few is not None and many is not None and few > many:
                notes.append(f"{long}: {many} is less than {short} ({few}); raised to {few}")
                object.__setattr__(self, long, few)
        object.__setattr__(self, "data_quality", tuple(dict.fromkeys(notes)))

    # --- JSON ---------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: object) -> Signals:
        """Read signals from JSON-like data. Never raises: unknown keys and odd values are
        dropped with a note in `data_quality`."""
        if not isinstance(data, Mapping):
            return cls(data_quality=(f"signals: expected an object, got {_show(data)}; ignored",))
        notes = [str(note) for note in _sequence_or_empty(data.get("data_quality"))]
        known: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in data.items():
            if isinstance(key, str) and key in FIELD_SPECS:
                known[key] = value
            elif key != "data_quality":
                unknown.append(f"{_show(key)}: not a signal; ignored")
        # notes in a fixed order, whatever the order of the keys
        return cls(**known, data_quality=(*notes, *sorted(unknown)))

    def to_dict(self) -> dict[str, Any]:
        """The known signals as JSON-safe data (unknown ones left out); `from_dict` reads it
        back to an equal `Signals`."""
        out: dict[str, Any] = {}
        for name in FIELD_SPECS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Money):
                out[name] = value.to_dict()
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        if self.data_quality:
            out["data_quality"] = list(self.data_quality)
        return out

    def known(self) -> frozenset[str]:
        """The names of the signals that are known."""
        return frozenset(name for name in FIELD_SPECS if getattr(self, name) is not None)


def _sequence_or_empty(value: object) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else ()


def signal_values(signals: Signals) -> tuple[dict[str, SignalValue], EmailFacts]:
    """Every signal a rule may read, derived ones included, by name."""
    values: dict[str, SignalValue] = {name: getattr(signals, name) for name in FIELD_SPECS}
    facts = check_email(signals.email)
    values["email_valid"] = facts.valid
    values["email_disposable"] = facts.disposable
    values["email_domain"] = facts.domain
    return values, facts


# --- high-value items -------------------------------------------------------------------------


class Item(NamedTuple):
    """One order line as the catalogue sees it."""

    quantity: int
    product_type: str | None = None
    tags: tuple[str, ...] = ()
    sku: str | None = None
    # What makes two lines "the same item" (variant id, else SKU); None: the line is its own.
    key: str | None = None


@dataclass(frozen=True, slots=True)
class HighValueCatalogue:
    """The shop's high-value items: by product type, tag or SKU (case-insensitive)."""

    product_types: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("product_types", "tags", "skus"):
            words = getattr(self, name)
            object.__setattr__(self, name, frozenset(_fold(w) for w in words if _fold(w)))

    def matches(self, item: Item) -> bool:
        if item.product_type and _fold(item.product_type) in self.product_types:
            return True
        if item.sku and _fold(item.sku) in self.skus:
            return True
        return any(_fold(tag) in self.tags for tag in item.tags)

    def count(self, items: Iterable[Item]) -> tuple[int, int]:
        """(units of high-value items, the largest quantity of one high-value item): the
        values of `high_value_items` and `max_quantity_same_high_value_item`."""
        per_item: dict[object, int] = {}
        for index, item in enumerate(items):
            if item.quantity > 0 and self.matches(item):
                key: object = item.key or item.sku or ("line", index)
                per_item[key] = per_item.get(key, 0) + item.quantity
        return sum(per_item.values()), max(per_item.values(), default=0)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "product_types": sorted(self.product_types),
            "tags": sorted(self.tags),
            "skus": sorted(self.skus),
        }


def _fold(word: str) -> str:
    return _SPACES.sub(" ", word.strip()).casefold() if isinstance(word, str) else ""


__all__ = [
    "DERIVED_SPECS",
    "FIELD_SPECS",
    "SIGNALS",
    "HighValueCatalogue",
    "Item",
    "Kind",
    "OddValue",
    "SignalSpec",
    "SignalValue",
    "Signals",
    "is_country",
    "signal_values",
]
