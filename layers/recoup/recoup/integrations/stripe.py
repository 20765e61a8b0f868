"""Stripe webhooks: verify `Stripe-Signature` with the stripe library, then normalise.

A Stripe payment is linked to a Shopify order through metadata on the PaymentIntent,
Invoice or Checkout Session (README, "Linking Stripe payments"):
  shop_domain        the shop's myshopify.com domain
  shopify_order_id   the Shopify order id (digits)
Without `shopify_order_id` the payment is tracked as a case of its own, keyed by its
PaymentIntent (or Invoice, Session, Charge). Charges, disputes and fraud warnings carry no
copy of the PaymentIntent's metadata; the worker routes them through the cross reference
the PaymentIntent's own events leave behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.money import Money
from recoup.errors import MalformedWebhook, SignatureInvalid
from recoup.integrations import risk_signals
from recoup.integrations.payloads import (
    optional_id,
    optional_str,
    parse_json_object,
    require,
    stripe_id,
    stripe_money,
    unix_time,
)

TOLERANCE_SECONDS = 300
# The one Stripe API version Recoup speaks: sent on every call, and the version the Connect
# webhook endpoint must be created with (README, "Deploy"), so events arrive in the shapes
# this module reads. It is the installed SDK's own pinned version (a test keeps them equal):
# upgrading the SDK is upgrading the API version, on purpose, with the endpoint's.
API_VERSION = "2026-10-28.endive"
# The merchant revoked the platform's access from Stripe: the shop is disconnected.
DEAUTHORIZED = "account.application.deauthorized"
META_SHOP = "shop_domain"
META_ORDER = "shopify_order_id"
# Recoup's own payments (integrations/stripe_payments.py): the case (for a payment with no
# Shopify order), an instalment plan's id, the instalment's number and whether it is the
# last; a settlement offer's id and what it settles (minor units of the payment's currency).
META_CASE = "recoup_case"
META_PLAN = "recoup_plan"
META_INSTALMENT = "recoup_instalment"
META_FINAL = "recoup_final"
META_SETTLEMENT = "recoup_settlement"
META_SETTLES = "recoup_settles"
META_RETRY = "recoup_retry"  # the number of Recoup's retry of a failed payment
_SETUP_SUCCEEDED = "setup_intent.succeeded"

_FAILED = {
    "payment_intent.payment_failed",
    "charge.failed",
    "invoice.payment_failed",
    "checkout.session.async_payment_failed",
}
_SUCCEEDED = {"payment_intent.succeeded", "charge.succeeded", "invoice.paid"}
HANDLED_TYPES = frozenset(
    _FAILED
    | _SUCCEEDED
    | {
        "charge.refunded",
        "charge.dispute.created",
        "radar.early_fraud_warning.created",
        _SETUP_SUCCEEDED,
    }
)
_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com$")
_EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
MAX_EVENT_ID = 100


def verify_signature(raw_body: bytes, signature: str | None, secrets: Iterable[str]) -> None:
    """Raise SignatureInvalid unless an endpoint secret signed these bytes within 300 s."""
    # Imported here: stripe costs ~170 ms to import, and only this function needs it.
    from stripe import SignatureVerificationError, WebhookSignature

    if not signature:
        raise SignatureInvalid("missing Stripe-Signature header")
    try:
        payload = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWebhook("body is not UTF-8 text") from None
    last_error = "no webhook secret configured"
    for secret in secrets:
        try:
            WebhookSignature.verify_header(payload, signature, secret, TOLERANCE_SECONDS)
            return
        except SignatureVerificationError as exc:
            last_error = str(exc.user_message or exc)
    raise SignatureInvalid(f"Stripe-Signature rejected: {last_error}")


@dataclass(frozen=True, slots=True)
class StripeEvent:
    event_id: str
    type: str
    obj: dict[str, Any]
    account: str | None
    body: dict[str, Any]


def read_event(raw_body: bytes) -> StripeEvent:
    body = parse_json_object(raw_body)
    event_id = stripe_id(require(body, "id", str, ""), "id")
    # "stripe:<id>" is the SQS deduplication id, at most 128 characters: a longer id would be
    # cut, and two cut ids could collide (Stripe's are about 30).
    if not event_id.startswith("evt_") or len(event_id) > MAX_EVENT_ID:
        raise MalformedWebhook(f"id is not a Stripe event id: {event_id[:80]!r}")
    event_type = require(body, "type", str, "")
    if not _EVENT_TYPE.fullmatch(event_type):
        raise MalformedWebhook("type is not a Stripe event type")
    data = require(body, "data", dict, "")
    obj = require(data, "object", dict, "data.")
    require(body, "created", int, "")
    account = body.get("account")
    if account is not None:
        account = stripe_id(account, "account")
    return StripeEvent(event_id, event_type, obj, account, body)


def normalise(event: StripeEvent) -> DomainEvent | None:
    """The domain event a verified Stripe event means, or None for types Recoup ignores."""
    if event.type not in HANDLED_TYPES:
        return None
    obj = event.obj
    occurred = unix_time(event.body["created"], "created")
    kind = event.type
    metadata = _object(obj, "metadata")
    shop = _shop(metadata)
    if shop is None and event.account is None:
        # Neither names a shop: the worker could never route it (a platform event).
        raise MalformedWebhook(
            f"account is missing and data.object.metadata.{META_SHOP} names no shop"
        )
    order_id = _order_id(metadata)
    own_case = (
        optional_id(metadata.get(META_CASE)) if isinstance(metadata.get(META_CASE), str) else None
    )
    object_id = stripe_id(require(obj, "id", str, "data.object."), "data.object.id")
    payment_intent = _ref(obj.get("payment_intent"), "data.object.payment_intent")
    charge = _ref(obj.get("charge"), "data.object.charge") or _ref(
        obj.get("latest_charge"), "data.object.latest_charge"
    )
    if obj.get("object") == "charge":
        charge = object_id
    refs = tuple(dict.fromkeys(ref for ref in (object_id, payment_intent, charge) if ref))
    # The payment stands for its case when no Shopify order is named.
    own_key = payment_intent or (object_id if obj.get("object") != "charge" else None)
    case_id = order_id or own_case or own_key or object_id

    fact, snapshot, attempt, refunded, extra = _meaning(kind, obj, object_id, charge, occurred)
    fact, snapshot, extra = _recoup_payment(kind, obj, metadata, fact, snapshot, attempt, extra)
    return DomainEvent(
        event_id=event.event_id,
        source=Source.STRIPE,
        kind=kind,
        shop=shop,
        case_id=case_id,
        occurred_at=occurred,
        fact=fact,
        snapshot=snapshot,
        attempt=attempt,
        refunded=refunded,
        stripe_account=event.account,
        stripe_refs=refs,
        linked=order_id is not None,
        summary=_summary(kind, snapshot, attempt, refunded, extra),
        extra=extra,
        signals=risk_signals.stripe_object(kind, obj),
    )


def _recoup_payment(
    kind: str,
    obj: dict[str, Any],
    metadata: Mapping[str, Any],
    fact: Fact,
    snapshot: OrderSnapshot | None,
    attempt: PaymentAttempt | None,
    extra: dict[str, Any],
) -> tuple[Fact, OrderSnapshot | None, dict[str, Any]]:
    """What Recoup's own payments add: an instalment's payment (or the card saved for a
    plan) is a part payment, never "paid in full" unless it is the plan's last, and never a
    snapshot of what is owed; a payment under a settlement offer says what it settles.
    A charge made by a PaymentIntent leaves the case's status to the PaymentIntent's own
    event: only that one carries the metadata saying whether it paid the whole order."""
    plan = metadata.get(META_PLAN)
    if isinstance(plan, str) and plan and kind in (_SUCCEEDED | _FAILED | {_SETUP_SUCCEEDED}):
        extra["plan"] = _plan_payment(kind, obj, metadata, plan, attempt)
        final = metadata.get(META_FINAL) == "1" and extra["plan"]["number"] > 0
        if kind in _SUCCEEDED:
            return (Fact.PAID if final else Fact.OBSERVED), (snapshot if final else None), extra
        return (fact if kind in _FAILED else Fact.OBSERVED), None, extra
    if kind == "charge.succeeded" and obj.get("payment_intent"):
        return Fact.OBSERVED, None, extra
    offer = metadata.get(META_SETTLEMENT)
    if isinstance(offer, str) and offer and kind in _SUCCEEDED and attempt is not None:
        settles = stripe_money(
            _digits(metadata.get(META_SETTLES)), obj.get("currency"), f"metadata.{META_SETTLES}"
        )
        extra["settlement"] = {"offer_id": offer[:40], "settles": settles.to_dict()}
    return fact, snapshot, extra


def _plan_payment(
    kind: str,
    obj: dict[str, Any],
    metadata: Mapping[str, Any],
    plan: str,
    attempt: PaymentAttempt | None,
) -> dict[str, Any]:
    """An instalment plan's payment as the case keeps it (`domain.case.PlanPayment`)."""
    succeeded = kind in _SUCCEEDED or kind == _SETUP_SUCCEEDED
    amount = attempt.amount if attempt else None
    return {
        "plan_id": plan[:40],
        "number": _instalment_number(metadata),
        "intent": stripe_id(obj["id"], "data.object.id"),
        "succeeded": succeeded,
        "amount_minor": amount.minor if amount else 0,
        "currency": amount.currency if amount else "",
        "payment_method": _ref(obj.get("payment_method"), "data.object.payment_method"),
        "customer": _ref(obj.get("customer"), "data.object.customer"),
        "code": attempt.code if attempt and not succeeded else None,
    }


