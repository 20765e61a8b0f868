"""The one-off upgrades' read: every case item (of one shop, or all) that a filter says an
upgrade has not reached yet, by one paginated Scan (`recoup count-figures`, `list-keys`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from recoup import aws
from recoup.settings import get_settings
from recoup.store.models import CASE_SK


def case_items(
    shop: str | None, condition: str, values: Mapping[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """The raw case items matching `condition` (a FilterExpression over them, with its own
    `values`), page by page."""
    prefix = f"CASE#{shop}#" if shop else "CASE#"
    pages = (
        aws.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=get_settings().table_name,
            FilterExpression=f"sk = :case AND begins_with(pk, :prefix) AND ({condition})",
            ExpressionAttributeValues={
                ":case": {"S": CASE_SK},
                ":prefix": {"S": prefix},
                **(values or {}),
            },
        )
    )
    for page in pages:
        yield from page.get("Items", [])
