"""Point the models at the configured table, through one botocore client (once per process)."""

from __future__ import annotations

from functools import cache

from pynamodb.connection import Connection

from recoup.settings import get_settings
from recoup.store.models import MODELS


@cache
def bind() -> None:
    settings = get_settings()
    shared = _shared()
    for model in MODELS:
        model.Meta.table_name = settings.table_name
        model.Meta.region = settings.region
        model._connection = None  # PynamoDB caches the connection per model
        # Each model's connection would build a botocore client of its own (a session, the
        # service model parsed again: ~10 MB and tens of ms each); they share this one.
        model._get_connection().connection._client = shared.client


def connection() -> Connection:
    """The one connection transactions and batch reads use, for the container's life, whose
    client every model's connection shares: a new one per transaction would make botocore
    build a client (parse its service model) every time."""
    bind()
    return _shared()


@cache
def _shared() -> Connection:
    return Connection(region=get_settings().region)


def unbind() -> None:
    """Forget the binding (tests and the local stack rebind to a new table)."""
    bind.cache_clear()
    _shared.cache_clear()
