"""The growth and capacity benchmarks (benchmarks/growth.py, capacity.py) measure what the
store does: items read come from DynamoDB's own counts, and writes cost what DynamoDB's
sizing rules say. (That moto's patched Query answers as moto's own is
tests/unit/test_moto_query_patch.py's.)"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from benchmarks import capacity, growth
from benchmarks.capacity import WriteLog


def _table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"}
            for a in ("pk", "sk", "shop_part", "shop_sort")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "shop",
                "KeySchema": [
                    {"AttributeName": "shop_part", "KeyType": "HASH"},
                    {"AttributeName": "shop_sort", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


@pytest.fixture
def client() -> Any:
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb, "t")
        for n in range(60):
            dynamodb.put_item(
                TableName="t",
                Item={
                    "pk": {"S": f"P#{n % 3}"},
                    "sk": {"S": f"{n:04d}"},
                    "shop_part": {"S": f"s#{n % 2}"},
                    "shop_sort": {"S": f"C#{n:04d}"},
                },
            )
        yield dynamodb


def _pages(dynamodb: Any, **query: Any) -> list[tuple[Any, ...]]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName="t", **query, PaginationConfig={"PageSize": 7}
    )
    return [
        (page["Items"], page["Count"], page["ScannedCount"], page.get("LastEvaluatedKey"))
        for page in pages
    ]


def test_the_read_counter_counts_what_queries_and_batches_read(client: Any) -> None:
    # Given 20 items in a partition and a read log
    log = growth.ReadLog()
    with log.recording():
        # When a paginated Query reads a key range of it, and a BatchGetItem two items
        pages = _pages(
            client,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": {"S": "P#0"},
                ":a": {"S": "0000"},
                ":b": {"S": "0030"},
            },
        )
        client.batch_get_item(
            RequestItems={
                "t": {
                    "Keys": [
                        {"pk": {"S": "P#1"}, "sk": {"S": "0001"}},
                        {"pk": {"S": "P#1"}, "sk": {"S": "0004"}},
                    ]
                }
            }
        )
    # Then it counted the range's 11 items over the Query's pages, plus the two items read
    assert sum(p[2] for p in pages) == 11
    assert log.items == 11 + 2
    assert log.operations == {"BatchGetItem": 1, "Query": len(pages)}


def test_the_write_log_costs_each_item_of_a_transaction_twice(client: Any) -> None:
    big = "x" * 1500  # 1 KB < item < 2 KB
    log = WriteLog(phase=lambda: "test")
    with log.recording():
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "CASE#s#9"}, "sk": {"S": "CASE"}, "doc": {"S": big}},
                    }
                },
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "P#0"}, "sk": {"S": "0000"}},
                        "UpdateExpression": "SET shop_sort = :s",
                        "ExpressionAttributeValues": {":s": {"S": "M#0000"}},
                    }
                },
            ]
        )
        client.delete_item(TableName="t", Key={"pk": {"S": "P#1"}, "sk": {"S": "0001"}})
    by_item = {(w.partition, w.cls): w.wcu for w in log.writes}
    # 2 KB rounded up, twice in a transaction; a small item 1 KB, twice
    assert by_item[("CASE#s#9", capacity.OWN)] == 4
    assert by_item[("P#0", capacity.OTHER)] == 2
    # the changed index key: a delete and a put in the shop index; the deleted item: one each
    assert by_item[("s#0", capacity.SHOP_INDEX)] == 1
    assert [w.cls for w in log.writes].count(capacity.SHOP_INDEX) == 2 + 1
    assert by_item[("P#1", capacity.OTHER)] == 1
    assert log.requests == 2


@pytest.mark.slow  # the benchmark's growth run at its smallest sizes
def test_growth_reads_follow_the_request_not_the_shop() -> None:
    # Given a shop measured at 24 and then 60 cases (make bench: 100 to 10,000)
    result = growth.run(sizes=(24, 60))
    small, large = result.runs
    # Then the privacy requests read the customer's cases, whatever the shop's size
    assert small.measured[growth.DATA_REQUEST].items == large.measured[growth.DATA_REQUEST].items
    assert small.measured[growth.DATA_REQUEST].items > 3
    # and shop/redact reads every item of the shop, so it grows with it
    assert large.measured[growth.SHOP_REDACT].items > 2 * small.measured[growth.SHOP_REDACT].items
    assert large.items_in_table > 2 * small.items_in_table
    # and the dashboard, its finished days folded and its items in place, reads the fold's
    # watermark, each month and edge day in its 8 partitions (the last 90 days: 3 months and
    # 28 edge days; all time: the 13 months a year of cases spans at most) and the shards of
    # the days not folded (2 × 16), from the shop's first month on
    last_90_days = 1 + 8 * (3 + 28) + 2 * 16
    for run in result.runs:
        assert 0 < run.measured[growth.DASHBOARD_90].items <= last_90_days
        assert 0 < run.measured[growth.DASHBOARD_ALL].items <= 1 + 8 * 13 + 2 * 16
        assert "TransactWriteItems" not in run.measured[growth.DASHBOARD_90].detail
    # every one of them, once the shop's cases span the period
    assert large.measured[growth.DASHBOARD_90].items == last_90_days


@pytest.mark.slow  # two orders' whole lives through the in-process stack
def test_the_capacity_run_costs_a_paid_order_and_one_reminded_three_times() -> None:
    from benchmarks.payloads import Deliveries

    result = capacity.run(Deliveries())
    # The unpaid order went through its three reminders before it was paid, so it wrote more
    assert "reminder 3" in result.unpaid.phases
    assert 0 < result.paid.per_order < result.unpaid.per_order
    # And a ceiling per mix of orders, the half-paid one among them
    assert result.mixed.paid_share == 0.5
