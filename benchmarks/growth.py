"""Items read per request as a shop grows: 100, 1,000 and 10,000 cases.

On the in-process local stack (moto's `mock_aws`, the demo shop installed), one shop's
table is filled with orders as the worker writes them, then each request below runs
with every AWS call counted; then the shop grows to the next size and they run again on
the same table. The figure is ITEMS READ: the sum of each Query's and Scan's
ScannedCount, plus the items each GetItem and BatchGetItem returned. The goal is that a
request reads as much at 10,000 cases as at 100 (10k/100 ≤ 1.1), except shop/redact, which
must touch every item.

The orders. Order i is the project's pending Shopify order (tests/events/shopify/
order_pending.json) as order i: its own id, customer id, email, phone and street. Every
second order is paid at checkout (`financial_status: paid`): it never owes anything and is
kept as a small never-owed case for 90 days (its TTL), so those fall in the last 90 days;
the others owe, and open over the last 365 days (times by the golden-ratio sequence, so
every size spreads evenly over its span). Four customers have three owed orders each (the
privacy requests' subjects). Each order goes through the worker's own code
(`services.cases.apply_event`: the reads, the fraud screening, the reminder sequence, the
transaction the store builds), with one difference to keep 10,000 orders to a minute:
the TransactWriteItems the store sends is written as the same items, its puts by
BatchWriteItem and its updates (rollup and velocity counters) by UpdateItem with the same
expressions (`_Bulk`). moto's Query reads only the partition it names, through the local
stack's `dynamodb-query` patch (`recoup_local.moto_dynamodb`): the same items, in the same
order, with the same ScannedCount as moto's own, which sorts the whole table per Query.

The requests:
- dashboard: `services.figures.for_shop` over the last 90 days, and over all time, in the
  steady state: after the first request has folded the finished days and put the items a
  read names in place (store/rollups.py); that first request is reported on its own (it
  folds a year of days and puts their items in place, as a shop's first read after the
  upgrade does), and so is the first request of the next day (it folds one day and puts
  tomorrow's items in place, as every day's first read does). The rollup items are put
  back as they were after each size, so the next size's orders, written at their own
  times, find their days open;
- case list: the admin API's `GET /admin/api/cases` (first page, 25 rows), as the admin
  page asks for it, signed in as the shop's staff;
- template preview: `POST /admin/api/preview` of the policy's first step (the admin's
  first request reads the shop's identity, currency included, from the Shopify fake), and
  the sample case a shop without a currency falls back to (`sample_sends._shop_currency`:
  the first tracked case of the first shop index shard that holds one);
- customers/redact and customers/data_request of a customer with three cases, through
  the privacy worker's entry (`services.privacy.handle`); a different customer is
  erased at each size (each with the same shape: three orders an hour apart);
- shop/redact, through the same entry; the table is read beforehand (Scan, not counted,
  before the data request, whose marker would otherwise pile up) and written back
  afterwards, so the shop grows on.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

from botocore.client import BaseClient

from benchmarks.aws_calls import _quiet_stdout
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries

if TYPE_CHECKING:
    from recoup_local.stack import LocalStack

SIZES = (100, 1_000, 10_000)
GOAL = 1.1
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # the last order is before this
OWED_SPAN = timedelta(days=365)
NEVER_OWED_SPAN = timedelta(days=90)  # their TTL
DASHBOARD_DAYS = 90
PAGE = 25  # the admin list's default page
FIRST_ORDER = 5_000_000  # order indexes, apart from the other benchmarks' orders
CUSTOMERS = 4  # customers with three orders: redacted at each size, and a data request
_PHI = (math.sqrt(5) - 1) / 2
_ORDER_EMAIL = "daniel.okafor@example.com"
_ORDER_PHONE = "+15035550142"
_ORDER_STREET = "2417 NW Kearney St"
BATCH = 25

DASHBOARD_90 = f"dashboard, last {DASHBOARD_DAYS} days"
DASHBOARD_ALL = "dashboard, all time"
DASHBOARD_DAILY = f"dashboard, {DASHBOARD_DAYS} days, a day's first request (folds a day)"
DASHBOARD_CATCH_UP = f"dashboard, {DASHBOARD_DAYS} days, first request after the upgrade"
CASE_LIST = f"case list, first page ({PAGE})"
PREVIEW = "template preview (admin API)"
SAMPLE_PICK = "template preview's sample case (no shop currency)"
DATA_REQUEST = "customers/data_request (3 cases)"
CUSTOMER_REDACT = "customers/redact (3 cases)"
SHOP_REDACT = "shop/redact"
REQUESTS = (
    DASHBOARD_90,
    DASHBOARD_ALL,
    DASHBOARD_DAILY,
    DASHBOARD_CATCH_UP,
    CASE_LIST,
    PREVIEW,
    SAMPLE_PICK,
    DATA_REQUEST,
    CUSTOMER_REDACT,
    SHOP_REDACT,
)
# The first dashboard request after the upgrade folds every day the shop had (once).
GROWS_BY_DESIGN = frozenset({SHOP_REDACT, DASHBOARD_CATCH_UP})


# ---------------------------------------------------------------- counting reads
@dataclass(frozen=True)
class Read:
    operation: str
    items: int  # ScannedCount (Query, Scan) or items returned (GetItem, BatchGetItem)
    rcu: float = 0.0  # the read capacity DynamoDB charges for it (`read_units`)


def items_read(operation: str, response: Mapping[str, Any]) -> int:
    """The items a DynamoDB read response says were read."""
    if operation in ("Query", "Scan"):
        return int(response.get("ScannedCount", response.get("Count", 0)))
    if operation == "GetItem":
        return 1 if response.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in (response.get("Responses") or {}).values())
    return 0


READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})
READ_UNIT = 4096  # bytes a read capacity unit reads, strongly consistent (half: eventually)


def _units(size: int) -> int:
    return max(1, math.ceil(size / READ_UNIT))


def read_units(operation: str, params: Mapping[str, Any], response: Mapping[str, Any]) -> float:
    """The read capacity a read consumes, by DynamoDB's rules: an item read by GetItem or
    BatchGetItem costs its size in 4 KB units (rounded up, at least one); a Query or Scan
    the size of the items it returned, together, in 4 KB units (at least one a call); half
    of that when eventually consistent. Sizes are computed from the items as returned (a
    keys-only index returns its entries), by `capacity.item_size`."""
    from benchmarks.capacity import item_size

    if operation == "BatchGetItem":
        total = 0.0
        for table, items in (response.get("Responses") or {}).items():
            request = (params.get("RequestItems") or {}).get(table, {})
            factor = 1.0 if request.get("ConsistentRead") else 0.5
            total += sum(_units(item_size(item)) * factor for item in items)
        return total
    factor = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return _units(item_size(response.get("Item"))) * factor
    if operation in ("Query", "Scan"):
        return _units(sum(item_size(item) for item in response.get("Items") or [])) * factor
    return 0.0


@dataclass
class ReadLog:
    """Every DynamoDB read while `recording`, with the items it read; and the items each
    TransactWriteItems wrote (a dashboard's folds)."""

    reads: list[Read] = field(default_factory=list)
    transactions: list[int] = field(default_factory=list)

    @contextmanager
    def recording(self) -> Iterator[None]:
        original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        log = self

        def counting(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            response = original(client, operation_name, api_params)
            if client.meta.service_model.service_name == "dynamodb" and operation_name in READS:
                log.reads.append(
                    Read(
                        operation_name,
                        items_read(operation_name, response),
                        read_units(operation_name, api_params, response),
                    )
                )
            if operation_name == "TransactWriteItems":
                log.transactions.append(len(api_params["TransactItems"]))
            return response

        with mock.patch.object(BaseClient, "_make_api_call", counting):
            yield

    @property
    def items(self) -> int:
        return sum(r.items for r in self.reads)

    @property
    def rcu(self) -> float:
        return sum(r.rcu for r in self.reads)

    @property
    def operations(self) -> dict[str, int]:
        return dict(sorted(Counter(r.operation for r in self.reads).items()))


class _Bulk:
    """While filling the table: the store's TransactWriteItems written as the same items,
    puts by BatchWriteItem (25 a call, flushed before the next read of the table) and
    updates by UpdateItem with the same expressions and conditions."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.transactions = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        bulk = self

        def writing(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            if operation_name != "TransactWriteItems":
                return original(client, operation_name, api_params)
            bulk.transactions += 1
            for entry in api_params["TransactItems"]:
                (action, body), *_ = entry.items()
                if action == "Put":
                    bulk.puts.append((body["TableName"], body["Item"]))
                elif action == "Update":
                    original(client, "UpdateItem", dict(body))
                else:
                    raise BenchError(f"a new case's transaction holds a {action}")
            if len(bulk.puts) >= BATCH:
                bulk.flush(client, original)
            return {}

        with mock.patch.object(BaseClient, "_make_api_call", writing):
            yield

    def flush(self, client: BaseClient, call: Callable[..., Any]) -> None:
        while self.puts:
            chunk, self.puts = self.puts[:BATCH], self.puts[BATCH:]
            requests: dict[str, list[dict[str, Any]]] = {}
            for table, item in chunk:
                requests.setdefault(table, []).append({"PutRequest": {"Item": item}})
            while requests:
                answer = call(client, "BatchWriteItem", {"RequestItems": requests})
                requests = answer.get("UnprocessedItems") or {}


# ---------------------------------------------------------------- the orders
@dataclass(frozen=True)
class Customer:
    number: int
    customer_id: int
    email: str
    phone: str
    orders: tuple[int, ...]  # order indexes


def customer_of(index: int) -> int:
    """The customer number of order `index`: the first CUSTOMERS customers have three owed
    orders each (indexes 0, 2, 4 / 6, 8, 10 / ...), every other order a customer of its own."""
    special = 2 * 3 * CUSTOMERS
    if index < special and index % 2 == 0:
        return index // 6
    return CUSTOMERS + index


def owes(index: int) -> bool:
    return index % 2 == 0


def customer(number: int) -> Customer:
    orders = tuple(range(6 * number, 6 * number + 6, 2)) if number < CUSTOMERS else ()
    return Customer(
        number,
        8_000_000_000_000_000_000 + number,
        f"customer{number}@example.com",
        f"+1503{2_000_000 + number:07d}",
        orders,
    )


def opened_at(index: int) -> datetime:
    number = customer_of(index)
    if number < CUSTOMERS:
        # The privacy requests' customers: each with its three orders an hour apart in one
        # week, a week apart from the next customer's, so that each request finds the same
        # shape (cases, weekly address buckets) whichever customer it is about.
        return NOW - timedelta(days=30 + 7 * number, hours=(index % 6) // 2)
    span = OWED_SPAN if owes(index) else NEVER_OWED_SPAN
    return NOW - timedelta(minutes=1) - span * ((index * _PHI) % 1)


class _Orders:
    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.template = json.dumps(deliveries.order)

    def order_id(self, index: int) -> str:
        return str(self.deliveries.order_id(FIRST_ORDER + index))

    def event(self, index: int) -> Any:
        from recoup.integrations import shopify

        who = customer(customer_of(index))
        text = (
            self.template.replace(_ORDER_EMAIL, who.email)
            .replace(_ORDER_PHONE, who.phone)
            .replace(_ORDER_STREET, f"{who.number + 1} NW Kearney St")
        )
        order = json.loads(text)
        order["id"] = int(self.order_id(index))
        order["name"] = f"#{10_000 + index}"
        order["customer"]["id"] = who.customer_id
        at = opened_at(index).isoformat()
        order.update(created_at=at, processed_at=at, updated_at=at)
        if not owes(index):
            order.update(financial_status="paid", total_outstanding="0.00")
        body = json.dumps(order).encode()
        headers = self.deliveries._shopify_headers(body, "x", FIRST_ORDER + index)
        event = shopify.normalise(shopify.read_delivery(headers), body)
        if event is None:
            raise BenchError(f"order {index} does not normalise to an event")
        return event


def _fill(orders: _Orders, first: int, last: int) -> None:
    """Orders [first, last) through the worker's code (`apply_event`), written in bulk."""
    from recoup import clock
    from recoup.services import cases
    from recoup.store import bind

    bulk = _Bulk()
    original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
    with bulk.active():
        for index in range(first, last):
            event = orders.event(index)
            now = event.occurred_at + timedelta(seconds=1)
            clock.use(lambda now=now: now)
            try:
                if cases.apply_event(event, now=now) is None:
                    raise BenchError(f"order {index} was not applied")
            finally:
                clock.use(None)
        bulk.flush(bind.connection().client, original)
    if bulk.transactions != last - first:
        raise BenchError(f"{bulk.transactions} transactions for {last - first} orders")


# ---------------------------------------------------------------- the requests
def _privacy_job(kind: str, who: Customer, orders: _Orders, request_id: int) -> str:
    from recoup.integrations.shopify_privacy import PrivacyJob

    payload: dict[str, Any] = {"shop_id": 84736291015, "shop_domain": SHOP}
    if kind != "shop/redact":
        payload["customer"] = {"id": who.customer_id, "email": who.email, "phone": who.phone}
        ids = [int(orders.order_id(i)) for i in who.orders]
        if kind == "customers/redact":
            payload["orders_to_redact"] = ids
        else:
            payload["orders_requested"] = ids
            payload["data_request"] = {"id": request_id}
    return PrivacyJob(kind, SHOP, f"bench-growth-{kind}-{request_id}", payload).to_json()


def _admin(local: LocalStack, method: str, path: str, body: Any = None) -> dict[str, Any]:
    from recoup import clock
    from recoup_local import session_tokens

    # Session tokens are checked against the wall clock, not the benchmark's.
    clock.use(None)
    try:
        claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
        token = session_tokens.sign(claims, local.shopify_secret)
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}"}
        answer = local.lambdas.invoke_http(method, f"/admin/api{path}", headers, raw)
    finally:
        clock.use(lambda: NOW)
    if int(answer["statusCode"]) != 200:
        raise BenchError(f"{method} {path}: {answer['statusCode']} {answer['body'][:300]}")
    result: dict[str, Any] = json.loads(answer["body"])
    return result


@dataclass(frozen=True)
class Measured:
    request: str
    items: int
    calls: int
    operations: Mapping[str, int]
    detail: str
    rcu: float = 0.0  # read capacity units the request consumed


@dataclass(frozen=True)
class SizeRun:
    cases: int
    items_in_table: int  # every item of the table (Scan), for scale
    fill_seconds: float  # seconds to write this size's new orders
    measured: Mapping[str, Measured]


@dataclass(frozen=True)
class GrowthResult:
    runs: Sequence[SizeRun]

    def ratio(self, request: str) -> float:
        first, last = self.runs[0].measured[request], self.runs[-1].measured[request]
        return last.items / first.items if first.items else math.inf

    def met(self, request: str) -> bool:
        return request in GROWS_BY_DESIGN or self.ratio(request) <= GOAL

    def rcu_ratio(self, request: str) -> float:
        """The same ratio in read capacity units: what DynamoDB charges and throttles on."""
        first, last = self.runs[0].measured[request], self.runs[-1].measured[request]
        return last.rcu / first.rcu if first.rcu else math.inf


def _table_items(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pages = client.get_paginator("scan").paginate(TableName=table)
    for page in pages:
        items += page.get("Items", [])
    return items


def _rollup_items(client: Any, table: str) -> list[dict[str, Any]]:
    return [item for item in _table_items(client, table) if item["pk"]["S"].startswith("ROLLUP#")]


def _unfold(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """The rollup items put back as they were before the dashboard's folds, so that the
    next size's orders, written at their own (earlier) times, find their days open."""
    keys = [{"pk": i["pk"], "sk": i["sk"]} for i in _rollup_items(client, table)]
    for start in range(0, len(keys), BATCH):
        requests: Any = {
            table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + BATCH]]
        }
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems")
    _restore(client, table, items)


def _restore(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), BATCH):
        requests: Any = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH]]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems")


