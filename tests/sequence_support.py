"""Helpers for tests that drive a case's reminders through the local stack in simulated
time: the clock, the scheduler's runs, Stripe's events delivered, the outbox, the case and
its trail, and the situation each message is worded for, as the sender asks for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from recoup.domain.aggregate import StoredCase
from recoup.domain.payment_situation import Situation
from recoup.services import cases, sending
from recoup.store import cases as case_store
from recoup_local.outbox import sent_messages


def spy_on_wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    """(step index, situation) of every message the sender composes from now on."""
    asked: list[tuple[int, Situation | None]] = []
    compose = sending._compose

    def spy(*args: Any, situation: Situation | None = None) -> Any:
        asked.append((args[3], situation))
        return compose(*args, situation=situation)

    monkeypatch.setattr(sending, "_compose", spy)
    return asked


class Clock:
    """The simulated time a test drives its stack by (`clock.use(lambda: Clock.now)`)."""

    now: datetime = datetime(2026, 11, 2, tzinfo=UTC)


def run_scheduler(local: Any, when: datetime) -> None:
    """The scheduler's run at `when`, and every job it queued worked off."""
    Clock.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def stripe_events(local: Any) -> None:
    """Deliver what the Stripe stand-in sent since the last call to the Stripe webhook."""
    while local.stripe.events:
        event = local.stripe.events.pop(0)
        body, headers = local.stripe.delivery(event, local.stripe_secret)
        answer = local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
        assert answer["statusCode"] == 200, answer
    local.lambdas.drain()


def emails(local: Any) -> list[Any]:
    """The emails in the stack's outbox."""
    return [m for m in sent_messages(local.stack.region) if m.kind == "email"]


def stored(shop: str, case_id: str) -> StoredCase:
    found = case_store.load(shop, case_id)
    assert found is not None
    return found


def trail_kinds(shop: str, case_id: str) -> list[str]:
    """The kinds of the case's trail entries, in order."""
    return [str(e.body["kind"]) for e in cases.timeline(shop, case_id)]
