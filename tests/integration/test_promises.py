"""A promise to pay against moto: it pauses the reminders and puts its nudge in the due
index; the scheduler and the sender send the nudge once (a redelivered job, SES timing out
after it acted); once the date has passed unpaid the sequence resumes at the right step,
worded as a broken promise; a payment before the date closes the case and nothing more goes.

The Oregon customer's order opens at 2026-11-02 15:15 UTC; Pacific time is UTC-8 then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from recoup import clock
from recoup.domain.customer_requests import RequestMeta
from recoup.domain.dunning import DunningStatus
from recoup.domain.payment_situation import Situation
from recoup.services import cases, customer_requests, sending
from recoup.services.reminder_plan import reminder_policy
from recoup.store import cases as case_store
from recoup.store import shops
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.faults import FaultPlan
from tests.sequence_support import spy_on_wording

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
STEP_1 = OPENED + timedelta(days=1, hours=2)  # 09:15 in Oregon on 3 November
PROMISED_AT = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)  # 10:00 there: their today is the 3rd
PAY_BY = date(2026, 11, 8)
NUDGE_AT = datetime(2026, 11, 7, 18, 0, tzinfo=UTC)  # 10:00 Pacific the day before
CHECK_AT = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)  # the 8th over in Oregon, plus a day
MORNING = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 08:00 Pacific: quiet hours end
META = RequestMeta("203.0.113.50", "Mozilla/5.0 (Android 14)")


class Clock:
    now = OPENED


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    Clock.now = OPENED
    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


@pytest.fixture
def wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    """The situation the sender asks each message to be worded for, by step index."""
    return spy_on_wording(monkeypatch)


def deliver(local: Any, name: str, topic: str) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=f"wh-{name}")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def run_scheduler(local: Any, when: datetime) -> None:
    Clock.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def emails(local: Any) -> list[Any]:
    return [m for m in sent_messages(local.stack.region) if m.kind == "email"]


def stored() -> Any:
    found = case_store.load(SHOP, CASE)
    assert found is not None
    return found


def kinds() -> list[str]:
    return [str(e.body["kind"]) for e in cases.timeline(SHOP, CASE)]


def promised(local: Any) -> None:
    """The case opened, its first step sent, then the customer promises to pay by the 8th."""
    deliver(local, "order_pending", "orders/create")
    run_scheduler(local, STEP_1)
    assert len(emails(local)) == 1
    Clock.now = PROMISED_AT
    customer_requests.promise(
        SHOP, CASE, pay_by=PAY_BY, note="payday is Friday", meta=META, now=PROMISED_AT
    )


def test_a_promise_pauses_the_reminders_and_puts_its_nudge_in_the_due_index(
    local: Any, at: Any
) -> None:
    promised(local)
    case = stored()
    assert case.dunning.status is DunningStatus.PROMISED
    assert case.dunning.promise.nudge_at == NUDGE_AT
    assert case.dunning.promise.check_at == CHECK_AT
    # The due index holds the nudge, nothing before it
    assert list(case_store.due_cases(NUDGE_AT - timedelta(seconds=1))) == []
    (due,) = case_store.due_cases(NUDGE_AT)
    assert (due.case_id, due.step) == (CASE, case_store.PROMISE_NUDGE)
    # The step it paused at would have been due on the 6th: nothing goes then
    run_scheduler(local, datetime(2026, 11, 6, 19, 0, tzinfo=UTC))
    assert len(emails(local)) == 1
    # The customer's page shows the promise and offers no second one
    policy = reminder_policy(SHOP, shops.get(SHOP))
    offered = customer_requests.options(case, policy, now=PROMISED_AT)
    assert offered.promise is not None and offered.promise.pay_by == PAY_BY
    assert offered.promise.note == "payday is Friday"
    assert offered.promise_latest is None
    assert kinds()[-1] == "customer.promise"


def test_the_nudge_goes_once_even_when_its_job_comes_twice(
    local: Any, at: Any, wording: list[tuple[int, Situation | None]]
) -> None:
    promised(local)
    run_scheduler(local, NUDGE_AT + timedelta(minutes=1))
    # A redelivered job and later runs send nothing more
    late = NUDGE_AT + timedelta(minutes=3)
    again = sending.send_step(SHOP, CASE, case_store.PROMISE_NUDGE, now=late)
    assert again.outcome == "stale"
    run_scheduler(local, NUDGE_AT + timedelta(minutes=10))
    assert len(emails(local)) == 2
    assert wording == [(0, None), (1, Situation.PROMISE_DUE)]
    # On the trail, counted for the weekly cap, not as a step; the check is next
    assert kinds().count("customer.promise_nudge") == 1
    case = stored()
    assert [m.step for m in case.dunning.sent] == [0]
    assert case.dunning.promise_due == (CHECK_AT, False)


def test_a_nudge_whose_job_comes_on_the_promised_day_is_passed_over(local: Any, at: Any) -> None:
    # Given the nudge's job delayed past midnight in Oregon (an outage, a redrive)
    promised(local)
    late = datetime(2026, 11, 8, 8, 30, tzinfo=UTC)  # 00:30 Pacific on the 8th
    # When it runs / Then "due tomorrow" is not sent on the day itself: passed over, on the trail
    result = sending.send_step(SHOP, CASE, case_store.PROMISE_NUDGE, now=late)
    assert result.outcome == "skipped"
    assert len(emails(local)) == 1
    assert kinds()[-1] == "customer.promise_nudge_skipped"
    assert stored().dunning.promise_due == (CHECK_AT, False)


def test_a_nudge_whose_answer_ses_lost_is_recorded_unknown_and_never_resent(
    local: Any, at: Any
) -> None:
    promised(local)
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")
        run_scheduler(local, NUDGE_AT + timedelta(minutes=1))
        sending.send_step(SHOP, CASE, case_store.PROMISE_NUDGE, now=NUDGE_AT + timedelta(minutes=2))
        run_scheduler(local, NUDGE_AT + timedelta(minutes=10))
    assert plan.count("sesv2", "SendEmail") == 1
    assert len(emails(local)) == 2
    (entry,) = [e.body for e in cases.timeline(SHOP, CASE) if e.body["kind"].endswith("nudge")]
    assert "outcome unknown" in entry["summary"] and "not resent" in entry["summary"]
    assert stored().dunning.promise_due == (CHECK_AT, False)


def test_a_broken_promise_resumes_the_next_step_worded_as_broken(
    local: Any, at: Any, wording: list[tuple[int, Situation | None]]
) -> None:
    promised(local)
    run_scheduler(local, NUDGE_AT + timedelta(minutes=1))
    # Still unpaid the day after the promised date ends: broken, on the trail
    run_scheduler(local, CHECK_AT - timedelta(minutes=5))
    assert stored().dunning.status is DunningStatus.PROMISED
    run_scheduler(local, CHECK_AT + timedelta(minutes=1))
    case = stored()
    assert "customer.promise_broken" in kinds()
    assert case.dunning.status is DunningStatus.SCHEDULED
    assert (case.dunning.next_step, case.dunning.resumed_after_promise) == (1, 1)
    assert case.dunning.promises_broken == 1
    # Step 2 is due at once: at midnight in Oregon it waits for the morning, then goes
    run_scheduler(local, CHECK_AT + timedelta(minutes=6))
    assert len(emails(local)) == 2
    run_scheduler(local, MORNING + timedelta(minutes=1))
    assert len(emails(local)) == 3
    assert wording[-1] == (1, Situation.PROMISE_BROKEN)
    assert [m.step for m in stored().dunning.sent] == [0, 1]


def test_a_payment_before_the_date_closes_the_case_and_nothing_more_is_sent(
    local: Any, at: Any
) -> None:
    promised(local)
    Clock.now = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    deliver(local, "order_paid", "orders/paid")
    case = stored()
    assert case.dunning.status is DunningStatus.STOPPED
    assert case.dunning.promise_due is None
    assert list(case_store.due_cases(datetime(2027, 1, 1, tzinfo=UTC))) == []
    for when in (NUDGE_AT, CHECK_AT, MORNING, MORNING + timedelta(days=10)):
        run_scheduler(local, when + timedelta(minutes=1))
    assert len(emails(local)) == 1
    assert "customer.promise_broken" not in kinds()