def _measure(
    local: LocalStack, orders: _Orders, size_number: int, client: Any, table: str, *, last: bool
) -> dict[str, Measured]:
    from recoup import clock
    from recoup.services import figures, privacy
    from recoup.store import shops

    out: dict[str, Measured] = {}

    def timed(name: str, work: Callable[[], str]) -> None:
        shops.forget()  # each request in a container of its own
        log = ReadLog()
        with log.recording():
            detail = work()
        if log.transactions:
            detail += (
                f"; {len(log.transactions)} TransactWriteItems of {sum(log.transactions):,} "
                "items written"
            )
        out[name] = Measured(name, log.items, len(log.reads), log.operations, detail, log.rcu)

    def dashboard(days: int | None, now: datetime = NOW) -> str:
        start = now - timedelta(days=days) if days else None
        found = figures.for_shop(SHOP, start=start, end=now)
        return f"{found.cases} cases opened"

    def first_of_day() -> str:
        # The next day's first request: the day before yesterday is due to be folded.
        later = NOW + timedelta(days=1)
        clock.use(lambda: later)
        try:
            return dashboard(DASHBOARD_DAYS, later)
        finally:
            clock.use(lambda: NOW)

    def case_list() -> str:
        page = _admin(local, "GET", f"/cases?limit={PAGE}")
        return f"{len(page['cases'])} rows"

    def preview() -> str:
        shown = _admin(local, "POST", "/preview", {"index": 0})
        return f"{shown['channel']} rendered"

    def sample_pick() -> str:
        from recoup.services import sample_sends

        return f"currency {sample_sends._shop_currency(SHOP, None)}"

    def job(kind: str, who: Customer) -> Callable[[], str]:
        body = _privacy_job(kind, who, orders, 9_000 + size_number)
        return lambda: privacy.handle(body, now=NOW).detail

    # The rollups as the orders left them (every day in its shards), put back at the end.
    rollups_written = _rollup_items(client, table)
    clock.use(lambda: NOW)
    try:
        timed(DASHBOARD_CATCH_UP, lambda: dashboard(DASHBOARD_DAYS))
        timed(DASHBOARD_90, lambda: dashboard(DASHBOARD_DAYS))
        timed(DASHBOARD_ALL, lambda: dashboard(None))
        timed(DASHBOARD_DAILY, first_of_day)
        timed(CASE_LIST, case_list)
        timed(PREVIEW, preview)
        timed(SAMPLE_PICK, sample_pick)
        timed(CUSTOMER_REDACT, job("customers/redact", customer(size_number)))
        # Held before the data request: customers/redact reads every data-request marker of
        # the shop (30 days), so the markers this benchmark writes must not pile up.
        held = [] if last else _table_items(client, table)
        timed(DATA_REQUEST, job("customers/data_request", customer(CUSTOMERS - 1)))
        timed(SHOP_REDACT, job("shop/redact", customer(0)))
        _restore(client, table, held)  # the shop grows on (nothing to do after the last size)
        if not last:
            _unfold(client, table, rollups_written)
        shops.forget()
    finally:
        clock.use(None)
    return out