def _instalment_number(metadata: Mapping[str, Any]) -> int:
    value = metadata.get(META_INSTALMENT)
    if value is None:
        return 0  # the card saved for the plan, no payment
    if not isinstance(value, str) or not value.isdigit() or len(value) > 3:
        raise MalformedWebhook(f"metadata.{META_INSTALMENT} is not an instalment number")
    return int(value)


def _digits(value: Any) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 18:
        raise MalformedWebhook(f"metadata.{META_SETTLES} is not an amount in minor units")
    return int(value)


def _meaning(
    kind: str, obj: dict[str, Any], object_id: str, charge: str | None, occurred: Any
) -> tuple[Fact, OrderSnapshot | None, PaymentAttempt | None, Money | None, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if kind == _SETUP_SUCCEEDED:
        return Fact.OBSERVED, None, None, None, extra
    if kind in _FAILED or kind in _SUCCEEDED:
        succeeded = kind in _SUCCEEDED
        total, owed = _amounts(obj, succeeded)
        code, message = _failure(obj)
        attempt = PaymentAttempt(
            attempt_id=charge or object_id,
            provider=Source.STRIPE,
            succeeded=succeeded,
            at=occurred,
            amount=total,
            code=None if succeeded else code,
            message=None if succeeded else message,
            card_fingerprint=risk_signals.card_fingerprint(obj),
            **_retry_facts(obj),
        )
        snapshot = OrderSnapshot(amount_owed=owed, order_total=total, customer=_customer(obj))
        return (Fact.PAID if succeeded else Fact.PAYMENT_FAILED), snapshot, attempt, None, extra
    if kind == "charge.refunded":
        currency = obj.get("currency")
        refunded = stripe_money(obj.get("amount_refunded"), currency, "data.object.amount_refunded")
        extra["refund_key"] = f"stripe-charge:{object_id}"
        fact = Fact.CANCELLED if obj.get("refunded") is True else Fact.REFUNDED
        return fact, None, None, refunded, extra
    if kind == "charge.dispute.created":
        extra["reason"] = optional_str(obj, "reason", "code", "data.object.")
        extra["amount"] = stripe_money(
            obj.get("amount"), obj.get("currency"), "data.object.amount"
        ).to_dict()
        return Fact.DISPUTE_OPENED, None, None, None, extra
    extra["fraud_type"] = optional_str(obj, "fraud_type", "code", "data.object.")
    return Fact.FRAUD_WARNING, None, None, None, extra


def _retry_facts(obj: dict[str, Any]) -> dict[str, Any]:
    """What a retry of a PaymentIntent's failed payment needs: the card's network, the
    issuer's advice (Stripe's `network_advice_code`, else `advice_code`), and the saved card
    and customer when the customer agreed to be charged while away (the intent was set up
    for off-session use, or is one of Recoup's own retries)."""
    if obj.get("object") != "payment_intent":
        return {}
    error = _object(obj, "last_payment_error")
    where = "data.object.last_payment_error."
    method = error.get("payment_method")
    method_id = method.get("id") if isinstance(method, dict) else obj.get("payment_method")
    card = _object(method, "card") if isinstance(method, dict) else {}
    retry = _object(obj, "metadata").get(META_RETRY)
    number = int(retry) if isinstance(retry, str) and retry.isdigit() and len(retry) < 3 else 0
    agreed = obj.get("setup_future_usage") == "off_session" or number > 0
    customer = _ref(obj.get("customer"), "data.object.customer")
    method_ref = _ref(method_id, "data.object.payment_method")
    return {
        "network": optional_str(card, "brand", "code", f"{where}payment_method.card."),
        "advice_code": optional_str(error, "network_advice_code", "code", where)
        or optional_str(error, "advice_code", "code", where),
        "customer_ref": customer if agreed and method_ref else None,
        "payment_method_ref": method_ref if agreed and customer else None,
        "retry": number,
    }


def _amounts(obj: dict[str, Any], succeeded: bool) -> tuple[Money, Money]:
    currency = obj.get("currency")
    kind = obj.get("object")
    if kind == "invoice":
        total = stripe_money(obj.get("amount_due"), currency, "data.object.amount_due")
        remaining = obj.get("amount_remaining", obj.get("amount_due"))
        owed = stripe_money(remaining, currency, "data.object.amount_remaining")
    elif kind == "checkout.session":
        total = stripe_money(obj.get("amount_total"), currency, "data.object.amount_total")
        owed = total
    else:
        total = stripe_money(obj.get("amount"), currency, "data.object.amount")
        owed = total
    return total, (Money.zero(total.currency) if succeeded else owed)


def _failure(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    error = obj.get("last_payment_error")
    if isinstance(error, dict):
        where = "data.object.last_payment_error."
        return (
            optional_str(error, "decline_code", "code", where)
            or optional_str(error, "code", "code", where),
            optional_str(error, "message", "message", where),
        )
    outcome = _object(obj, "outcome")
    code = optional_str(obj, "failure_code", "code", "data.object.")
    reason = optional_str(outcome, "reason", "code", "data.object.outcome.")
    return (reason or code), optional_str(obj, "failure_message", "message", "data.object.")


def _customer(obj: dict[str, Any]) -> Customer | None:
    details: dict[str, Any] = {}
    for source in (
        obj.get("billing_details"),
        obj.get("customer_details"),
        _object(_object(obj, "last_payment_error"), "payment_method").get("billing_details"),
    ):
        if isinstance(source, dict):
            details = source
            break
    address = _object(details, "address")
    email = (
        optional_str(details, "email", "email", "billing_details.")
        or optional_str(obj, "receipt_email", "email", "data.object.")
        or optional_str(obj, "customer_email", "email", "data.object.")
    )
    name = optional_str(details, "name", "name", "billing_details.") or optional_str(
        obj, "customer_name", "name", "data.object."
    )
    first, _, last = (name or "").partition(" ")
    where = "billing_details.address."
    customer = Customer(
        customer_id=_ref(obj.get("customer"), "data.object.customer"),
        email=email,
        phone=optional_str(details, "phone", "phone", "billing_details.")
        or optional_str(obj, "customer_phone", "phone", "data.object."),
        first_name=first or None,
        last_name=last or None,
        country=optional_str(address, "country", "country", where),
        province=optional_str(address, "state", "province", where),
        zip=optional_str(address, "postal_code", "zip", where),
    )
    return customer if any(getattr(customer, f) for f in Customer.__slots__) else None


def _summary(
    kind: str,
    snapshot: OrderSnapshot | None,
    attempt: PaymentAttempt | None,
    refunded: Money | None,
    extra: Mapping[str, Any],
) -> str:
    plan = extra.get("plan")
    what = f"instalment {plan['number']} of plan {plan['plan_id']}: " if plan else ""
    if extra.get("settlement"):
        what = "settlement offer: "
    if attempt is not None:
        amount = attempt.amount
        if attempt.succeeded:
            return f"{what}payment of {amount} succeeded"
        return f"{what}payment of {amount} failed ({attempt.code or 'no code'})"
    if refunded is not None:
        return f"{refunded} refunded"
    if kind == _SETUP_SUCCEEDED:
        return "card saved for an instalment plan"
    if kind == "charge.dispute.created":
        return f"dispute opened, reason {extra.get('reason') or 'unknown'}"
    return f"early fraud warning: {extra.get('fraud_type') or 'unknown type'}"


if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses


def platform_client(api_key: str, *, client_id: str | None = None, base: str | None) -> Any:
    """The stripe SDK's client for the platform's key, on the pinned API version; `base`
    points it at the local stack's stand-in (`Settings.stripe_api_base`; never in the cloud)."""
    import stripe

    addresses: BaseAddresses | None = {"api": base, "connect": base} if base else None
    return stripe.StripeClient(
        api_key, client_id=client_id, stripe_version=API_VERSION, base_addresses=addresses
    )


def create_checkout_session(
    *,
    api_key: str,
    account: str,
    amount: Money,
    description: str,
    shop: str,
    case_id: str,
    return_url: str,
    idempotency_key: str,
    api_base: str | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> str:
    """A Checkout Session on the shop's connected account for the amount still owed; its
    metadata links the payment back to the order (and `extra_metadata`, a settlement
    offer's, says what it pays). Returns the session's URL.

    The idempotency key (case and step) makes a retried send reuse the same session.
    """
    client = platform_client(api_key, base=api_base)
    metadata = {META_SHOP: shop, META_ORDER: case_id} if case_id.isdigit() else {META_SHOP: shop}
    metadata.update(extra_metadata or {})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": amount.currency.lower(),
                        "unit_amount": amount.to_stripe(),
                        "product_data": {"name": description[:250]},
                    },
                }
            ],
            "success_url": return_url,
            "cancel_url": return_url,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        },
        options={"stripe_account": account, "idempotency_key": idempotency_key},
    )
    return str(session.url)


def _shop(metadata: Mapping[str, Any]) -> str | None:
    shop = metadata.get(META_SHOP)
    if isinstance(shop, str) and _SHOP_DOMAIN.match(shop.strip().lower()):
        return shop.strip().lower()
    return None


def _order_id(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get(META_ORDER)
    return optional_id(value) if isinstance(value, str) else None


def _ref(value: Any, field: str) -> str | None:
    """A Stripe reference: an id string, or an expanded object with an id."""
    if isinstance(value, str) and value:
        return stripe_id(value, field)
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return stripe_id(value["id"], f"{field}.id")
    return None


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object; anything else there (null, a number, an unexpanded id) is
    read as absent, like every optional fact."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}
