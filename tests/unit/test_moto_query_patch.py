"""The local stack's DynamoDB Query patch (recoup_local.moto_dynamodb, "dynamodb-query"): Query
answers as moto's own does on the table and its indexes, through every kind of write, and its
work no longer grows with the items outside the partition it reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.backends import get_backend
from moto.dynamodb.models.dynamo_type import DynamoType

from recoup_local import moto_dynamodb, moto_patches

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "cases"
FLAT = "flat"  # no sort key, a global index without a sort key
PATCH = "dynamodb-query"

moto_patches.apply()


def _s(value: str) -> dict[str, str]:
    return {"S": value}


@pytest.fixture
def dynamodb(moto_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}  # type: ignore[typeddict-item]
                for name, kind in [
                    ("pk", "S"),
                    ("sk", "S"),
                    ("due_pk", "S"),
                    ("due_sk", "S"),
                    ("shop", "S"),
                    ("amount", "N"),
                ]
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "due_pk", "KeyType": "HASH"},
                        {"AttributeName": "due_sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["step"]},
                },
                {
                    "IndexName": "by_shop",  # no sort key: the table's orders it
                    "KeySchema": [{"AttributeName": "shop", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "by_amount",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "amount", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName=FLAT,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "kind", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_kind",
                    "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _case(shop: str, n: int, due: int | None = None, amount: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": _s(f"SHOP#{shop}"),
        "sk": _s(f"CASE#{n:04d}"),
        "shop": _s(shop),
        "amount": {"N": str(amount or (n * 7) % 50)},
        "status": _s("open" if n % 3 else "paid"),
        "step": {"N": str(n % 4)},
    }
    if due is not None:
        item["due_pk"] = _s(f"DUE#{due // 2 % 2}")
        item["due_sk"] = _s(f"{1000 + due:05d}#{shop}#{n:04d}")
    return item


def _seed(client: Any) -> None:
    for shop in ("a", "b", "c"):
        for n in range(12):
            client.put_item(TableName=TABLE, Item=_case(shop, n, due=n if n % 2 else None))
    for n in range(8):
        client.put_item(
            TableName=FLAT, Item={"id": _s(f"i{n}"), "kind": _s("odd" if n % 2 else "even")}
        )


def _pages(client: Any, **request: Any) -> list[Any]:
    """Every page of a Query (Limit 5 unless given), as moto answers them."""
    pages: list[Any] = []
    request.setdefault("Limit", 5)
    start = None
    for _ in range(50):
        if start is not None:
            request["ExclusiveStartKey"] = start
        try:
            answer = client.query(**request)
        except ClientError as error:
            pages.append(("error", error.response["Error"]["Code"]))
            return pages
        pages.append(
            (
                answer.get("Items"),
                answer.get("Count"),
                answer.get("ScannedCount"),
                answer.get("LastEvaluatedKey"),
            )
        )
        start = answer.get("LastEvaluatedKey")
        if start is None:
            return pages
    raise AssertionError("did not end")


def _key(name: str, value: str) -> dict[str, Any]:
    return {
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": name},
        "ExpressionAttributeValues": {":v": _s(value)},
    }


QUERIES: list[dict[str, Any]] = [
    {"TableName": TABLE, **_key("pk", "SHOP#a")},
    {"TableName": TABLE, **_key("pk", "SHOP#b"), "ScanIndexForward": False, "Limit": 4},
    {"TableName": TABLE, **_key("pk", "SHOP#none")},
    {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :c)",
        "ExpressionAttributeValues": {
            ":p": _s("SHOP#a"),
            ":c": _s("CASE#000"),
            ":open": _s("open"),
        },
        "FilterExpression": "#s = :open",
        "ExpressionAttributeNames": {"#s": "status"},
    },
    {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":p": _s("SHOP#c"),
            ":a": _s("CASE#0003"),
            ":b": _s("CASE#0009"),
        },
        "ProjectionExpression": "sk, amount",
        "ConsistentRead": True,
    },
    {"TableName": TABLE, "IndexName": "due", **_key("due_pk", "DUE#1")},
    {"TableName": TABLE, "IndexName": "due", **_key("due_pk", "DUE#0"), "Limit": 2},
    {
        "TableName": TABLE,
        "IndexName": "due",
        "KeyConditionExpression": "due_pk = :p AND due_sk < :t",
        "ExpressionAttributeValues": {":p": _s("DUE#1"), ":t": _s("01006")},
        "ScanIndexForward": False,
    },
    {"TableName": TABLE, "IndexName": "due", **_key("due_pk", "DUE#1"), "ConsistentRead": True},
    {"TableName": TABLE, "IndexName": "by_shop", **_key("shop", "b")},
    {"TableName": TABLE, "IndexName": "by_shop", **_key("shop", "c"), "ScanIndexForward": False},
    {"TableName": TABLE, "IndexName": "by_shop", **_key("shop", "z")},
    {
        "TableName": TABLE,
        "IndexName": "by_amount",
        "KeyConditionExpression": "pk = :p AND amount > :n",
        "ExpressionAttributeValues": {":p": _s("SHOP#a"), ":n": {"N": "20"}},
    },
    {"TableName": TABLE, "IndexName": "nope", **_key("due_pk", "DUE#1")},
    {
        "TableName": TABLE,
        "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [_s("SHOP#b")]},
            "sk": {"ComparisonOperator": "GT", "AttributeValueList": [_s("CASE#0004")]},
        },
    },
    {"TableName": TABLE, "Select": "COUNT", **_key("pk", "SHOP#a")},
    {"TableName": FLAT, **_key("id", "i3")},
    {"TableName": FLAT, "IndexName": "by_kind", **_key("kind", "odd"), "Limit": 3},
]


def _answers(client: Any) -> list[Any]:
    return [_pages(client, **dict(query)) for query in QUERIES]


def _same_as_motos_own(client: Any) -> list[Any]:
    """Every query's pages with the patch and with moto's own Query; they must be equal."""
    patched = _answers(client)
    with moto_patches.unpatched(PATCH):
        own = _answers(client)
    assert patched == own
    return patched


def _update(client: Any, shop: str, n: int, expression: str, **values: Any) -> None:
    client.update_item(
        TableName=TABLE,
        Key={"pk": _s(f"SHOP#{shop}"), "sk": _s(f"CASE#{n:04d}")},
        UpdateExpression=expression,
        **({"ExpressionAttributeValues": values} if values else {}),
    )


def test_the_patch_is_applied_with_its_writes() -> None:
    assert "dynamodb-query" in moto_patches.apply()
    from moto.dynamodb.models.table import Table

    assert Table.query is moto_dynamodb.query


def test_query_answers_as_motos_own_through_every_kind_of_write(dynamodb: Any) -> None:
    _seed(dynamodb)
    first = _same_as_motos_own(dynamodb)  # builds the index maps
    assert first[0][0][1] == 5 and len(first[0]) == 3  # 12 cases by 5: three pages
    assert first[8] == [("error", "ValidationException")]  # consistent read on a global index
    # Updates that move items between index partitions, add and remove index keys
    _update(dynamodb, "a", 1, "SET due_pk = :p", **{":p": _s("DUE#0")})
    _update(dynamodb, "a", 3, "REMOVE due_pk, due_sk")
    _update(dynamodb, "b", 2, "SET due_pk = :p, due_sk = :s", **{":p": _s("DUE#1"), ":s": _s("0")})
    _update(dynamodb, "c", 4, "SET shop = :s", **{":s": _s("b")})
    _update(
        dynamodb,
        "c",
        99,
        "SET shop = :s, due_pk = :p, due_sk = :k",
        **{
            ":s": _s("c"),
            ":p": _s("DUE#1"),
            ":k": _s("99999"),
        },
    )  # an update that creates the item
    # Puts that replace an item (losing its index keys) or add one; deletes
    dynamodb.put_item(TableName=TABLE, Item=_case("a", 5))
    dynamodb.put_item(TableName=TABLE, Item=_case("a", 40, due=40))
    dynamodb.delete_item(TableName=TABLE, Key={"pk": _s("SHOP#a"), "sk": _s("CASE#0007")})
    dynamodb.delete_item(TableName=FLAT, Key={"id": _s("i1")})
    dynamodb.put_item(TableName=FLAT, Item={"id": _s("i0"), "kind": _s("odd")})
    _same_as_motos_own(dynamodb)
    # A transaction that commits, one that is cancelled after moving an item, batch writes
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": _case("b", 50, due=51)}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": _s("SHOP#b"), "sk": _s("CASE#0001")},
                    "UpdateExpression": "SET due_pk = :p",
                    "ExpressionAttributeValues": {":p": _s("DUE#0")},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": {"pk": _s("SHOP#b"), "sk": _s("CASE#0003")}}},
        ]
    )
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": _s("SHOP#c"), "sk": _s("CASE#0005")},
                        "UpdateExpression": "SET due_pk = :p, shop = :s",
                        "ExpressionAttributeValues": {":p": _s("DUE#0"), ":s": _s("a")},
                    }
                },
                {
                    "Delete": {
                        "TableName": TABLE,
                        "Key": {"pk": _s("SHOP#c"), "sk": _s("CASE#0009")},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": _case("c", 60, due=60)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": _s("SHOP#c"), "sk": _s("CASE#0000")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    dynamodb.batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": _case("c", 70, due=71)}},
                {"DeleteRequest": {"Key": {"pk": _s("SHOP#c"), "sk": _s("CASE#0011")}}},
            ]
        }
    )
    dynamodb.execute_statement(
        Statement="UPDATE \"cases\" SET shop = 'a' WHERE pk = 'SHOP#b' AND sk = 'CASE#0006'"
    )
    after = _same_as_motos_own(dynamodb)
    moved = [item["sk"]["S"] for page in after[9] for item in page[0]]  # by_shop, shop b
    assert "CASE#0004" in moved  # moved from shop c by its update
    assert "CASE#0006" not in moved  # moved to shop a by PartiQL


def test_a_query_reads_only_its_partition(dynamodb: Any) -> None:
    _seed(dynamodb)
    _same_as_motos_own(dynamodb)
    moto_dynamodb.counters.reset()
    _pages(dynamodb, TableName=TABLE, **_key("pk", "SHOP#a"), Limit=100)
    _pages(dynamodb, TableName=TABLE, IndexName="due", **_key("due_pk", "DUE#1"), Limit=100)
    _pages(dynamodb, TableName=TABLE, IndexName="by_shop", **_key("shop", "c"), Limit=100)
    # 12 cases of shop a; the 9 items due in DUE#1 (odd n of three shops... 6 odd, 3 shops: 18
    # due in total, half in each shard); the 12 cases of shop c
    assert moto_dynamodb.counters.candidates == 12 + 9 + 12
    assert moto_dynamodb.counters.whole_table == 0
    # A deleted item leaves its index partition (the map does not keep it as a candidate)
    for n in (0, 1):
        dynamodb.delete_item(TableName=TABLE, Key={"pk": _s("SHOP#c"), "sk": _s(f"CASE#{n:04d}")})
    moto_dynamodb.counters.reset()
    _pages(dynamodb, TableName=TABLE, IndexName="by_shop", **_key("shop", "c"), Limit=100)
    assert moto_dynamodb.counters.candidates == 10


def _fill(count: int) -> None:
    """Items in other partitions and index partitions, straight into the backend."""
    backend = get_backend("dynamodb")[ACCOUNT][REGION]
    table = backend.tables[TABLE]
    start = sum(len(p) for p in table.items.values())
    for n in range(start, start + count):
        item = _case(f"bulk{n}", n, due=n)
        item["due_pk"] = _s(f"DUE#bulk{n % 7}")
        backend.put_item(TABLE, item)


class Comparisons:
    """Key comparisons (DynamoType ==, !=, <, ...) made while a call runs: sorting and
    matching items costs these, reading a dict does not."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
            monkeypatch.setattr(DynamoType, name, self._counting(getattr(DynamoType, name)))
        monkeypatch.setattr(DynamoType, "__hash__", DynamoType.__hash__)

    def _counting(self, original: Any) -> Any:
        def compare(a: Any, b: Any) -> Any:
            self.count += 1
            return original(a, b)

        return compare

    def of(self, client: Any, **request: Any) -> int:
        before = self.count
        client.query(**request)
        return self.count - before


