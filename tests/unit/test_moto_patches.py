"""The local stack's moto patches (recoup_local.moto_patches): a cancelled transaction still
leaves every item as it was, with the reasons moto gives, and a transaction copies the items
it touches instead of whole tables."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.backends import get_backend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item

from recoup_local import moto_patches

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "patched"
FLAT = "flat"  # a table without a sort key

moto_patches.apply()
PATCHED = DynamoDBBackend.transact_write_items


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
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName=FLAT,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


# Each case runs on moto's own implementation too: the patch must answer exactly as it does.
@pytest.fixture(params=["patched", "moto"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    chosen = (
        PATCHED
        if request.param == "patched"
        else moto_patches.ORIGINALS.get("dynamodb-transactions")
    )
    if chosen is None:
        pytest.skip("moto's own transact_write_items is not the one the patch replaced")
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", chosen)
    return str(request.param)


def _key(pk: str, sk: str | None = None) -> dict[str, Any]:
    key: dict[str, Any] = {"pk": {"S": pk}}
    if sk is not None:
        key["sk"] = {"S": sk}
    return key


def _put(table: str, pk: str, sk: str | None = None, **attrs: str) -> dict[str, Any]:
    item = _key(pk, sk) | {name: {"S": value} for name, value in attrs.items()}
    return {"Put": {"TableName": table, "Item": item}}


def _table_state(client: Any, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i.get("sk", {}).get("S", "")))


def _stream_records() -> int:
    shard = get_backend("dynamodb")[ACCOUNT][REGION].tables[TABLE].stream_shard
    assert shard is not None
    return len(shard.items)


def _seed(client: Any) -> None:
    client.put_item(TableName=TABLE, Item=_key("SHOP#a", "CASE#1") | {"status": {"S": "open"}})
    client.put_item(TableName=TABLE, Item=_key("SHOP#a", "CASE#2") | {"status": {"S": "open"}})
    client.put_item(TableName=TABLE, Item=_key("SHOP#b", "CASE#1") | {"status": {"S": "open"}})
    client.put_item(TableName=FLAT, Item=_key("MARK#1") | {"n": {"N": "1"}})
    client.put_item(TableName=FLAT, Item=_key("MARK#2") | {"n": {"N": "2"}})


def _cancelled(client: Any, items: list[dict[str, Any]]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=items)
    return raised.value


def test_the_patch_applies_to_the_installed_moto() -> None:
    # A moto upgrade that changes transact_write_items makes the patch stand aside: this
    # test then says so, and the patch is looked at again (or dropped, if upstream took it).
    assert moto_patches.apply() == {
        "dynamodb-transactions",
        "dynamodb-query",
        "sqs-messages",
        "server-backend-lookup",
        "serialised-actions",
        "client-creation",
    }
    assert DynamoDBBackend.transact_write_items is moto_patches.transact_write_items


def test_a_failed_last_condition_leaves_every_earlier_write_unapplied(
    dynamodb: Any, implementation: str
) -> None:
    # Given items in a table with a sort key (and a stream) and in one without
    _seed(dynamodb)
    before = {t: _table_state(dynamodb, t) for t in (TABLE, FLAT)}
    records = _stream_records()
    # When one transaction puts new items (one in a new partition), updates, deletes, and its
    # last condition fails
    error = _cancelled(
        dynamodb,
        [
            _put(TABLE, "SHOP#a", "CASE#3", status="open"),
            _put(TABLE, "SHOP#new", "CASE#1", status="open"),
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("SHOP#a", "CASE#1"),
                    "UpdateExpression": "SET #s = :paid",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":paid": {"S": "paid"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": _key("SHOP#a", "CASE#2")}},
            {
                "Update": {
                    "TableName": FLAT,
                    "Key": _key("MARK#1"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": FLAT, "Key": _key("MARK#2")}},
            _put(FLAT, "MARK#3"),
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("SHOP#b", "CASE#1"),
                    "ConditionExpression": "#s = :closed",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":closed": {"S": "closed"}},
                }
            },
        ],
    )
    # Then nothing was applied: every item is as it was, no stream record stays behind
    assert error.response["Error"]["Code"] == "TransactionCanceledException"
    assert {t: _table_state(dynamodb, t) for t in (TABLE, FLAT)} == before
    assert _stream_records() == records
    # And the reasons are moto's: one per item, only the last failed
    reasons = error.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None"] * 7 + ["ConditionalCheckFailed"]
    assert reasons[-1]["Message"] == "The conditional request failed"
    # And the items can be written afterwards as usual
    dynamodb.transact_write_items(TransactItems=[_put(TABLE, "SHOP#a", "CASE#3")])
    assert len(_table_state(dynamodb, TABLE)) == 4


def test_a_failed_condition_returns_the_old_item_when_asked(
    dynamodb: Any, implementation: str
) -> None:
    _seed(dynamodb)
    before = _table_state(dynamodb, TABLE)
    error = _cancelled(
        dynamodb,
        [
            _put(TABLE, "SHOP#a", "CASE#9"),
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": _key("SHOP#a", "CASE#1") | {"status": {"S": "paid"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            _put(TABLE, "SHOP#a", "CASE#10"),
        ],
    )
    reasons = error.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert dict(reasons[1]["Item"]) == _key("SHOP#a", "CASE#1") | {"status": {"S": "open"}}
    assert _table_state(dynamodb, TABLE) == before


def test_an_invalid_request_rolls_back_what_it_applied_before(
    dynamodb: Any, implementation: str
) -> None:
    # Given a transaction naming one key twice, after a put of a new item and an update
    _seed(dynamodb)
    before = _table_state(dynamodb, TABLE)
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                _put(TABLE, "SHOP#a", "CASE#3"),
                _put(TABLE, "SHOP#a", "CASE#1", status="paid"),
                _put(TABLE, "SHOP#a", "CASE#1", status="held"),
            ]
        )
    # Then it is refused as invalid, and neither earlier write stays
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert _table_state(dynamodb, TABLE) == before


def test_a_transaction_that_succeeds_applies_every_item(dynamodb: Any, implementation: str) -> None:
    _seed(dynamodb)
    dynamodb.transact_write_items(
        TransactItems=[
            _put(TABLE, "SHOP#a", "CASE#3"),
            {"Delete": {"TableName": TABLE, "Key": _key("SHOP#a", "CASE#2")}},
            {
                "Update": {
                    "TableName": FLAT,
                    "Key": _key("MARK#1"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    cases = [(i["pk"]["S"], i["sk"]["S"]) for i in _table_state(dynamodb, TABLE)]
    assert cases == [("SHOP#a", "CASE#1"), ("SHOP#a", "CASE#3"), ("SHOP#b", "CASE#1")]
    marks = {i["pk"]["S"]: i["n"]["N"] for i in _table_state(dynamodb, FLAT)}
    assert marks == {"MARK#1": "2", "MARK#2": "2"}


def _fill(client: Any, count: int) -> None:
    backend = get_backend("dynamodb")[ACCOUNT][REGION]
    start = len(backend.tables[TABLE])
    for n in range(
        start, start + count
    ):  # straight into the backend: the same items, without the HTTP
        backend.put_item(TABLE, _key("SHOP#bulk", f"CASE#{n:06d}") | {"status": {"S": "open"}})


def _items_copied_by(client: Any, monkeypatch: pytest.MonkeyPatch, run: Callable[[], None]) -> int:
    """How many DynamoDB items were deep-copied while `run` ran: copying a table copies each
    of its items through `Item.__deepcopy__`, as copying one item does."""
    copied = 0
    original = Item.__deepcopy__

    def counting(self: Item, memo: dict[int, Any]) -> Item:
        nonlocal copied
        copied += 1
        return original(self, memo)

    with monkeypatch.context() as patch:
        patch.setattr(Item, "__deepcopy__", counting)
        run()
    return copied


def _one_order(client: Any, n: int, fail: bool) -> Callable[[], None]:
    """A transaction shaped like the worker's: a new case, an audit entry, a mark updated."""
    items = [
        _put(TABLE, f"SHOP#o{n}", "CASE#1", status="open"),
        _put(TABLE, f"SHOP#o{n}", "AUDIT#1", event="opened"),
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("SHOP#a", "CASE#1"),
                "UpdateExpression": "SET seen = :n",
                "ExpressionAttributeValues": {":n": {"S": str(n)}},
                "ConditionExpression": "attribute_not_exists(paid)"
                if not fail
                else "attribute_exists(paid)",
            }
        },
    ]

    def run() -> None:
        if not fail:
            client.transact_write_items(TransactItems=items)
            return
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=items)

    return run


