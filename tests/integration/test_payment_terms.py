"""Orders with payment terms through the local stack: a NET-30 order's case waits for its
due date (no reminder the next day); a strategy's courtesy reminder goes a set number of
days before, worded for a payment due soon; an order paid on time never gets a message; a
partly paid schedule chases the rest from the next due date; terms with no date yet start
nothing until a date is reported, and the case is matched again then.

The Oregon customer (Pacific time) orders on 2026-11-02 at 15:15 UTC on "Net 30" terms due
2026-12-02 at 08:00 UTC (midnight Pacific)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain import strategies
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import DunningStatus
from recoup.domain.payment_situation import Situation
from recoup.services import cases
from recoup.store import cases as case_store
from recoup.store import policies
from tests.conftest import SHOP, event_json, shopify_headers
from tests.faults import FaultPlan
from tests.sequence_support import (
    Clock,
    emails,
    run_scheduler,
    save_policy,
    simulated_time,
    spy_on_wording,
)
from tests.sequence_support import stored as stored_case

ORDER = event_json("shopify/order_pending.json")
CASE = str(ORDER["id"])
OPENED = datetime.fromisoformat(ORDER["updated_at"]).astimezone(UTC)
DUE = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
COURTESY = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # 10:00 Pacific, three days before


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    with simulated_time(OPENED) as simulated:
        yield simulated


@pytest.fixture
def wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    return spy_on_wording(monkeypatch)


def schedule(due_at: str | None, completed: str | None = None, amount: str = "1899.00") -> Any:
    return {
        "id": 606405506930370000,
        "payment_terms_id": 706405506930370000,
        "amount": amount,
        "currency": "USD",
        "issued_at": "2026-11-02T10:14:58-05:00",
        "due_at": due_at,
        "completed_at": completed,
    }


def order(*schedules: Any, status: str = "pending", outstanding: str = "1899.00") -> Any:
    terms = {
        "id": 706405506930370000,
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
        "payment_schedules": list(schedules),
    }
    return {
        **ORDER,
        "payment_terms": terms,
        "payment_gateway_names": [],
        "financial_status": status,
        "total_outstanding": outstanding,
    }


def deliver(local: Any, body: Any, topic: str, webhook_id: str, when: datetime) -> None:
    Clock.now = when
    body = {**body, "updated_at": when.isoformat()}
    raw = json.dumps(body).encode()
    headers = shopify_headers(raw, local.shopify_secret, topic, webhook_id=webhook_id)
    assert local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)["statusCode"] == 200
    local.lambdas.drain()


def stored() -> Any:
    return stored_case(SHOP, CASE)


def with_terms_strategy(courtesy_days: int) -> None:
    """The shop's strategies: one for orders on payment terms, with a courtesy reminder."""
    terms = strategies.Strategy(
        "wholesale",
        "Wholesale on terms",
        strategies.Conditions(payment_terms=True),
        policies.load(SHOP).steps,
        courtesy_days=courtesy_days,
    )
    save_policy(OPENED, strategies=(terms,))


def test_a_net_30_order_waits_for_its_due_date(local: Any, at: Any) -> None:
    deliver(local, order(schedule("2026-12-02T00:00:00-08:00")), "orders/create", "t1", OPENED)
    dunning = stored().dunning
    assert dunning.status is DunningStatus.SCHEDULED
    assert dunning.anchor_at == DUE
    assert dunning.next_at == DUE + timedelta(days=1)  # the default's first step, from the date
    assert dunning.reason == "waits for the due date (Net 30)"
    assert dunning.strategy == "default"
    for day in (1, 2, 7, 20, 29):
        run_scheduler(local, OPENED + timedelta(days=day))
    assert emails(local) == []
    run_scheduler(local, DUE + timedelta(days=1, hours=2))  # 02:00 there: quiet hours
    run_scheduler(local, DUE + timedelta(days=1, hours=8))
    assert len(emails(local)) == 1