def run(
    progress: Callable[[str], None] | None = None, sizes: Sequence[int] = SIZES
) -> GrowthResult:
    from recoup import aws
    from recoup.services import shops
    from recoup.settings import get_settings
    from recoup.store import bind
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    if len(sizes) > CUSTOMERS - 1 or sizes[0] < 6 * CUSTOMERS:
        raise BenchError("each size erases a customer of its own; the first holds them all")
    say = progress or (lambda _: None)
    saved = dict(os.environ)
    for name in ("RECOUP_STRIPE_API_KEY", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    orders = _Orders(Deliveries())
    runs: list[SizeRun] = []
    try:
        with ExitStack() as stack:
            stack.enter_context(_quiet_stdout())
            local = stack.enter_context(in_process())
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message="No application metrics")
            warnings.filterwarnings("ignore", module="jwt")
            aws.reset()
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone="America/New_York")
            client = bind.connection().client
            table = get_settings().table_name
            written = 0
            for number, size in enumerate(sizes):
                say(f"growth: writing orders {written:,} to {size:,}")
                started = time.perf_counter()
                _fill(orders, written, size)
                seconds = time.perf_counter() - started
                written = size
                say(f"growth: measuring at {size:,} cases")
                count = len(_table_items(client, table))
                last = number == len(sizes) - 1
                measured = _measure(local, orders, number, client, table, last=last)
                runs.append(SizeRun(size, count, seconds, measured))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    return GrowthResult(runs)


def main() -> None:  # pragma: no cover - a quick look: python -m benchmarks.growth
    import sys

    sizes = tuple(int(n) for n in sys.argv[1:]) or SIZES
    started = time.perf_counter()
    result = run(lambda m: print(f"  .. [{time.perf_counter() - started:4.0f} s] {m}"), sizes)
    for r in result.runs:
        print(f"{r.cases:,} cases, {r.items_in_table:,} items, filled in {r.fill_seconds:.0f} s")
        for m in r.measured.values():
            print(
                f"   {m.request:<36} {m.items:7,} items {m.calls:5} calls {m.operations} {m.detail}"
            )
    for request in REQUESTS:
        print(
            f"{request:<36} {result.ratio(request):8.2f}  "
            + ("met" if result.met(request) else "NOT met")
        )


if __name__ == "__main__":  # pragma: no cover
    main()
