"""Write capacity per order, from the real item sizes, and the orders/s one shop can take
before any partition its orders share passes DynamoDB's 1,000 WCU/s.

On the in-process local stack (moto's `mock_aws`, the demo shop installed, as in
`benchmarks/lifecycle.py`) two orders go through everything Recoup does with them:

- paid at checkout: `orders/create` with `financial_status: paid`, then `orders/paid`
  (Shopify sends both); the case never owes anything;
- unpaid: the lifecycle's order (`lifecycle._Run.lifecycle`): `orders/create` pending,
  screened, three reminders (scheduler run, sender), `orders/paid`, then idle scheduler
  runs.

Every DynamoDB write request the functions make (PutItem, UpdateItem, DeleteItem,
BatchWriteItem, TransactWriteItems) is captured at `botocore`'s `_make_api_call`. For each
item it writes, the item is read (consistently, by the unpatched call, so nothing else
counts it) before and after, and costed by DynamoDB's rules (`item_size`, `wcu`):

- an item's size is the sum of its attribute names' and values' sizes (strings: UTF-8
  bytes; numbers: 1 byte per two significant digits plus 1; binary: raw bytes; booleans
  and nulls: 1; lists and maps: 3 bytes plus their elements, 1 byte more per element; sets:
  their elements);
- a write costs 1 WCU per KB (rounded up, at least 1) of the larger of the item before and
  after (PutItem, UpdateItem), of the item deleted (DeleteItem); each item of a batch
  likewise; each item of a transaction twice that;
- a global secondary index is written (1 WCU per KB of its entry) when an item enters it,
  leaves it (one write each), or changes an index key (a delete and a put: two writes) or
  a projected attribute (one): the `shop` index (keys only: `shop_part`, `shop_sort` and the
  table keys) and the `due` index (`due_pk`, `due_sk`, the table keys and `next_step`).

Each WCU is attributed to the partition it lands in, by class: the order's or customer's own
partitions (`CASE#`, `XREF#`, `WHO#`, `DELIVERY#`, the message log `MSG#`, and the
per-identity `VEL#`/`ADDR#` counters), the shop's partition `SHOP#`, the `shop` index (8
partitions per shop), the `due` index (8 partitions, shared by every shop), the rollup shards
(16 partitions per shop, today's and yesterday's changes), the rollup days and months (4
partitions each per shop: changes to older days by case, and the daily fold), `GLOBAL` (one
partition: every shop's SMS numbers) and the scheduler's cursors (one item, once a run: not
per order).
A rollup, customer link or message log item the order's writes create enters the `shop`
index; in a busy shop the day's rollup items exist already, so that share is an upper bound.
The ceiling: for every shared class, 1,000 WCU/s × its partitions ÷ its WCU per order
(writes spread evenly over its partitions by hash); the least of these is the sustained
orders/s one shop can take, for a stated mix of paid and unpaid orders.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from unittest import mock

from botocore.client import BaseClient

from benchmarks.api_log import ApiLog
from benchmarks.aws_calls import _quiet_stdout
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries

PARTITION_WCU = 1_000  # a partition's write limit, per second
KB = 1024
PAID_INDEX = 3_100_000  # the paid-at-checkout order, apart from the other benchmarks' orders
MIXES = (1.0, 0.5, 0.0)  # share of orders paid at checkout
GOAL = 1_000  # orders/s one shop can take

# Classes of partitions, and how many partitions of each one shop's orders write.
OWN = "order's or customer's own (CASE#, XREF#, WHO#, DELIVERY#, MSG#, VEL#/ADDR#)"
SHOP_PARTITION = "shop partition SHOP#"
SHOP_INDEX = "shop index"
DUE_INDEX = "due index"
ROLLUPS = "rollup shards ROLLUP#<shop>#<n>"
ROLLUP_DAYS = "rollup days ROLLUP#<shop>#D<k>"
ROLLUP_MONTHS = "rollup months ROLLUP#<shop>#M<k>"
GLOBAL = "GLOBAL (every shop's SMS numbers)"
SCHEDULER = "scheduler cursors"
OTHER = "other"
CLASSES = (
    OWN,
    SHOP_PARTITION,
    SHOP_INDEX,
    DUE_INDEX,
    ROLLUPS,
    ROLLUP_DAYS,
    ROLLUP_MONTHS,
    GLOBAL,
    SCHEDULER,
    OTHER,
)
# Partitions per shared class (None: not shared by the shop's orders, or not per order).
SHARDS: dict[str, int | None] = {
    OWN: None,
    SHOP_PARTITION: 1,
    SHOP_INDEX: 16,  # store.models.SHOP_SHARDS (checked in `run`)
    DUE_INDEX: 8,  # store.cases.DUE_SHARDS, shared by every shop (checked in `run`)
    ROLLUPS: 16,  # store.rollups.ROLLUP_SHARDS (checked in `run`)
    ROLLUP_DAYS: 8,  # changes to days before yesterday (store.rollups.LATE_SHARDS); the fold
    ROLLUP_MONTHS: 8,
    GLOBAL: 1,  # shared by every shop
    SCHEDULER: None,  # once a scheduler run, whatever the orders
    OTHER: None,
}
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
SHOP_INDEX_KEYS = ("shop_part", "shop_sort")
DUE_INDEX_KEYS = ("due_pk", "due_sk")
DUE_PROJECTED = ("next_step",)


# ---------------------------------------------------------------- DynamoDB's sizing rules
def _number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    digits = Decimal(text).normalize().as_tuple().digits
    significant = "".join(map(str, digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value in the wire format ({"S": ...}, {"M": {...}}, ...)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner if isinstance(inner, bytes) else bytes(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Attribute names plus values, in bytes (0: no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def wcu(size: int, *, transactional: bool = False) -> int:
    """Write capacity units of writing an item of `size` bytes: 1 per KB, rounded up, at
    least 1; twice that in a transaction."""
    units = max(1, math.ceil(size / KB))
    return 2 * units if transactional else units


def _entry(item: Mapping[str, Any] | None, keys: Sequence[str], projected: Sequence[str]) -> Any:
    if not item or any(k not in item for k in keys):
        return None
    return {name: item[name] for name in ("pk", "sk", *keys, *projected) if name in item}


def index_writes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    keys: Sequence[str],
    projected: Sequence[str] = (),
) -> list[tuple[str, int]]:
    """The writes one table write causes in a global secondary index with these key
    attributes: (index partition key value, WCU) per write; none when its entry is the
    same before and after."""
    old, new = _entry(before, keys, projected), _entry(after, keys, projected)
    if old == new:
        return []
    writes = []
    same_keys = old is not None and new is not None and all(old[k] == new[k] for k in keys)
    if old is not None and not same_keys:
        writes.append((str(old[keys[0]]["S"]), wcu(item_size(old))))
    if new is not None:
        writes.append((str(new[keys[0]]["S"]), wcu(item_size(new))))
    return writes


# ---------------------------------------------------------------- what a write costs
def partition_class(pk: str) -> str:
    if pk.startswith(("CASE#", "XREF#", "WHO#", "DELIVERY#", "MSG#", "VEL#", "ADDR#")):
        return OWN
    if pk.startswith("SHOP#"):
        return SHOP_PARTITION
    if pk.startswith("ROLLUP#"):
        last = pk.rsplit("#", 1)[1]
        return {"D": ROLLUP_DAYS, "M": ROLLUP_MONTHS}.get(last[:1], ROLLUPS)
    if pk == "GLOBAL":
        return GLOBAL
    if pk == "SCHEDULER":
        return SCHEDULER
    return OTHER


@dataclass(frozen=True)
class Write:
    """One item written (or one index entry), and what it cost."""

    phase: str
    operation: str  # "TransactWriteItems", ... or "shop index" / "due index"
    cls: str  # partition class
    partition: str  # the partition key value
    sk: str
    size: int  # bytes of the larger of before and after (index: the entry)
    wcu: int


def costs(
    phase: str,
    operation: str,
    key: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    deleting: bool = False,
    transactional: bool = False,
) -> list[Write]:
    """The table write of one item and the index writes it causes."""
    pk, sk = str(key["pk"]["S"]), str(key["sk"]["S"])
    size = item_size(before) if deleting else max(item_size(before), item_size(after))
    out = [
        Write(
            phase,
            operation,
            partition_class(pk),
            pk,
            sk,
            size,
            wcu(size, transactional=transactional),
        )
    ]
    for index, keys, projected in (
        (SHOP_INDEX, SHOP_INDEX_KEYS, ()),
        (DUE_INDEX, DUE_INDEX_KEYS, DUE_PROJECTED),
    ):
        for part, units in index_writes(before, after, keys, projected):
            out.append(Write(phase, operation, index, part, sk, 0, units))
    return out


def _keyed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def _requested(operation: str, params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(table, key, deleting) of every item a write request names."""
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], dict(params["Key"]), operation == "DeleteItem")]
    if operation == "PutItem":
        return [(params["TableName"], _keyed(params["Item"]), False)]
    if operation == "BatchWriteItem":
        out = []
        for table, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    out.append((table, _keyed(request["PutRequest"]["Item"]), False))
                else:
                    out.append((table, dict(request["DeleteRequest"]["Key"]), True))
        return out
    out = []
    for entry in params["TransactItems"]:
        for action, body in entry.items():
            key = _keyed(body["Item"]) if action == "Put" else dict(body["Key"])
            out.append((body["TableName"], key, action == "Delete"))
    return out