def _costs(client: Any, comparisons: Comparisons) -> list[int]:
    return [
        comparisons.of(client, TableName=TABLE, **_key("pk", "SHOP#a")),
        comparisons.of(client, TableName=TABLE, IndexName="due", **_key("due_pk", "DUE#1")),
        comparisons.of(client, TableName=TABLE, IndexName="by_shop", **_key("shop", "b")),
        comparisons.of(
            client,
            TableName=TABLE,
            IndexName="by_amount",
            KeyConditionExpression="pk = :p AND amount > :n",
            ExpressionAttributeValues={":p": _s("SHOP#a"), ":n": {"N": "20"}},
        ),
    ]


def test_the_work_of_a_query_does_not_grow_with_the_table(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(dynamodb)
    _same_as_motos_own(dynamodb)  # the maps are built
    comparisons = Comparisons(monkeypatch)
    patched, own = {}, {}
    for size in (10, 2_000):
        _fill(size - (10 if size > 10 else 0))
        patched[size] = _costs(dynamodb, comparisons)
        with moto_patches.unpatched(PATCH):
            own[size] = _costs(dynamodb, comparisons)
    # moto's own: every Query sorts or walks the whole table (the cause)
    for small, large in zip(own[10], own[2_000], strict=True):
        assert large > 20 * small
    # patched: the same comparisons with 10 or 2,000 items elsewhere in the table
    assert patched[10] == patched[2_000]
