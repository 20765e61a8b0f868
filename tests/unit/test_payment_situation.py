"""The payment situation a reminder's copy is chosen by (recoup.domain.payment_situation),
derived from real Stripe decline codes, Shopify transaction error codes and gateway names."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import OrderSnapshot, PaymentAttempt, Source
from recoup.domain.money import Money
from recoup.domain.payment_situation import (
    NOT_DERIVED,
    SITUATIONS,
    Situation,
    gateway_key,
    is_manual,
    is_transfer,
    of,
    of_code,
)

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _case(
    *attempts: PaymentAttempt,
    owed: int = 189_900,
    total: int | None = 189_900,
    financial_status: str | None = "pending",
    payment_terms: str | None = None,
) -> Case:
    snapshot = OrderSnapshot(
        amount_owed=Money("USD", owed),
        order_total=Money("USD", total) if total is not None else None,
        order_name="#1042",
        financial_status=financial_status,
        payment_terms=payment_terms,
        payment_due_at=T0 - timedelta(days=2) if payment_terms else None,
    )
    return Case(
        shop="demo.myshopify.com",
        case_id="1042",
        status=CaseStatus.OPEN,
        status_since=((CaseStatus.OPEN, T0),),
        snapshot=snapshot,
        attempts=attempts,
    )


def _failed(code: str | None, minutes: int = 0, provider: Source = Source.STRIPE) -> PaymentAttempt:
    return PaymentAttempt(
        attempt_id=f"pi_{minutes}_{code}",
        provider=provider,
        succeeded=False,
        at=T0 + timedelta(minutes=minutes),
        amount=Money("USD", 189_900),
        code=code,
    )


# Stripe's decline codes (docs.stripe.com/declines/codes) and error codes, and the error
# codes of Shopify's order transactions, each with the situation its copy should fit.
@pytest.mark.parametrize(
    ("code", "situation"),
    [
        ("insufficient_funds", Situation.INSUFFICIENT_FUNDS),
        ("card_velocity_exceeded", Situation.INSUFFICIENT_FUNDS),
        ("withdrawal_count_limit_exceeded", Situation.INSUFFICIENT_FUNDS),
        ("expired_card", Situation.EXPIRED_CARD),
        ("incorrect_cvc", Situation.INCORRECT_CARD),
        ("invalid_cvc", Situation.INCORRECT_CARD),
        ("incorrect_number", Situation.INCORRECT_CARD),
        ("invalid_number", Situation.INCORRECT_CARD),
        ("incorrect_zip", Situation.INCORRECT_CARD),
        ("invalid_expiry_year", Situation.INCORRECT_CARD),
        ("invalid_expiry_date", Situation.INCORRECT_CARD),  # Shopify's error_code
        ("incorrect_pin", Situation.INCORRECT_CARD),
        ("authentication_required", Situation.AUTHENTICATION_REQUIRED),
        ("payment_intent_authentication_failure", Situation.AUTHENTICATION_REQUIRED),
        ("generic_decline", Situation.CARD_DECLINED),
        ("do_not_honor", Situation.CARD_DECLINED),
        ("card_declined", Situation.CARD_DECLINED),
        ("call_issuer", Situation.CARD_DECLINED),
        ("fraudulent", Situation.CARD_DECLINED),  # never told to the customer as fraud
        # The same card will fail again: another card or method, or the bank
        ("pick_up_card", Situation.CARD_NOT_USABLE),  # Shopify's spelling
        ("pickup_card", Situation.CARD_NOT_USABLE),  # Stripe's
        ("stolen_card", Situation.CARD_NOT_USABLE),  # said without the reason
        ("lost_card", Situation.CARD_NOT_USABLE),
        ("do_not_try_again", Situation.CARD_NOT_USABLE),
        ("revocation_of_authorization", Situation.CARD_NOT_USABLE),
        ("revocation_of_all_authorizations", Situation.CARD_NOT_USABLE),
        ("stop_payment_order", Situation.CARD_NOT_USABLE),
        ("card_not_supported", Situation.CARD_NOT_USABLE),
        ("currency_not_supported", Situation.CARD_NOT_USABLE),
        ("invalid_account", Situation.CARD_NOT_USABLE),
        ("new_account_information_available", Situation.CARD_NOT_USABLE),
        ("restricted_card", Situation.CARD_NOT_USABLE),
        ("transaction_not_allowed", Situation.CARD_DECLINED),
        ("Insufficient_Funds ", Situation.INSUFFICIENT_FUNDS),  # as sent, case and spaces
    ],
)
def test_the_newest_failed_attempts_code_names_the_situation(
    code: str, situation: Situation
) -> None:
    assert of(_case(_failed(code))) is situation
    assert of_code(code) is situation


@pytest.mark.parametrize("code", ["processing_error", "try_again_later", "something_new", None, ""])
def test_an_unknown_or_missing_code_is_a_failed_payment(code: str | None) -> None:
    # A processing error is not the card's fault: no card wording for it
    assert of(_case(_failed(code))) is Situation.PAYMENT_FAILED


def test_the_newest_failure_wins_and_successes_are_ignored() -> None:
    # Given an expired card, then a later insufficient-funds decline, then a success of part
    ok = dataclasses.replace(_failed(None, 30), succeeded=True)
    case = _case(_failed("insufficient_funds", 20), _failed("expired_card", 10), ok)
    # Then the newest failure speaks
    assert of(case) is Situation.INSUFFICIENT_FUNDS
    # And a Shopify transaction's code counts the same as Stripe's
    shopify = _failed("incorrect_cvc", 40, provider=Source.SHOPIFY)
    assert of(dataclasses.replace(case, attempts=(*case.attempts, shopify))) is (
        Situation.INCORRECT_CARD
    )


@pytest.mark.parametrize(
    "gateways",
    [
        ["bank_deposit"],
        ["Bank Deposit"],
        ["Bank Deposit", "gift_card"],  # part by gift card, the rest by transfer
        # Merchants name their manual methods in their own language
        ["Vorkasse"],
        ["Überweisung"],
        ["Virement bancaire"],
        ["Transferencia"],
        ["Transferencia bancaria"],
        ["銀行振込"],
    ],
)
def test_a_bank_transfer_with_no_failed_attempt_awaits_the_transfer(
    gateways: list[str],
) -> None:
    assert is_manual(gateways) and is_transfer(gateways)
    for status in ("pending", None):
        case = _case(financial_status=status)
        assert of(case, gateways=gateways) is Situation.MANUAL_PAYMENT_PENDING


@pytest.mark.parametrize(
    "gateways",
    [
        ["manual"],
        ["Cash on Delivery (COD)"],
        ["cash_on_delivery"],
        ["money_order"],
        ["Money Order"],
        ["Invoice"],
        ["Kauf auf Rechnung"],
        ["代金引換"],
        ["Bank Deposit", "Cash on Delivery (COD)"],  # either: no transfer details
    ],
)
def test_another_manual_method_awaits_a_payment_without_naming_a_transfer(
    gateways: list[str],
) -> None:
    assert is_manual(gateways) and not is_transfer(gateways)
    assert of(_case(), gateways=gateways) is Situation.AWAITING_PAYMENT


@pytest.mark.parametrize(
    "gateways", [[], ["Zahlung bei Abholung"], ["Pago en tienda"], ["Paiement à la livraison"]]
)
def test_a_pending_order_with_no_card_gateway_known_awaits_a_payment(gateways: list[str]) -> None:
    # Nothing failed and nothing says a card was tried: not "we could not complete it"
    assert of(_case(), gateways=gateways) is Situation.AWAITING_PAYMENT
    # But an order not said to be pending is not assumed to await anything
    assert of(_case(financial_status=None), gateways=gateways) is Situation.PAYMENT_FAILED


@pytest.mark.parametrize(
    "gateways",
    [["shopify_payments"], ["stripe"], ["PayPal"], ["Bank Deposit", "shopify_payments"]],
)
def test_a_pending_order_on_a_card_gateway_failed_to_pay(gateways: list[str]) -> None:
    assert not is_manual(gateways)
    assert of(_case(), gateways=gateways) is Situation.PAYMENT_FAILED


def test_a_card_decline_on_a_bank_transfer_order_is_a_decline() -> None:
    # The customer tried to pay the transfer order by card through the pay link
    case = _case(_failed("expired_card"))
    assert of(case, gateways=["Bank Deposit"]) is Situation.EXPIRED_CARD


def test_an_unknown_failure_on_a_manual_order_says_nothing_of_cards_or_transfers() -> None:
    assert of(_case(_failed("processing_error")), gateways=["manual"]) is (Situation.PAYMENT_FAILED)


def test_partially_paid_comes_first() -> None:
    # Shopify says so, even with a decline on record
    assert of(_case(_failed("insufficient_funds"), financial_status="partially_paid")) is (
        Situation.PARTIALLY_PAID
    )
    # Or the order total exceeds what is owed (something was paid)
    assert of(_case(owed=100_000, total=189_900)) is Situation.PARTIALLY_PAID
    # But owing the whole total, or no total known, is not a part payment
    assert of(_case(owed=189_900, total=189_900), gateways=["stripe"]) is Situation.PAYMENT_FAILED
    assert of(_case(total=None), gateways=["stripe"]) is Situation.PAYMENT_FAILED


def test_a_case_without_a_snapshot_failed_for_no_known_reason() -> None:
    case = dataclasses.replace(_case(), snapshot=None)
    assert of(case) is Situation.PAYMENT_FAILED


def test_the_customers_own_moments_are_never_derived() -> None:
    # Whatever the facts, `of` never returns a promise or an instalment situation
    cases = [
        _case(_failed(code))
        for code in ("insufficient_funds", "expired_card", "generic_decline", None)
    ]
    cases += [_case(financial_status="partially_paid"), _case()]
    # Nor, for an order on payment terms, the courtesy reminder before their due date
    cases += [_case(payment_terms="Net 30"), _case(_failed(None), payment_terms="Net 30")]
    for gateways in (["manual"], ["Bank Deposit"], ["shopify_payments"], []):
        assert not {of(case, gateways=gateways) for case in cases} & NOT_DERIVED
    assert {str(s) for s in NOT_DERIVED} == {
        "instalment_missed",
        "plan_broken",
        "promise_broken",
        "promise_due",
        "payment_due_soon",
        "order_cancelled",
    }
    assert set(SITUATIONS) == {str(s) for s in Situation}


@pytest.mark.parametrize(
    "gateways", [[], ["manual"], ["Bank Deposit"], ["shopify_payments"], ["Invoice"]]
)
def test_a_pending_order_on_payment_terms_is_overdue_whatever_its_gateways(
    gateways: list[str],
) -> None:
    # Given a pending order on Net 30 with no failed attempt
    case = _case(payment_terms="Net 30")
    # Then its payment is past the terms' due date: not a transfer awaited, not a failure
    assert of(case, gateways=gateways) is Situation.TERMS_OVERDUE
    # And the gateways of its own snapshot say the same
    assert of(case) is Situation.TERMS_OVERDUE
    # And without terms the same order is what its gateways say
    assert of(_case(), gateways=gateways) is not Situation.TERMS_OVERDUE


def test_on_payment_terms_a_declined_card_still_speaks_and_a_part_payment_first() -> None:
    # Given an order on terms whose customer tried the pay link with a card
    declined = _case(_failed("insufficient_funds"), payment_terms="Net 30")
    # Then the decline's situation is said, as for any order
    assert of(declined) is Situation.INSUFFICIENT_FUNDS
    assert of(_case(_failed("expired_card"), payment_terms="Net 30")) is Situation.EXPIRED_CARD
    # And a failure with no known code says nothing the terms do not
    assert of(_case(_failed("processing_error"), payment_terms="Net 30")) is (
        Situation.TERMS_OVERDUE
    )
    # And a part payment comes first, as it does without terms
    assert of(_case(owed=100_000, payment_terms="Net 30")) is Situation.PARTIALLY_PAID
    # And an empty terms name is no terms
    assert of(_case(payment_terms=""), gateways=["stripe"]) is Situation.PAYMENT_FAILED


def test_gateway_names_are_compared_normalised() -> None:
    assert gateway_key("Cash on Delivery (COD)") == "cash_on_delivery_cod"
    assert gateway_key(" Bank Deposit ") == "bank_deposit"
    # Accents folded, other scripts kept: never an empty key for a real name
    assert gateway_key("Überweisung") == "uberweisung"
    assert gateway_key("Virement bancaire") == "virement_bancaire"
    assert gateway_key("銀行振込") == "銀行振込"
    assert gateway_key("Ｂａｎｋ　Ｄｅｐｏｓｉｔ") == "bank_deposit"  # full-width
    assert gateway_key("—") == ""
