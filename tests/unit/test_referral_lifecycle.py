"""A referral's lifecycle: the moves allowed, payments recorded, repeats harmless, JSON."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.money import Money
from recoup.domain.referral import (
    CaseFileKeys,
    EmailHandOver,
    HandOverChannel,
    NotificationStatus,
    Referral,
    ReferralKind,
    ReferralStatus,
    ReferralTransitionError,
    WebhookHandOver,
    start_referral,
    transition,
)

AT = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
OWED = Money("USD", 189_900)


def _referral(kind: ReferralKind = ReferralKind.AGENCY) -> Referral:
    return start_referral(
        kind,
        at=AT,
        reason="owed 1,899.00 USD ≥ legal minimum 1,000.00 USD",
        owed=OWED,
        hand_over=EmailHandOver("referrals@agency.example"),
        files=CaseFileKeys("f/case.json", "f/case.html", "f/case.pdf"),
    )


def _later(days: int) -> datetime:
    return AT + timedelta(days=days)


def test_a_new_referral_is_referred_and_notes_where_it_goes() -> None:
    referral = _referral()
    assert referral.status is ReferralStatus.REFERRED
    assert referral.active
    assert referral.notification.channel is HandOverChannel.EMAIL
    assert referral.notification.target == "referrals@agency.example"
    assert referral.notification.status is NotificationStatus.PENDING
    assert [entry.status for entry in referral.history] == [ReferralStatus.REFERRED]


def test_a_webhook_notification_names_the_url_and_its_secrets_name_and_is_due_now() -> None:
    # Given a legal hand-over by webhook, signed with the secret named "legal/hook"
    referral = start_referral(
        ReferralKind.LEGAL,
        at=AT,
        reason="fraud confirmed",
        owed=OWED,
        hand_over=WebhookHandOver("https://law.example/hook", "legal/hook"),
    )
    # Then the notification keeps where it goes and the secret's name (which alone may
    # verify report-backs on this referral), open and due at once (the outbox entry)
    notification = referral.notification
    assert notification.target == "https://law.example/hook"
    assert notification.secret_ref == "legal/hook"
    assert notification.open and notification.due_at == AT
    # and it survives its JSON form
    again = Referral.from_dict(referral.to_dict())
    assert again.notification == notification


def test_a_notification_is_open_until_delivered_or_failed() -> None:
    notification = _referral().notification
    for status in NotificationStatus:
        moved = replace(notification, status=status)
        expected = status not in (NotificationStatus.DELIVERED, NotificationStatus.FAILED)
        assert moved.open is expected, status


def test_a_notification_stored_before_due_times_reads_back_without_one() -> None:
    data = _referral().to_dict()
    del data["notification"]["due_at"], data["notification"]["secret_ref"]
    notification = Referral.from_dict(data).notification
    assert notification.due_at is None and notification.secret_ref is None


def test_the_happy_path_records_every_payment() -> None:
    referral = transition(_referral(), ReferralStatus.ACCEPTED, _later(1), "case 77-1")
    referral = transition(referral, "paid_partial", _later(10), amount=Money("USD", 50_000))
    referral = transition(referral, "paid_partial", _later(20), amount=Money("USD", 40_000))
    referral = transition(referral, "paid", _later(30), "settled", Money("USD", 99_900))
    assert referral.status is ReferralStatus.PAID
    assert referral.recovered == Money("USD", 189_900)
    assert not referral.active
    assert [e.status for e in referral.history] == [
        ReferralStatus.REFERRED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.PAID_PARTIAL,
        ReferralStatus.PAID_PARTIAL,
        ReferralStatus.PAID,
    ]
    assert referral.history[-1].note == "settled"


@pytest.mark.parametrize(
    "ended",
    [ReferralStatus.PAID, ReferralStatus.RETURNED_UNPAID, ReferralStatus.WITHDRAWN],
)
def test_an_ended_referral_moves_no_more(ended: ReferralStatus) -> None:
    amount = Money("USD", 189_900) if ended is ReferralStatus.PAID else None
    referral = transition(_referral(), ended, _later(5), amount=amount)
    for target in ReferralStatus:
        with pytest.raises(ReferralTransitionError, match="it has ended"):
            transition(referral, target, _later(6), amount=Money("USD", 1))


def test_a_referral_cannot_go_back_to_referred_or_accepted() -> None:
    accepted = transition(_referral(), "accepted", _later(1))
    with pytest.raises(ReferralTransitionError, match="cannot become referred"):
        transition(accepted, "referred", _later(2))
    partial = transition(accepted, "paid_partial", _later(2), amount=Money("USD", 1_000))
    with pytest.raises(ReferralTransitionError, match="cannot become accepted"):
        transition(partial, "accepted", _later(3))


def test_payments_need_an_amount_in_the_referral_currency() -> None:
    referral = _referral()
    with pytest.raises(ReferralTransitionError, match="needs the amount paid, in USD"):
        transition(referral, "paid_partial", _later(1))
    with pytest.raises(ReferralTransitionError, match="must be in USD"):
        transition(referral, "paid", _later(1), amount=Money("EUR", 1_000))
    with pytest.raises(ReferralTransitionError, match="must be positive"):
        transition(referral, "paid_partial", _later(1), amount=Money("USD", 0))
    with pytest.raises(ReferralTransitionError, match="carries no amount"):
        transition(referral, "accepted", _later(1), amount=Money("USD", 1_000))


def test_a_repeated_report_changes_nothing() -> None:
    paid = Money("USD", 10_000)
    once = transition(_referral(), "paid_partial", _later(3), amount=paid)
    twice = transition(once, "paid_partial", _later(3), amount=paid)
    assert twice == once
    assert once.recovered == paid
    # A second payment at another time is a new payment, not a repeat.
    third = transition(once, "paid_partial", _later(4), amount=paid)
    assert third.recovered == Money("USD", 20_000)


def test_moves_before_the_referral_or_unknown_are_refused() -> None:
    with pytest.raises(ReferralTransitionError, match="before the referral"):
        transition(_referral(), "accepted", AT - timedelta(seconds=1))
    with pytest.raises(ReferralTransitionError, match="unknown referral status 'lost'"):
        transition(_referral(), "lost", _later(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        transition(_referral(), "accepted", datetime(2026, 12, 21))  # noqa: DTZ001


def test_a_second_referral_waits_for_the_first_to_end() -> None:
    agency = _referral()
    with pytest.raises(ReferralTransitionError, match="already referred to agency"):
        start_referral(
            ReferralKind.LEGAL,
            at=_later(1),
            reason="merchant",
            owed=OWED,
            hand_over=EmailHandOver("law@firm.example"),
            previous=agency,
        )
    returned = transition(agency, "returned_unpaid", _later(60), "debtor not found")
    legal = start_referral(
        ReferralKind.LEGAL,
        at=_later(61),
        reason="the agency returned the account unpaid",
        owed=OWED,
        hand_over=EmailHandOver("law@firm.example"),
        previous=returned,
    )
    assert legal.kind is ReferralKind.LEGAL
    paid = transition(legal, "paid", _later(90), amount=OWED)
    with pytest.raises(ReferralTransitionError):
        start_referral(
            ReferralKind.AGENCY,
            at=_later(91),
            reason="again",
            owed=OWED,
            hand_over=EmailHandOver("a@agency.example"),
            previous=paid,
        )


def test_a_referral_needs_something_owed() -> None:
    with pytest.raises(ReferralTransitionError, match="positive amount owed"):
        start_referral(
            ReferralKind.AGENCY,
            at=AT,
            reason="x",
            owed=Money("USD", 0),
            hand_over=EmailHandOver("a@agency.example"),
        )


def test_json_round_trip() -> None:
    referral = transition(_referral(), "accepted", _later(1), "ok")
    referral = transition(referral, "paid_partial", _later(2), amount=Money("USD", 5_000))
    assert Referral.from_dict(referral.to_dict()) == referral
    bare = start_referral(
        ReferralKind.LEGAL,
        at=AT,
        reason="fraud confirmed",
        owed=Money("JPY", 129_800),
        hand_over=WebhookHandOver("https://law.example/hook", "legal/hook"),
    )
    assert Referral.from_dict(bare.to_dict()) == bare
