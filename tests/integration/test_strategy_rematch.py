"""Strategies through the worker: a case is matched again when its facts change before its
first message (a decline reason arrives), never after it; a strategy for customers whose
earlier case with the shop went unpaid takes their next order, read through the customer's
links only when a strategy asks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from recoup import clock
from recoup.domain import strategies
from recoup.domain.cadence import Anchor, Channel, Step, Tone
from recoup.integrations import shopify, stripe
from recoup.services import cases
from recoup.store import cases as case_store
from tests.conftest import SHOP, event_bytes, shopify_headers
from tests.sequence_support import run_scheduler, save_policy, simulated_time

ORDER = json.loads(event_bytes("shopify/order_pending.json"))
CASE = str(ORDER["id"])
OPENED = datetime.fromisoformat(ORDER["updated_at"]).astimezone(UTC)


def _steps(first: timedelta) -> tuple[Step, ...]:
    return (Step(first, Anchor.OPENED, Channel.EMAIL, "friendly", Tone.FRIENDLY, True),)


def _with(*listed: strategies.Strategy) -> None:
    save_policy(OPENED, strategies=listed)


def _apply(event: Any, at: datetime) -> None:
    clock.use(lambda: at)
    try:
        assert cases.apply_event(event, now=at) is not None
    finally:
        clock.use(None)


def _order(local: Any, changes: dict[str, Any], topic: str, hook: str, at: datetime) -> None:
    body = json.dumps({**ORDER, "payment_gateway_names": ["shopify_payments"], **changes})
    raw = body.encode()
    headers = shopify_headers(raw, local.shopify_secret, topic, webhook_id=hook)
    event = shopify.normalise(shopify.read_delivery(headers), raw)
    _apply(event, at)


def _declined(code: str, at: datetime, order_id: str = CASE) -> None:
    data = json.loads(event_bytes("stripe/payment_intent.payment_failed.json"))
    data["id"] = f"evt_{code}_{order_id}"
    data["created"] = int(at.timestamp())
    intent = data["data"]["object"]
    intent["id"] = f"pi_{code}{order_id[-6:]}"
    intent["metadata"]["shopify_order_id"] = order_id
    intent["last_payment_error"]["decline_code"] = code
    _apply(stripe.normalise(stripe.read_event(json.dumps(data).encode())), at)


def _dunning(case_id: str = CASE) -> Any:
    found = case_store.load(SHOP, case_id)
    assert found is not None and found.dunning is not None
    return found.dunning


EXPIRED = strategies.Strategy(
    "expired-cards",
    "Expired or mistyped cards",
    strategies.Conditions(declines=frozenset({"expired_or_incorrect"})),
    _steps(timedelta(hours=2)),
)
SOFT = strategies.Strategy(
    "soft",
    "Soft declines",
    strategies.Conditions(declines=frozenset({"soft"})),
    _steps(timedelta(days=2)),
)


def test_a_decline_before_the_first_message_rematches_the_case(local: Any) -> None:
    _with(EXPIRED, SOFT)
    _order(local, {}, "orders/create", "r1", OPENED)
    assert (_dunning().strategy, _dunning().next_at) == ("default", OPENED + timedelta(days=1))
    # An expired card is reported before any message: the case takes that strategy
    _declined("expired_card", OPENED + timedelta(minutes=5))
    dunning = _dunning()
    assert dunning.strategy == "expired-cards"
    assert dunning.strategy_why == "decline expired_or_incorrect (expired_card)"
    assert dunning.next_at == OPENED + timedelta(hours=2)
    assert case_store.next_due(case_store.load(SHOP, CASE)) == (OPENED + timedelta(hours=2), 0)


def test_after_the_first_message_the_strategy_stays(local: Any) -> None:
    _with(EXPIRED, SOFT)
    _order(local, {}, "orders/create", "r2", OPENED)
    # The sender judges quiet hours and limits by the clock: the simulated one, not today's
    due = OPENED + timedelta(days=1, hours=2)
    with simulated_time(due):
        run_scheduler(local, due)
    assert _dunning().sent, "step 1 should have gone"
    _declined("insufficient_funds", OPENED + timedelta(days=1, hours=3))
    assert _dunning().strategy == "default"


def test_a_customer_whose_earlier_order_went_unpaid_gets_the_watchful_strategy(
    local: Any,
) -> None:
    watch = strategies.Strategy(
        "watch",
        "Customers who did not pay before",
        strategies.Conditions(histories=frozenset({"never_paid"})),
        _steps(timedelta(hours=6)),
    )
    _with(watch)
    earlier = str(int(CASE) - 1000)
    _order(local, {"id": int(earlier), "name": "#1000"}, "orders/create", "h1", OPENED)
    assert _dunning(earlier).strategy == "default"  # no past cases yet
    cancelled_at = OPENED + timedelta(days=3)
    _order(
        local,
        {"id": int(earlier), "name": "#1000", "cancelled_at": cancelled_at.isoformat()},
        "orders/cancelled",
        "h2",
        cancelled_at,
    )
    later = OPENED + timedelta(days=10)
    _order(local, {"updated_at": later.isoformat()}, "orders/create", "h3", later)
    dunning = _dunning()
    assert (dunning.strategy, dunning.strategy_why) == ("watch", "past cases: never_paid")
    assert dunning.next_at == later + timedelta(hours=6)
