"""Patches the local stack applies to moto (5.2.x) so that it keeps up with a busy stack.

`apply()` is called wherever the local stack starts moto (`recoup_local.stack.emulated` and
`in_process`). It is idempotent, and each patch checks that the code it replaces is the code
it was written against: on a moto that has changed there, that patch stands aside (and
`tests/unit/test_moto_patches.py` fails, so the patch is looked at again).

1. DynamoDB TransactWriteItems: roll back only the items the transaction touches
--------------------------------------------------------------------------------
The description below is the one offered upstream with this change (getmoto/moto,
`moto/dynamodb/models/__init__.py`, `DynamoDBBackend.transact_write_items`):

    DynamoDB: TransactWriteItems no longer copies whole tables

    To be able to roll back a cancelled transaction, `transact_write_items` took a
    `copy.deepcopy` of every table named in the request, once per transaction item, before
    applying anything. A transaction of k items on a table of n items therefore copied
    k × n items, so its cost grew with the table rather than with the request: a local
    stack that writes every event in a 3-item transaction slowed from ~2.5 events/s at
    1,500 items to under 0.5/s as the table grew, and reached 4.9 GB.

    The backend now keeps an undo journal instead: before each operation it records the
    item at that operation's key as it was (a deep copy of that one item, or "absent"),
    and, for a table with a stream, how many stream records the shard held. When the
    transaction is cancelled (a failed condition, an invalid operation, a duplicate key),
    every recorded key gets its old item back (an item the transaction created is removed)
    and stream records the transaction added are dropped. A transaction now copies at
    most one item per operation (at most 100), whatever the size of its tables.

    Behaviour is unchanged: the same checks in the same order, the same
    CancellationReasons (one per item, "None" for those that did not fail, ALL_OLD items
    returned), validation errors still raised after rolling back. Differences: the table
    objects are no longer replaced on rollback (references to them stay valid), and a
    request with more than one operation in one item (TransactWriteSingleOpException) now
    also rolls back the items before it, which the old code left applied. An item deleted
    and then restored by a rollback moves to the end of its partition's insertion order,
    which only a Scan of a table without a sort key can observe (Scan order is
    unspecified in DynamoDB).

    Tests: a transaction whose last condition fails leaves earlier puts, updates and
    deletes unapplied, with the reasons as before; the number of items copied per
    transaction is the same for a table of 10 and of 2,000 items.

2. One AWS call at a time (local stack only, not offered upstream)
------------------------------------------------------------------
moto's backends keep plain Python structures without locks: a conditional write checks the
item, then writes it, and a transaction applies its items one by one before rolling them back
on failure. Lambda serves concurrent invocations, and so does the local front now, so two
threads (two function instances) could interleave inside one call: both pass the same
condition, or one reads items a cancelled transaction is about to take back. DynamoDB makes
each call atomic and isolated. `BaseResponse._dispatch`, which every moto service's request
goes through (in-process and in moto's server), runs under one re-entrant lock here: moto
serves one AWS call at a time, handler code runs concurrently around the calls. Under the
GIL moto's work was never parallel anyway.

3. Creating clients (local stack only)
--------------------------------------
A botocore session is not thread-safe: two threads creating clients from it at once (boto3's
default session, PynamoDB's) can fail on half-initialised components. In Lambda each instance
is its own process; here the instances of every function share one process and the layer's
client caches, so `botocore.session.Session.create_client` runs under a lock. Clients, once
created, are thread-safe and shared as before.

4. SQS calls that do not walk the queue ("sqs-messages", `recoup_local.moto_sqs`)
---------------------------------------------------------------------------------
moto's SendMessage, ReceiveMessage and DeleteMessage walked every message of the queue,
several times (its ApproximateNumberOf... counts, computed to read one setting; the list of
every visible message, to take the first ten; a search for the receipt handle), so a backlog
of n messages cost n²/2 steps to fill and to drain. Offered upstream; the description is in
that module.

5. DynamoDB Query reads its partition ("dynamodb-query", `recoup_local.moto_dynamodb`)
-------------------------------------------------------------------------------------
moto's Query sorted the whole table (on the table's key) or walked it (on a global
secondary index) to find one partition. It now takes the partition from the table's items,
or from a map of the index's partition key values to item keys kept up to date on every
write. Offered upstream; the description is in that module.

6. moto's server finds a request's service without listing its files ("server-backend-lookup")
-----------------------------------------------------------------------------------------------
Offered upstream (`moto/moto_server/werkzeug_app.py`,
`DomainDispatcherApplication.get_backend_for_host`):

    Server: the names of moto's service packages are listed once

    For every request, moto's server asked `backends.list_of_moto_modules()` whether the
    request's host names a service: a listing of moto's package directory and a stat of
    each of its ~170 entries, under the dispatcher's lock. That was ~0.4 ms of a ~3 ms
    call on loopback (a constant, not a growth). The names are now listed on first use
    and kept (the package does not change while the server runs). Answers are unchanged.

Patches 4, 5 and 6 replace moto's functions with copies changed where they say (or wrap
them): each is applied only if every function it replaces is, to the character, moto 5.2.5's
(its source's hash is recorded), and `unpatched(name)` puts moto's own back for a test to
compare. Patch 1 checks moto's function for the code it was written against, and keeps it in
`ORIGINALS`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The lock every moto action runs under (patch 2): tests and the benchmark take it to
# observe the serialisation.
ACTIONS = threading.RLock()
_CLIENTS = threading.RLock()
_APPLIED: set[str] = set()
# What each patch replaced (tests compare the patched behaviour with moto's own).
ORIGINALS: dict[str, Any] = {}


@dataclass
class Stats:
    """What the patched transactions copied, for tests and the benchmark."""

    transactions: int = 0
    items_copied: int = 0
    rollbacks: int = 0
    # With `counting` on (the benchmark): the items moto's own implementation would have
    # copied, one whole table per transaction item that names an existing table.
    counting: bool = False
    whole_table_items: int = 0

    def reset(self) -> None:
        self.transactions = self.items_copied = self.rollbacks = self.whole_table_items = 0


stats = Stats()


@dataclass
class _Kept:
    table: Any
    hash_key: Any
    range_key: Any
    item: Any  # a deep copy of the item as it was, or None when it was absent
    partition_existed: bool  # tables with a sort key: the hash key's dict was there


@dataclass
class UndoJournal:
    """The items one transaction touches, as they were before it, to put back on rollback."""

    backend: Any
    kept: dict[tuple[str, Any, Any], _Kept] = field(default_factory=dict)
    streams: dict[str, tuple[Any, list[Any], int]] = field(default_factory=dict)

    def keep(self, table_name: str, key: dict[str, Any]) -> None:
        """Record the item at `key` before an operation changes it. A key the table cannot
        take (missing attribute, no such table) is not recorded: the operation fails on the
        same check before it writes anything."""
        table = self.backend.tables.get(table_name)
        if table is None:
            return
        try:
            hash_key, range_key = self.backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - moto's own validation answers for the operation
            return
        identity = (table_name, hash_key, range_key)
        if identity in self.kept:
            return
        if table.has_range_key:
            partition = table.items.get(hash_key)
            current = None if partition is None else partition.get(range_key)
            existed = partition is not None
        else:
            current = table.items.get(hash_key)
            existed = current is not None
        if current is not None:
            current = copy.deepcopy(current)
            stats.items_copied += 1
        self.kept[identity] = _Kept(table, hash_key, range_key, current, existed)
        shard = table.stream_shard
        if shard is not None and table_name not in self.streams:
            self.streams[table_name] = (shard, shard.items, len(shard.items))

    def restore(self) -> None:
        """Put every recorded item back as it was; drop the stream records added since."""
        stats.rollbacks += 1
        for kept in reversed(list(self.kept.values())):
            items = kept.table.items
            if kept.table.has_range_key:
                partition = items.get(kept.hash_key)
                if kept.item is not None:
                    items[kept.hash_key][kept.range_key] = kept.item
                elif partition is not None:
                    partition.pop(kept.range_key, None)
                    if not partition and not kept.partition_existed:
                        del items[kept.hash_key]
            elif kept.item is not None:
                items[kept.hash_key] = kept.item
            else:
                items.pop(kept.hash_key, None)
        for shard, records, count in self.streams.values():
            del records[count:]
            shard.items = records
        from recoup_local import moto_dynamodb

        for kept in self.kept.values():  # written back directly: the Query maps learn it
            moto_dynamodb.touched(kept.table, kept.hash_key, kept.range_key)


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's `DynamoDBBackend.transact_write_items` with an undo journal of the
    touched items in place of a deep copy of every table (see the module docstring)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    stats.transactions += 1
    if stats.counting:
        sizes: dict[str, int] = {}  # moto's len(table) walks every partition: once a table
        for entry in transact_items:
            _, named = next(iter(entry.items()))
            name = named.get("TableName", "")
            if name not in sizes:
                table = self.tables.get(name)
                sizes[name] = 0 if table is None else len(table)
            stats.whole_table_items += sizes[name]
    # Keep the items the transaction touches, as they were, in case any operation fails
    journal = UndoJournal(self)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            journal.restore()
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)
            if op_type != "ConditionCheck":
                journal.keep(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            # Rollback to the original state, and reraise the error
            journal.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - as moto: the reason names the exception
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        journal.restore()
        raise TransactionCanceledException(errors)


def _replaces_whole_table_backup(function: Any) -> bool:
    """True for moto's implementation that deep-copies every table it names."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return "original_table_state" in source and "copy.deepcopy(" in source


