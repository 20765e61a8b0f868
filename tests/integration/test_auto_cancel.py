"""Cancelling an unpaid bank-transfer order, through the local stack: the shop's strategy for
manual payments sends its own reminders, then, ten days in, the customer's last message
(worded for the cancellation) and the order's cancellation in Shopify through the Admin
client (payment declined, restocked, Shopify's email off), once; Shopify's orders/cancelled
closes the case. A shop that never granted write_orders gets the reason on the trail and
nothing cancelled; an order paid first is never cancelled.

The Oregon customer's order ("Bank Deposit") opens at 2026-11-02 15:15 UTC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain import strategies
from recoup.domain.cadence import Anchor, Channel, Step, Tone
from recoup.domain.case import CaseStatus
from recoup.domain.payment_situation import Situation
from recoup.integrations import shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse
from recoup.store import cases as case_store
from tests.conftest import SHOP, event_bytes, event_json, save_expiring_token, shopify_headers
from tests.sequence_support import (
    Clock,
    emails,
    run_scheduler,
    save_policy,
    simulated_time,
    spy_on_wording,
    trail_kinds,
)
from tests.sequence_support import stored as stored_case
from tests.shopify_fakes import answer

ORDER = event_json("shopify/order_pending.json")
CASE = str(ORDER["id"])
OPENED = datetime.fromisoformat(ORDER["updated_at"]).astimezone(UTC)
CANCEL_AT = OPENED + timedelta(days=10)  # 07:15 Pacific: quiet hours end at 08:00
TOKEN = "shpat_cancel0000000000000000000000"


class FakeAdminApi:
    """The shop's GraphQL endpoint: orderCancel answers with a job (or `refusal`)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refusal: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = json.loads(request.body)
        self.calls.append(sent)
        errors = [{"field": ["orderId"], "message": self.refusal, "code": "INVALID"}]
        result = {
            "job": None if self.refusal else {"id": "gid://shopify/Job/42", "done": False},
            "orderCancelUserErrors": errors if self.refusal else [],
        }
        return answer({"orderCancel": result})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeAdminApi:
    fake = FakeAdminApi()
    monkeypatch.setattr(shopify_http, "urllib_transport", fake)
    return fake


@pytest.fixture
def at(local: Any) -> Iterator[type[Clock]]:
    steps = (
        Step(timedelta(days=3), Anchor.OPENED, Channel.EMAIL, "friendly", Tone.FRIENDLY, True),
        Step(timedelta(days=4), Anchor.PREVIOUS, Channel.EMAIL, "firm", Tone.FIRM, True),
    )
    transfer = strategies.Strategy(
        "transfers",
        "Bank transfers",
        strategies.Conditions(methods=frozenset({strategies.Method.BANK_TRANSFER})),
        steps,
        cancel_after_days=10,
    )
    save_policy(OPENED, strategies=(transfer,))
    with simulated_time(OPENED) as simulated:
        yield simulated


@pytest.fixture
def wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    return spy_on_wording(monkeypatch)


def opened(local: Any) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="ac-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def deliver(local: Any, changes: dict[str, Any], topic: str, webhook_id: str) -> None:
    raw = json.dumps({**ORDER, **changes, "updated_at": Clock.now.isoformat()}).encode()
    headers = shopify_headers(raw, local.shopify_secret, topic, webhook_id=webhook_id)
    assert local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)["statusCode"] == 200
    local.lambdas.drain()


def stored() -> Any:
    return stored_case(SHOP, CASE)


def kinds() -> list[str]:
    return trail_kinds(SHOP, CASE)


def through_day_ten(local: Any) -> None:
    for day in (3, 7):
        run_scheduler(local, OPENED + timedelta(days=day, hours=1))  # 08:15 there
    run_scheduler(local, CANCEL_AT)  # the last message: quiet hours until 08:00
    run_scheduler(local, CANCEL_AT + timedelta(hours=1))  # it goes
    run_scheduler(local, CANCEL_AT + timedelta(hours=1, minutes=5))  # then the cancellation


def test_an_unpaid_transfer_is_cancelled_and_restocked_after_its_last_message(
    local: Any, at: Any, api: FakeAdminApi, wording: list[tuple[int, Situation | None]]
) -> None:
    save_expiring_token(SHOP, TOKEN, scopes="read_orders,write_customers,write_orders")
    opened(local)
    dunning = stored().dunning
    assert (dunning.strategy, dunning.cancel_at) == ("transfers", CANCEL_AT)
    through_day_ten(local)
    assert [situation for _, situation in wording][-1] is Situation.ORDER_CANCELLED
    assert len(emails(local)) == 3  # two reminders and the last message
    (call,) = api.calls
    assert "orderCancel" in call["query"]
    variables = call["variables"]
    assert variables["orderId"] == f"gid://shopify/Order/{CASE}"
    assert (variables["reason"], variables["restock"], variables["notifyCustomer"]) == (
        "DECLINED",
        True,
        False,
    )
    assert kinds().count("order.auto_cancel") == 1
    assert stored().dunning.cancel_outcome == "cancelled"
    run_scheduler(local, CANCEL_AT + timedelta(hours=3))
    assert len(api.calls) == 1  # once
    Clock.now = CANCEL_AT + timedelta(hours=2)
    deliver(
        local,
        {"cancelled_at": Clock.now.isoformat(), "financial_status": "voided"},
        "orders/cancelled",
        "ac-2",
    )
    assert stored().case.status is CaseStatus.CANCELLED
    assert list(case_store.due_cases(OPENED + timedelta(days=400))) == []


def test_without_write_orders_the_reason_is_on_the_trail_and_nothing_is_cancelled(
    local: Any, at: Any, api: FakeAdminApi
) -> None:
    save_expiring_token(SHOP, TOKEN)
    opened(local)
    through_day_ten(local)
    assert api.calls == []
    assert kinds().count("order.auto_cancel_refused") == 1
    assert "write_orders" in stored().dunning.reason
    run_scheduler(local, CANCEL_AT + timedelta(days=1))
    assert kinds().count("order.auto_cancel_refused") == 1


def test_a_refusal_from_shopify_is_recorded_once(local: Any, at: Any, api: FakeAdminApi) -> None:
    save_expiring_token(SHOP, TOKEN, scopes="read_orders,write_customers,write_orders")
    api.refusal = "Cannot cancel an order with fulfillments"
    opened(local)
    through_day_ten(local)
    assert len(api.calls) == 1
    assert "Cannot cancel an order with fulfillments" in stored().dunning.reason
    run_scheduler(local, CANCEL_AT + timedelta(days=1))
    assert len(api.calls) == 1


def test_an_order_paid_first_is_never_cancelled(local: Any, at: Any, api: FakeAdminApi) -> None:
    save_expiring_token(SHOP, TOKEN, scopes="read_orders,write_customers,write_orders")
    opened(local)
    Clock.now = OPENED + timedelta(days=5)
    deliver(local, {"financial_status": "paid", "total_outstanding": "0.00"}, "orders/paid", "p1")
    assert stored().case.status is CaseStatus.PAID
    run_scheduler(local, CANCEL_AT + timedelta(hours=2))
    assert api.calls == []
