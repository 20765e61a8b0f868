"""The case page's view of an instalment plan (`admin/views.plan`) through its course, and of
a payment under a settlement offer (`admin/views.settled`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from recoup.admin import views
from recoup.domain.case import Settled
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.instalments import Interval, Plan, PlanStatus, new_plan, schedule
from recoup.domain.money import Money

MADE = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")


def _plan(total: int = 10_001, count: int = 3) -> Plan:
    agreed = schedule(Money.of(total, "USD"), count, Interval.WEEKLY, date(2027, 3, 1))
    return new_plan("p1", "r1", agreed, Interval.WEEKLY, ZONE, "digest", "en", MADE)


def _dunning(plan: Plan, grace_days: int = 5) -> Dunning:
    return Dunning(DunningStatus.PLANNED, plan=plan, plan_grace_days=grace_days)


def test_no_reminders_or_no_plan_shows_none() -> None:
    assert views.plan(None) is None
    assert views.plan(Dunning(DunningStatus.SCHEDULED)) is None
    assert views.settled(None) is None


def test_a_plan_waiting_for_the_card_has_a_deadline_and_no_next_charge() -> None:
    shown = views.plan(_dunning(_plan()))
    assert shown is not None
    assert (shown["status"], shown["interval"], shown["count"]) == ("awaiting_card", "weekly", 3)
    # The remainder goes on the first instalment: the three add up to the total
    assert [i["amount"]["minor"] for i in shown["instalments"]] == [3_335, 3_333, 3_333]
    assert shown["total"] == {"currency": "USD", "minor": 10_001, "amount": "100.01"}
    assert (shown["paid"]["minor"], shown["remaining"]["minor"]) == (0, 10_001)
    assert shown["card_by"] == (MADE + timedelta(hours=24)).isoformat()
    assert [i["due_on"] for i in shown["instalments"]] == ["2027-03-01", "2027-03-08", "2027-03-15"]
    assert [i["status"] for i in shown["instalments"]] == ["scheduled"] * 3
    assert (shown["next_charge"], shown["missed"], shown["end_reason"]) == (None, None, None)


def test_a_running_plan_names_its_next_charge_until_one_is_missed() -> None:
    plan = _plan().card_saved("pm_1", "cus_1").paid_instalment(1, "pi_1", MADE)
    shown = views.plan(_dunning(plan))
    assert shown is not None
    second = plan.instalments[1]
    assert shown["next_charge"] == {
        "number": 2,
        "due_on": "2027-03-08",
        "at": second.due_at.isoformat(),
        "amount": {"currency": "USD", "minor": 3_333, "amount": "33.33"},
    }
    assert (shown["status"], shown["card_by"], shown["paid"]["minor"]) == ("active", None, 3_335)
    # When the second is declined twice: missed, with its code and grace days; none charged next
    failed = second.due_at + timedelta(minutes=1)
    plan = plan.failed_instalment(2, "pi_2", "card_declined", failed)
    plan = plan.failed_instalment(2, "pi_3", "insufficient_funds", failed + timedelta(days=1))
    shown = views.plan(_dunning(plan, grace_days=5))
    assert shown is not None
    assert shown["next_charge"] is None
    assert shown["missed"] == {
        "number": 2,
        "amount": {"currency": "USD", "minor": 3_333, "amount": "33.33"},
        "failed_at": failed.isoformat(),
        "code": "insufficient_funds",
        "grace_ends": (failed + timedelta(days=5)).isoformat(),
    }
    assert [i["status"] for i in shown["instalments"]] == ["paid", "missed", "scheduled"]
    assert shown["instalments"][1]["failures"] == 2


def test_a_broken_plan_keeps_its_schedule_and_says_why_it_ended() -> None:
    plan = _plan().card_saved("pm_1", "cus_1").paid_instalment(1, "pi_1", MADE)
    failed = plan.instalments[1].due_at
    plan = plan.failed_instalment(2, "pi_2", "card_declined", failed)
    ended_at = failed + timedelta(days=7)
    reason = "the instalment plan is broken: instalment 2 was not paid in time"
    shown = views.plan(_dunning(plan.ended(PlanStatus.BROKEN, ended_at, reason)))
    assert shown is not None
    assert (shown["status"], shown["end_reason"]) == ("broken", reason)
    assert shown["ended_at"] == ended_at.isoformat()
    # The one missed stays missed; the one never charged says so; nothing is next
    assert [i["status"] for i in shown["instalments"]] == ["paid", "missed", "not_charged"]
    assert (shown["next_charge"], shown["missed"]) == (None, None)


def test_a_completed_plan_is_paid_in_full() -> None:
    plan = _plan(count=2).card_saved("pm_1", "cus_1")
    for number in (1, 2):
        plan = plan.paid_instalment(number, f"pi_{number}", MADE + timedelta(days=7 * number))
    shown = views.plan(_dunning(plan))
    assert shown is not None
    assert (shown["status"], shown["end_reason"]) == ("completed", "paid")
    assert (shown["paid"], shown["remaining"]["minor"]) == (shown["total"], 0)
    assert [i["status"] for i in shown["instalments"]] == ["paid", "paid"]


def test_a_settlement_shows_what_was_paid_for_what_and_the_discount() -> None:
    shown = views.settled(Settled("s3-0", Money.of(9_000, "EUR"), Money.of(10_000, "EUR")))
    assert shown == {
        "offer_id": "s3-0",
        "paid": {"currency": "EUR", "minor": 9_000, "amount": "90.00"},
        "settles": {"currency": "EUR", "minor": 10_000, "amount": "100.00"},
        "discount": {"currency": "EUR", "minor": 1_000, "amount": "10.00"},
    }