def _patch_transactions() -> bool:
    from moto.dynamodb.models import DynamoDBBackend

    if DynamoDBBackend.transact_write_items is transact_write_items:
        return True
    if not _replaces_whole_table_backup(DynamoDBBackend.transact_write_items):
        return False  # moto changed here: this copy of the old code must not replace it
    ORIGINALS["dynamodb-transactions"] = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True


def _patch_dispatch() -> bool:
    from moto.core.responses import BaseResponse

    original = BaseResponse._dispatch
    if getattr(original, "_recoup_serialised", False):
        return True

    @functools.wraps(original)
    def _dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
        with ACTIONS:
            return original(self, *args, **kwargs)

    _dispatch._recoup_serialised = True  # type: ignore[attr-defined]
    BaseResponse._dispatch = _dispatch  # type: ignore[method-assign]
    return True


def _patch_client_creation() -> bool:
    import botocore.session

    original = botocore.session.Session.create_client
    if getattr(original, "_recoup_serialised", False):
        return True

    @functools.wraps(original)
    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _CLIENTS:
            return original(self, *args, **kwargs)

    create_client._recoup_serialised = True  # type: ignore[attr-defined]
    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    return True


@dataclass(frozen=True)
class Replaced:
    """One attribute of a moto class a patch replaced, with what it was."""

    owner: type
    name: str
    original: Any
    patched: Any


