"""Items of any type by key in one BatchGetItem through the container's connection (its
botocore client, so no second client is built), with unprocessed keys retried."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from recoup.settings import get_settings
from recoup.store.bind import connection

Key = tuple[str, str]  # (pk, sk)
MAX_ROUNDS = 8  # retries of unprocessed keys (throttling), with growing pauses
MAX_KEYS = 100  # BatchGetItem's limit


def get_many(keys: Sequence[Key], *, consistent: bool = True) -> dict[Key, dict[str, Any]]:
    """The raw items found for these keys (missing keys are left out)."""
    wanted = list(dict.fromkeys(keys))  # a request may not name a key twice
    if len(wanted) > MAX_KEYS:
        raise ValueError(f"{len(wanted)} keys: one BatchGetItem takes at most {MAX_KEYS}")
    found: dict[Key, dict[str, Any]] = {}
    if not wanted:
        return found
    table = get_settings().table_name
    request: dict[str, Any] = {
        table: {
            "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted],
            "ConsistentRead": consistent,
        }
    }
    for attempt in range(MAX_ROUNDS):
        client: Any = connection().client
        response = client.batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError(f"keys still unprocessed after {MAX_ROUNDS} rounds")