@dataclass
class WriteLog:
    """Every DynamoDB write the run makes, costed item by item."""

    phase: Callable[[], str]
    writes: list[Write] = field(default_factory=list)
    requests: int = 0

    @contextmanager
    def recording(self) -> Iterator[None]:
        original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        log = self

        def read(client: BaseClient, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
            found = original(
                client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
            )
            item = found.get("Item")
            return dict(item) if item else None

        def costing(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            if client.meta.service_model.service_name != "dynamodb" or operation_name not in WRITES:
                return original(client, operation_name, api_params)
            named = _requested(operation_name, api_params)
            before = [read(client, table, key) for table, key, _ in named]
            try:
                return original(client, operation_name, api_params)
            finally:
                log.requests += 1
                phase = log.phase()
                transactional = operation_name == "TransactWriteItems"
                for (table, key, deleting), old in zip(named, before, strict=True):
                    new = read(client, table, key)
                    log.writes += costs(
                        phase,
                        operation_name,
                        key,
                        old,
                        new,
                        deleting=deleting,
                        transactional=transactional,
                    )

        with mock.patch.object(BaseClient, "_make_api_call", costing):
            yield


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class OrderCost:
    kind: str  # "paid at checkout" / "unpaid, 3 reminders, then paid"
    phases: Sequence[str]
    by_class: Mapping[str, int]  # WCU per partition class
    writes: Sequence[Write]

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    @property
    def per_order(self) -> int:
        """WCU that scale with orders (the scheduler's cursors do not)."""
        return sum(v for k, v in self.by_class.items() if k != SCHEDULER)


@dataclass(frozen=True)
class Ceiling:
    paid_share: float
    per_class: Mapping[str, float]  # class -> orders/s it allows (shared classes only)

    @property
    def orders_per_second(self) -> float:
        return min(self.per_class.values())

    @property
    def bound_by(self) -> str:
        return min(self.per_class, key=lambda k: self.per_class[k])


@dataclass(frozen=True)
class CapacityResult:
    paid: OrderCost
    unpaid: OrderCost
    ceilings: Sequence[Ceiling]  # one per MIXES
    sizes: Mapping[str, int]  # item kind -> its largest size seen, bytes

    def ceiling(self, paid_share: float) -> Ceiling:
        return next(c for c in self.ceilings if c.paid_share == paid_share)

    @property
    def mixed(self) -> Ceiling:
        return self.ceiling(0.5)


def _by_class(writes: Sequence[Write]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for w in writes:
        totals[w.cls] += w.wcu
    return {cls: totals.get(cls, 0) for cls in CLASSES if totals.get(cls)}


def ceiling(paid: OrderCost, unpaid: OrderCost, paid_share: float) -> Ceiling:
    per_class = {}
    for cls, shards in SHARDS.items():
        if shards is None:
            continue
        units = paid_share * paid.by_class.get(cls, 0) + (1 - paid_share) * unpaid.by_class.get(
            cls, 0
        )
        if units > 0:
            per_class[cls] = PARTITION_WCU * shards / units
    return Ceiling(paid_share, per_class)


def _kind(w: Write) -> str:
    from benchmarks.api_log import _item_kind

    if w.operation in (SHOP_INDEX, DUE_INDEX):
        return f"{w.operation} entry"
    return _item_kind({"pk": {"S": w.partition}, "sk": {"S": w.sk}})


# ---------------------------------------------------------------- the run
def run(deliveries: Deliveries) -> CapacityResult:
    from benchmarks import lifecycle
    from recoup import aws, clock
    from recoup.services import shops
    from recoup.store import cases as case_store
    from recoup.store import models, rollups
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    expected = {
        SHOP_INDEX: models.SHOP_SHARDS,
        DUE_INDEX: case_store.DUE_SHARDS,
        ROLLUPS: rollups.ROLLUP_SHARDS,
        ROLLUP_DAYS: rollups.LATE_SHARDS,
        ROLLUP_MONTHS: rollups.LATE_SHARDS,
    }
    for cls, shards in expected.items():
        if SHARDS[cls] != shards:
            raise BenchError(f"{cls}: {shards} partitions in the store, {SHARDS[cls]} here")
    saved = dict(os.environ)
    for name in ("RECOUP_STRIPE_API_KEY", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    api = ApiLog()
    writes = WriteLog(phase=lambda: api.phase)
    try:
        with _quiet_stdout(), in_process() as local:
            aws.reset()
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone=lifecycle.SHOP_TIMEZONE)
            lifecycle.default_sequence_for_every_case()
            life = lifecycle._Run(local, deliveries, api)
            clock.use(life.clock)
            paid_changes = {"financial_status": "paid", "total_outstanding": "0.00"}
            try:
                with (
                    warnings.catch_warnings(),
                    writes.recording(),
                    lifecycle._watching(life.observed),
                ):
                    warnings.filterwarnings("ignore", message="No application metrics")
                    secret = local.shopify_secret
                    for topic in ("orders/create", "orders/paid"):
                        delivery = deliveries.shopify_update(
                            PAID_INDEX, secret, topic=topic, changes=paid_changes
                        )
                        life.deliver(f"paid at checkout: {topic}", delivery)
                    life.lifecycle()
            finally:
                clock.use(None)
            if life.observed.failures:
                raise BenchError(f"capacity: {life.observed.failures[-1]}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    paid_writes = [w for w in writes.writes if w.phase.startswith("paid at checkout")]
    unpaid_writes = [
        w
        for w in writes.writes
        if not w.phase.startswith("paid at checkout") and w.phase not in ("setup", "harness")
    ]
    if not paid_writes or not unpaid_writes:
        raise BenchError("no writes were captured")
    paid = OrderCost(
        "paid at checkout (orders/create, orders/paid)",
        sorted({w.phase for w in paid_writes}),
        _by_class(paid_writes),
        paid_writes,
    )
    unpaid = OrderCost(
        "unpaid: opened, 3 reminders, paid (and idle scheduler runs)",
        list(dict.fromkeys(w.phase for w in unpaid_writes)),
        _by_class(unpaid_writes),
        unpaid_writes,
    )
    sizes: dict[str, int] = {}
    for w in writes.writes:
        if w.size:
            kind = _kind(w)
            sizes[kind] = max(sizes.get(kind, 0), w.size)
    return CapacityResult(
        paid=paid,
        unpaid=unpaid,
        ceilings=[ceiling(paid, unpaid, share) for share in MIXES],
        sizes=dict(sorted(sizes.items())),
    )


def main() -> None:  # pragma: no cover - a quick look: python -m benchmarks.capacity
    result = run(Deliveries())
    for order in (result.paid, result.unpaid):
        print(order.kind, order.total, dict(order.by_class))
        for w in order.writes:
            print(
                f"   {w.phase:<28} {w.operation:<20} {w.cls:<22} {w.partition[:40]:<40} "
                f"{w.sk[:24]:<24} {w.size:6d} {w.wcu}"
            )
    for c in result.ceilings:
        print(
            f"paid {c.paid_share:.0%}: {c.orders_per_second:,.0f} orders/s ({c.bound_by})",
            {k: round(v) for k, v in c.per_class.items()},
        )
    print(result.sizes)


if __name__ == "__main__":  # pragma: no cover
    main()
