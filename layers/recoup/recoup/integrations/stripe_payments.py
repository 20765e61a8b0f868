"""Stripe payments for instalment plans, on the shop's connected account (`Stripe-Account`):
a Customer for the plan, a Checkout Session that takes the first instalment and saves the
card (or only saves it, in setup mode), and later instalments charged off-session.

Every call carries an idempotency key: Stripe saves the first answer to a key and replays it
to a retry with the same key and parameters, so a retried job never creates a second
Customer or Session, nor charges twice. Outcomes arrive as webhooks
(payment_intent.succeeded, payment_intent.payment_failed, setup_intent.succeeded,
checkout.session.completed), each carrying the metadata set here.

No name, email or card detail is sent to Stripe or logged from here: the Customer carries
only the metadata that links it to the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from recoup.domain.money import Money, normalise_currency
from recoup.errors import RecoupError

# The metadata keys are the webhook's (integrations/stripe.py reads them back): recoup_case,
# recoup_plan, recoup_instalment (its number), recoup_final ("1" on the plan's last).
from recoup.integrations.stripe import (
    META_CASE,
    META_FINAL,
    META_INSTALMENT,
    META_PLAN,
    META_SHOP,
    platform_client,
)

__all__ = [
    "META_CASE",
    "META_FINAL",
    "META_INSTALMENT",
    "META_PLAN",
    "ChargeNotConfirmed",
    "ChargeRefused",
    "ChargeResult",
    "charge_off_session",
    "create_customer",
    "create_plan_checkout",
]

# Stripe's limits on metadata (https://docs.stripe.com/api/metadata).
_MAX_META_KEYS = 50
_MAX_META_KEY = 40
_MAX_META_VALUE = 500
# Error codes of a card problem that may come on a request error rather than a card error.
_CARD_CODES = frozenset(
    {
        "authentication_required",
        "card_declined",
        "card_decline_rate_limit_exceeded",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_zip",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "processing_error",
    }
)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What Stripe answered to an off-session charge."""

    outcome: Literal["succeeded", "failed"]
    payment_intent: str | None
    code: str | None  # the decline code, else the error code ("authentication_required")
    message: str | None  # Stripe's message, fit to show the customer


class ChargeNotConfirmed(RecoupError):
    """The charge's outcome is unknown: rate limited, no connection or no answer, a Stripe
    server error, or a payment still processing. A retry with the same idempotency key never
    charges twice: Stripe replays the answer it saved, or makes the charge if it never
    started. A 5xx answer is saved and replayed like any other, so after one the outcome is
    learnt from the PaymentIntent's webhook (its metadata names the instalment)."""

    def __init__(self, message: str, *, payment_intent: str | None = None) -> None:
        super().__init__(message)
        self.payment_intent = payment_intent


class ChargeRefused(RecoupError):
    """Stripe refused the request for a reason other than the card: the platform's access to
    the account is revoked (the shop disconnected), the key is wrong, the request is invalid
    (a detached payment method, an idempotency key reused with other parameters). Retrying
    the same request cannot help; `code` is Stripe's error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def create_customer(
    *,
    api_key: str,
    account: str,
    shop: str,
    case_id: str,
    plan_id: str,
    idempotency_key: str,
    api_base: str | None = None,
) -> str:
    """A Customer on the connected account for the plan's saved card; returns its id."""
    client = platform_client(api_key, base=api_base)
    metadata = {META_SHOP: shop, META_CASE: case_id, META_PLAN: plan_id}
    customer = client.v1.customers.create(
        params={"metadata": _metadata(metadata)},
        options={"stripe_account": account, "idempotency_key": idempotency_key},
    )
    return _id(customer, "cus_")


def create_plan_checkout(
    *,
    api_key: str,
    account: str,
    customer: str,
    mode: Literal["payment", "setup"],
    amount: Money | None,
    currency: str,
    description: str,
    metadata: Mapping[str, str],
    return_url: str,
    idempotency_key: str,
    api_base: str | None = None,
) -> str:
    """A Checkout Session for the plan's customer; returns its URL.

    payment: takes `amount` (the first instalment) and saves the card for off-session use;
    setup: saves the card only (the first instalment is not due yet). The metadata goes on
    the session and on the PaymentIntent or SetupIntent it makes, whose webhooks carry it.
    """
    client = platform_client(api_key, base=api_base)
    params = _checkout_params(mode, amount, currency, description, _metadata(metadata))
    params.update({"customer": customer, "success_url": return_url, "cancel_url": return_url})
    session = client.v1.checkout.sessions.create(
        params=params,
        options={"stripe_account": account, "idempotency_key": idempotency_key},
    )
    url = getattr(session, "url", None)
    if not isinstance(url, str) or not url:
        raise ValueError("Stripe's Checkout Session has no URL")
    return url


