"""Withdrawing a referral (`services.actions`, the `withdraw` plan): only an active referral
the agency or lawyer has received, moved to withdrawn on the case's referrals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.money import Money
from recoup.domain.referral import (
    EmailHandOver,
    NotificationStatus,
    ReferralKind,
    Referrals,
    ReferralStatus,
    start_referral,
    transition,
)
from recoup.services import actions
from recoup.services.staff import Actor

SHOP = "demo-electronics.myshopify.com"
REFERRED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = REFERRED + timedelta(days=3)
ANA = Actor("1", "Ana Ruiz")


def referred(status: NotificationStatus = NotificationStatus.DELIVERED) -> StoredCase:
    referral = start_referral(
        ReferralKind.AGENCY,
        at=REFERRED,
        reason="spent, unpaid",
        owed=Money("USD", 4000),
        hand_over=EmailHandOver("claims@agency.example"),
    )
    referral = replace(referral, notification=replace(referral.notification, status=status))
    case = Case(SHOP, "1001", status=CaseStatus.OPEN)
    return StoredCase(
        case,
        version=3,
        audit_seq=3,
        audit_head="h",
        dunning=Dunning(DunningStatus.STOPPED, reason="referred to agency"),
        referrals=Referrals().added("agency-1", referral),
    )


def withdraw(stored: StoredCase, note: str = "") -> actions.Effect:
    return actions.ACTIONS["withdraw"](stored, ANA, note, NOW)


def test_a_delivered_referral_is_withdrawn_on_its_history() -> None:
    effect = withdraw(referred(), "paid us directly")
    assert effect.summary == "agency referral agency-1 withdrawn"
    assert effect.referrals is not None
    moved = effect.referrals.find("agency-1")
    assert moved is not None and moved.status is ReferralStatus.WITHDRAWN
    assert moved.history[-1].at == NOW
    assert moved.history[-1].note == "withdrawn by Ana Ruiz: paid us directly"
    assert effect.dunning is None  # the reminders stay stopped until reopened


def test_a_referral_still_being_handed_over_cannot_be_withdrawn() -> None:
    for status in (NotificationStatus.PENDING, NotificationStatus.RETRYING):
        with pytest.raises(actions.ActionRefused, match="has not received the referral"):
            withdraw(referred(status))


def test_no_active_referral_nothing_to_withdraw() -> None:
    stored = referred()
    assert stored.referrals is not None
    ended = transition(stored.referrals.entries[0][1], ReferralStatus.RETURNED_UNPAID, NOW)
    for case in (
        replace(stored, referrals=None),
        replace(stored, referrals=stored.referrals.updated("agency-1", ended)),
    ):
        with pytest.raises(actions.ActionRefused, match="no active referral"):
            withdraw(case)
    paid = replace(stored, case=replace(stored.case, status=CaseStatus.PAID))
    with pytest.raises(actions.ActionRefused, match="case is paid"):
        withdraw(paid)
