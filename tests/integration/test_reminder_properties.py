"""Whatever the interleaving of scheduler runs, duplicated jobs and the payment, each step
is sent at most once and nothing is sent after the payment arrived."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoup import clock
from recoup.services import cases, sending
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_json, shopify_headers

T0 = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)

actions = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(min_value=1, max_value=96)),
        st.tuples(st.just("dup"), st.integers(min_value=0, max_value=3)),
        st.tuples(st.just("pay"), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def shared_stack() -> Iterator[Any]:
    """One stack for every example: each example is its own order and customer."""
    from recoup.services import shops
    from recoup_local.stack import in_process

    with in_process() as stack:
        shops.install(SHOP, stripe_account="acct_1DemoElectronics", timezone="America/New_York")
        yield stack
    clock.use(None)


def _order(number: int, status: str) -> bytes:
    order = event_json(
        "shopify/order_paid.json" if status == "paid" else "shopify/order_pending.json"
    )
    order["id"] = 7000000000000000000 + number
    order["admin_graphql_api_id"] = f"gid://shopify/Order/{order['id']}"
    order["email"] = f"buyer{number}@example.com"
    order["shipping_address"]["phone"] = f"+1503555{number % 100:04d}"
    return json.dumps(order).encode()


_counter = iter(range(1, 10_000))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions)
def test_each_step_at_most_once_and_nothing_after_payment(
    shared_stack: Any, plan: list[tuple[str, int]]
) -> None:
    local = shared_stack
    number = next(_counter)
    order_id = str(7000000000000000000 + number)
    now = {"t": T0}
    clock.use(lambda: now["t"])

    def post(status: str, topic: str) -> None:
        body = _order(number, status)
        headers = shopify_headers(
            body, local.shopify_secret, topic, webhook_id=f"{order_id}-{topic}"
        )
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
        local.lambdas.drain()

    # Given an unpaid order
    post("pending", "orders/create")
    paid_at: datetime | None = None
    # When scheduler runs, duplicated jobs and the payment interleave
    for kind, value in plan:
        if kind == "tick":
            now["t"] += timedelta(hours=value)
            local.lambdas.run_schedules(now["t"])
            local.lambdas.drain()
        elif kind == "dup":
            sending.send_step(SHOP, order_id, value, now=now["t"])
        elif paid_at is None:
            post("paid", "orders/paid")
            paid_at = now["t"]
    for _ in range(8):  # then a long time passes
        now["t"] += timedelta(days=4)
        local.lambdas.run_schedules(now["t"])
        local.lambdas.drain()

    # Then every step was sent at most once, and never after the payment
    trail = cases.timeline(SHOP, order_id)
    sent = [e for e in trail if e.body["kind"] == "reminder.sent"]
    steps = Counter(e.body["summary"].split()[1] for e in sent)
    assert all(count == 1 for count in steps.values()), steps
    if paid_at is not None:
        assert all(datetime.fromisoformat(e.body["recorded_at"]) <= paid_at for e in sent)
    # And the provider was called exactly as often as the trail says
    email = f"buyer{number}@example.com"
    delivered = [
        m
        for m in sent_messages(local.stack.region)
        if m.to in (email, f"+1503555{number % 100:04d}")
    ]
    assert len(delivered) == len(sent)