def _checkout_params(
    mode: str, amount: Money | None, currency: str, description: str, metadata: dict[str, str]
) -> dict[str, Any]:
    code = normalise_currency(currency)
    if mode == "setup":
        return {
            "mode": "setup",
            "currency": code.lower(),
            "setup_intent_data": {"metadata": metadata, "description": description[:1000]},
            "metadata": metadata,
        }
    if mode != "payment":
        raise ValueError(f"mode must be payment or setup, not {mode!r}")
    if amount is None or amount.currency != code or amount.minor <= 0:
        raise ValueError("payment mode needs a positive amount in the currency given")
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": code.lower(),
                    "unit_amount": amount.to_stripe(),
                    "product_data": {"name": description[:250]},
                },
            }
        ],
        "payment_intent_data": {
            "setup_future_usage": "off_session",
            "metadata": metadata,
            "description": description[:1000],
        },
        "metadata": metadata,
    }


def charge_off_session(
    *,
    api_key: str,
    account: str,
    customer: str,
    payment_method: str,
    amount: Money,
    description: str,
    metadata: Mapping[str, str],
    idempotency_key: str,
    api_base: str | None = None,
) -> ChargeResult:
    """Charge the customer's saved card while they are away (confirm, off_session).

    A decline, or a card that needs the customer to authenticate, is a failed result with
    Stripe's code; ChargeNotConfirmed when the outcome is unknown; ChargeRefused when Stripe
    refuses the request itself.
    """
    import stripe

    if amount.minor <= 0:
        raise ValueError("an off-session charge needs a positive amount")
    client = platform_client(api_key, base=api_base)
    params = {
        "amount": amount.to_stripe(),
        "currency": amount.currency.lower(),
        "customer": customer,
        "payment_method": payment_method,
        "confirm": True,
        "off_session": True,
        "description": description[:1000],
        "metadata": _metadata(metadata),
    }
    try:
        intent = client.v1.payment_intents.create(
            params=params,
            options={"stripe_account": account, "idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        return _charge_error(error)
    return _charge_answer(intent)


def _charge_answer(intent: Any) -> ChargeResult:
    intent_id = _id(intent, "pi_")
    status = getattr(intent, "status", None)
    if status == "succeeded":
        return ChargeResult("succeeded", intent_id, None, None)
    if status == "requires_payment_method":
        code, message = _last_error(intent)
        return ChargeResult("failed", intent_id, code, message)
    # processing (or anything else): Stripe has not decided; its webhook will say.
    raise ChargeNotConfirmed(f"the payment is {status}", payment_intent=intent_id)


def _charge_error(error: Any) -> ChargeResult:
    """The result, or the exception, a Stripe error means for an off-session charge."""
    import stripe

    if isinstance(error, stripe.CardError) or _card_problem(error):
        return _declined(error)
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError):
        raise ChargeNotConfirmed(_message(error)) from None
    status = getattr(error, "http_status", None)
    if not isinstance(status, int) or status >= 500:
        raise ChargeNotConfirmed(_message(error)) from None
    detail = getattr(error, "error", None)  # the answer's `error` object, when it has one
    code = (
        getattr(error, "code", None)
        or getattr(detail, "code", None)
        or getattr(detail, "type", None)
    )
    raise ChargeRefused(_message(error), code=code if isinstance(code, str) else None) from None


def _card_problem(error: Any) -> bool:
    """A request error that is about the card after all (a decline code, a failed attempt)."""
    detail = getattr(error, "error", None)
    if getattr(detail, "decline_code", None) or getattr(detail, "payment_intent", None):
        return True
    return getattr(error, "code", None) in _CARD_CODES


def _declined(error: Any) -> ChargeResult:
    detail = getattr(error, "error", None)
    intent = getattr(detail, "payment_intent", None)
    intent_id = getattr(intent, "id", None)
    decline = getattr(detail, "decline_code", None)
    code = decline if isinstance(decline, str) and decline else getattr(error, "code", None)
    return ChargeResult(
        "failed",
        intent_id if isinstance(intent_id, str) else None,
        code if isinstance(code, str) else None,
        _message(error),
    )


def _last_error(intent: Any) -> tuple[str | None, str | None]:
    error = getattr(intent, "last_payment_error", None)
    decline = getattr(error, "decline_code", None)
    code = decline or getattr(error, "code", None)
    message = getattr(error, "message", None)
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def _message(error: Any) -> str:
    message = getattr(error, "user_message", None) or type(error).__name__
    return str(message)[:500]


def _metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The metadata as Stripe takes it: at most 50 keys of 40 characters, string values of
    500; a mistake here is the caller's, said before any request."""
    if len(metadata) > _MAX_META_KEYS:
        raise ValueError(f"Stripe takes at most {_MAX_META_KEYS} metadata keys")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > _MAX_META_KEY or "[" in key:
            raise ValueError(f"metadata key {key!r} is not one Stripe takes")
        if not isinstance(value, str) or len(value) > _MAX_META_VALUE:
            raise ValueError(f"metadata value of {key!r} must be a string of at most 500")
    return dict(metadata)


def _id(obj: Any, prefix: str) -> str:
    value = getattr(obj, "id", None)
    if not isinstance(value, str) or not value.startswith(prefix):
        raise ValueError(f"Stripe's answer has no {prefix}... id")
    return value
