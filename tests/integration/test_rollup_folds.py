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
from recoup.domain.aggregate import StoredCase
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


def _tracked() -> list[StoredCase]:
    return list(case_store.tracked_cases(SHOP))


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
    shards = [
        i
        for i in _rollup_items(local)
        if i["pk"]["S"].rsplit("#", 1)[1].isdigit() and i["sk"]["S"] == OPENED.isoformat()
    ]
    assert len(shards) == rollups.ROLLUP_SHARDS
    assert all("folded" in i and "w" not in i for i in shards)
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


def _write(
    shop: str, case_id: str, day: date, counters: Counters, at: datetime, currency: str = "USD"
) -> None:
    clock.use(lambda: at)
    try:
        with TransactWrite(connection=connection()) as tx:
            change = {RollupKey(day, currency): counters}
            for item, actions in rollups.updates(shop, case_id, change):
                tx.update(item, actions=actions)
    finally:
        clock.use(None)


def _totals(shop: str, now: datetime, **kwargs: Any) -> dict[str, int]:
    """Every counter of the shop's rows summed (months' days as cases)."""
    out: dict[str, int] = {}
    for _, counters in rollups.read(shop, None, None, now=now, **kwargs):
        for name, value in counters.items():
            name = "cases" if name.startswith("day:") and name.endswith(":cases") else name
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


def test_the_items_of_an_earlier_rollup_version_are_never_read_nor_folded(local: Any) -> None:
    # Given a shard and a month as the previous rollup version wrote them (its counters)
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    table = local.stack.refs["Table"]
    old = {"cases": {"N": "2"}, "owed": {"N": "300"}}
    ddb.put_item(
        TableName=table, Item={"pk": {"S": f"ROLLUP#{SHOP}#5"}, "sk": {"S": "2026-11-02"}, **old}
    )
    ddb.put_item(
        TableName=table, Item={"pk": {"S": f"ROLLUP#{SHOP}#M"}, "sk": {"S": "2026-10#EUR"}, **old}
    )
    # and one change of the current version
    _write(SHOP, "a", OPENED, {"cases": 1}, datetime(2026, 11, 2, 9, tzinfo=UTC))
    # Then only the current version's counters are read, open or folded
    assert _totals(SHOP, WRITER, fold_first=False) == {"cases": 1}
    assert rollups.fold(SHOP, now=FOLDER) == OPENED
    assert _totals(SHOP, FOLDER, fold_first=False) == {"cases": 1}
    # and the earlier items are left as they were
    kept = [i for i in _rollup_items(local) if f"#{rollups.VERSIONED}#" not in i["pk"]["S"]]
    assert len(kept) == 2 and not any("folded" in i for i in kept)


def test_a_merge_of_cases_of_one_old_day_updates_its_day_and_month_once(local: Any) -> None:
    # Given two cases of different shards but the same late partition, and a third of
    # another late partition, opened on the same day a month ago, changed in one transaction
    # (a merge)
    old = RollupKey(date(2026, 10, 5), "USD")
    late = rollups.LATE_SHARDS
    candidates = [str(n) for n in range(1000, 1400)]
    first = next(i for i in candidates if rollups.shard_of(i) % late == 3)
    second = next(
        i
        for i in candidates
        if rollups.shard_of(i) % late == 3 and rollups.shard_of(i) != rollups.shard_of(first)
    )
    third = next(i for i in candidates if rollups.shard_of(i) % late == 1)
    ids = [first, second, third]
    shards = [rollups.shard_of(i) for i in ids]
    assert shards[0] != shards[1] and shards[0] % late == shards[1] % late == 3
    assert shards[2] % late == 1
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


def _fill(shop: str, per_day: int, first: date, days: int) -> list[StoredCase]:
    """`per_day` cases opened each day, written when they open (in their day's shards)."""
    from recoup.domain import rollup
    from recoup.domain.money import Money
    from tests.unit.test_figures import case, held

    made = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        for n in range(per_day):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=n % 24)
            opened = case(f"{shop}-{offset}-{n}", Money("USD", 1_000 + n), opened=at)
            for key, counters in rollup.contribution(opened, None).items():
                _write(shop, opened.case_id, key.day, counters, at + timedelta(seconds=1))
            made.append(held(opened))
    return made


