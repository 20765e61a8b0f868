"""What the due index holds for a referred case: its open hand-over first (the outbox), then
the reminders' next step or referral check, and nothing once the hand-over is done."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.money import Money
from recoup.domain.referral import (
    NotificationStatus,
    ReferralKind,
    Referrals,
    WebhookHandOver,
    start_referral,
)
from recoup.store.cases import ESCALATION_CHECK, HANDOVER_DELIVERY, _due

AT = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)


def _referrals(status: NotificationStatus, due_in: timedelta | None) -> Referrals:
    referral = start_referral(
        ReferralKind.LEGAL,
        at=AT,
        reason="fraud confirmed",
        owed=Money("USD", 189_900),
        hand_over=WebhookHandOver("https://law.example/hook", "legal/hook"),
    )
    due_at = AT + due_in if due_in is not None else None
    notification = replace(referral.notification, status=status, due_at=due_at)
    return Referrals().added("legal-1", replace(referral, notification=notification))


def test_an_open_hand_over_is_in_the_index_at_its_due_time_before_anything_else() -> None:
    waiting = Dunning(DunningStatus.AWAITING_ESCALATION).escalate(AT + timedelta(days=3))
    for status in (
        NotificationStatus.PENDING,
        NotificationStatus.RETRYING,
        NotificationStatus.OUTCOME_UNKNOWN,
    ):
        referrals = _referrals(status, timedelta(minutes=7))
        assert _due(waiting, referrals) == (AT + timedelta(minutes=7), HANDOVER_DELIVERY)
        assert _due(None, referrals) == (AT + timedelta(minutes=7), HANDOVER_DELIVERY)


def test_a_done_hand_over_leaves_the_index_to_the_reminders() -> None:
    check_at = AT + timedelta(days=3)
    waiting = Dunning(DunningStatus.AWAITING_ESCALATION).escalate(check_at)
    for status in (NotificationStatus.DELIVERED, NotificationStatus.FAILED):
        referrals = _referrals(status, None)
        assert _due(waiting, referrals) == (check_at, ESCALATION_CHECK)
        assert _due(Dunning(DunningStatus.STOPPED), referrals) is None
        assert _due(None, referrals) is None