def test_a_courtesy_reminder_goes_before_the_due_date_worded_for_it(
    local: Any, at: Any, wording: list[tuple[int, Situation | None]]
) -> None:
    with_terms_strategy(courtesy_days=3)
    deliver(local, order(schedule("2026-12-02T00:00:00-08:00")), "orders/create", "t2", OPENED)
    dunning = stored().dunning
    assert (dunning.strategy, dunning.courtesy_at) == ("wholesale", COURTESY)
    assert dunning.strategy_why == "payment terms (Net 30)"
    (due,) = case_store.due_cases(COURTESY)
    assert (due.step, datetime.fromisoformat(due.due_at)) == (case_store.COURTESY, COURTESY)
    run_scheduler(local, COURTESY)
    run_scheduler(local, COURTESY + timedelta(hours=1))
    assert len(emails(local)) == 1
    assert wording == [(0, Situation.PAYMENT_DUE_SOON)]
    assert stored().dunning.courtesy_at is None
    # The sequence itself still waits for the due date.
    (after,) = case_store.due_cases(DUE + timedelta(days=2))
    assert after.step == 0


@pytest.mark.parametrize("whole_call", [False, True], ids=["sdk-retry", "every-attempt"])
def test_a_courtesy_reminder_whose_claim_answer_is_lost_goes_once(
    local: Any, at: Any, whole_call: bool
) -> None:
    # Given a courtesy reminder due, and its claim carried out by DynamoDB but the answer
    # lost: once (the SDK's retry meets the version the claim moved on), or on every attempt
    with_terms_strategy(courtesy_days=3)
    deliver(local, order(schedule("2026-12-02T00:00:00-08:00")), "orders/create", "t9", OPENED)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "UpdateItem", "timeout_after", whole_call=whole_call)
        run_scheduler(local, COURTESY)
    # Then the sender knows the claim for its own, nothing having gone: one email, recorded
    # as sent, not as an unknown outcome
    assert ("dynamodb", "UpdateItem", "timeout_after") in plan.injected
    assert len(emails(local)) == 1
    sent = [e for e in cases.timeline(SHOP, CASE) if "courtesy" in str(e.body["summary"])]
    assert sent and not [e for e in sent if "unknown" in str(e.body["summary"])], sent
    assert stored().dunning.courtesy_at is None


def test_an_order_paid_on_time_never_gets_a_message(local: Any, at: Any) -> None:
    with_terms_strategy(courtesy_days=0)
    deliver(local, order(schedule("2026-12-02T00:00:00-08:00")), "orders/create", "t3", OPENED)
    paid = order(
        schedule("2026-12-02T00:00:00-08:00", "2026-11-30T09:00:00-08:00"),
        status="paid",
        outstanding="0.00",
    )
    deliver(local, paid, "orders/paid", "t4", datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    assert stored().case.status is CaseStatus.PAID
    for day in (1, 2, 5, 10):
        run_scheduler(local, DUE + timedelta(days=day))
    assert emails(local) == []


def test_a_partly_paid_schedule_chases_the_rest_from_the_next_due_date(local: Any, at: Any) -> None:
    first = schedule("2026-11-17T00:00:00-08:00", "2026-11-16T12:00:00-08:00", "949.50")
    second = schedule("2026-12-02T00:00:00-08:00", None, "949.50")
    body = order(first, second, status="partially_paid", outstanding="949.50")
    deliver(local, body, "orders/create", "t5", OPENED)
    case = stored()
    assert case.dunning.anchor_at == DUE
    assert case.case.amount_owed.minor == 94950


def test_terms_without_a_date_start_nothing_until_one_is_reported(local: Any, at: Any) -> None:
    deliver(local, order(schedule(None)), "orders/create", "t6", OPENED)
    assert stored().dunning is None
    run_scheduler(local, OPENED + timedelta(days=2))
    assert emails(local) == []
    later = OPENED + timedelta(days=5)
    deliver(local, order(schedule("2026-12-02T00:00:00-08:00")), "orders/updated", "t7", later)
    dunning = stored().dunning
    assert (dunning.anchor_at, dunning.next_at) == (DUE, DUE + timedelta(days=1))