def _late_changes(shop: str, made: list[StoredCase], at: datetime) -> list[StoredCase]:
    """Every third case paid at `at` after a reminder: a change to its opening day, no
    longer open, goes to its day and month items in its late partition."""
    from recoup.domain import rollup
    from tests.unit.test_figures import case, held, reminders, sent

    changed = []
    for n, before in enumerate(made):
        opened, owed = before.case.opened_at, before.case.owed_when_open
        assert opened is not None and owed is not None
        if n % 3:
            changed.append(before)
            continue
        after = held(
            case(before.case.case_id, owed, opened=opened, paid_at=at),
            reminders(sent(0, "email", opened + timedelta(hours=1))),
        )
        change = rollup.delta(
            rollup.contribution(before.case, None),
            rollup.contribution(after.case, after.dunning),
        )
        for key, counters in change.items():
            _write(shop, before.case.case_id, key.day, counters, at)
        changed.append(after)
    return changed


@pytest.mark.slow  # writes a shop at several sizes
def test_a_dashboard_reads_the_same_items_whatever_the_cases(local: Any) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    start = datetime(2026, 9, 2, tzinfo=UTC)  # 90 days back
    read: dict[str, tuple[int, int]] = {}
    # Given a shop with one case, on Aug 1, and one with six cases a day from Aug 1 to Nov
    # 30, a third of them paid weeks later (late changes, in every late partition)
    for name, per_day, days in (("one", 1, 1), ("many", 6, 122)):
        shop = f"{name}.myshopify.com"
        made = _fill(shop, per_day, date(2026, 8, 1), days)
        if name == "many":
            made = _late_changes(shop, made, now - timedelta(hours=1))
        clock.use(lambda: now)
        figures.for_shop(shop, start=start, end=now)  # the first read folds
        # When a dashboard reads the last 90 days, and all time
        with _dynamodb() as calls:
            shown = figures.for_shop(shop, start=start, end=now)
        with _dynamodb() as all_time:
            everything = figures.for_shop(shop)
        clock.use(None)
        assert shown == figures.compute(made, start=start, end=now)
        assert everything == figures.compute(made)
        assert not calls.transactions + all_time.transactions  # nothing to fold
        read[name] = (calls.items_read, all_time.items_read)
        # every rollup item is listed in the shop index, so shop/redact finds it
        assert all("shop_part" in i and "shop_sort" in i for i in _rollup_items(local, shop))
    # Then both read the same items: the watermark; each month and edge day in every
    # partition: 3 months (Oct, Nov, Dec) and 29 edge days (Sep 2-30); and the shards of
    # the days not folded (Nov 30, Dec 1)
    late = rollups.LATE_SHARDS
    assert read["one"][0] == read["many"][0] == 1 + late * (3 + 29) + rollups.ROLLUP_SHARDS * 2
    # all time: the months from the first (Aug to Dec), the shards after the watermark
    # (Nov 30 to Dec 2: tomorrow's are in place too); no day item
    assert read["one"][1] == read["many"][1] == 1 + late * 5 + rollups.ROLLUP_SHARDS * 3


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
        shown = figures.from_rollups(rows, start=midnight(first), end=midnight(stop))
        assert shown == expected, (first, stop)


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


# ------------------------------------------------------------------ items put in place


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _read_30_days(
    shop: str,
    now: datetime,
    made: list[StoredCase],
    *,
    currency: str | None = None,
    fold_first: bool = True,
) -> _Calls:
    """A dashboard's read of the last 30 days at `now`, its figures checked against the
    cases."""
    start = _midnight(now.date() - timedelta(days=30))
    with _dynamodb() as calls:
        rows = list(
            rollups.read(
                shop, start.date(), now.date() + timedelta(days=1), now=now, fold_first=fold_first
            )
        )
    shown = figures.from_rollups(rows, start=start, end=now, currency=currency)
    assert shown == figures.compute(made, start=start, end=now, currency=currency)
    return calls


