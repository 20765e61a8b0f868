"""Helpers for the admin API and admin page tests: orders to seed cases with, and requests
signed in as a shop's staff member."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import event_json


def pending_order(order_id: int, *, name: str, amount: str, email: str, **extra: Any) -> bytes:
    """The project's pending-order webhook, as another order: its own id, name, customer
    email and amount outstanding (`extra` overrides any other top-level field)."""
    order = event_json("shopify/order_pending.json")
    order.update(
        id=order_id,
        name=name,
        order_number=int(name.lstrip("#")),
        email=email,
        contact_email=email,
        total_outstanding=amount,
        **extra,
    )
    order["customer"] = {**order["customer"], "email": email, "id": order_id + 7}
    return json.dumps(order).encode()


def paid_order(order_id: int, *, name: str, amount: str, email: str) -> bytes:
    """The same order, paid in full."""
    order = json.loads(pending_order(order_id, name=name, amount=amount, email=email))
    order.update(financial_status="paid", total_outstanding="0.00")
    return json.dumps(order).encode()
