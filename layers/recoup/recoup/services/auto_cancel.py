"""Cancelling an unpaid manual-payment order and restocking it, when the shop's strategy
says so (`Strategy.cancel_after_days`).

The case's strategy sets `Dunning.cancel_at` when the case opens. Then:
1. the customer's last message (`store.cases.CANCEL_NOTICE`, the sender's one-off: at most
   once, the same guardrails as a step; a message that cannot go is passed over);
2. the order's cancellation (`store.cases.CANCEL_ORDER`, run here by the plan charges
   function): Shopify's `orderCancel` through the rate-limited Admin client, as payment
   declined, restocked, Shopify's own email off, then the outcome on the trail. Shopify's
   orders/cancelled webhook then closes the case like any cancellation.

At least once: a throttle or a failed call raises (SQS retries the job, then the dead-letter
queue and its alarm); a retry that finds the order cancelled already counts it done. A
refusal (the order was fulfilled meanwhile, the shop never granted `write_orders`, no token)
is recorded once and nothing more is tried. A payment, a promise, a plan or a hold before
the message puts it all off; a payment before the cancellation stops it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from recoup import clock
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import CaseStatus
from recoup.observability import metrics
from recoup.services import shopify_access
from recoup.services.customer_requests import entry_for, next_words
from recoup.services.step_outcomes import StepResult
from recoup.store import cases as store
from recoup.store import shops

WRITE_ORDERS = "write_orders"


def run_cancel(shop: str, case_id: str, *, now: datetime | None = None) -> StepResult:
    """Cancel the case's order in Shopify if its cancellation is due; record the outcome."""
    at = now or clock.now()
    stored = store.load(shop, case_id)
    dunning = stored.dunning if stored else None
    due = dunning.cancel_order_due if dunning else None
    if stored is None or due is None:
        return StepResult("stale", "no cancellation is due")
    if stored.case.status is not CaseStatus.OPEN:
        return StepResult("stale", f"case {stored.case.status}")
    if due > at:
        return StepResult("stale", "the cancellation is not due yet")
    shop_item = shops.get(shop)
    if shop_item is None or not shops.is_installed(shop):
        return StepResult("stale", f"{shop} is not installed: nothing is cancelled")
    granted = {s.strip() for s in (shop_item.scopes or "").split(",")}
    if WRITE_ORDERS not in granted:
        why = "the shop has not granted write_orders: open Recoup in the Shopify admin to allow it"
        return _record(stored, "not cancelled", why, at)
    try:
        token = shopify_access.access_token(shop, now=at)
    except (shopify_access.NoToken, shopify_access.NeedsReauth) as missing:
        return _record(stored, "not cancelled", f"no usable access token ({missing})", at)
    from recoup.integrations.shopify_admin import ShopifyAdmin, ShopifyUserError

    days = (due - (stored.case.opened_at or due)).days
    note = f"Recoup: unpaid {days} days after the order; cancelled and restocked as the shop set"
    try:
        job = ShopifyAdmin(shop, token).cancel_order(case_id, staff_note=note)
    except ShopifyUserError as refused:
        return _record(stored, "not cancelled", f"Shopify refused: {refused.message}", at)
    # A ShopifyApiError (throttled past the wait, 5xx) propagates: SQS retries the job.
    words = f"order cancelled in Shopify and restocked: unpaid after {days} days"
    return _record(stored, "cancelled", words + (f" (job {job})" if job else ""), at)


def _record(stored: StoredCase, outcome: str, words: str, now: datetime) -> StepResult:
    """The outcome on the trail and the progress, once however often it is told."""
    metrics.add_metric(
        name="OrdersCancelled" if outcome == "cancelled" else "OrderCancelRefused",
        unit="Count",
        value=1,
    )
    case_id = stored.case.case_id

    def decide(current: StoredCase | None) -> StepResult | store.Change[StepResult]:
        dunning = current.dunning if current else None
        if current is None or dunning is None or dunning.cancel_order_due is None:
            return StepResult("stale", "the cancellation was recorded already")
        after = (
            "waiting for Shopify's orders/cancelled to close the case"
            if outcome == "cancelled"
            else words
        )
        done = replace(dunning, cancel_outcome=outcome, reason=after)
        entry = entry_for(
            current,
            "order.auto_cancel" if outcome == "cancelled" else "order.auto_cancel_refused",
            words,
            next_words(done),
            now,
            event_id=f"recoup:auto_cancel:{case_id}",
            source="recoup",
        )
        return store.Change(current.case, entry, StepResult(outcome, words), done)

    return store.change(stored.case.shop, case_id, decide, now=now)


__all__ = ["WRITE_ORDERS", "run_cancel"]