def _as_the_layout_before(local: Any, shop: str) -> None:
    """The shop's rollups as the layout before this one leaves them: no item without
    counters, nothing on the watermark but `through`."""
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    table = local.stack.refs["Table"]
    keys_only = {"pk", "sk", "shop_part", "shop_sort"}
    for item in _rollup_items(local, shop):
        if set(item) <= keys_only:
            ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": rollups.days_pk(shop)}, "sk": {"S": rollups.WATERMARK}},
        UpdateExpression="REMOVE since, ready, currencies",
    )


NOV_12 = datetime(2026, 11, 12, 12, tzinfo=UTC)
# The last 30 days at NOV_12: the watermark; November as a month and Oct 13-31 as edge
# days, in every late partition; the shards of Nov 11 and 12, not folded yet.
READ_30_DAYS = 1 + rollups.LATE_SHARDS * (1 + 19) + rollups.ROLLUP_SHARDS * 2


def test_a_shop_folded_by_the_layout_before_reads_every_item_after_its_next_read(
    local: Any,
) -> None:
    # Given a shop whose days were folded before the days' items were put in place
    made = _fill(SHOP, 1, date(2026, 10, 20), 20)
    assert rollups.fold(SHOP, now=NOV_12) == rollups.fold_cutoff(NOV_12)
    _as_the_layout_before(local, SHOP)
    assert _read_30_days(SHOP, NOV_12, made, fold_first=False).items_read < READ_30_DAYS
    # When the dashboard reads it: the first read puts the items of its history in place
    first = _read_30_days(SHOP, NOV_12, made)
    assert first.transactions
    # Then the next reads every item it names, as a shop folded by this layout does
    again = _read_30_days(SHOP, NOV_12, made)
    assert (again.items_read, again.transactions) == (READ_30_DAYS, [])
    mark = rollups._mark(SHOP)
    assert (mark.since, mark.ready, mark.currencies) == (
        date(2026, 10, 1),
        NOV_12.date() + timedelta(days=1),
        frozenset({"USD"}),
    )


def test_a_new_currency_has_its_items_put_in_place_from_the_first_day(local: Any) -> None:
    # Given a shop in USD, read and folded
    made = _fill(SHOP, 2, date(2026, 10, 20), 20)
    _read_30_days(SHOP, datetime(2026, 11, 10, 12, tzinfo=UTC), made)
    # When its first case in EUR opens, and its day is folded
    from recoup.domain import rollup
    from recoup.domain.money import Money
    from tests.unit.test_figures import case, held

    opened = datetime(2026, 11, 10, 10, tzinfo=UTC)
    euros = case("eur-1", Money("EUR", 5_000), opened=opened)
    for key, counters in rollup.contribution(euros, None).items():
        _write(SHOP, euros.case_id, key.day, counters, opened + timedelta(seconds=1), "EUR")
    made.append(held(euros))
    _read_30_days(SHOP, NOV_12, made)
    # Then a read finds every item of both currencies in place, from the shop's first month
    for currency in ("USD", "EUR"):
        calls = _read_30_days(SHOP, NOV_12, made, currency=currency)
        assert calls.items_read == READ_30_DAYS + rollups.LATE_SHARDS * (1 + 19)
    assert rollups._mark(SHOP).currencies == frozenset({"USD", "EUR"})
    for sk in ("2026-10-01#EUR", "2026-10#EUR"):  # Oct 1's day items, October's month items
        assert len([i for i in _rollup_items(local) if i["sk"]["S"] == sk]) == rollups.LATE_SHARDS


