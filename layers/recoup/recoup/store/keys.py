"""Items by key alone, whatever their type: list a partition, a key prefix or a partition
of a keys-only index, delete in batches. The privacy worker erases with these; the typed
models cover everything else.

Listing is a paginated Query that reads keys only; deleting is BatchWriteItem, 25 keys per
call, with the unprocessed ones retried. Both are idempotent: deleting a key that is gone
is not an error, so an interrupted erasure is finished by running it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from recoup import aws
from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

Key = tuple[str, str]  # (pk, sk)
BATCH = 25  # BatchWriteItem's limit
MAX_ROUNDS = 8  # retries of unprocessed items (throttling), with growing pauses


def list_keys(pk: str, prefix: str = "") -> Iterator[Key]:
    """The keys of a partition's items, or of those whose sort key starts with `prefix`."""
    condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
    values = {":pk": {"S": pk}, **({":prefix": {"S": prefix}} if prefix else {})}
    return _keys(
        KeyConditionExpression=condition, ExpressionAttributeValues=values, ConsistentRead=True
    )


def list_index_keys(index: str, attribute: str, value: str) -> Iterator[Key]:
    """The table keys of the items in one partition of a keys-only index (eventually
    consistent, like every index read)."""
    return _keys(
        IndexName=index,
        KeyConditionExpression="#part = :part",
        ExpressionAttributeNames={"#part": attribute},
        ExpressionAttributeValues={":part": {"S": value}},
    )


def _keys(**query: Any) -> Iterator[Key]:
    """The (pk, sk) of every item a paginated Query finds."""
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(TableName=get_settings().table_name, ProjectionExpression="pk, sk", **query)
    )
    for page in pages:
        for item in page.get("Items", []):
            yield item["pk"]["S"], item["sk"]["S"]


def delete(found: Iterable[Key]) -> int:
    """Delete these items, streaming (any already gone count too); returns how many keys."""
    count = 0
    batch: dict[Key, None] = {}  # one batch may not name a key twice
    for key in found:
        batch[key] = None
        if len(batch) == BATCH:
            count += _delete_batch(list(batch))
            batch = {}
    if batch:
        count += _delete_batch(list(batch))
    return count


def delete_prefix(pk: str, prefix: str) -> int:
    return delete(list_keys(pk, prefix))


def _delete_batch(batch: list[Key]) -> int:
    table = get_settings().table_name
    requests: list[WriteRequestTypeDef] = [
        {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in batch
    ]
    for attempt in range(MAX_ROUNDS):
        response = aws.client("dynamodb").batch_write_item(RequestItems={table: requests})
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        requests = cast("list[WriteRequestTypeDef]", unprocessed)
        if not requests:
            return len(batch)
        time.sleep(min(0.05 * 2**attempt, 2.0))
    raise RuntimeError(f"{len(requests)} items were not deleted after {MAX_ROUNDS} rounds")
