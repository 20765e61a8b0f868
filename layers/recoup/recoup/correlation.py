"""The correlation id: one id that every log line, queued message and sent email of one flow
carries, from the webhook or scheduler run that started it to the reminder it sent.

Where it comes from: a Shopify webhook's X-Shopify-Webhook-Id, a Stripe event's id (both set
by the intake once the delivery is verified), the scheduler run's execution id, an SNS
notification's MessageId, and otherwise the Lambda request id (the admin API and the other
HTTP functions, CloudWatch Logs deliveries). `recoup.queue` attaches it to every message it
sends (the `correlation_id` message attribute) and `recoup.jobs` sets it again for each record
it takes, so a job carries the id of the flow that queued it.

The id is kept in a context variable (the local stack runs invocations in parallel threads),
given to Powertools' logger (`correlation_id` on every line) and added to the shared metric
set's metadata: a field of its EMF record, searchable in the logs, not a dimension. That set
is flushed once per invocation, so for an SQS batch it lists the ids of the batch's records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from recoup.observability import logger, metrics

MESSAGE_ATTRIBUTE = "correlation_id"  # the SQS message attribute
METADATA_KEY = "correlation_id"  # the field of the metric set's EMF record
MAX_LENGTH = 128  # ids come from headers and payloads: kept short in logs and attributes
MAX_IDS_IN_METRICS = 10  # an SQS batch's records (the template's BatchSize)

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_scoped: ContextVar[bool] = ContextVar("correlation_scoped", default=False)
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")

Handler = TypeVar("Handler", bound=Callable[..., Any])


def current() -> str | None:
    """The id of the flow being handled, if one is set."""
    return _current.get()


def clean(value: object) -> str | None:
    """An id as logged and queued: printable ASCII without spaces, at most MAX_LENGTH
    characters; None when nothing is left."""
    text = _UNPRINTABLE.sub("", str(value or ""))[:MAX_LENGTH]
    return text or None


@contextmanager
def scope(value: object) -> Iterator[str | None]:
    """One unit of work (an invocation, an SQS record) under `value`; the id before it is
    restored after, so a record's id never leaks into the next."""
    cleaned = clean(value)
    token, scoped = _current.set(cleaned), _scoped.set(True)
    _announce(cleaned)
    try:
        yield cleaned
    finally:
        _current.reset(token)
        _scoped.reset(scoped)
        logger.set_correlation_id(_current.get())


@contextmanager
def invocation(value: object) -> Iterator[str | None]:
    """A whole Lambda invocation under `value` (None for an SQS batch, whose records bring
    their own). Metadata an earlier invocation left is dropped first: Powertools clears the
    metric set only when it flushes one, and an invocation that added no metric flushes
    nothing."""
    metrics.metadata_set.pop(METADATA_KEY, None)
    with scope(value) as cleaned:
        yield cleaned


def use(value: object) -> None:
    """Replace the id within the enclosing scope, once the request names a better one (a
    webhook's own id, known after its signature is verified). Outside a scope (a service
    called directly) it does nothing: nothing would end it."""
    cleaned = clean(value)
    if cleaned is None or not _scoped.get():
        return
    _current.set(cleaned)
    _announce(cleaned)


def request_id(context: object) -> str | None:
    """The Lambda request id of an invocation's context."""
    return clean(getattr(context, "aws_request_id", None))


def handler(
    id_of: Callable[[dict[str, Any], Any], object] = lambda _event, context: request_id(context),
) -> Callable[[Handler], Handler]:
    """Run a Lambda handler under the id `id_of(event, context)` finds (by default the Lambda
    request id). Put it below `logger.inject_lambda_context(clear_state=True)`, which would
    otherwise clear the id it sets."""

    def decorate(function: Handler) -> Handler:
        @wraps(function)
        def wrapper(event: dict[str, Any], context: Any) -> Any:
            with invocation(id_of(event, context)):
                return function(event, context)

        return wrapper  # type: ignore[return-value]

    return decorate


def _announce(value: str | None) -> None:
    logger.set_correlation_id(value)
    if value is not None:
        _add_to_metrics(value)


def _add_to_metrics(value: str) -> None:
    """The id as metadata of the shared metric set: one id, or the ids of an SQS batch."""
    held = metrics.metadata_set.get(METADATA_KEY)
    if held is None or held == value:
        metrics.add_metadata(key=METADATA_KEY, value=value)
        return
    ids = list(held) if isinstance(held, list) else [held]
    if value not in ids and len(ids) < MAX_IDS_IN_METRICS:
        metrics.add_metadata(key=METADATA_KEY, value=[*ids, value])
