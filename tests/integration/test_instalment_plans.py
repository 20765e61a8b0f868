"""Instalment plans through the local stack: the customer agrees, saves the card at the
stand-in's Checkout (paying the first), the scheduler and the plan charges function charge
the next instalments off-session on their dates; a failed charge tells the customer once and
waits its grace days (its notice names the instalment, its amount and the day and time to pay
it by), then the plan breaks and the reminders resume worded so (the balance is due); the last
instalment pays the case; a charge whose answer was lost is retried under the same
idempotency key and charges once; a plan whose card is never saved lapses.

The Oregon customer's order opens at 2026-11-02 15:15 UTC (Pacific, UTC-8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit

import pytest

from recoup.domain.case import CaseStatus
from recoup.domain.customer_requests import RequestMeta
from recoup.domain.dunning import DunningStatus
from recoup.domain.instalments import InstalmentTerms, Interval, PlanStatus
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.services import cases, instalment_plans
from recoup.settings import get_settings
from recoup.store import cases as case_store
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.sequence_support import (
    Clock,
    emails,
    run_scheduler,
    save_policy,
    simulated_time,
    spy_on_wording,
    stripe_events,
    with_platform_stripe,
)

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
STEP_1 = OPENED + timedelta(days=1, hours=2)  # 09:15 in Oregon on 3 November
AGREED = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)  # 10:00 there, the 3rd
SECOND = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # 10:00 Pacific on 3 December
THIRD = datetime(2027, 1, 3, 18, 0, tzinfo=UTC)
META = RequestMeta("203.0.113.50", "Mozilla/5.0 (Android 14)")
TERMS = InstalmentTerms(
    enabled=True, max_count=3, intervals=(Interval.MONTHLY,), max_days=90, grace_days=5
)


@pytest.fixture
def at(local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Clock]]:
    with_platform_stripe(monkeypatch, local.stripe, lambda: Clock.now)
    save_policy(OPENED, instalments=TERMS)
    with simulated_time(OPENED) as simulated:
        yield simulated
    get_settings.cache_clear()


@pytest.fixture
def wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    """The situation the sender asks each message to be worded for, by step index."""
    return spy_on_wording(monkeypatch)


def text_of(sent: Any) -> str:
    """An email's plain-text part, as the customer reads it."""
    parsed = message_from_bytes(sent.content, policy=policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def stored() -> Any:
    found = case_store.load(SHOP, CASE)
    assert found is not None
    return found


def kinds() -> list[str]:
    return [str(e.body["kind"]) for e in cases.timeline(SHOP, CASE)]


def agreed_and_card_saved(local: Any, card: str = "visa") -> None:
    """The case opened and its first step sent; the customer agrees to three monthly
    instalments and pays the first at Checkout, which saves the card."""
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    run_scheduler(local, STEP_1)
    assert len(emails(local)) == 1
    Clock.now = AGREED
    written = instalment_plans.agree(
        SHOP, CASE, count=3, interval="monthly", start=None, locale="en", meta=META, now=AGREED
    )
    url = instalment_plans.card_checkout(written, return_url=f"https://{SHOP}")
    session = urlsplit(url).path.rsplit("/", 1)[1]
    local.stripe.complete(session, card)
    stripe_events(local)


def test_a_plan_is_agreed_with_consent_and_its_first_paid_at_checkout(local: Any, at: Any) -> None:
    agreed_and_card_saved(local)
    case = stored()
    plan = case.dunning.plan
    assert case.dunning.status is DunningStatus.PLANNED
    assert plan.status is PlanStatus.ACTIVE
    assert plan.payment_method and plan.stripe_customer
    assert [i.amount_minor for i in plan.instalments] == [63300, 63300, 63300]
    assert plan.instalments[0].paid and not plan.instalments[1].paid
    assert case.case.status is CaseStatus.OPEN
    assert case.case.amount_owed == Money.of(126600, "USD")
    consent = next(e.body for e in cases.timeline(SHOP, CASE) if e.body["kind"] == "customer.plan")
    assert len(consent["terms_digest"]) == 64 and consent["request_digest"]
    request = next(r for r in case.dunning.requests if r.id == consent["request_id"])
    assert (request.ip, request.user_agent) == (META.ip, META.user_agent)
    # The due index holds the second instalment's charge, at 10:00 their time.
    (due,) = case_store.due_cases(SECOND)
    assert (due.case_id, due.step) == (CASE, case_store.PLAN_DUE)
    assert datetime.fromisoformat(due.due_at) == SECOND
    # Nothing of the sequence goes while the plan runs.
    run_scheduler(local, datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    assert len(emails(local)) == 1


def test_instalments_are_charged_on_their_dates_and_the_last_pays_the_case(
    local: Any, at: Any
) -> None:
    agreed_and_card_saved(local)
    run_scheduler(local, SECOND)
    stripe_events(local)  # the charge's own webhook: already recorded, changes nothing
    plan = stored().dunning.plan
    assert plan.instalments[1].paid
    assert kinds().count("customer.plan_charged") == 1
    run_scheduler(local, THIRD)
    stripe_events(local)
    case = stored()
    assert case.case.status is CaseStatus.PAID
    assert case.case.recovered == Money.of(189900, "USD")
    assert case.dunning.status is DunningStatus.STOPPED
    assert case.dunning.plan.status is PlanStatus.COMPLETED
    assert list(case_store.due_cases(THIRD + timedelta(days=400))) == []
    assert len(emails(local)) == 1  # the plan never needed a reminder


def test_a_missed_instalment_is_told_once_then_the_plan_breaks_and_the_reminders_resume(
    local: Any, at: Any, wording: list[tuple[int, Situation | None]]
) -> None:
    agreed_and_card_saved(local)
    method = stored().dunning.plan.payment_method
    local.stripe.fail_off_session[method] = "insufficient_funds"
    run_scheduler(local, SECOND)
    stripe_events(local)
    plan = stored().dunning.plan
    assert plan.missed is not None and plan.missed.code == "insufficient_funds"
    # The notice goes at the next run (10:05, outside quiet hours), worded for it, once.
    run_scheduler(local, SECOND + timedelta(minutes=5))
    run_scheduler(local, SECOND + timedelta(minutes=10))
    assert len(emails(local)) == 2
    assert wording[-1][1] is Situation.INSTALMENT_MISSED
    assert kinds().count("customer.plan_notice") == 1
    # It names the instalment, its amount and date, and the day and time (Pacific: the
    # charge failed at 10:00 there, the grace days end five days later) to pay it by
    notice = emails(local)[1]
    assert notice.subject.strip() == f"{SHOP}: instalment 2 of 3 for order #1042 was missed"
    words = text_of(notice)
    assert (
        "Instalment 2 of 3 ($633.00, due on December 3, 2026) could not be charged to your "
        "card. Pay it by December 8, 2026, 10:00 AM (your time) to keep your plan; after that "
        "the plan ends and the rest ($1,266.00) is due."
    ) in words
    # And asks for the instalment, the balance split into it and what is left after it
    assert "Instalment 2 of 3 due now for order #1042: $633.00" in words
    assert "Paid so far: $633.00 Balance: $1,266.00" in words
    assert "Due now (instalment 2 of 3): $633.00 Balance after this instalment: $633.00" in words
    assert "Amount due" not in words
    # Unpaid past the grace days: broken; the sequence resumes at step 2, worded so.
    run_scheduler(local, SECOND + timedelta(days=5))
    case = stored()
    assert case.dunning.plan.status is PlanStatus.BROKEN
    assert case.dunning.status is DunningStatus.SCHEDULED
    assert case.dunning.next_step == 1
    assert "customer.plan_broken" in kinds()
    run_scheduler(local, SECOND + timedelta(days=5, minutes=5))
    assert len(emails(local)) == 3
    assert wording[-1] == (1, Situation.PLAN_BROKEN)
    # The plan is over: the whole balance is due, and nothing offers to keep the plan
    words = text_of(emails(local)[2])
    assert (
        "Your payment plan for this order has ended because an instalment was not paid. The "
        "remaining balance of $1,266.00 is now due."
    ) in words
    assert "Amount due for order #1042: $1,266.00" in words
    assert "keep your plan" not in words and "Instalment 2 of 3" not in words


def test_a_missed_instalment_paid_by_its_link_keeps_the_plan_going(local: Any, at: Any) -> None:
    agreed_and_card_saved(local)
    method = stored().dunning.plan.payment_method
    local.stripe.fail_off_session[method] = "insufficient_funds"
    run_scheduler(local, SECOND)
    stripe_events(local)
    url = instalment_plans.card_checkout(stored(), return_url=f"https://{SHOP}")
    local.stripe.complete(urlsplit(url).path.rsplit("/", 1)[1], "visa")
    stripe_events(local)
    plan = stored().dunning.plan
    assert plan.status is PlanStatus.ACTIVE and plan.missed is None
    assert plan.instalments[1].paid
    assert plan.payment_method != method  # the new card is the plan's from now on
    run_scheduler(local, SECOND + timedelta(days=6))
    assert stored().dunning.plan.status is PlanStatus.ACTIVE


def test_a_charge_whose_answer_was_lost_is_retried_and_charges_once(local: Any, at: Any) -> None:
    agreed_and_card_saved(local)
    local.stripe.fail_next_post = "lost"
    Clock.now = SECOND
    local.lambdas.run_schedules(SECOND)
    local.lambdas.drain()  # the first receive fails (outcome unknown), SQS retries it
    stripe_events(local)
    intents = [
        o
        for o in local.stripe.objects.values()
        if o.get("object") == "payment_intent"
        and o.get("metadata", {}).get("recoup_instalment") == "2"
    ]
    assert len(intents) == 1
    assert stored().dunning.plan.instalments[1].paid


def test_a_plan_whose_card_is_never_saved_lapses_and_the_reminders_resume(
    local: Any, at: Any
) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    run_scheduler(local, STEP_1)
    Clock.now = AGREED
    instalment_plans.agree(
        SHOP, CASE, count=2, interval="monthly", start=None, locale="en", meta=META, now=AGREED
    )
    run_scheduler(local, AGREED + timedelta(hours=24, minutes=5))
    case = stored()
    assert case.dunning.plan.status is PlanStatus.LAPSED
    assert case.dunning.status is DunningStatus.SCHEDULED
    assert "customer.plan_lapsed" in kinds()
    assert json.dumps(case.dunning.plan.to_dict())  # kept on record


def test_a_merchants_hold_stops_the_charges_and_resuming_continues_the_plan(
    local: Any, at: Any
) -> None:
    from recoup.services import actions

    agreed_and_card_saved(local)
    actions.perform(SHOP, CASE, "hold", by="Ana Ruiz", note="checking the order", now=AGREED)
    run_scheduler(local, SECOND)
    stripe_events(local)
    held = stored()
    assert held.dunning.status is DunningStatus.HELD
    assert not held.dunning.plan.instalments[1].paid  # nothing charged while held
    later = SECOND + timedelta(days=1)
    Clock.now = later
    actions.perform(SHOP, CASE, "resume", by="Ana Ruiz", note="", now=later)
    resumed = stored()
    assert resumed.dunning.status is DunningStatus.PLANNED
    run_scheduler(local, later + timedelta(minutes=5))
    stripe_events(local)
    assert stored().dunning.plan.instalments[1].paid


def test_paying_the_whole_balance_elsewhere_ends_the_plan(local: Any, at: Any) -> None:
    agreed_and_card_saved(local)
    body = event_bytes("shopify/order_paid.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/paid", webhook_id="wh-paid")
    Clock.now = AGREED + timedelta(days=2)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    case = stored()
    assert case.case.status is CaseStatus.PAID
    assert case.dunning.plan.status is PlanStatus.ENDED
    run_scheduler(local, SECOND)
    assert not any(
        o.get("metadata", {}).get("recoup_instalment") == "2"
        for o in local.stripe.objects.values()
        if o.get("object") == "payment_intent"
    )
