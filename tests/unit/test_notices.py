"""The merchant's notices, pure: why a case waits, the settings, when the digest is due."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fields import FieldError
from recoup.domain.fraud.result import FraudLevel, FraudResult, ScoredAt
from recoup.domain.fraud.screening import Decision, Screening
from recoup.domain.notices import (
    Line,
    NotificationSettings,
    WaitReason,
    digest,
    digest_day,
    parse_settings,
    waiting_reason,
)

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def scored(level: FraudLevel) -> Screening:
    result = FraudResult(score=50, level=level, reasons=(), confidence=1.0)
    return Screening(history=(ScoredAt(T0, result),))


def open_case() -> Case:
    return Case("s.myshopify.com", "1001", CaseStatus.OPEN, ((CaseStatus.OPEN, T0),))


SPENT = Dunning(DunningStatus.AWAITING_ESCALATION, escalate_at=None)


@pytest.mark.parametrize(
    ("screening", "dunning", "expected"),
    [
        (scored(FraudLevel.REVIEW), None, WaitReason.REVIEW),
        (Screening(), None, WaitReason.REVIEW),  # never scored: held
        (scored(FraudLevel.HIGH), None, WaitReason.FRAUD),
        (scored(FraudLevel.LOW), None, None),
        (scored(FraudLevel.LOW), SPENT, WaitReason.ESCALATION),
        # A referral check still to come: Recoup decides, not the merchant.
        (scored(FraudLevel.LOW), replace(SPENT, escalate_at=T0), None),
        (scored(FraudLevel.LOW), Dunning(DunningStatus.SCHEDULED, next_at=T0), None),
    ],
)
def test_why_a_case_waits(
    screening: Screening, dunning: Dunning | None, expected: WaitReason | None
) -> None:
    assert waiting_reason(open_case(), dunning, screening, None) == expected


def test_a_decision_ends_the_fraud_wait_and_a_closed_case_never_waits() -> None:
    approved = scored(FraudLevel.REVIEW).decide(Decision.APPROVED, T0, "staff-1", "")
    confirmed = scored(FraudLevel.HIGH).decide(Decision.CONFIRMED_FRAUD, T0, "staff-1", "")
    assert waiting_reason(open_case(), None, approved, None) is None
    assert waiting_reason(open_case(), None, confirmed, None) is None
    paid = replace(open_case(), status=CaseStatus.PAID)
    assert waiting_reason(paid, None, scored(FraudLevel.HIGH), None) is None


def test_settings_default_and_validate_naming_the_field() -> None:
    assert parse_settings({}) == NotificationSettings(None, True, False, 8)
    assert parse_settings(
        {"email": " ops@shop.example ", "daily_digest": False, "immediate": True, "hour": 0}
    ) == NotificationSettings("ops@shop.example", False, True, 0)
    for doc, field in [
        ({"hour": 24}, "hour"),
        ({"hour": -1}, "hour"),
        ({"hour": True}, "hour"),
        ({"hour": 7.5}, "hour"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "a@b.example, c@d.example"}, "email"),
        ({"email": 5}, "email"),
        ({"immediate": "yes"}, "immediate"),
        ({"daily_digest": None}, "daily_digest"),
        ({"weekly": True}, "weekly"),
    ]:
        with pytest.raises(FieldError) as refused:
            parse_settings(doc)
        assert refused.value.field == field, doc


def test_the_digest_is_due_from_the_local_hour_once_a_local_day() -> None:
    chosen = NotificationSettings("ops@shop.example", hour=8)
    berlin = "Europe/Berlin"  # UTC+1 in November
    at = datetime(2026, 11, 3, 6, 59, tzinfo=UTC)  # 07:59 in Berlin
    assert digest_day(chosen, berlin, at, None) is None
    at += timedelta(minutes=1)  # 08:00 in Berlin
    assert str(digest_day(chosen, berlin, at, None)) == "2026-11-03"
    assert digest_day(chosen, berlin, at, "2026-11-03") is None  # sent today already
    # 23:30 UTC is 00:30 the next day in Berlin: before 8 there
    assert (
        digest_day(chosen, berlin, datetime(2026, 11, 3, 23, 30, tzinfo=UTC), "2026-11-03") is None
    )
    # a run missed at 8 is caught up later that day
    late = datetime(2026, 11, 4, 9, 30, tzinfo=UTC)  # 10:30 in Berlin
    assert str(digest_day(chosen, berlin, late, "2026-11-03")) == "2026-11-04"
    assert digest_day(replace(chosen, daily_digest=False), berlin, at, None) is None
    assert digest_day(replace(chosen, email=None), berlin, at, None) is None


def test_the_digest_lists_each_case_with_its_link_and_counts() -> None:
    link = "https://admin.shopify.com/store/s/apps/key/cases/1001"
    notice = digest(
        "Demo Electronics",
        [Line("#1001", "USD 1,299.00", WaitReason.REVIEW.words, link)],
        [Line("#1002", "USD 10.00", "referred", link.replace("1001", "1002"), T0)],
        "https://admin.shopify.com/store/s/apps/key/settings",
    )
    assert notice.subject == "Recoup: 1 case(s) wait for you at Demo Electronics"
    assert "1 case(s) wait for you; 1 referral(s) made" in notice.text
    assert "- #1001, USD 1,299.00: held for fraud review" in notice.text
    assert link in notice.text
    assert "- #1002, USD 10.00: referred (2026-11-02 15:00 UTC)" in notice.text
    assert "Change these emails: https://admin.shopify.com/store/s/apps/key/settings" in notice.text
    assert f'<a href="{link}">#1001</a>' in notice.html