@pytest.mark.parametrize("fail", [False, True], ids=["committed", "cancelled"])
def test_the_items_a_transaction_copies_do_not_grow_with_the_table(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    _seed(dynamodb)
    copies: dict[str, list[int]] = {"patched": [], "moto": []}
    original = moto_patches.ORIGINALS["dynamodb-transactions"]
    for size in (10, 2_000):
        table = get_backend("dynamodb")[ACCOUNT][REGION].tables[TABLE]
        _fill(dynamodb, size - len(table))
        for name, chosen in (("patched", PATCHED), ("moto", original)):
            monkeypatch.setattr(DynamoDBBackend, "transact_write_items", chosen)
            order = _one_order(
                dynamodb, len(copies[name]) + (0 if name == "patched" else 100), fail
            )
            copies[name].append(_items_copied_by(dynamodb, monkeypatch, order))
    # moto's own: every item of the table, once per transaction item (the cause)
    assert copies["moto"][1] >= 3 * 2_000
    assert copies["moto"][1] > 50 * copies["moto"][0]
    # patched: the touched items only (the one that existed, plus moto's own copy of an
    # updated item inside update_item), the same at 10 and at 2,000 items
    assert copies["patched"][0] == copies["patched"][1]
    assert copies["patched"][1] <= 3


def test_the_patched_transactions_count_what_they_copy(dynamodb: Any) -> None:
    _seed(dynamodb)
    _fill(dynamodb, 500)
    moto_patches.stats.reset()
    _one_order(dynamodb, 1, fail=False)()
    _one_order(dynamodb, 2, fail=True)()
    assert moto_patches.stats.transactions == 2
    assert moto_patches.stats.items_copied == 2  # the updated item, once per transaction
    assert moto_patches.stats.rollbacks == 1


def test_moto_serves_one_aws_call_at_a_time(dynamodb: Any) -> None:
    # Given another thread holds the emulator (inside an AWS call)
    _seed(dynamodb)
    done = threading.Event()

    def read() -> None:
        dynamodb.get_item(TableName=TABLE, Key=_key("SHOP#a", "CASE#1"))
        done.set()

    with moto_patches.ACTIONS:
        reader = threading.Thread(target=read)
        reader.start()
        # Then a second call waits for it
        assert not done.wait(0.3)
    # And goes ahead once it is over
    assert done.wait(5)
    reader.join()


HOSTS = [
    None,
    "moto_api",
    "s3",
    "sqs",
    "sqs.us-east-1.amazonaws.com",
    "dynamodb.eu-west-1.amazonaws.com",
    "bucket.s3.amazonaws.com",
    "localhost:5000",
    "nothing.example",
]


def test_the_server_finds_a_hosts_service_as_moto_does_without_listing_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    with moto_patches.unpatched("server-backend-lookup"):
        own = [app.get_backend_for_host(host) for host in HOSTS]
    patched = [app.get_backend_for_host(host) for host in HOSTS]  # lists moto's modules once
    assert patched == own
    assert own[2:6] == ["s3", "sqs", "sqs", "dynamodb"]
    listed = 0
    listdir = os.listdir

    def counting(path: Any) -> list[str]:
        nonlocal listed
        listed += 1
        return listdir(path)

    monkeypatch.setattr(os, "listdir", counting)
    assert [app.get_backend_for_host(host) for host in HOSTS] == own
    assert listed == 0
    with moto_patches.unpatched("server-backend-lookup"):
        app.get_backend_for_host("sqs.us-east-1.amazonaws.com")
    assert listed == 1  # moto's own lists the package directory for every request
