"""The write-capacity benchmark's arithmetic (benchmarks/capacity.py) against DynamoDB's
documented sizing rules (developer guide, "Item sizes and formats"; "Capacity unit
consumption for writes")."""

from __future__ import annotations

from benchmarks import capacity
from benchmarks.capacity import index_writes, item_size, value_size, wcu


def test_strings_and_binary_count_their_bytes_and_the_attribute_name() -> None:
    # A string is its UTF-8 bytes; "é" is two of them; binary counts raw bytes, not base64
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"name": {"S": "é"}}) == 4 + 2
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3


def test_numbers_cost_one_byte_per_two_significant_digits_plus_one() -> None:
    assert value_size({"N": "123"}) == 2 + 1
    assert value_size({"N": "12"}) == 1 + 1
    # leading and trailing zeros are trimmed
    assert value_size({"N": "1000"}) == 1 + 1
    assert value_size({"N": "-0.00120"}) == 1 + 1
    assert value_size({"N": "0"}) == 1 + 1


def test_booleans_nulls_lists_maps_and_sets() -> None:
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == (2 + 1) + (2 + 1)
    # a list or map: 3 bytes, plus its elements, plus 1 byte per element
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"m": {"M": {}}}) == 1 + 3
    assert item_size({"s": {"SS": ["ab", "c"]}}) == 1 + 3


def test_a_write_costs_one_wcu_per_kb_rounded_up_and_twice_that_in_a_transaction() -> None:
    assert wcu(0) == 1
    assert wcu(1024) == 1
    assert wcu(1025) == 2
    assert wcu(3500) == 4  # the guide's example: a 3.5 KB item needs 4 WCU
    assert wcu(1025, transactional=True) == 4
    assert wcu(500, transactional=True) == 2


def test_a_keys_only_index_is_written_only_when_its_keys_change() -> None:
    base = {"pk": {"S": "CASE#s#1"}, "sk": {"S": "CASE"}, "doc": {"S": "x" * 3000}}
    untracked = {**base, "shop_part": {"S": "s#1"}, "shop_sort": {"S": "M#1"}}
    tracked = {**untracked, "shop_sort": {"S": "C#1"}, "doc": {"S": "y" * 3000}}
    keys = capacity.SHOP_INDEX_KEYS
    # Created: one put; updated with the same keys (the doc changed): nothing
    assert index_writes(None, untracked, keys) == [("s#1", 1)]
    assert index_writes(tracked, {**tracked, "doc": {"S": "z"}}, keys) == []
    # A key changed: a delete and a put; removed: one delete
    assert len(index_writes(untracked, tracked, keys)) == 2
    assert index_writes(tracked, None, keys) == [("s#1", 1)]


def test_the_due_index_is_written_when_a_projected_attribute_changes() -> None:
    due = {
        "pk": {"S": "CASE#s#1"},
        "sk": {"S": "CASE"},
        "due_pk": {"S": "DUE#2"},
        "due_sk": {"S": "2026-11-03T10:00:00Z#s#1"},
        "next_step": {"N": "0"},
    }
    keys, projected = capacity.DUE_INDEX_KEYS, capacity.DUE_PROJECTED
    assert index_writes(due, {**due, "next_step": {"N": "1"}}, keys, projected) == [("DUE#2", 1)]
    assert index_writes(due, {**due, "doc": {"S": "x"}}, keys, projected) == []


def test_writes_are_attributed_to_their_partition_class() -> None:
    item = {"pk": {"S": "ROLLUP#s#3"}, "sk": {"S": "2026-11-02#USD"}, "cases": {"N": "1"}}
    [write] = capacity.costs("p", "TransactWriteItems", item, None, item, transactional=True)
    assert (write.cls, write.wcu) == (capacity.ROLLUPS, 2)
    assert capacity.partition_class("ROLLUP#s#D") == capacity.ROLLUP_DAYS
    assert capacity.partition_class("ROLLUP#s#M") == capacity.ROLLUP_MONTHS
    assert capacity.partition_class("ROLLUP#s#D3") == capacity.ROLLUP_DAYS
    assert capacity.partition_class("ROLLUP#s#12") == capacity.ROLLUPS
    assert capacity.partition_class("MSG#s#abc") == capacity.OWN
    assert capacity.partition_class("CASE#s#1") == capacity.OWN
    assert capacity.partition_class("WHO#s#abc") == capacity.OWN
    assert capacity.partition_class("SHOP#s") == capacity.SHOP_PARTITION
    assert capacity.partition_class("GLOBAL") == capacity.GLOBAL


def test_the_ceiling_is_the_least_shared_partition_over_its_share_per_order() -> None:
    paid = capacity.OrderCost("paid", [], {capacity.SHOP_INDEX: 2, capacity.OWN: 14}, [])
    unpaid = capacity.OrderCost(
        "unpaid", [], {capacity.SHOP_INDEX: 4, capacity.SHOP_PARTITION: 6, capacity.OWN: 90}, []
    )
    mixed = capacity.ceiling(paid, unpaid, 0.5)
    # shop index: 16 partitions × 1,000 / 3 WCU; shop partition: 1 × 1,000 / 3 WCU
    assert round(mixed.per_class[capacity.SHOP_INDEX]) == 5333
    assert round(mixed.orders_per_second) == 333
    assert mixed.bound_by == capacity.SHOP_PARTITION
    assert capacity.OWN not in mixed.per_class
