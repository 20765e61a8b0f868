"""Why a case's money has not arrived, as far as the platforms said: what a reminder's copy
is chosen by, so that a bank-transfer order is never told its card may have expired.

`of(case)` derives it from the facts the case holds: the newest failed payment attempt's
decline code (Stripe's `decline_code` or `code`, Shopify's transaction `error_code`), the
order's financial status and what was paid, and the order's payment gateways. Three
situations are never derived, because they are moments of the customer's own rather than
facts about the payment: an instalment missed, a promise broken and a promise due (the
nudge the day before a promised date); the caller that knows them passes them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from recoup.domain.case import Case
from recoup.domain.events import PaymentAttempt


class Situation(StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CARD = "incorrect_card"  # a wrong number, CVC, expiry date or postcode
    AUTHENTICATION_REQUIRED = "authentication_required"  # 3-D Secure not completed
    MANUAL_PAYMENT_PENDING = "manual_payment_pending"  # bank transfer, COD: no card involved
    PARTIALLY_PAID = "partially_paid"
    INSTALMENT_MISSED = "instalment_missed"
    PROMISE_BROKEN = "promise_broken"
    PROMISE_DUE = "promise_due"
    PAYMENT_FAILED = "payment_failed"  # nothing more is known


SITUATIONS: tuple[str, ...] = tuple(str(s) for s in Situation)
# Only a caller knows these; `of` never returns them.
NOT_DERIVED = frozenset(
    {Situation.INSTALMENT_MISSED, Situation.PROMISE_BROKEN, Situation.PROMISE_DUE}
)

# Stripe's decline codes (docs.stripe.com/declines/codes) and error codes, and Shopify's
# transaction error codes, by what the customer can do about them.
_BY_CODE: dict[str, Situation] = {
    **dict.fromkeys(
        ("insufficient_funds", "card_velocity_exceeded", "withdrawal_count_limit_exceeded"),
        Situation.INSUFFICIENT_FUNDS,
    ),
    "expired_card": Situation.EXPIRED_CARD,
    **dict.fromkeys(
        (
            "incorrect_cvc",
            "invalid_cvc",
            "incorrect_number",
            "invalid_number",
            "incorrect_zip",
            "incorrect_address",
            "invalid_expiry_month",
            "invalid_expiry_year",
            "invalid_expiry_date",
            "incorrect_pin",
            "invalid_pin",
        ),
        Situation.INCORRECT_CARD,
    ),
    **dict.fromkeys(
        ("authentication_required", "payment_intent_authentication_failure"),
        Situation.AUTHENTICATION_REQUIRED,
    ),
    # Declined by the issuer for a reason the customer is not told (Stripe advises giving
    # the fraud-related ones as a generic decline), or for one only the bank can lift.
    **dict.fromkeys(
        (
            "card_declined",
            "generic_decline",
            "do_not_honor",
            "do_not_try_again",
            "call_issuer",
            "pick_up_card",
            "pickup_card",
            "restricted_card",
            "lost_card",
            "stolen_card",
            "fraudulent",
            "merchant_blacklist",
            "security_violation",
            "transaction_not_allowed",
            "not_permitted",
            "service_not_allowed",
            "card_not_supported",
            "currency_not_supported",
            "revocation_of_authorization",
            "revocation_of_all_authorizations",
            "stop_payment_order",
            "new_account_information_available",
            "invalid_account",
            "no_action_taken",
            "approve_with_id",
        ),
        Situation.CARD_DECLINED,
    ),
}

# Shopify gateways that involve no card: the customer pays outside checkout. Shopify names
# them both ways ("bank_deposit" and "Bank Deposit"), so names are compared normalised.
_MANUAL_GATEWAYS = frozenset(
    {
        "bank_deposit",
        "bank_transfer",
        "manual",
        "money_order",
        "cash_on_delivery",
        "cash_on_delivery_cod",
        "cod",
        "invoice",
        "pay_by_invoice",
    }
)
# Paid alongside another method and not a way of paying the rest: ignored when deciding.
_NEUTRAL_GATEWAYS = frozenset({"gift_card"})
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def gateway_key(name: str) -> str:
    """'Cash on Delivery (COD)' -> 'cash_on_delivery_cod'."""
    return _NOT_WORD.sub("_", name.lower()).strip("_")


def is_manual(gateways: Iterable[str]) -> bool:
    """True when the order's payment methods involve no card: each is a manual one."""
    keys = {gateway_key(g) for g in gateways if isinstance(g, str)} - _NEUTRAL_GATEWAYS
    return bool(keys) and keys <= _MANUAL_GATEWAYS


def of_code(code: str | None) -> Situation | None:
    """The situation a decline or error code names, or None for an unknown code."""
    if not code:
        return None
    return _BY_CODE.get(code.strip().lower())


def _newest_failure(attempts: Iterable[PaymentAttempt]) -> PaymentAttempt | None:
    failed = [a for a in attempts if not a.succeeded]
    return max(failed, key=lambda a: (a.at, a.attempt_id)) if failed else None


def _partially_paid(case: Case) -> bool:
    snapshot = case.snapshot
    if snapshot is None:
        return False
    if snapshot.financial_status == "partially_paid":
        return True
    owed, total = snapshot.amount_owed, snapshot.order_total
    return (
        owed is not None
        and total is not None
        and owed.currency == total.currency
        and 0 < owed.minor < total.minor
    )


def of(case: Case, *, gateways: Iterable[str] | None = None) -> Situation:
    """The case's payment situation: partially paid first (the copy then states what was
    paid and what remains), else what the newest failed attempt's code says, else a manual
    payment still awaited when the order's `gateways` (Shopify's payment_gateway_names; by
    default those of the case's order snapshot) involve no card, else a payment that failed
    for no known reason."""
    if gateways is None:
        gateways = case.snapshot.payment_gateways if case.snapshot else ()
    if _partially_paid(case):
        return Situation.PARTIALLY_PAID
    failure = _newest_failure(case.attempts)
    by_code = of_code(failure.code) if failure else None
    if by_code is not None:
        return by_code
    if failure is None and is_manual(gateways):
        return Situation.MANUAL_PAYMENT_PENDING
    return Situation.PAYMENT_FAILED


__all__ = ["NOT_DERIVED", "SITUATIONS", "Situation", "gateway_key", "is_manual", "of", "of_code"]
