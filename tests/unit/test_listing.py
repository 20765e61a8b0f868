"""The case list's display state and search terms: one state per case, in order of
precedence, and terms in the normal form both the stored keys and a search use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.fraud.screening import Decision, Screening
from recoup.domain.listing import (
    case_currency,
    display_state,
    normal_name,
    normal_order,
    search_terms,
)
from recoup.domain.money import Money
from recoup.domain.referral import Referrals
from recoup.domain.referral.state import WriteOff

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CUSTOMER = Customer(email="Ann.Lee@Example.COM", first_name="Zoë", last_name="van der Berg")
SNAPSHOT = OrderSnapshot(Money.of(12000, "EUR"), Money.of(15000, "EUR"), "#1001", CUSTOMER)
OPEN = Case("shop.myshopify.com", "1001", CaseStatus.OPEN, ((CaseStatus.OPEN, AT),), SNAPSHOT)


def held(case: Case = OPEN, **parts: object) -> StoredCase:
    return StoredCase(case, 1, 1, "head", **parts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "state"),
    [
        (held(), "open"),
        (held(replace(OPEN, status=CaseStatus.PAID)), "paid"),
        (held(replace(OPEN, status=CaseStatus.CANCELLED)), "cancelled"),
        (held(referrals=Referrals(written_off=WriteOff(AT, "too small", "ana"))), "written_off"),
        (held(screening=Screening(decision=Decision.CONFIRMED_FRAUD)), "fraud"),
        (held(screening=Screening()), "review"),  # never screened: held for a decision
        # closed wins over what the case was before
        (held(replace(OPEN, status=CaseStatus.PAID), screening=Screening()), "paid"),
        # a write-off wins over a fraud flag
        (
            held(
                screening=Screening(decision=Decision.CONFIRMED_FRAUD),
                referrals=Referrals(written_off=WriteOff(AT, "fraud", "ana")),
            ),
            "written_off",
        ),
    ],
)
def test_each_case_has_one_display_state(stored: StoredCase, state: str) -> None:
    assert display_state(stored) == state


def test_terms_are_folded_without_accents_or_the_order_names_hash() -> None:
    terms = search_terms(OPEN)
    assert terms.order == "1001"
    assert terms.email == "ann.lee@example.com"
    assert terms.names == frozenset({"zoe", "van der berg"})
    assert normal_order(" #1001 ") == normal_order("1001") == "1001"
    assert normal_name("  ZOË  ") == "zoe"
    assert normal_name("a|b") == "a b"  # the key's separator never gets into a term
    assert normal_name(" ") is None
    assert search_terms(replace(OPEN, snapshot=None)).names == frozenset()


def test_a_case_is_in_the_currency_it_owes_in_else_its_orders() -> None:
    assert case_currency(OPEN) == "EUR"
    paid = replace(OPEN, status=CaseStatus.PAID, snapshot=replace(SNAPSHOT, amount_owed=None))
    assert case_currency(paid) == "EUR"
    assert case_currency(replace(OPEN, snapshot=None)) is None
