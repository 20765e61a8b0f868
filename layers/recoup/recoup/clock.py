"""The current time, UTC. The local stack's simulated month replaces the source in-process;
Lambda never does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    return _source() if _source is not None else datetime.now(tz=UTC)


def use(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the real one)."""
    global _source
    _source = source
