"""Helpers for tests that drive a case's reminders through the local stack in simulated
time: the situation each message is worded for, as the sender asks for it."""

from __future__ import annotations

from typing import Any

import pytest

from recoup.domain.payment_situation import Situation
from recoup.services import sending


def spy_on_wording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Situation | None]]:
    """(step index, situation) of every message the sender composes from now on."""
    asked: list[tuple[int, Situation | None]] = []
    compose = sending._compose

    def spy(*args: Any, situation: Situation | None = None) -> Any:
        asked.append((args[3], situation))
        return compose(*args, situation=situation)

    monkeypatch.setattr(sending, "_compose", spy)
    return asked
