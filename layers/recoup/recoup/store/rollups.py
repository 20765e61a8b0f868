"""The shop's figures as rollup items: counters per UTC day, currency and shard, added to in
the same transaction as the case change they follow (domain/rollup.py).

`ROLLUP#<shop>#<shard>` / `<day>#<currency>`: a case always adds to the same shard (by its
id), so a busy day's writes spread over ROLLUP_SHARDS partitions and items instead of one
hot item; a dashboard reads, per shard, one Query over the period's days: the items read
grow with the days and currencies asked for, never with the cases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Update

from recoup.domain.rollup import Counters, RollupKey
from recoup.settings import get_settings
from recoup.store import keys
from recoup.store.models import ROLLUP, RollupItem, shop_part

# Each case change adds to one item of its opening day: with 16 shards a shop opening 1,000
# cases a second updates each item about 60 times a second (docs/data-model.md).
ROLLUP_SHARDS = 16
_KEYS = frozenset({"pk", "sk", "shop_part", "shop_sort"})


def rollup_pk(shop: str, shard: int) -> str:
    return f"ROLLUP#{shop}#{shard}"


def shard_of(case_id: str) -> int:
    return hashlib.sha256(case_id.encode()).digest()[1] % ROLLUP_SHARDS


def _sk(key: RollupKey) -> str:
    return f"{key.day.isoformat()}#{key.currency}"


def updates(
    shop: str, case_id: str, deltas: dict[RollupKey, Counters]
) -> list[tuple[RollupItem, list[Any]]]:
    """The UpdateItem actions that add these deltas, one per rollup item touched."""
    return updates_in(shop, shard_of(case_id), deltas)


def updates_in(
    shop: str, shard: int, deltas: dict[RollupKey, Counters]
) -> list[tuple[RollupItem, list[Any]]]:
    out: list[tuple[RollupItem, list[Any]]] = []
    pk = rollup_pk(shop, shard)
    for key, counters in sorted(deltas.items()):
        sk = _sk(key)
        item = RollupItem(pk, sk)
        actions: list[Any] = [
            Path([name]).add(Value(value, attribute=NumberAttribute()))
            for name, value in sorted(counters.items())
        ]
        actions += [
            RollupItem.shop_part.set(shop_part(shop, f"{pk}#{sk}")),
            RollupItem.shop_sort.set(f"{ROLLUP}{pk}#{sk}"),
        ]
        out.append((item, actions))
    return out


def read(shop: str, start: date | None, end: date | None) -> Iterator[tuple[RollupKey, Counters]]:
    """Every rollup item of the shop for the days in [start, end) (either bound open): one
    paginated Query per shard, eventually consistent (a dashboard may lag a second)."""
    lower = start.isoformat() if start else "0"
    upper = end.isoformat() if end else "9"  # "<day>#<currency>" sorts below "<end>"
    table = get_settings().table_name
    for shard in range(ROLLUP_SHARDS):
        pages = (
            keys.client()
            .get_paginator("query")
            .paginate(
                TableName=table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lower AND :upper",
                ExpressionAttributeValues={
                    ":pk": {"S": rollup_pk(shop, shard)},
                    ":lower": {"S": lower},
                    ":upper": {"S": upper},
                },
            )
        )
        for item in (item for page in pages for item in page.get("Items", [])):
            day, currency = item["sk"]["S"].split("#", 1)
            if day >= upper:
                continue
            counters = {
                name: int(value["N"])
                for name, value in item.items()
                if name not in _KEYS and "N" in value
            }
            yield RollupKey(date.fromisoformat(day), currency), counters


def raw_updates(shop: str, case_id: str, deltas: dict[RollupKey, Counters]) -> list[dict[str, Any]]:
    """The same updates as TransactWriteItems entries for the plain client (the migration)."""
    table = get_settings().table_name
    entries: list[dict[str, Any]] = []
    for item, actions in updates(shop, case_id, deltas):
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        expression = Update(*actions).serialize(names, values)
        entries.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": item.pk}, "sk": {"S": item.sk}},
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": {v: k for k, v in names.items()},
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return entries
