"""The growth benchmark's read capacity: DynamoDB's rules for what a read costs."""

from __future__ import annotations

from benchmarks.growth import read_units


def _item(size: int) -> dict[str, dict[str, str]]:
    # "pk" (2 bytes) + "x" (1 byte) + a string value: size bytes in all
    return {"pk": {"S": "p"}, "x": {"S": "a" * (size - 4)}}


def test_an_item_by_key_costs_its_size_in_4_kb_units_half_when_eventually_consistent() -> None:
    small, big = {"Item": _item(100)}, {"Item": _item(9_000)}
    assert read_units("GetItem", {"ConsistentRead": True}, small) == 1
    assert read_units("GetItem", {}, small) == 0.5
    assert read_units("GetItem", {"ConsistentRead": True}, big) == 3
    assert read_units("GetItem", {}, {}) == 0.5  # nothing found still costs a unit


def test_a_batch_costs_each_item_apart() -> None:
    params = {"RequestItems": {"t": {"Keys": [], "ConsistentRead": True}}}
    response = {"Responses": {"t": [_item(100), _item(100), _item(5_000)]}}
    assert read_units("BatchGetItem", params, response) == 1 + 1 + 2
    eventually = {"RequestItems": {"t": {"Keys": []}}}
    assert read_units("BatchGetItem", eventually, response) == 2


def test_a_query_costs_what_it_returned_together_at_least_one_unit() -> None:
    few = {"Items": [_item(100)] * 3}
    many = {"Items": [_item(1_000)] * 9}  # 9,000 bytes: 3 units
    assert read_units("Query", {}, {"Items": []}) == 0.5
    assert read_units("Query", {}, few) == 0.5
    assert read_units("Query", {"ConsistentRead": True}, many) == 3
