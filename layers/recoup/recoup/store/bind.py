"""Point the models at the configured table (once per process)."""

from __future__ import annotations

from functools import cache

from pynamodb.connection import Connection

from recoup.settings import get_settings
from recoup.store.models import MODELS


@cache
def bind() -> None:
    settings = get_settings()
    for model in MODELS:
        model.Meta.table_name = settings.table_name
        model.Meta.region = settings.region
        model._connection = None  # PynamoDB caches the connection per model


@cache
def connection() -> Connection:
    """The one connection transactions use, for the container's life: a new one per
    transaction would make botocore build a client (parse its service model) every time."""
    bind()
    return Connection(region=get_settings().region)


def unbind() -> None:
    """Forget the binding (tests and the local stack rebind to a new table)."""
    bind.cache_clear()
    connection.cache_clear()