def test_items_put_in_place_meeting_a_write_are_put_in_place_by_the_next_read(
    local: Any,
) -> None:
    # Given cases of three weeks, and a write that cancels the transaction putting the
    # items in place (it holds no addition: the items' shop index keys only)
    made = _fill(SHOP, 1, date(2026, 10, 20), 20)
    original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]

    def cancelled(client: BaseClient, operation: str, params: Any) -> Any:
        updates = [entry.get("Update", {}) for entry in params.get("TransactItems", [])]
        if updates and all(
            "ADD" not in u.get("UpdateExpression", "") and "ConditionExpression" not in u
            for u in updates
        ):
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}}
            raise client.exceptions.TransactionCanceledException(error, operation)
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", cancelled):
        # When the fold's read folds, then meets the write
        assert rollups.fold(SHOP, now=NOV_12) == rollups.fold_cutoff(NOV_12)
    # Then nothing says its items are in place, and the figures are right all the same
    assert rollups._mark(SHOP).ready is None
    assert _read_30_days(SHOP, NOV_12, made).transactions  # the next read puts them
    assert _read_30_days(SHOP, NOV_12, made).items_read == READ_30_DAYS


# ------------------------------------------------------------ through the store, upgraded


def _apply(local: Any, name: str, topic: str, at: datetime) -> str:
    from recoup.integrations import shopify

    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=name)
    event = shopify.normalise(shopify.read_delivery(headers), body)
    assert event is not None
    clock.use(lambda: at)
    applied = cases.apply_event(event, now=at)
    assert applied is not None
    return applied.case_id


def _send_step_1(case_id: str, at: datetime) -> None:
    from recoup.domain.dunning import Dunning, DunningStatus, SentMessage

    message = SentMessage(0, "email", at, "ses-1", "friendly_reminder", 189_900, "USD")

    def record(prior: StoredCase | None) -> Any:
        assert prior is not None
        dunning = prior.dunning or Dunning(DunningStatus.SCHEDULED)
        return case_store.Progress(lambda written: written, dunning=dunning.record(message))

    clock.use(lambda: at)
    case_store.change(SHOP, case_id, record, now=at)


def _write_off(case_id: str, at: datetime) -> None:
    from recoup.domain.referral import Referrals, WriteOff

    def write_off(prior: StoredCase | None) -> Any:
        assert prior is not None
        referrals = (prior.referrals or Referrals()).write_off(WriteOff(at, "too small", "1"))
        entry = case_store.recoup_entry(
            prior,
            source="admin",
            kind="write_off",
            event_id="write-off-1",
            summary="written off",
            effect="written off",
            now=at,
        )
        return case_store.Change(prior.case, entry, None, referrals=referrals)

    clock.use(lambda: at)
    case_store.change(SHOP, case_id, write_off, now=at)


def _shown(at: datetime) -> figures.Figures:
    clock.use(lambda: at)
    shown = figures.for_shop(SHOP, start=datetime(2026, 11, 1, tzinfo=UTC), end=at)
    assert shown == figures.compute(_tracked(), start=datetime(2026, 11, 1, tzinfo=UTC), end=at)
    return shown


def test_a_write_off_and_a_payment_through_the_store_move_the_figures(local: Any) -> None:
    # Given an order of USD 1,899.00 opened on Nov 2 and its step 1 email sent on Nov 3
    case_id = _apply(local, "order_pending", "orders/create", datetime(2026, 11, 2, 16, tzinfo=UTC))
    _send_step_1(case_id, datetime(2026, 11, 3, 9, tzinfo=UTC))
    shown = _shown(datetime(2026, 11, 3, 10, tzinfo=UTC))
    assert (shown.currency, shown.cases, shown.contacted_cases) == ("USD", 1, 1)
    assert shown.outstanding.minor + shown.fraud_flagged.minor == 189_900
    # When the merchant writes it off
    _write_off(case_id, datetime(2026, 11, 3, 12, tzinfo=UTC))
    # Then its amount leaves what is outstanding
    shown = _shown(datetime(2026, 11, 3, 13, tzinfo=UTC))
    assert (shown.written_off.minor, shown.written_off.cases) == (189_900, 1)
    assert (shown.outstanding.cases, shown.fraud_flagged.cases) == (0, 0)
    assert shown.by_state == {"open": 0, "paid": 0, "cancelled": 0, "written_off": 1}
    # and when the customer pays on Nov 4 after all, it was recovered a day after the email
    _apply(local, "order_paid", "orders/paid", datetime(2026, 11, 4, 14, tzinfo=UTC))
    shown = _shown(datetime(2026, 11, 6, 9, tzinfo=UTC))  # Nov 2's shards folded by now
    assert (shown.recovered.minor, shown.recovered.cases, shown.written_off.cases) == (
        189_900,
        1,
        0,
    )
    assert shown.by_state == {"open": 0, "paid": 1, "cancelled": 0, "written_off": 0}
    assert [(c.step, c.channel, c.sent, c.paid_within) for c in shown.conversion] == [
        (1, "email", 1, 1)
    ]
    paid_days = [(p.day, p.minor) for p in shown.recovered_over_time if p.cases]
    assert paid_days == [(date(2026, 11, 4), 189_900)]
    assert shown.recovery_rate == 1.0