# Every method each patch of this kind replaced (`unpatched` puts them back).
REPLACED: dict[str, tuple[Replaced, ...]] = {}


def source_hash(function: Any) -> str:
    """The first 16 hex digits of the sha256 of a function's source ("" if unreadable)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _replace(
    name: str,
    owners: dict[str, type],
    replacements: tuple[tuple[str, str, str, Any, bool], ...],
) -> bool:
    """Replace every (class, attribute) listed, or none: each must still be the code its
    replacement was written against (by source hash). A wrapper (last field True) is made
    from moto's function."""
    if name in REPLACED:
        return True
    planned = []
    for owner_name, attribute, expected, replacement, wraps in replacements:
        owner = owners[owner_name]
        current = owner.__dict__.get(attribute)
        if current is None or source_hash(current) != expected:
            return False  # moto changed here: this copy of the old code must not replace it
        patched = replacement(current) if wraps else replacement
        planned.append(Replaced(owner, attribute, current, patched))
    for replaced in planned:
        setattr(replaced.owner, replaced.name, replaced.patched)
    REPLACED[name] = tuple(planned)
    return True


@contextmanager
def unpatched(*names: str) -> Iterator[None]:
    """moto's own code for these patches while the block runs (tests compare the two)."""
    taken = [replaced for name in names for replaced in REPLACED.get(name, ())]
    for replaced in taken:
        setattr(replaced.owner, replaced.name, replaced.original)
    try:
        yield
    finally:
        for replaced in taken:
            setattr(replaced.owner, replaced.name, replaced.patched)


def _patch_sqs() -> bool:
    from recoup_local import moto_sqs

    replacements = tuple((*r, False) for r in moto_sqs.REPLACEMENTS)
    return _replace("sqs-messages", moto_sqs.owners(), replacements)


def _patch_query() -> bool:
    from recoup_local import moto_dynamodb

    return _replace("dynamodb-query", moto_dynamodb.owners(), moto_dynamodb.REPLACEMENTS)


@functools.cache
def _moto_modules() -> frozenset[str]:
    from moto import backends

    return frozenset(backends.list_of_moto_modules())


def get_backend_for_host(self: Any, host: str | None) -> Any:
    """moto's `DomainDispatcherApplication.get_backend_for_host`, with the names of moto's
    service packages listed once (see patch 6 in the module docstring)."""
    if host is None:
        return None

    if host == "moto_api":
        return host

    if host in _moto_modules():
        return host

    for backend, pattern in self.backend_url_patterns:
        if pattern.match(f"http://{host}"):
            return backend

    if "amazonaws.com" in host:
        print(  # moto's own message
            f"Unable to find appropriate backend for {host}."
            "Remember to add the URL to urls.py, and run scripts/update_backend_index.py to "
            "index it."
        )
    return None


def _patch_backend_lookup() -> bool:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    replacement = (
        "DomainDispatcherApplication",
        "get_backend_for_host",
        "1f41972c1e4e660f",
        get_backend_for_host,
        False,
    )
    owners: dict[str, type] = {"DomainDispatcherApplication": DomainDispatcherApplication}
    return _replace("server-backend-lookup", owners, (replacement,))


PATCHES: dict[str, Callable[[], bool]] = {
    "dynamodb-transactions": _patch_transactions,
    "dynamodb-query": _patch_query,
    "sqs-messages": _patch_sqs,
    "server-backend-lookup": _patch_backend_lookup,
    "serialised-actions": _patch_dispatch,
    "client-creation": _patch_client_creation,
}


def apply() -> set[str]:
    """Apply every patch that fits the installed moto; returns the names applied."""
    for name, patch in PATCHES.items():
        if name not in _APPLIED and patch():
            _APPLIED.add(name)
    return set(_APPLIED)
