"""The facts the strategies, payment terms, retries and cancellations read, as the platforms
send them, and where each puts a case in the due index:
- a Shopify order's payment terms (name, the earliest unpaid schedule's due date);
- a Stripe PaymentIntent's retry facts (network, advice code, the saved card only with the
  customer's agreement to off-session use);
- the case's retry course (the saved card, the tries, the next retry or why none);
- the reminder progress's new fields round trip, sparse when empty;
- the due index's one entry a case: the earliest of a retry, a cancellation, a courtesy
  reminder and the sequence's own;
- the Admin client's orderCancel (payment declined, restocked, Shopify's email off; an
  order cancelled already is done; a refusal names the field)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain import retry_course
from recoup.domain.cadence import default_policy
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus, RetryRecord
from recoup.domain.events import OrderSnapshot, PaymentAttempt, Source
from recoup.domain.money import Money
from recoup.domain.retries import RetryPolicy
from recoup.errors import MalformedWebhook
from recoup.integrations import shopify, stripe
from recoup.integrations.shopify_admin import ShopifyAdmin, ShopifyUserError
from recoup.integrations.shopify_http import HttpResponse
from recoup.store import cases as store
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.shopify_fakes import FakeShopify, answer

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


# --- Shopify's payment terms ---------------------------------------------------------------


def _order_with(terms: Any) -> Any:
    order = event_json("shopify/order_pending.json")
    order["payment_terms"] = terms
    body = json.dumps(order).encode()
    headers = shopify_headers(body, "secret", "orders/create", webhook_id="t")
    return shopify.normalise(shopify.read_delivery(headers), body)


def _schedule(due: str | None, done: str | None = None) -> dict[str, Any]:
    return {"amount": "10.00", "currency": "USD", "due_at": due, "completed_at": done}


def test_an_order_without_terms_has_none() -> None:
    snapshot = _order_with(None).snapshot
    assert (snapshot.payment_terms, snapshot.payment_due_at) == (None, None)


def test_the_due_date_is_the_earliest_unpaid_schedule() -> None:
    terms = {
        "payment_terms_name": "Net 30",
        "payment_schedules": [
            _schedule("2026-11-17T00:00:00-08:00", "2026-11-16T10:00:00-08:00"),
            _schedule("2026-12-17T00:00:00-08:00"),
            _schedule("2026-12-02T00:00:00-08:00"),
        ],
    }
    snapshot = _order_with(terms).snapshot
    assert snapshot.payment_terms == "Net 30"
    assert snapshot.payment_due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_terms_without_a_date_or_fully_paid_have_no_due_date() -> None:
    no_date = _order_with({"payment_terms_name": "Due on fulfillment", "payment_schedules": []})
    assert (no_date.snapshot.payment_terms, no_date.snapshot.payment_due_at) == (
        "Due on fulfillment",
        None,
    )
    paid = _order_with(
        {
            "payment_terms_name": "Net 7",
            "payment_schedules": [_schedule("2026-11-09T00:00:00Z", "2026-11-08T00:00:00Z")],
        }
    )
    assert paid.snapshot.payment_due_at is None


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("next tuesday", "is not an ISO 8601 time"),
        ("2026-12-02T00:00:00", "has no time zone"),
        ("2049-12-02T00:00:00Z", "more than ten years away"),
        (20261202, "is not an ISO 8601 time"),
    ],
)
def test_a_bad_due_date_is_refused_naming_the_field(due: Any, message: str) -> None:
    with pytest.raises(MalformedWebhook) as refused:
        _order_with({"payment_terms_name": "Net 30", "payment_schedules": [_schedule(due)]})
    assert "payment_terms.payment_schedules[0].due_at" in str(refused.value)
    assert message in str(refused.value)


# --- Stripe's retry facts -------------------------------------------------------------------


def _failed_intent(**changes: Any) -> Any:
    event = event_json("stripe/payment_intent.payment_failed.json")
    event["data"]["object"].update(changes)
    return stripe.normalise(stripe.read_event(json.dumps(event).encode()))


def test_a_card_saved_for_later_may_be_charged_again() -> None:
    attempt = _failed_intent(customer="cus_Q1", setup_future_usage="off_session").attempt
    assert (attempt.customer_ref, attempt.payment_method_ref) == (
        "cus_Q1",
        "pm_1Pu44a1qnqUkCJLbgO7OyexO",
    )
    assert attempt.advice_code == "try_again_later"
    assert attempt.retry == 0


def test_without_the_customers_agreement_no_card_is_kept() -> None:
    attempt = _failed_intent(customer="cus_Q1", setup_future_usage=None).attempt
    assert (attempt.customer_ref, attempt.payment_method_ref) == (None, None)
    assert _failed_intent(setup_future_usage="off_session").attempt.customer_ref is None


def test_recoups_own_retry_is_numbered_from_its_metadata() -> None:
    event = event_json("stripe/payment_intent.payment_failed.json")
    event["data"]["object"]["customer"] = "cus_Q1"
    event["data"]["object"]["metadata"]["recoup_retry"] = "2"
    attempt = stripe.normalise(stripe.read_event(json.dumps(event).encode())).attempt
    assert attempt.retry == 2
    assert attempt.customer_ref == "cus_Q1"  # a retry was made with the saved card


# --- the retry course -------------------------------------------------------------------------


def _declined(code: str = "insufficient_funds", at: datetime = T0, **more: Any) -> PaymentAttempt:
    return PaymentAttempt(
        f"ch_{at.timestamp():.0f}",
        Source.STRIPE,
        False,
        at,
        Money.of(5000, "USD"),
        code,
        network="visa",
        customer_ref="cus_1",
        payment_method_ref="pm_1",
        **more,
    )


def _open(*attempts: PaymentAttempt) -> Case:
    return Case(
        SHOP,
        "1001",
        CaseStatus.OPEN,
        ((CaseStatus.OPEN, T0),),
        snapshot=OrderSnapshot(Money.of(5000, "USD")),
        attempts=attempts,
    )


RETRYING = replace(
    default_policy(),
    retries=RetryPolicy(enabled=True, max_retries=2, soft_delays=(timedelta(days=1),)),
)


def test_a_soft_decline_plans_a_retry_and_a_hard_one_none() -> None:
    scheduled = Dunning(DunningStatus.SCHEDULED, next_at=T0 + timedelta(days=1))
    at, why = retry_course.next_for(_open(_declined()), scheduled, RETRYING, T0)
    assert at == T0 + timedelta(days=1)
    assert why.startswith("retry 1 of 2")
    at, why = retry_course.next_for(_open(_declined("lost_card")), scheduled, RETRYING, T0)
    assert at is None and why.startswith("no retry: the issuer declined for good")
    off = replace(RETRYING, retries=RetryPolicy())
    assert retry_course.next_for(_open(_declined()), scheduled, off, T0) == (
        None,
        "no retry: automatic retries are off",
    )


def test_retries_recorded_count_once_and_the_webhook_of_a_retry_is_not_a_second_try() -> None:
    retried = _declined(at=T0 + timedelta(days=1), retry=1)
    logged = Dunning(
        DunningStatus.SCHEDULED,
        retry_log=(RetryRecord(1, T0 + timedelta(days=1), "failed", "insufficient_funds"),),
    )
    case = _open(_declined(), retried)
    own, earlier = retry_course.tries_of(case, logged, retry_course.saved_card(case))
    assert [t.at for t in own] == [T0, T0 + timedelta(days=1)]
    assert earlier == []
    at, why = retry_course.next_for(case, logged, RETRYING, T0 + timedelta(days=1))
    assert at == T0 + timedelta(days=2) and why.startswith("retry 2 of 2")


def test_no_saved_card_no_retry_and_a_claimed_retry_keeps_its_time() -> None:
    without = replace(_declined(), customer_ref=None, payment_method_ref=None)
    scheduled = Dunning(DunningStatus.SCHEDULED)
    assert retry_course.next_for(_open(without), scheduled, RETRYING, T0) == (None, "")
    claimed = Dunning(DunningStatus.SCHEDULED, retry_at=T0, retry_claimed=1)
    assert retry_course.replanned(_open(_declined()), claimed, RETRYING, T0) is None


# --- the reminder progress's fields ---------------------------------------------------------


def test_the_new_fields_round_trip_and_stay_out_of_the_item_when_empty() -> None:
    bare = Dunning(DunningStatus.SCHEDULED, next_at=T0)
    assert not {"strategy", "arm", "retry_log", "cancel_at", "courtesy_at"} & set(bare.to_dict())
    full = replace(
        bare,
        strategy="wholesale",
        strategy_why="payment terms (Net 30)",
        experiment="first-step",
        arm="early",
        anchor_at=T0,
        courtesy_at=T0 - timedelta(days=3),
        retry_at=T0 + timedelta(days=1),
        retry_why="retry 1 of 4",
        retry_claimed=1,
        retry_claimed_at=T0,
        retry_log=(RetryRecord(1, T0, "failed", "insufficient_funds", "pi_1"),),
        cancel_at=T0 + timedelta(days=10),
        cancel_order_at=T0 + timedelta(days=10),
        cancel_outcome="cancelled",
    )
    assert Dunning.from_dict(json.loads(json.dumps(full.to_dict()))) == full


# --- the due index ----------------------------------------------------------------------------


def test_the_due_index_holds_the_earliest_of_a_cases_work() -> None:
    step = Dunning(DunningStatus.SCHEDULED, next_step=0, next_at=T0 + timedelta(days=1))
    assert store._due(step, None) == (T0 + timedelta(days=1), 0)
    retry = replace(step, retry_at=T0 + timedelta(hours=12))
    assert store._due(retry, None) == (T0 + timedelta(hours=12), store.RETRY_CHARGE)
    late_retry = replace(step, retry_at=T0 + timedelta(days=2))
    assert store._due(late_retry, None) == (T0 + timedelta(days=1), 0)
    courtesy = replace(step, courtesy_at=T0 + timedelta(hours=2))
    assert store._due(courtesy, None) == (T0 + timedelta(hours=2), store.COURTESY)
    cancel = replace(step, cancel_at=T0 + timedelta(hours=1))
    assert store._due(cancel, None) == (T0 + timedelta(hours=1), store.CANCEL_NOTICE)
    ordered = replace(cancel, cancel_order_at=T0 + timedelta(hours=1, minutes=5))
    assert store._due(ordered, None) == (T0 + timedelta(hours=1, minutes=5), store.CANCEL_ORDER)
    assert store._due(replace(ordered, cancel_outcome="cancelled"), None) == (
        T0 + timedelta(days=1),
        0,
    )
    # Held: neither a retry nor a cancellation is due (the merchant or the fraud check decides).
    held = replace(retry, status=DunningStatus.HELD, cancel_at=T0)
    assert store._due(held, None) is None


# --- orderCancel ------------------------------------------------------------------------------


def _answer(result: dict[str, Any]) -> HttpResponse:
    return answer({"orderCancel": result})


def _admin(shopify: FakeShopify) -> ShopifyAdmin:
    return ShopifyAdmin(SHOP, "shpat_x", transport=shopify, sleep=lambda _: None)


def test_order_cancel_is_payment_declined_restocked_and_quiet() -> None:
    shopify = FakeShopify(
        _answer({"job": {"id": "gid://shopify/Job/1", "done": False}, "orderCancelUserErrors": []})
    )
    assert _admin(shopify).cancel_order("5601234567890", staff_note="unpaid") == (
        "gid://shopify/Job/1"
    )
    sent = shopify.sent()
    assert "orderCancel(" in sent["query"]
    assert sent["variables"] == {
        "orderId": "gid://shopify/Order/5601234567890",
        "reason": "DECLINED",
        "restock": True,
        "refundMethod": {"originalPaymentMethodsRefund": True},
        "notifyCustomer": False,
        "staffNote": "unpaid",
    }


def test_an_order_cancelled_already_is_done_and_a_refusal_names_the_field() -> None:
    already = {
        "field": ["orderId"],
        "message": "Order has already been cancelled",
        "code": "INVALID",
    }
    done = FakeShopify(_answer({"job": None, "orderCancelUserErrors": [already]}))
    assert _admin(done).cancel_order("1", staff_note="x") is None
    refused = {
        "field": ["orderId"],
        "message": "Cannot cancel a fulfilled order",
        "code": "INVALID",
    }
    shopify = FakeShopify(_answer({"job": None, "orderCancelUserErrors": [refused]}))
    with pytest.raises(ShopifyUserError) as failed:
        _admin(shopify).cancel_order("1", staff_note="x")
    assert failed.value.fields == ("orderId",)
    assert "Cannot cancel a fulfilled order" in failed.value.message
    with pytest.raises(ValueError, match="order_id"):
        _admin(shopify).cancel_order("1; drop", staff_note="x")


def test_the_pending_order_fixture_is_a_bank_transfer() -> None:
    # The tests of manual payments lean on it.
    assert json.loads(event_bytes("shopify/order_pending.json"))["payment_gateway_names"] == [
        "Bank Deposit"
    ]


def test_a_cancellation_the_shop_set_comes_before_the_referral_check() -> None:
    spent = Dunning(DunningStatus.AWAITING_ESCALATION, escalate_at=T0)
    assert spent.escalation_due_at == T0
    waiting = replace(spent, cancel_at=T0 + timedelta(days=3))
    assert waiting.escalation_due_at is None
    assert store._due(waiting, None) == (T0 + timedelta(days=3), store.CANCEL_NOTICE)
    refused = replace(waiting, cancel_order_at=T0 + timedelta(days=3), cancel_outcome="refused")
    assert refused.escalation_due_at == T0  # it did not happen: whether to refer is checked
