"""Helpers for tests that drive a case's reminders through the local stack in simulated
time: the clock, the shop's policy saved, the scheduler's runs, Stripe's events delivered,
the outbox, the case and its trail, and the situation each message is worded for, as the
sender asks for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from recoup import clock
from recoup.domain.aggregate import StoredCase
from recoup.domain.payment_situation import Situation
from recoup.services import cases, sending
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies
from recoup_local.outbox import sent_messages
from recoup_local.stack import LOCAL_STRIPE_KEYS
from tests.conftest import SHOP


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


@contextmanager
def simulated_time(start: datetime) -> Iterator[type[Clock]]:
    """Recoup's clock reads `Clock.now`, set to `start`, until the block ends."""
    Clock.now = start
    clock.use(lambda: Clock.now)
    try:
        yield Clock
    finally:
        clock.use(None)


def with_platform_stripe(
    monkeypatch: pytest.MonkeyPatch, stand_in: Any, now: Callable[[], datetime]
) -> None:
    """Recoup configured with the platform's Stripe keys, and the Stripe stand-in dating
    what it does by `now`."""
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    stand_in.clock = lambda: now().timestamp()


def save_policy(now: datetime, **changes: Any) -> None:
    """The shop's reminder policy with `changes`, saved as its next version at `now`."""
    stored_doc = policies.load_doc(SHOP, policies.REMINDERS)
    version = stored_doc[0] + 1 if stored_doc else 1
    policies.save(SHOP, replace(policies.load(SHOP), version=version, **changes), now=now)


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
