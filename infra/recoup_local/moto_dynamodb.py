"""moto 5.2.5's DynamoDB Query reading what it is asked for (patch "dynamodb-query").

Applied by `recoup_local.moto_patches` (which see for how patches are applied and checked).
The description below is the one offered upstream with this change (getmoto/moto,
`moto/dynamodb/models/table.py`, `Table.query`):

    DynamoDB: Query reads the partition it names, not the whole table

    `Table.query` started from `all_items()`: every item of the table, sorted by primary
    key, then kept those of the partition asked for and sorted them again. A Query on the
    table's own key therefore cost a sort of the whole table, and one on a secondary
    index a walk over every item comparing its index key, however small the partition:
    on a table of 2,500 items a Query took ~13 ms, on 25,000 about ten times that.

    - On the table's key, a Query now takes the partition from `Table.items` (the items
      are already kept by partition key) and sorts only those by sort key.
    - On a local secondary index, or a global one whose partition key is the table's, the
      same partition.
    - On a global secondary index, the table keeps, for each index queried, a map from
      the values of the index's partition key attributes to the primary keys of the
      items that carry them. It is built on the index's first Query (one walk over the
      table) and kept up to date wherever moto writes an item: `Table.put_item` (PutItem,
      BatchWriteItem, TransactWriteItems, PartiQL, ImportTable, an UpdateItem that creates
      the item), `Table.delete_item`, and `DynamoDBBackend.update_item`, which changes an
      item in place (including an update that fails part way). A Query looks up the
      partition's keys, reads each item, and checks its key values as before.
    - Anything else (a key condition on attributes that are not the index's partition
      key, a value that cannot be hashed) walks the whole table as before.

    Everything after choosing the candidate items is the old code: the same sort (index
    key, then the table's key), the same pagination from ExclusiveStartKey, Limit and the
    1 MB page, ScannedCount, FilterExpression, QueryFilter, projections and the
    consistent-read check on a global index. The order of the candidates does not matter
    to the answer: they are sorted by keys that include the table's primary key.

    Tests: Query answers as before (items, order, ScannedCount, LastEvaluatedKey) on the
    table, a global index with and without a sort key, a local index, forward and
    backward, with Limit and ExclusiveStartKey, range conditions, filters, projections,
    after puts, updates that move an item from one index partition to another, deletes,
    transactions and batch writes; the key comparisons one Query makes are the same on a
    table of 10 and of 2,000 items outside its partition.

Scan still walks the whole table (as DynamoDB does).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

Key = tuple[Any, Any]  # an item's (hash key, range key or None), as DynamoType values


@dataclass
class Counters:
    """What the patched Query did, for tests: candidate items read, maps built, and Queries
    that walked the whole table (no map could answer them)."""

    candidates: int = 0
    maps_built: int = 0
    whole_table: int = 0

    def reset(self) -> None:
        self.candidates = self.maps_built = self.whole_table = 0


counters = Counters()


class IndexMap:
    """One secondary index's items by the values of its partition key attributes: the
    primary keys of the items that carry each tuple of values."""

    __slots__ = ("attributes", "buckets", "odd", "where")

    def __init__(self, attributes: tuple[str, ...]) -> None:
        self.attributes = attributes
        self.buckets: dict[tuple[Any, ...], dict[Key, None]] = {}
        # Items whose values cannot be hashed (a list or map under the key's name): always
        # candidates, the Query's own check decides.
        self.odd: dict[Key, None] = {}
        self.where: dict[Key, tuple[Any, ...] | None] = {}  # None: in `odd`

    def put(self, key: Key, item: Any) -> None:
        """Record the item now at `key` (None: there is none)."""
        self.drop(key)
        if item is None:
            return
        values = []
        for name in self.attributes:
            value = item.attrs.get(name)
            if value is None:
                return  # not in the index: the Query's check leaves it out too
            values.append(value)
        found = tuple(values)
        try:
            bucket = self.buckets.setdefault(found, {})
        except TypeError:
            self.odd[key] = None
            self.where[key] = None
            return
        bucket[key] = None
        self.where[key] = found

    def drop(self, key: Key) -> None:
        if key not in self.where:
            return
        found = self.where.pop(key)
        if found is None:
            self.odd.pop(key, None)
            return
        bucket = self.buckets.get(found)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self.buckets[found]

    def keys(self, values: tuple[Any, ...]) -> list[Key] | None:
        """The keys of the items that may carry `values`; None if they cannot be looked up."""
        try:
            found = self.buckets.get(values)
        except TypeError:
            return None
        return [*(found or ()), *self.odd]


def _maps(table: Any) -> dict[tuple[str, tuple[str, ...]], IndexMap]:
    maps: dict[tuple[str, tuple[str, ...]], IndexMap] | None = table.__dict__.get("_index_maps")
    if maps is None:
        maps = {}
        table._index_maps = maps
    return maps


def _every_item(table: Any) -> list[Any]:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


def _index_map(table: Any, name: str, attributes: tuple[str, ...]) -> IndexMap:
    maps = _maps(table)
    found = maps.get((name, attributes))
    if found is None:
        counters.maps_built += 1
        found = IndexMap(attributes)
        for item in _every_item(table):
            found.put((item.hash_key, item.range_key), item)
        maps[(name, attributes)] = found
    return found


def _current(table: Any, key: Key) -> Any:
    hash_key, range_key = key
    if table.range_key_attr:
        partition = table.items.get(hash_key)
        return None if partition is None else partition.get(range_key)
    return table.items.get(hash_key)


def touched(table: Any, hash_key: Any, range_key: Any) -> None:
    """Bring the table's index maps up to date with the item now at this key (after any
    write; a table whose indexes were never queried has none to update)."""
    maps = table.__dict__.get("_index_maps")
    if not maps:
        return
    key = (hash_key, range_key if table.range_key_attr else None)
    try:
        item = _current(table, key)
    except TypeError:
        return  # a key that cannot be hashed is not in the table
    for index_map in maps.values():
        index_map.put(key, item)


def _partition(table: Any, hash_key: Any) -> list[Any] | None:
    """The items of one partition of the table; None if the key cannot be looked up."""
    try:
        found = table.items.get(hash_key)
    except TypeError:
        return None
    if found is None:
        return []
    return list(found.values()) if table.range_key_attr else [found]


def _index_candidates(
    table: Any, index: Any, hash_names: tuple[str, ...], conditions: dict[str, Any]
) -> list[Any]:
    """The items that may be in the index partition `conditions` names (the Query checks
    each); every item of the table when no map can answer."""
    candidates: list[Any] | None = None
    if conditions and set(conditions) == set(hash_names):
        values = tuple(conditions[name] for name in hash_names)
        if hash_names == (table.hash_key_attr,):
            candidates = _partition(table, values[0])
        else:
            keys = _index_map(table, index.name, hash_names).keys(values)
            if keys is not None:
                counters.candidates += len(keys)
                return [item for key in keys if (item := _current(table, key)) is not None]
    if candidates is None:
        counters.whole_table += 1
        candidates = table.all_items()
    counters.candidates += len(candidates)
    return candidates


# -------------------------------------------------------------------------------- Query
def query(
    self: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int,
    exclusive_start_key: dict[str, Any],
    scan_index_forward: bool,
    projection_expressions: list[list[str]] | None,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, Any]] | None = None,
    range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Any], int, dict[str, Any] | None]:
    """moto 5.2.5's `Table.query`, with the candidate items taken from the partition (or
    the index map) instead of the whole table; the rest is moto's code unchanged."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, GlobalSecondaryIndex

    # FIND POSSIBLE RESULTS
    # Initialize variables for range key handling
    index_range_key: dict[str, str] | None = None
    last_range_key_name: str | None = None

    # Extract last_range_key_name from range_key_conditions if present
    if range_key_conditions:
        last_range_key_name = range_key_conditions[-1][0]

    if index_name:
        all_indexes = self.all_indexes()
        indexes_by_name = {i.name: i for i in all_indexes}
        if index_name not in indexes_by_name:
            all_names = ", ".join(indexes_by_name.keys())
            raise MockValidationException(
                f"Invalid index: {index_name} for table: {self.name}. "
                f"Available indexes are: {all_names}"
            )

        index = indexes_by_name[index_name]

        if consistent_read and index in self.global_indexes:
            raise MockValidationException(
                "Consistent reads are not supported on global secondary indexes"
            )

        # Get ALL hash keys from schema (multi-attribute support)
        index_hash_keys = [key for key in index.schema if key["KeyType"] == "HASH"]
        if not index_hash_keys:
            raise MockValidationException(f"Missing Hash Key. KeySchema: {index.name}")

        # Get ALL range keys from schema (multi-attribute support)
        index_range_keys = [key for key in index.schema if key["KeyType"] == "RANGE"]

        if not index_range_keys:
            if isinstance(index, GlobalSecondaryIndex) and self.range_key_attr:
                # If we're querying a GSI that does not have a range key, the main range key
                # acts as a range key
                index_range_key = {"AttributeName": self.range_key_attr}
            else:
                # If we don't have a range key on the main table either, the hash key acts
                # as a range key
                index_range_key = {"AttributeName": self.hash_key_attr}
            if range_comparison:
                raise ValueError(
                    f"Range Key comparison but no range key found for index: {index_name}"
                )
        else:
            # For backward compatibility with single range key
            index_range_key = index_range_keys[0]

        # Build hash_attrs for sorting: all index hash keys + table hash key
        hash_attrs = [k["AttributeName"] for k in index_hash_keys] + [self.hash_key_attr]
        # Build range_attrs for sorting: all index range keys + table range key
        # Note: For backward compatibility with _generate_attr_to_sort_by, we always
        # include table range key (even if None) when there's only one GSI range key
        if index_range_keys:
            range_attrs: list[str | None] = [k["AttributeName"] for k in index_range_keys]
            # Always append table range key for backward compatibility with sorting
            range_attrs.append(self.range_key_attr)
        elif index_range_key:
            range_attrs = [index_range_key["AttributeName"], self.range_key_attr]
        else:
            range_attrs = [self.range_key_attr]

        # Build a dict of all hash key conditions from new interface
        all_hash_conditions: dict[str, Any] = {}
        if hash_key_conditions:
            for attr_name, value in hash_key_conditions:
                all_hash_conditions[attr_name] = value

        # Build a dict of range key equalities (all but last in range_key_conditions)
        range_equality_conditions: dict[str, Any] = {}
        if range_key_conditions and len(range_key_conditions) > 1:
            # All but the last range key condition are equalities
            for attr_name, _comparison, values in range_key_conditions[:-1]:
                range_equality_conditions[attr_name] = values[0]

        possible_results: list[Any] = []
        hash_names = tuple(k["AttributeName"] for k in index_hash_keys)
        # CHANGED: the index partition's items, not every item of the table
        for item in _index_candidates(self, index, hash_names, all_hash_conditions):
            if not isinstance(item, Item):
                continue

            # Check ALL hash key conditions
            hash_match = True
            for attr_name, expected_value in all_hash_conditions.items():
                item_value = item.attrs.get(attr_name)
                if not item_value or item_value != expected_value:
                    hash_match = False
                    break

            if not hash_match:
                continue

            # Check range key equality conditions (for multi-attribute range keys)
            range_equality_match = True
            for attr_name, expected_value in range_equality_conditions.items():
                item_value = item.attrs.get(attr_name)
                if not item_value or item_value != expected_value:
                    range_equality_match = False
                    break

            if not range_equality_match:
                continue

            # For GSI, ensure item has ALL range key attributes (DynamoDB only indexes
            # items that have all key attributes present)
            if index_range_keys:
                has_all_range_keys = all(
                    item.attrs.get(key["AttributeName"]) for key in index_range_keys
                )
                if not has_all_range_keys:
                    continue

            possible_results.append(item)
    else:
        hash_attrs = [self.hash_key_attr]
        range_attrs = [self.range_key_attr]

        # CHANGED: the partition's items, not every item of the table
        partition = None if hash_key is None else _partition(self, hash_key)
        if partition is None:
            counters.whole_table += 1
            partition = self.all_items()
        counters.candidates += len(partition)
        possible_results = [
            item for item in partition if isinstance(item, Item) and item.hash_key == hash_key
        ]

    # SORT
    if index_name:
        possible_results = self.sorted_items(hash_attrs, range_attrs, possible_results)
    else:
        possible_results.sort(key=lambda item: item.range_key)

    if scan_index_forward is False:
        possible_results.reverse()

    # FILTER
    results: list[Any] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    processing_previous_page = exclusive_start_key is not None
    result: Any
    for result in possible_results:
        # Cycle through the previous page of results
        # When we encounter our start key, we know we've reached the end of the previous page
        if processing_previous_page:
            if self._item_comes_before_dct(
                result,
                exclusive_start_key,
                hash_attrs,
                range_attrs,
                scan_index_forward,
            ):
                continue
            else:
                processing_previous_page = False

        # Check wether we've reached the limit of our result set
        # That can be either in number, or in size
        reached_length_limit = len(results) == limit
        reached_size_limit = (result_size + result.size()) > RESULT_SIZE_LIMIT
        if reached_length_limit or reached_size_limit:
            last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
            break

        if not range_comparison and not filter_kwargs:
            # If we're not filtering on range key or on an index
            results.append(result)
            result_size += result.size()
            scanned_count += 1

        if range_comparison:
            # Determine which attribute to apply the range comparison to
            range_attr_for_comparison: str | None = None
            if last_range_key_name:
                # Multi-attribute key: use the specific range key from the query
                range_attr_for_comparison = last_range_key_name
            elif index_name and index_range_key:
                # Single range key GSI: use the index range key
                range_attr_for_comparison = index_range_key["AttributeName"]

            if range_attr_for_comparison and result.attrs.get(range_attr_for_comparison):
                if result.attrs.get(range_attr_for_comparison).compare(
                    range_comparison, range_objs
                ):
                    results.append(result)
                    result_size += result.size()
                    scanned_count += 1
            elif not index_name and result.range_key.compare(range_comparison, range_objs):
                # Table query (not GSI): use the table's range key
                results.append(result)
                result_size += result.size()
                scanned_count += 1

        if filter_kwargs:
            for field, value in filter_kwargs.items():
                dynamo_types = [DynamoType(ele) for ele in value["AttributeValueList"]]
                if result.attrs.get(field).compare(value["ComparisonOperator"], dynamo_types):
                    results.append(result)
                    result_size += result.size()
            scanned_count += 1

    results = copy.deepcopy(results)
    if index_name:
        index = self.get_index(index_name)
        results = [index.project(r) for r in results]

    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]

    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]

    return results, scanned_count, last_evaluated_key


