"""The merchant's moves on a reminder sequence (`domain/dunning.py`): resume where it stopped,
start over, send the next step now, skip it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recoup.domain.dunning import Dunning, DunningStatus, SentMessage

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _sent(step: int, at: datetime) -> SentMessage:
    return SentMessage(step, "email", at, "ses-1", "friendly", 1000, "USD")


def _scheduled(step: int, at: datetime, *, claimed: int) -> Dunning:
    sent = tuple(_sent(s, NOW - 10 * DAY + s * DAY) for s in range(claimed + 1))
    return Dunning(DunningStatus.SCHEDULED, step, at, claimed_step=claimed, sent=sent)


def test_a_sequence_written_off_before_step_3_resumes_at_step_3() -> None:
    # Steps 1 and 2 sent (claimed 1), step 3 (index 2) was due in two days, then written off
    stopped = _scheduled(2, NOW + 2 * DAY, claimed=1).finish(DunningStatus.STOPPED, "written off")
    assert stopped.next_unsent() == 2
    # Resumed at its own time when that is still ahead
    resumed = stopped.resume_at(2, NOW + 2 * DAY, NOW, "reopened")
    assert (resumed.status, resumed.next_step, resumed.next_at) == (
        DunningStatus.SCHEDULED,
        2,
        NOW + 2 * DAY,
    )
    assert resumed.due and resumed.can_claim(2) and not resumed.can_claim(1)
    # and now when its time has passed
    late = stopped.resume_at(2, NOW - 3 * DAY, NOW, "reopened")
    assert late.next_at == NOW


def test_a_step_claimed_but_not_moved_on_is_not_the_next_unsent() -> None:
    # The sender claimed step 2 (index 1) and the case was written off before it was recorded
    claimed = Dunning(DunningStatus.SCHEDULED, 1, NOW, claimed_step=1)
    assert claimed.finish(DunningStatus.STOPPED, "written off").next_unsent() == 2


def test_a_spent_sequence_has_nothing_left_to_resume() -> None:
    spent = _scheduled(3, NOW, claimed=3).spend(NOW, "all sent")
    assert spent.next_unsent() is None
    assert spent.finish(DunningStatus.STOPPED, "written off").next_unsent() is None


def test_starting_over_clears_the_claims_and_keeps_what_was_sent() -> None:
    spent = _scheduled(3, NOW, claimed=3).spend(NOW - DAY, "all sent")
    again = spent.finish(DunningStatus.STOPPED, "written off").start_over(NOW + DAY, NOW, "again")
    assert (again.status, again.next_step, again.next_at) == (
        DunningStatus.SCHEDULED,
        0,
        NOW + DAY,
    )
    assert (again.claimed_step, again.claimed_at, again.spent_at, again.escalate_at) == (
        -1,
        None,
        None,
        None,
    )
    assert again.can_claim(0)
    assert len(again.sent) == 4
    assert again.next_unsent() == 0
    # The new round has sent nothing yet: its steps are recorded afresh
    assert again.round_from == 4 and again.this_round == ()
    assert again.record(_sent(0, NOW)).this_round == (_sent(0, NOW),)
    # A first step whose time has passed goes now
    assert spent.start_over(NOW - 9 * DAY, NOW, "again").next_at == NOW


def test_send_now_makes_the_scheduled_step_due_now_and_keeps_the_step() -> None:
    scheduled = _scheduled(1, NOW + 3 * DAY, claimed=0)
    now = scheduled.due_now(NOW, "sent now by Ana Ruiz")
    assert (now.next_step, now.next_at, now.status) == (1, NOW, DunningStatus.SCHEDULED)
    assert now.can_claim(1)
    with pytest.raises(ValueError, match="no step is scheduled"):
        scheduled.hold("merchant", "held").due_now(NOW, "x")


def test_skipping_a_step_moves_to_the_one_after_it() -> None:
    scheduled = _scheduled(1, NOW + DAY, claimed=0)
    skipped = scheduled.skip_next(NOW + 4 * DAY, NOW, "step 2 skipped")
    assert (skipped.next_step, skipped.next_at, skipped.reason) == (
        2,
        NOW + 4 * DAY,
        "step 2 skipped",
    )
    assert skipped.claimed_step == 0 and skipped.can_claim(2)
    # The following step's time already passed: it is due now
    assert scheduled.skip_next(NOW - DAY, NOW, "skipped").next_at == NOW
    assert skipped.next_unsent() == 2


def test_skipping_the_last_step_spends_the_sequence() -> None:
    last = _scheduled(3, NOW + DAY, claimed=2)
    spent = last.skip_next(None, NOW, "step 4 skipped")
    assert spent.status is DunningStatus.AWAITING_ESCALATION
    assert (spent.spent_at, spent.escalate_at, spent.next_at) == (NOW, NOW, None)
    assert spent.next_unsent() is None
    with pytest.raises(ValueError, match="no step is scheduled"):
        spent.skip_next(None, NOW, "again")


def test_the_moves_survive_a_round_trip_through_storage() -> None:
    moved = _scheduled(1, NOW, claimed=0).skip_next(NOW + DAY, NOW, "skipped")
    again = moved.start_over(NOW, NOW, "again")
    for dunning in (moved, again):
        assert Dunning.from_dict(dunning.to_dict()) == dunning


# --- a customer's promise through the merchant's and the fraud check's moves ---------------


def _promised(pay_in: timedelta) -> Dunning:
    from recoup.domain.dunning import CustomerRequest, Promised

    promise = Promised(
        pay_by=(NOW + pay_in).date(),
        made_at=NOW,
        check_at=NOW + pay_in + 2 * DAY,
        nudge_at=NOW + pay_in - DAY,
        request_id="r1",
    )
    return _scheduled(1, NOW + DAY, claimed=0).promised(
        promise, CustomerRequest("r1", "promise", NOW)
    )


def test_a_hold_keeps_a_promise_and_resuming_honours_it() -> None:
    # Given a promise to pay in ten days, then held by the merchant for a day
    held = _promised(10 * DAY).hold("merchant", "checking")
    assert held.status is DunningStatus.HELD and held.promise is not None
    assert held.promise_in_force is None  # no nudge or check while held
    # When resumed the next day / Then it waits for the promise again, its nudge still ahead
    resumed = held.resume(NOW + DAY, "resumed by Ana")
    assert resumed.status is DunningStatus.PROMISED
    assert resumed.promise == held.promise and not resumed.due
    assert "still stands" in resumed.reason


def test_a_promise_whose_date_passed_during_a_hold_resumes_as_broken() -> None:
    held = _promised(3 * DAY).hold("merchant", "checking")
    # Resumed after the promise's check time: the held step, worded as a broken promise
    later = NOW + 6 * DAY
    resumed = held.resume(later, "resumed by Ana")
    assert (resumed.status, resumed.next_step, resumed.next_at) == (
        DunningStatus.SCHEDULED,
        1,
        later,
    )
    assert resumed.promise is None and resumed.promises_broken == 1
    assert resumed.resumed_after_promise == 1


def test_a_resumed_promise_whose_nudge_passed_has_no_nudge() -> None:
    held = _promised(3 * DAY).hold("fraud", "held for review")
    resumed = held.resume(NOW + 2 * DAY + timedelta(hours=1), "reminders resume")
    assert resumed.status is DunningStatus.PROMISED
    assert resumed.promise is not None and resumed.promise.nudge_at is None


def test_a_step_that_went_while_a_promise_landed_moves_on_and_keeps_the_pause() -> None:
    paused = _promised(10 * DAY)
    moved = paused.moved_on(2, NOW + 4 * DAY, NOW)
    assert (moved.status, moved.next_step, moved.next_at) == (
        DunningStatus.PROMISED,
        2,
        NOW + 4 * DAY,
    )
    assert moved.promise == paused.promise
    # After the last step: spent, the pause still in force
    last = paused.moved_on(4, None, NOW)
    assert (last.status, last.next_at, last.spent_at) == (DunningStatus.PROMISED, None, NOW)
