"""What a final notice announces: the referral the shop's policy would make for the case,
through the same decision the escalation check runs (`domain.final_notice`)."""

from __future__ import annotations

from datetime import UTC, datetime

from recoup.domain.case import Case, apply, new_case
from recoup.domain.events import DomainEvent, Fact, OrderSnapshot, PaymentAttempt, Source
from recoup.domain.final_notice import what_follows
from recoup.domain.money import Money
from recoup.domain.referral import (
    EmailHandOver,
    ReferralKind,
    ReferralPolicy,
    default_referral_policy,
)

SHOP = "demo-electronics.myshopify.com"
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BOTH = ReferralPolicy(
    version=1,
    agency_hand_over=EmailHandOver("claims@agency.example"),
    legal_hand_over=EmailHandOver("law@firm.example"),
)


def _case(owed: int, total: int | None = None, paid_attempt: int | None = None) -> Case:
    snapshot = OrderSnapshot(
        amount_owed=Money("USD", owed), order_total=Money("USD", total or owed), order_name="#1"
    )
    case = apply(
        new_case(SHOP, "1"),
        DomainEvent("e1", Source.SHOPIFY, "orders/create", SHOP, "1", AT, Fact.UNPAID, snapshot),
    ).case
    if paid_attempt is not None:
        attempt = PaymentAttempt("pi_1", Source.STRIPE, True, AT, Money("USD", paid_attempt))
        event = DomainEvent(
            "e2",
            Source.STRIPE,
            "payment_intent.succeeded",
            SHOP,
            "1",
            AT,
            Fact.UNPAID,
            attempt=attempt,
        )
        case = apply(case, event).case
    return case


def test_an_amount_over_the_legal_minimum_announces_legal() -> None:
    # 1,899.00 USD >= the default legal minimum of 1,000.00 USD
    assert what_follows(_case(189_900), BOTH, AT) is ReferralKind.LEGAL


def test_an_amount_in_the_agency_range_never_paid_announces_the_agency() -> None:
    assert what_follows(_case(20_000), BOTH, AT) is ReferralKind.AGENCY


def test_a_customer_who_paid_part_is_not_threatened_with_an_agency() -> None:
    # agencies take only accounts never paid: the merchant decides, so neither is named
    assert what_follows(_case(20_000, total=40_000, paid_attempt=20_000), BOTH, AT) is None


def test_without_a_hand_over_for_the_kind_nothing_is_announced() -> None:
    assert what_follows(_case(189_900), default_referral_policy(), AT) is None


def test_below_the_floor_or_with_nothing_owed_nothing_is_announced() -> None:
    assert what_follows(_case(1_000), BOTH, AT) is None  # write-off below 25.00 USD
    assert what_follows(_case(189_900), BOTH, AT, owed=Money("USD", 0)) is None


def test_the_amount_the_notice_states_decides() -> None:
    assert what_follows(_case(189_900), BOTH, AT, owed=Money("USD", 20_000)) is ReferralKind.AGENCY
