"""Domain events: what a verified webhook means, free of any platform's payload shape.

Integrations normalise Shopify and Stripe deliveries into these; the queue carries them as
JSON (`to_dict`/`from_dict`); the case state machine folds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from recoup.domain.charges import OrderCharges
from recoup.domain.money import Money

SCHEMA_VERSION = 1


class Source(StrEnum):
    SHOPIFY = "shopify"
    STRIPE = "stripe"


class Fact(StrEnum):
    """What an event says about the money owed on an order."""

    UNPAID = "unpaid"  # awaiting payment: pending, expired, voided, partially paid
    PAYMENT_FAILED = "payment_failed"  # an attempt to pay was declined or failed
    PAID = "paid"  # paid in full
    CANCELLED = "cancelled"  # cancelled, or refunded in full
    REFUNDED = "refunded"  # part of a payment was refunded
    DISPUTE_OPENED = "dispute_opened"
    FRAUD_WARNING = "fraud_warning"  # an issuer's early fraud warning
    OBSERVED = "observed"  # a state that neither opens nor closes a case (e.g. authorized)


@dataclass(frozen=True, slots=True)
class Customer:
    """The contact data a reminder needs; nothing more is kept."""

    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, shipping address first
    province: str | None = None
    zip: str | None = None
    address1: str | None = None  # the street line: for the case file and shared addresses
    address2: str | None = None  # the second street line, for the case file
    city: str | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    title: str
    quantity: int
    unit_price: Money | None = None
    sku: str | None = None
    product_type: str | None = None
    variant_id: str | None = None  # Shopify's variant id: lines of one variant are one item


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    attempt_id: str
    provider: Source
    succeeded: bool
    at: datetime
    amount: Money | None = None
    code: str | None = None  # failure or decline code, as the provider sends it
    message: str | None = None
    card_fingerprint: str | None = None  # Stripe's card fingerprint: velocity per card
    # What a retry of a failed Stripe payment needs (domain/retry_course.py): the card's
    # network, the issuer's advice code, and the saved card when the customer agreed to be
    # charged while away (`setup_future_usage=off_session`); `retry` numbers Recoup's own
    # retries (0: not one).
    network: str | None = None
    advice_code: str | None = None
    customer_ref: str | None = None
    payment_method_ref: str | None = None
    retry: int = 0


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """The order as a source last described it: amounts, items, customer."""

    amount_owed: Money | None
    order_total: Money | None = None
    order_name: str | None = None
    customer: Customer | None = None
    line_items: tuple[LineItem, ...] = ()
    financial_status: str | None = None
    pay_url: str | None = None  # where the customer can pay this order (Shopify's status page)
    charges: OrderCharges | None = None  # taxes, shipping, discounts (for the case file)
    # Shopify's payment_gateway_names: how the order was to be paid ("bogus", "Bank Deposit").
    payment_gateways: tuple[str, ...] = ()
    # Payment terms ("Net 30"): the order is due later, at `payment_due_at` (the earliest
    # schedule not yet paid; None while the terms have no date, e.g. due on fulfilment).
    payment_terms: str | None = None
    payment_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DomainEvent:
    event_id: str  # the provider's delivery or event id: the deduplication key
    source: Source
    kind: str  # the Shopify topic or Stripe event type, verbatim
    shop: str | None  # shop domain; None until resolved from the Stripe account
    case_id: str  # the Shopify order id, or the Stripe object that stands for the payment
    occurred_at: datetime  # when the fact became true at the source (UTC)
    fact: Fact
    snapshot: OrderSnapshot | None = None
    attempt: PaymentAttempt | None = None
    refunded: Money | None = None
    stripe_account: str | None = None
    # Stripe objects this event names (payment intent, charge, invoice), for cross references.
    stripe_refs: tuple[str, ...] = ()
    linked: bool = True  # False when a Stripe event named no Shopify order
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Fraud signals this delivery reports, raw and JSON-safe, keyed by the names in
    # recoup.domain.fraud.signals.FIELD_SPECS (`Signals` cleans them when a case is scored).
    signals: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))

    def with_shop(self, shop: str) -> DomainEvent:
        return replace(self, shop=shop)

    def with_case(self, case_id: str, *, linked: bool) -> DomainEvent:
        return replace(self, case_id=case_id, linked=linked)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        return jsonable(data)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainEvent:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported event schema {data.get('schema')!r}")
        snap = data.get("snapshot")
        attempt = data.get("attempt")
        return cls(
            event_id=data["event_id"],
            source=Source(data["source"]),
            kind=data["kind"],
            shop=data.get("shop"),
            case_id=data["case_id"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            fact=Fact(data["fact"]),
            snapshot=snapshot_from(snap) if snap else None,
            attempt=_attempt_from(attempt) if attempt else None,
            refunded=_money(data.get("refunded")),
            stripe_account=data.get("stripe_account"),
            stripe_refs=tuple(data.get("stripe_refs") or ()),
            linked=bool(data.get("linked", True)),
            summary=data.get("summary", ""),
            extra=dict(data.get("extra") or {}),
            signals=dict(data.get("signals") or {}),
        )


def _money(data: dict[str, Any] | None) -> Money | None:
    return Money.from_dict(data) if data else None


def customer_from(data: dict[str, Any]) -> Customer:
    return Customer(**data)


def line_item_from(data: dict[str, Any]) -> LineItem:
    return LineItem(
        title=data["title"],
        quantity=data["quantity"],
        unit_price=_money(data.get("unit_price")),
        sku=data.get("sku"),
        product_type=data.get("product_type"),
        variant_id=data.get("variant_id"),
    )


def snapshot_from(data: dict[str, Any]) -> OrderSnapshot:
    return OrderSnapshot(
        amount_owed=_money(data.get("amount_owed")),
        order_total=_money(data.get("order_total")),
        order_name=data.get("order_name"),
        customer=customer_from(data["customer"]) if data.get("customer") else None,
        line_items=tuple(line_item_from(item) for item in data.get("line_items") or ()),
        financial_status=data.get("financial_status"),
        pay_url=data.get("pay_url"),
        charges=OrderCharges.from_dict(data["charges"]) if data.get("charges") else None,
        payment_gateways=tuple(data.get("payment_gateways") or ()),
        payment_terms=data.get("payment_terms"),
        payment_due_at=datetime.fromisoformat(data["payment_due_at"])
        if data.get("payment_due_at")
        else None,
    )


def attempt_from(data: dict[str, Any]) -> PaymentAttempt:
    return _attempt_from(data)


def _attempt_from(data: dict[str, Any]) -> PaymentAttempt:
    return PaymentAttempt(
        attempt_id=data["attempt_id"],
        provider=Source(data["provider"]),
        succeeded=bool(data["succeeded"]),
        at=datetime.fromisoformat(data["at"]),
        amount=_money(data.get("amount")),
        code=data.get("code"),
        message=data.get("message"),
        card_fingerprint=data.get("card_fingerprint"),
        network=data.get("network"),
        advice_code=data.get("advice_code"),
        customer_ref=data.get("customer_ref"),
        payment_method_ref=data.get("payment_method_ref"),
        retry=int(data.get("retry") or 0),
    )


def jsonable(value: Any) -> Any:
    """Dataclass-dict values as JSON: datetimes ISO, enums their value, Money as a pair."""
    if isinstance(value, dict):
        if set(value) == {"currency", "minor"}:
            return {"minor": value["minor"], "currency": value["currency"]}
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    return value
