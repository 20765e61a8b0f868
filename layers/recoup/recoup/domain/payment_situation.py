"""Why a case's money has not arrived, as far as the platforms said: what a reminder's copy
is chosen by, so that a bank-transfer order is never told its card may have expired.

`of(case)` derives it from the facts the case holds: the newest failed payment attempt's
decline code (Stripe's `decline_code` or `code`, Shopify's transaction `error_code`), the
order's financial status and what was paid, and the order's payment gateways. A pending
order with no failed attempt is a payment awaited, not a failed one, unless it was to be
paid at checkout (a card gateway): a bank transfer with the transfer's details, any other
way of paying later (cash on delivery, money order, invoice, a gateway Recoup does not
know) in words that name no method. An order on payment terms ("Net 30") with no failed
attempt that names a reason is a payment past its due date, whatever its gateways. Five
situations are never derived, because they are moments of the customer's own rather than
facts about the payment: an instalment missed, a plan broken, a promise broken, a promise
due (the nudge the day before a promised date) and a payment due soon (the courtesy
reminder before a payment terms' due date); the caller that knows them passes them. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from recoup.domain.case import Case
from recoup.domain.events import PaymentAttempt


class Situation(StrEnum):
    CARD_DECLINED = "card_declined"  # the bank said no; trying again may well work
    # The card cannot pay this (stopped, revoked, lost, not supported...): another card or
    # payment method, or the bank, never "the same card again".
    CARD_NOT_USABLE = "card_not_usable"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CARD = "incorrect_card"  # a wrong number, CVC, expiry date or postcode
    AUTHENTICATION_REQUIRED = "authentication_required"  # 3-D Secure not completed
    MANUAL_PAYMENT_PENDING = "manual_payment_pending"  # a bank transfer awaited: its details
    AWAITING_PAYMENT = "awaiting_payment"  # COD, money order, invoice, unknown: "your payment"
    PARTIALLY_PAID = "partially_paid"
    # An instalment of a plan could not be charged: its notice (pay it within the grace
    # days to keep the plan).
    INSTALMENT_MISSED = "instalment_missed"
    # The plan ended because an instalment stayed unpaid: the step the reminders resume at
    # (the whole balance is due).
    PLAN_BROKEN = "plan_broken"
    PROMISE_BROKEN = "promise_broken"
    PROMISE_DUE = "promise_due"
    # The courtesy reminder a few days before the due date of the order's payment terms:
    # the amount, the date and how to pay; nothing has gone wrong.
    PAYMENT_DUE_SOON = "payment_due_soon"
    # The order's payment terms ("Net 30") have passed their due date unpaid.
    TERMS_OVERDUE = "terms_overdue"
    # The last message before an unpaid manual-payment order is cancelled and restocked.
    ORDER_CANCELLED = "order_cancelled"
    PAYMENT_FAILED = "payment_failed"  # nothing more is known


SITUATIONS: tuple[str, ...] = tuple(str(s) for s in Situation)
# Only a caller knows these; `of` never returns them.
NOT_DERIVED = frozenset(
    {
        Situation.INSTALMENT_MISSED,
        Situation.PLAN_BROKEN,
        Situation.PROMISE_BROKEN,
        Situation.PROMISE_DUE,
        Situation.PAYMENT_DUE_SOON,
        Situation.ORDER_CANCELLED,
    }
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
            "call_issuer",
            "fraudulent",
            "merchant_blacklist",
            "security_violation",
            "transaction_not_allowed",
            "not_permitted",
            "service_not_allowed",
            "no_action_taken",
            "approve_with_id",
        ),
        Situation.CARD_DECLINED,
    ),
    # The same card will be declined again, whatever the customer does with it: stopped or
    # revoked by the cardholder, closed, replaced, lost or stolen (said without the reason,
    # as Stripe advises), or unable to pay this merchant or currency.
    **dict.fromkeys(
        (
            "do_not_try_again",
            "revocation_of_authorization",
            "revocation_of_authorizations",
            "revocation_of_all_authorizations",
            "stop_payment_order",
            "card_not_supported",
            "currency_not_supported",
            "invalid_account",
            "new_account_information_available",
            "restricted_card",
            "pickup_card",
            "pick_up_card",
            "lost_card",
            "stolen_card",
        ),
        Situation.CARD_NOT_USABLE,
    ),
}

# Shopify's manual payment methods are named by the merchant ("Bank Deposit", "Vorkasse",
# "銀行振込"), so names are compared normalised (`gateway_key`) against those known here.
# A bank transfer: the customer is given the shop's bank details to pay to.
_TRANSFER_GATEWAYS = frozenset(
    {
        "bank_deposit",
        "bank_transfer",
        "bank_wire",
        "wire_transfer",
        "direct_bank_transfer",
        "vorkasse",
        "uberweisung",
        "ueberweisung",
        "bankuberweisung",
        "vorkasse_uberweisung",
        "virement",
        "virement_bancaire",
        "transferencia",
        "transferencia_bancaria",
        "銀行振込",
        "銀行振り込み",
        "振込",
    }
)
# Other ways of paying outside checkout: no card, and no bank details to quote either.
_MANUAL_GATEWAYS = _TRANSFER_GATEWAYS | frozenset(
    {
        "manual",
        "money_order",
        "cash_on_delivery",
        "cash_on_delivery_cod",
        "cod",
        "invoice",
        "pay_by_invoice",
        "rechnung",
        "kauf_auf_rechnung",
        "nachnahme",
        "contre_remboursement",
        "contra_reembolso",
        "contrareembolso",
        "代金引換",
        "代引き",
    }
)
# Paid at checkout (cards and wallets): a pending order on one of these failed to pay.
_CHECKOUT_GATEWAYS = frozenset(
    {
        "shopify_payments",
        "stripe",
        "paypal",
        "paypal_express_checkout",
        "braintree",
        "adyen",
        "authorize_net",
        "checkout_com",
        "klarna",
        "apple_pay",
        "google_pay",
        "shop_pay",
        "mollie",
        "square",
    }
)
_COD_GATEWAYS = frozenset(
    {
        "cash_on_delivery",
        "cash_on_delivery_cod",
        "cod",
        "nachnahme",
        "contre_remboursement",
        "contra_reembolso",
        "contrareembolso",
        "代金引換",
        "代引き",
    }
)
# Buy now, pay later: the provider pays the shop; a failure there is the provider's decline.
_BNPL_GATEWAYS = frozenset(
    {"klarna", "afterpay", "clearpay", "affirm", "sezzle", "zip", "zip_pay", "paypal_pay_later"}
)
# Names of cards, and Shopify's test gateway ("bogus"), which stands for a card.
_CARD_NAMES = frozenset({"bogus", "visa", "mastercard", "amex", "american_express", "card"})
# Paid alongside another method and not a way of paying the rest: ignored when deciding.
_NEUTRAL_GATEWAYS = frozenset({"gift_card"})
_NOT_WORD = re.compile(r"[\W_]+")


def gateway_key(name: str) -> str:
    """'Cash on Delivery (COD)' -> 'cash_on_delivery_cod', 'Überweisung' -> 'uberweisung',
    '銀行振込' -> '銀行振込': case and accents folded, any script's letters kept."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub("_", unicodedata.normalize("NFC", bare)).strip("_")


