"""Retrying a failed card payment off-session, through the local stack: a soft decline of a
card the customer saved for later is retried by the scheduler and the plan charges function
before the first reminder and recovered without a message; a hard decline is never retried;
a declined retry plans the next within the shop's maximum; a retry whose answer was lost is
charged again under the same idempotency key and charges once.

The Oregon customer's order opens at 2026-11-02 15:15 UTC; its first reminder is due a day
later. The shop retries 12 hours after a soft decline, at most twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain.case import CaseStatus
from recoup.domain.retries import RetryPolicy
from recoup.services.payment_retries import idempotency_key
from recoup.settings import get_settings
from recoup.store import cases as case_store
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_bytes, event_json, shopify_headers
from tests.sequence_support import (
    Clock,
    emails,
    run_scheduler,
    save_policy,
    simulated_time,
    stripe_events,
    trail_kinds,
    with_platform_stripe,
)
from tests.sequence_support import stored as stored_case

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
DECLINED = OPENED + timedelta(minutes=10)
RETRY_1 = DECLINED + timedelta(hours=12)
RETRY_2 = RETRY_1 + timedelta(hours=12)
RETRIES = RetryPolicy(enabled=True, max_retries=2, soft_delays=(timedelta(hours=12),))


@pytest.fixture
def at(local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Clock]]:
    with_platform_stripe(monkeypatch, local.stripe, lambda: Clock.now)
    save_policy(OPENED, retries=RETRIES)
    with simulated_time(OPENED) as simulated:
        yield simulated
    get_settings.cache_clear()


def declined(local: Any, code: str) -> str:
    """The order opens; the customer's card, saved for later at checkout, is declined with
    `code`. Returns the saved card's id."""
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-r1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    Clock.now = DECLINED
    owed = stored().case.amount_owed
    customer = local.stripe.new_customer(STRIPE_ACCOUNT)
    intent = local.stripe.declined_saved_payment(
        STRIPE_ACCOUNT,
        customer=customer,
        amount=owed.minor,
        currency=owed.currency.lower(),
        metadata={"shop_domain": SHOP, "shopify_order_id": CASE},
        decline=code,
    )
    stripe_events(local)
    return str(intent["last_payment_error"]["payment_method"]["id"])


def stored() -> Any:
    return stored_case(SHOP, CASE)


def kinds() -> list[str]:
    return trail_kinds(SHOP, CASE)


def charges(local: Any) -> list[dict[str, Any]]:
    """The off-session PaymentIntents Recoup created (its retries)."""
    return [
        o
        for o in local.stripe.objects.values()
        if o["object"] == "payment_intent" and (o.get("metadata") or {}).get("recoup_retry")
    ]


def test_a_soft_decline_is_retried_before_the_first_reminder_and_recovered_silently(
    local: Any, at: Any
) -> None:
    declined(local, "insufficient_funds")
    dunning = stored().dunning
    assert dunning.retry_at == RETRY_1
    assert "retry 1 of 2" in dunning.retry_why
    (due,) = case_store.due_cases(RETRY_1)
    assert (due.case_id, due.step) == (CASE, case_store.RETRY_CHARGE)
    run_scheduler(local, RETRY_1)
    (charge,) = charges(local)
    assert charge["status"] == "succeeded"
    assert charge["metadata"] == {
        "shop_domain": SHOP,
        "shopify_order_id": CASE,
        "recoup_retry": "1",
    }
    assert charge["amount"] == stored().case.owed_when_open.minor
    stripe_events(local)
    case = stored()
    assert case.case.status is CaseStatus.PAID
    assert kinds().count("payment.retry_succeeded") == 1
    run_scheduler(local, OPENED + timedelta(days=3))
    assert emails(local) == []  # recovered without a message
    assert list(case_store.due_cases(OPENED + timedelta(days=400))) == []


def test_a_hard_decline_is_never_retried_and_the_reminders_go_as_planned(
    local: Any, at: Any
) -> None:
    declined(local, "do_not_try_again")
    dunning = stored().dunning
    assert dunning.retry_at is None
    assert dunning.retry_why.startswith("no retry: the issuer declined for good")
    first = dunning.next_at  # the order's strategy's first step (a bank transfer's: 3 days)
    for hours in (12, 24, 36, 48):
        run_scheduler(local, DECLINED + timedelta(hours=hours))
    run_scheduler(local, first)
    run_scheduler(local, first + timedelta(hours=1))  # held back by quiet hours till 08:00
    assert charges(local) == []
    assert len(emails(local)) == 1  # the first reminder, as without retries
    assert "payment.retry_failed" not in kinds()


def test_a_declined_retry_plans_the_next_within_the_shops_maximum(local: Any, at: Any) -> None:
    method = declined(local, "insufficient_funds")
    local.stripe.fail_off_session[method] = "insufficient_funds"
    run_scheduler(local, RETRY_1)
    stripe_events(local)  # the retry's own webhook: recorded already, changes nothing
    dunning = stored().dunning
    assert [(r.number, r.outcome, r.code) for r in dunning.retry_log] == [
        (1, "failed", "insufficient_funds")
    ]
    assert dunning.retry_at == RETRY_1 + timedelta(hours=12)
    run_scheduler(local, RETRY_2)  # step 1 first (due 15:15), held back by quiet hours
    run_scheduler(local, RETRY_2 + timedelta(minutes=5))  # then the retry, next in the index
    stripe_events(local)
    dunning = stored().dunning
    assert len(dunning.retry_log) == 2
    assert dunning.retry_at is None
    assert dunning.retry_why == "no retry: the shop allows 2 automatic retries and 2 were made"
    run_scheduler(local, RETRY_2 + timedelta(days=2))
    assert len(charges(local)) == 2
    assert kinds().count("payment.retry_failed") == 2
    assert stored().case.status is CaseStatus.OPEN


def test_a_retry_whose_answer_was_lost_charges_once_under_the_same_key(local: Any, at: Any) -> None:
    declined(local, "insufficient_funds")
    local.stripe.fail_next_post = "lost"  # Stripe charges; the answer never arrives
    run_scheduler(local, RETRY_1)
    # The job failed and SQS delivered it again: the retry claimed and not recorded is
    # charged again under the same key, which Stripe answers with the same PaymentIntent
    assert len(charges(local)) == 1
    key = idempotency_key(SHOP, CASE, 1)
    assert [k for (_, path, k) in local.stripe._replies if "payment_intents" in path] == [key]
    (record,) = stored().dunning.retry_log
    assert (record.number, record.outcome) == (1, "succeeded")
    # And a later run finds nothing more to charge
    run_scheduler(local, RETRY_1 + timedelta(hours=2))
    assert len(charges(local)) == 1
    assert len(stored().dunning.retry_log) == 1
    stripe_events(local)
    assert stored().case.status is CaseStatus.PAID