def _as_before_the_upgrade(local: Any) -> None:
    """The table as an earlier version left it: case items counted under no current
    version, no rollup item of the current version."""
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    table = local.stack.refs["Table"]
    for item in _rollup_items(local):
        if f"#{rollups.VERSIONED}#" in item["pk"]["S"]:
            ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    for held in _tracked():
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": f"CASE#{SHOP}#{held.case.case_id}"}, "sk": {"S": "CASE"}},
            UpdateExpression="REMOVE rollup_version",
        )


def test_the_upgrade_counts_every_case_once_and_a_second_run_nothing(local: Any) -> None:
    from recoup.store import rollup_upgrade

    # Given a case stored by the version before, and no rollups of the current one
    case_id = _apply(local, "order_pending", "orders/create", datetime(2026, 11, 2, 16, tzinfo=UTC))
    _send_step_1(case_id, datetime(2026, 11, 3, 9, tzinfo=UTC))
    _as_before_the_upgrade(local)
    later = datetime(2026, 11, 6, 9, tzinfo=UTC)
    clock.use(lambda: later)
    assert figures.for_shop(SHOP).cases == 0
    assert rollups._mark(SHOP).ready == later.date() + timedelta(days=1)
    # When the upgrade's count runs, is interrupted and runs again
    first = rollup_upgrade.count_all(shop=SHOP)
    assert (rollups._mark(SHOP).since, rollups._mark(SHOP).ready) == (None, None)
    second = rollup_upgrade.count_all(shop=SHOP)
    # Then the case was counted once, whole, and the second run found nothing to count
    assert (first.counted, second.counted, second.already) == (1, 0, 0)
    shown = _shown(later)
    assert (shown.cases, shown.contacted_cases) == (1, 1)
    # and the next read put the items in place again, from the first month it wrote to
    held = rollups._mark(SHOP)
    assert (held.since, held.ready) == (date(2026, 11, 1), later.date() + timedelta(days=1))
    # and its next write adds only what changed
    _apply(local, "order_paid", "orders/paid", datetime(2026, 11, 6, 10, tzinfo=UTC))
    shown = _shown(datetime(2026, 11, 6, 11, tzinfo=UTC))
    assert (shown.cases, shown.recovered.cases, shown.recovered.minor) == (1, 1, 189_900)


def test_a_case_written_before_the_count_reached_it_is_counted_whole_by_that_write(
    local: Any,
) -> None:
    # Given a case stored by the version before
    case_id = _apply(local, "order_pending", "orders/create", datetime(2026, 11, 2, 16, tzinfo=UTC))
    _as_before_the_upgrade(local)
    # When an event changes it before the count came to it
    _send_step_1(case_id, datetime(2026, 11, 3, 9, tzinfo=UTC))
    _apply(local, "order_paid", "orders/paid", datetime(2026, 11, 4, 14, tzinfo=UTC))
    # Then that write counted it whole, and the count leaves it alone
    from recoup.store import rollup_upgrade

    report = rollup_upgrade.count_all(shop=SHOP)
    assert (report.counted, report.empty, report.already) == (0, 0, 0)
    shown = _shown(datetime(2026, 11, 6, 9, tzinfo=UTC))
    assert (shown.cases, shown.recovered.cases, shown.recovered.minor) == (1, 1, 189_900)