def _keys(gateways: Iterable[str]) -> frozenset[str]:
    keys = {gateway_key(g) for g in gateways if isinstance(g, str)}
    return frozenset(keys - {""} - _NEUTRAL_GATEWAYS)


def is_manual(gateways: Iterable[str]) -> bool:
    """True when the order's payment methods involve no card: each is a manual one."""
    keys = _keys(gateways)
    return bool(keys) and keys <= _MANUAL_GATEWAYS


def is_transfer(gateways: Iterable[str]) -> bool:
    """True when the order is to be paid by bank transfer: each method is a transfer."""
    keys = _keys(gateways)
    return bool(keys) and keys <= _TRANSFER_GATEWAYS


def method_kind(gateways: Iterable[str]) -> str | None:
    """How the order was to be paid, by its gateways: "bank_transfer", "cash_on_delivery",
    "bnpl", "card" (any method paid at checkout), "other" (another manual method, or none
    Recoup knows); None when no gateway is named."""
    keys = _keys(gateways)
    if not keys:
        return None
    for kind, known in (
        ("bank_transfer", _TRANSFER_GATEWAYS),
        ("cash_on_delivery", _COD_GATEWAYS),
        ("bnpl", _BNPL_GATEWAYS),
    ):
        if keys <= known:
            return kind
    if keys & (_CHECKOUT_GATEWAYS | _BNPL_GATEWAYS | _CARD_NAMES):
        return "card"
    return "other"


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


def _awaited(case: Case, gateways: Iterable[str]) -> Situation | None:
    """With no failed attempt: a transfer or another later payment awaited, when the
    order's methods say so, or when the order is pending and none of them is paid at
    checkout (a method Recoup does not know, or none named); else None."""
    keys = _keys(gateways)
    if keys and keys <= _TRANSFER_GATEWAYS:
        return Situation.MANUAL_PAYMENT_PENDING
    if keys and keys <= _MANUAL_GATEWAYS:
        return Situation.AWAITING_PAYMENT
    pending = case.snapshot is not None and case.snapshot.financial_status == "pending"
    if pending and not keys & _CHECKOUT_GATEWAYS:
        return Situation.AWAITING_PAYMENT
    return None


def _on_terms(case: Case) -> bool:
    """True when the order has payment terms: it was to be paid by their due date."""
    return case.snapshot is not None and bool(case.snapshot.payment_terms)


def of(case: Case, *, gateways: Iterable[str] | None = None) -> Situation:
    """The case's payment situation: partially paid first (the copy then states what was
    paid and what remains), else what the newest failed attempt's code says, else the
    payment terms' passed due date when the order has terms (a failure with no known code
    says nothing the terms do not), else, with no failed attempt, a payment awaited
    (`_awaited`) when the order's `gateways` (Shopify's payment_gateway_names; by default
    those of the case's order snapshot) involve no checkout, else a payment that failed for
    no known reason."""
    if gateways is None:
        gateways = case.snapshot.payment_gateways if case.snapshot else ()
    if _partially_paid(case):
        return Situation.PARTIALLY_PAID
    failure = _newest_failure(case.attempts)
    by_code = of_code(failure.code) if failure else None
    if by_code is not None:
        return by_code
    if _on_terms(case):
        return Situation.TERMS_OVERDUE
    awaited = _awaited(case, gateways) if failure is None else None
    return awaited or Situation.PAYMENT_FAILED


__all__ = [
    "NOT_DERIVED",
    "SITUATIONS",
    "Situation",
    "gateway_key",
    "is_manual",
    "is_transfer",
    "method_kind",
    "of",
    "of_code",
]
