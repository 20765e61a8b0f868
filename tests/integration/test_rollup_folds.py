"""Rollup folds (store/rollups.py): a finished day's 16 shards folded into one day item and
its month, exactly once, under late and skewed writers and concurrent folds; and a
dashboard's reads bounded by the months and edge days it asks for, not by the cases."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from pynamodb.transactions import TransactWrite

from recoup import clock
from recoup.domain.rollup import Counters, RollupKey
from recoup.services import cases, figures
from recoup.store import cases as case_store
from recoup.store import rollups
from recoup.store.bind import connection
from tests.conftest import SHOP, event_bytes, shopify_headers

OPENED = date(2026, 11, 2)  # order_pending.json's day (UTC)
# The last moment a writer's clock still puts that day's changes in its shards, and the
# first at which a fold takes the day.
WRITER = datetime(2026, 11, 3, 23, 59, 30, tzinfo=UTC)
FOLDER = datetime(2026, 11, 4, 1, 0, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    rollups.forget()
    yield
    clock.use(None)


def _order_body(local: Any) -> str:
    from recoup.integrations import shopify

    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    event = shopify.normalise(shopify.read_delivery(headers), body)
    assert event is not None
    return json.dumps(event.to_dict())


@dataclass
class _Calls:
    transactions: list[list[str]] = field(default_factory=list)  # the pks each one wrote
    items_read: int = 0


@contextmanager
def _dynamodb(before_first_shard_write: Callable[[], None] | None = None) -> Iterator[_Calls]:
    """Every TransactWriteItems and the items every read returned; `before_first_shard_write`
    runs just before the first transaction that writes a rollup shard goes out (a fold
    landing between the writer's plan and its write)."""
    calls = _Calls()
    original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
    pending = [before_first_shard_write] if before_first_shard_write else []

    def call(client: BaseClient, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        if operation == "TransactWriteItems":
            pks = [_pk(entry) for entry in params["TransactItems"]]
            calls.transactions.append(pks)
            shards = [pk for pk in pks if pk.startswith(f"ROLLUP#{SHOP}#") and pk[-1].isdigit()]
            if pending and shards:
                pending.pop()()
        answer = original(client, operation, params)
        if operation in ("Query", "Scan"):
            calls.items_read += int(answer.get("ScannedCount", 0))
        elif operation == "GetItem":
            calls.items_read += 1 if answer.get("Item") else 0
        elif operation == "BatchGetItem":
            calls.items_read += sum(len(v) for v in answer.get("Responses", {}).values())
        return answer

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield calls


def _pk(entry: dict[str, Any]) -> str:
    body = next(iter(entry.values()))
    return str((body.get("Key") or body["Item"])["pk"]["S"])


def _case_writes(calls: _Calls) -> int:
    return sum(1 for pks in calls.transactions if any(pk.startswith("CASE#") for pk in pks))


def _rollup_items(local: Any, shop: str = SHOP) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    pages = ddb.get_paginator("scan").paginate(TableName=local.stack.refs["Table"])
    return [
        item
        for page in pages
        for item in page["Items"]
        if item["pk"]["S"].startswith(f"ROLLUP#{shop}#")
    ]


def _tracked() -> list[tuple[Any, Any]]:
    return [(s.case, s.dunning) for s in case_store.tracked_cases(SHOP)]


# ----------------------------------------------------------- a shard folded under a writer


def test_a_shard_folded_under_a_late_writer_sends_its_retry_to_the_day_item(local: Any) -> None:
    # Given an order opened on Nov 2, written at the last moment its day takes shard writes,
    # and a fold of that day landing between the worker's plan and its transaction
    body = _order_body(local)
    clock.use(lambda: WRITER)

    def fold_meanwhile() -> None:
        clock.use(lambda: FOLDER)  # time goes on while the transaction is on its way
        assert rollups.fold(SHOP) == OPENED

    with _dynamodb(before_first_shard_write=fold_meanwhile) as calls:
        applied = cases.apply_message(body)
    # Then the cancelled transaction was read again and retried once, into the day item
    assert applied is not None and not applied.duplicate
    assert _case_writes(calls) == 2
    assert [e.body["kind"] for e in cases.timeline(SHOP, applied.case_id)] == ["orders/create"]
    shards = [i for i in _rollup_items(local) if i["pk"]["S"].rsplit("#", 1)[1].isdigit()]
    assert shards and all("folded" in i and "w" not in i for i in shards)
    # and the figures count the case once
    shown = figures.for_shop(SHOP)
    assert shown == figures.compute(_tracked())
    assert shown.cases == 1


def test_a_writer_whose_clock_lags_the_fold_lands_on_its_third_try(local: Any) -> None:
    # Given a worker whose clock stays behind the fold's (more than the fold's margin)
    body = _order_body(local)
    clock.use(lambda: WRITER)

    def fold_elsewhere() -> None:
        assert rollups.fold(SHOP, now=FOLDER) == OPENED

    with _dynamodb(before_first_shard_write=fold_elsewhere) as calls:
        applied = cases.apply_message(body)
    # Then its retries did not loop, nor end as a concurrent update: the same change asked
    # for again goes to the day item from the third try on
    assert applied is not None and not applied.duplicate
    assert _case_writes(calls) == rollups.RETRIED_TO_DAY + 1
    clock.use(lambda: FOLDER)
    assert figures.for_shop(SHOP) == figures.compute(_tracked())
    assert figures.for_shop(SHOP).cases == 1


# ------------------------------------------------------------------------------- folds


def _write(shop: str, case_id: str, day: date, counters: Counters, at: datetime) -> None:
    clock.use(lambda: at)
    try:
        with TransactWrite(connection=connection()) as tx:
            for item, actions in rollups.updates(shop, case_id, {RollupKey(day, "USD"): counters}):
                tx.update(item, actions=actions)
    finally:
        clock.use(None)


def _totals(shop: str, now: datetime, **kwargs: Any) -> dict[str, int]:
    """Every counter of the shop's rows summed (months' weeks as cases)."""
    out: dict[str, int] = {}
    for _, counters in rollups.read(shop, None, None, now=now, **kwargs):
        for name, value in counters.items():
            name = "cases" if name.startswith("week:") and name.endswith(":cases") else name
            out[name] = out.get(name, 0) + value
    return out


def test_two_folds_at_once_fold_each_day_once(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given cases opened over three days
    for n in range(12):
        day = OPENED + timedelta(days=n % 3)
        _write(
            SHOP,
            f"c{n}",
            day,
            {"cases": 1, "owed": 100},
            datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=n),
        )
    now = datetime(2026, 11, 10, 12, tzinfo=UTC)
    # When a second fold commits between the first one's read and its commit
    commit = rollups._Batch.commit
    raced: list[bool] = []

    def another_first(batch: Any) -> bool:
        if not raced:
            raced.append(True)
            assert rollups.fold(SHOP, now=now) == rollups.fold_cutoff(now)
        return commit(batch)

    monkeypatch.setattr(rollups._Batch, "commit", another_first)
    # Then the first one's transaction is cancelled, and it returns the winner's watermark
    assert rollups.fold(SHOP, now=now) == rollups.fold_cutoff(now)
    # and every case is counted once, from the day items (no shard is read any more)
    day_items = [i for i in _rollup_items(local) if i["pk"]["S"].endswith("#D")]
    assert sorted(int(i["cases"]["N"]) for i in day_items if "cases" in i) == [4, 4, 4]
    assert _totals(SHOP, now, fold_first=False) == {"cases": 12, "owed": 1200}


def test_a_write_between_a_folds_read_and_its_commit_cancels_the_fold(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a case opened on Nov 2
    _write(SHOP, "a", OPENED, {"cases": 1}, datetime(2026, 11, 2, 9, tzinfo=UTC))
    commit = rollups._Batch.commit
    wrote: list[bool] = []

    def write_first(batch: Any) -> bool:
        if not wrote:  # a writer whose clock still calls Nov 2 open writes its shard
            wrote.append(True)
            _write(SHOP, "a", OPENED, {"owed": 700}, WRITER)
        return commit(batch)

    monkeypatch.setattr(rollups._Batch, "commit", write_first)
    # When the fold commits after the write it had not read
    assert rollups.fold(SHOP, now=FOLDER) is None
    # Then nothing of it was written, and the next fold takes the write in
    assert rollups.fold(SHOP, now=FOLDER) == OPENED
    assert _totals(SHOP, FOLDER, fold_first=False) == {"cases": 1, "owed": 700}


def test_the_shards_of_the_earlier_layout_are_read_and_folded(local: Any) -> None:
    # Given a shard item as the previous version wrote them (one per day and currency)
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    ddb.put_item(
        TableName=local.stack.refs["Table"],
        Item={
            "pk": {"S": f"ROLLUP#{SHOP}#5"},
            "sk": {"S": "2026-11-02#EUR"},
            "cases": {"N": "2"},
            "owed": {"N": "300"},
        },
    )
    # Then it is read while its day is open, and folded into its day like the others
    assert _totals(SHOP, WRITER, fold_first=False) == {"cases": 2, "owed": 300}
    assert rollups.fold(SHOP, now=FOLDER) == OPENED
    assert _totals(SHOP, FOLDER, fold_first=False) == {"cases": 2, "owed": 300}
    day = [i for i in _rollup_items(local) if i["sk"]["S"] == "2026-11-02#EUR"]
    assert {i["pk"]["S"].rsplit("#", 1)[1] for i in day} == {"5", "D"}
    assert all("folded" in i for i in day)


def test_a_merge_of_cases_of_one_old_day_updates_its_day_and_month_once(local: Any) -> None:
    # Given two cases of different shards but the same late partition, and a third of
    # another late partition, opened on the same day a month ago, changed in one transaction
    # (a merge)
    old = RollupKey(date(2026, 10, 5), "USD")
    ids = ["1001", "1007", "1002"]
    shards = [rollups.shard_of(i) for i in ids]
    assert shards[0] != shards[1] and shards[0] % 4 == shards[1] % 4 == 3
    assert shards[2] % 4 == 1
    clock.use(lambda: FOLDER)
    planned = rollups.updates_of(SHOP, [(i, {old: {"cases": 1, "owed": 50}}) for i in ids])
    # Then they name each item once: the day and the month of each late partition, nothing
    # in the shards
    named = sorted(item.pk.rsplit("#", 1)[1] for item, _ in planned)
    assert named == ["D1", "D3", "M1", "M3"]
    with TransactWrite(connection=connection()) as tx:
        for item, actions in planned:
            tx.update(item, actions=actions)
    # and a read sums the partitions: every case once
    assert _totals(SHOP, FOLDER) == {"cases": 3, "owed": 150}


# ------------------------------------------------------------------------------- reads


def _fill(shop: str, per_day: int, first: date, days: int) -> list[tuple[Any, Any]]:
    """`per_day` cases opened each day, written when they open (in their day's shards)."""
    from recoup.domain import rollup
    from recoup.domain.money import Money
    from tests.unit.test_figures import case

    made = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        for n in range(per_day):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=n % 24)
            opened = case(f"{shop}-{offset}-{n}", Money("USD", 1_000 + n), opened=at)
            contribution = rollup.contribution(opened, None)
            assert contribution is not None
            key, counters = contribution
            _write(shop, opened.case_id, key.day, counters, at + timedelta(seconds=1))
            made.append((opened, None))
    return made


def test_a_dashboard_reads_months_edge_days_and_open_shards_whatever_the_cases(
    local: Any,
) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    start = datetime(2026, 9, 2, tzinfo=UTC)  # 90 days back
    read: dict[int, tuple[int, int]] = {}
    for per_day in (1, 6):
        shop = f"size-{per_day}.myshopify.com"
        made = _fill(shop, per_day, date(2026, 8, 1), 122)  # Aug 1 to Nov 30
        clock.use(lambda: now)
        figures.for_shop(shop, start=start, end=now)  # the first read folds
        with _dynamodb() as calls:
            shown = figures.for_shop(shop, start=start, end=now)
        with _dynamodb() as all_time:
            everything = figures.for_shop(shop)
        clock.use(None)
        assert shown == figures.compute(made, start=start, end=now)
        assert everything == figures.compute(made)
        assert not [t for t in calls.transactions + all_time.transactions]  # nothing to fold
        read[per_day] = (calls.items_read, all_time.items_read)
        # every rollup item is listed in the shop index, so shop/redact finds it
        assert all("shop_part" in i and "shop_sort" in i for i in _rollup_items(local, shop))
    # the watermark, 3 months (Oct, Nov, Dec), 29 edge days (Sep 2-30), the open days' shards
    bound_90 = 1 + 3 + 29 + 16 * 2
    assert read[1][0] <= read[6][0] <= bound_90
    assert read[1][0] >= 1 + 3 + 29
    # all time: the watermark, 5 months (Aug to Dec), the open days' shards; no day item
    assert read[1][1] <= read[6][1] <= 1 + 5 + 16 * 2


def test_a_read_that_meets_a_fold_counts_each_change_once(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given cases opened over October and November, their days folded by now
    made = _fill(SHOP, 2, date(2026, 10, 20), 20)
    now = datetime(2026, 11, 12, 12, tzinfo=UTC)
    assert rollups.fold(SHOP, now=now) == rollups.fold_cutoff(now)
    # When a read took the watermark before that fold (so it reads the shards of the days
    # the fold took, which keep their counters)
    monkeypatch.setattr(rollups, "watermark", lambda shop: None)
    clock.use(lambda: now)

    # Then the months' `through` and the days' `folded` keep those shards out: each case
    # once, over a month and its edges, over days within a month, and over all time
    def midnight(day: date | None) -> datetime | None:
        return None if day is None else datetime.combine(day, datetime.min.time(), UTC)

    for first, stop in (
        (date(2026, 10, 25), date(2026, 11, 13)),
        (date(2026, 11, 3), date(2026, 11, 8)),
        (None, None),
    ):
        rows = rollups.read(SHOP, first, stop, fold_first=False)
        expected = figures.compute(made, start=midnight(first), end=midnight(stop))
        assert figures.from_rollups(rows) == expected, (first, stop)


def test_a_fold_goes_on_where_the_last_one_stopped(local: Any) -> None:
    # Given cases opened over ten days, and folds that take three days at a time
    made = _fill(SHOP, 3, date(2026, 10, 20), 10)
    now = datetime(2026, 11, 12, 12, tzinfo=UTC)
    clock.use(lambda: now)
    first = rollups.fold(SHOP, now=now, days=3)
    assert first == date(2026, 10, 22)
    # Then a read between them counts the days folded and the days not yet folded once each
    rows = rollups.read(SHOP, None, None, now=now, fold_first=False)
    assert figures.from_rollups(rows) == figures.compute(made)
    # and the next fold (the dashboard's) goes on from the watermark to the last day due
    assert figures.for_shop(SHOP) == figures.compute(made)
    assert rollups.watermark(SHOP) == rollups.fold_cutoff(now)
