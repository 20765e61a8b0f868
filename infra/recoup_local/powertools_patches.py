"""The event Powertools' HTTP resolvers are resolving, kept per thread on the local stack.

Powertools' `BaseRouter.resolve` stores the current event on the router *class*
(`BaseRouter.current_event = ...`), and every resolver reads it from there: one value per
process. Lambda runs one invocation per process at a time, so that is safe there; the local
stack runs several instances of the HTTP functions in one process (`recoup_local.lambdas`),
where two concurrent requests would read each other's event (a body checked against the
other request's signature, a route answered with the other's JSON).

`apply()` keeps that one value per thread instead: the router class gets a metaclass whose
`current_event` (read and written at class level) is a thread-local, and an instance
property that reads and writes the same thread-local. Each invocation runs on one thread,
so each sees its own event; with one thread the behaviour is Powertools' own. Applied only
by the local stack, never in a deployed function.
"""

from __future__ import annotations

import threading
from abc import ABCMeta
from typing import Any

_local = threading.local()
_applied = False


def _get() -> Any:
    try:
        return _local.event
    except AttributeError:
        raise AttributeError("current_event") from None


def _set(value: Any) -> None:
    _local.event = value


class _PerThreadEvent(ABCMeta):
    """The router class's metaclass: `current_event` at class level is per thread."""

    @property
    def current_event(cls) -> Any:
        return _get()

    @current_event.setter
    def current_event(cls, value: Any) -> None:
        _set(value)


def apply() -> None:
    global _applied
    if _applied:
        return
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if type(BaseRouter) is not ABCMeta or "current_event" in vars(BaseRouter):
        # Powertools changed how it keeps the event: this patch would be wrong, not useful.
        raise RuntimeError("Powertools' BaseRouter is not what recoup_local patches")
    # The instance side first (set through the current metaclass), then the class side.
    BaseRouter.current_event = property(  # type: ignore[assignment]
        lambda _self: _get(), lambda _self, value: _set(value)
    )
    BaseRouter.__class__ = _PerThreadEvent  # type: ignore[method-assign,assignment]
    _applied = True