# ---------------------------------------------------------------- writes keep the maps
def wrap_put_item(original: Any) -> Any:
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, item_attrs, *args, **kwargs)
        finally:
            if self.__dict__.get("_index_maps"):
                _touched_by_attrs(self, item_attrs)

    put_item.__doc__ = "moto's `Table.put_item`; then the index maps learn the item."
    return put_item


def _touched_by_attrs(table: Any, item_attrs: dict[str, Any]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_key = DynamoType(item_attrs[table.hash_key_attr])
        range_key = DynamoType(item_attrs[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError, AttributeError):
        return  # refused before anything was written
    touched(table, hash_key, range_key)


def wrap_delete_item(original: Any) -> Any:
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return original(self, hash_key, range_key)
        finally:
            touched(self, hash_key, range_key)

    delete_item.__doc__ = "moto's `Table.delete_item`; then the index maps forget the item."
    return delete_item


def wrap_update_item(original: Any) -> Any:
    def update_item(self: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, table_name, key, *args, **kwargs)
        finally:
            _touched_by_key(self, table_name, key)

    update_item.__doc__ = (
        "moto's `DynamoDBBackend.update_item` (which changes the item in place); then the "
        "index maps learn its new key values, also when the update failed part way."
    )
    return update_item


def _touched_by_key(backend: Any, table_name: str, key: Any) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.tables.get(table_name)
    if table is None or not table.__dict__.get("_index_maps"):
        return
    try:
        # The key as update_item reads it
        if table.hash_key_attr in key and table.range_key_attr in key:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr])
        elif table.hash_key_attr in key:
            hash_key, range_key = DynamoType(key[table.hash_key_attr]), None
        else:
            hash_key, range_key = DynamoType(key), None
    except (KeyError, TypeError, AttributeError):
        return
    touched(table, hash_key, range_key)


# What is replaced or wrapped (True: a wrapper made from moto's function), and the source
# (sha256, first 16 hex digits) of moto 5.2.5's code each was written against.
REPLACEMENTS: tuple[tuple[str, str, str, Any, bool], ...] = (
    ("Table", "query", "002b4d00be6df07c", query, False),
    ("Table", "put_item", "de23933013ef8426", wrap_put_item, True),
    ("Table", "delete_item", "1594f7b07616c8cb", wrap_delete_item, True),
    ("DynamoDBBackend", "update_item", "218984588dd689a5", wrap_update_item, True),
)


def owners() -> dict[str, type]:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    return {"Table": Table, "DynamoDBBackend": DynamoDBBackend}


def forget(table: Any) -> None:
    """Drop a table's index maps (built again on the next Query of an index)."""
    table.__dict__.pop("_index_maps", None)
