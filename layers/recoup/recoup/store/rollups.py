"""The shop's figures as rollup items: counters per UTC day and currency (domain/rollup.py:
a case's opening day, and the day a recovered case was paid), added to in the same
transaction as the case change they follow, and folded so that a dashboard reads a bounded
number of items, whatever the shop's size and history (docs/data-model.md, "Figures as
rollups").

Every key carries the counters' version (`v<rollup.VERSION>`, `VERSIONED`): the items of an
earlier version are never read nor written again, and `store/rollup_upgrade.py` counts every
case once under the new one.

pk                       sk                   item
ROLLUP#<shop>#v3#<n>     <day>                shard n (< 16) of a day: `<currency>:<counter>`,
                                              `w` (its writes), `folded` once folded
ROLLUP#<shop>#v3#D       <day>#<currency>     the day: counters; `folded` once its shards are in
ROLLUP#<shop>#v3#D       WATERMARK            `through`: every day up to it is folded;
                                              `since`, `ready`, `currencies`: the days and
                                              currencies whose items are in place
ROLLUP#<shop>#v3#M       <month>#<currency>   the sum of the month's day items (the daily
                                              series under their day); `through`: the last
                                              day folded in
ROLLUP#<shop>#v3#D<k>,   as #D and #M         (k = 1..7) late changes of a share of the cases:
ROLLUP#<shop>#v3#M<k>                         counters only; `#D` and `#M` take the rest

Writes. A case's change to a day its writer's clock still calls open (today or yesterday,
UTC) goes to the case's shard of that day, conditioned on the shard not being folded, so a
busy day's writes spread over 16 items; a change to an older day goes to that day's item and
its month's item in the case's late partition (k = its shard mod 8), in the same transaction
(a day item and its month always change together, so a month holds the sum of its day items,
partition by partition). The case's version condition makes the
transaction, and so every change, land exactly once.

Folds. Once a day is two days behind the clock (and an hour more, the margin for clocks
that disagree), `fold` moves it out of the shards: one TransactWriteItems marks its 16 shard
items folded (each conditioned on its write counter being what was read, or on being absent)
and adds their sum to the day's and the month's items, the day item conditioned on not being
folded yet and the watermark on being where it was read. The watermark makes the folds go in
order, exactly once each; two concurrent folds: one transaction wins, the other re-reads.
A fold copies and never moves: a shard keeps its counters, so every read, however its items
interleave with a fold, counts each change once (see `read`).

Items in place. Once every finished day is folded, `fold` puts in place the items a read
may name that do not exist yet, up to tomorrow: for each day and currency its day item in the
8 partitions, for each month its 8 month items, and the 16 shards of each day not folded;
empty but for the shop index's keys (an update with no condition: it adds nothing, and a
write or a fold adds to it later). The watermark item notes what is in place: every day from
`since` (the shop's first month) to `ready`, for each of `currencies` (those of the shards
folded and of the month items at the first time). A new currency has its items put in place
from `since` too; a count (`store/rollup_upgrade.py`) has them put in place again. Per day,
one transaction of 16 + 8 × currencies items; the first time, the shop's history (400 days
a call).

Reads. `read` folds what is due, then reads the month items of the whole months in the
period, the day items of the days at its edges (each summed over its 8 partitions), and the
shards of the days not yet folded. With every item in place that is exactly 1 + 8 ×
(months + edge days) × currencies + 16 × (days after the watermark: 2, 3 in the hour after
midnight, and tomorrow's for a period without an end) items of the days from `since` on:
what a read names depends on the period, the clock, the shop's currencies and its first
month, never on its cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection.table import TableConnection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Action, Update

from recoup import aws, clock
from recoup.domain import rollup
from recoup.domain.rollup import Counters, RollupKey
from recoup.observability import logger
from recoup.settings import get_settings
from recoup.store.models import ROLLUP, RollupItem, shop_part

# Each case change adds to one item of its opening day: with 16 shards a shop opening 1,000
# cases a second updates each of that day's items about 60 times a second (docs/data-model.md).
ROLLUP_SHARDS = 16
# Today and yesterday (UTC, by the writer's clock) take their writes in shards.
OPEN_DAYS = 2
# Changes to days no longer open (a payment days after its order) go to one of LATE_SHARDS
# day items and month items, by case: LATE_SHARDS partitions each take 1,000 WCU/s, and a
# read sums them (docs/data-model.md).
LATE_SHARDS = 8
# A day is folded an hour after its shards close: clocks may disagree by less than that.
FOLD_MARGIN = timedelta(hours=1)
# A fold marks absent shards folded too for the last MARK_DAYS foldable days (a writer's
# clock would have to be a day off to write a shard of an older day), and keeps folded
# shards a week (TTL): the reads never look at them again.
MARK_DAYS = 2
FOLDED_SHARD_TTL = timedelta(days=7)
# The days one call folds at most (a year: a shop's first read after the upgrade).
FOLD_DAYS = 366
# The items of the days up to tomorrow are put in place ahead of their first read (and
# of the writes: tomorrow's shards exist before tomorrow's first write); at most 400 days
# a call: the days a first fold folds, from their month's first day, up to tomorrow.
PREPARE_AHEAD = 1
PREPARE_DAYS = 400
# A retried write (the same case asking for the same change again) for yesterday goes to
# the day item from this attempt on: its shard may have been folded under it.
RETRIED_TO_DAY = 2
_RETRY_SECONDS = 60.0
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit

WATERMARK = "WATERMARK"
_NOT_COUNTERS = frozenset(
    {"pk", "sk", "shop_part", "shop_sort", "w", "folded", "expires_at", "through"}
)


# The counters' version in every key: items of another version are never read or written.
VERSIONED = f"v{rollup.VERSION}"


def rollup_pk(shop: str, shard: int) -> str:
    return f"ROLLUP#{shop}#{VERSIONED}#{shard}"


def days_pk(shop: str, late: int = 0) -> str:
    """The day items' partition: the first holds the folds and the watermark, each holds the
    changes of its share of the cases to days no longer open (`LATE_SHARDS`)."""
    return f"ROLLUP#{shop}#{VERSIONED}#D{late or ''}"


def months_pk(shop: str, late: int = 0) -> str:
    return f"ROLLUP#{shop}#{VERSIONED}#M{late or ''}"


def shard_of(case_id: str) -> int:
    return hashlib.sha256(case_id.encode()).digest()[1] % ROLLUP_SHARDS


def fold_cutoff(now: datetime) -> date:
    """The last day a fold at `now` may fold: no writer still writes its shards."""
    return (now - FOLD_MARGIN).astimezone(UTC).date() - timedelta(days=OPEN_DAYS)


def _day_sk(day: date, currency: str) -> str:
    return f"{day.isoformat()}#{currency}"


def _month_sk(month: date, currency: str) -> str:
    return f"{month.isoformat()[:7]}#{currency}"


# ------------------------------------------------------------------------------- writes
@dataclass
class _Write:
    """One rollup item's update: counters to add, attributes to set, its condition."""

    pk: str
    sk: str
    add: dict[str, int] = field(default_factory=dict)
    sets: dict[str, str | int] = field(default_factory=dict)
    condition: Condition | None = None

    def actions(self, shop: str) -> list[Action]:
        sets: dict[str, str | int] = {
            "shop_part": shop_part(shop, f"{self.pk}#{self.sk}"),
            "shop_sort": f"{ROLLUP}{self.pk}#{self.sk}",
            **self.sets,
        }
        return [
            Path([name]).add(Value(value, attribute=NumberAttribute()))
            for name, value in sorted(self.add.items())
        ] + [
            Path([name]).set(
                Value(value, attribute=UnicodeAttribute())
                if isinstance(value, str)
                else Value(value, attribute=NumberAttribute())
            )
            for name, value in sorted(sets.items())
        ]

    def raw(self, shop: str, table: str) -> dict[str, Any]:
        """The TransactWriteItems `Update` entry for the plain client."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        entry: dict[str, Any] = {
            "TableName": table,
            "Key": {"pk": {"S": self.pk}, "sk": {"S": self.sk}},
            "UpdateExpression": Update(*self.actions(shop)).serialize(names, values),
        }
        if self.condition is not None:
            entry["ConditionExpression"] = self.condition.serialize(names, values)
        entry["ExpressionAttributeNames"] = {v: k for k, v in names.items()}
        entry["ExpressionAttributeValues"] = values
        return entry


class ConditionedRollupItem(RollupItem):
    """A rollup item whose update carries its own condition: `TransactWrite.update` asks the
    item for its update's arguments, so the callers' (item, actions) pairs keep their shape
    and a shard's "not folded" goes with them."""

    def __init__(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        super().__init__(pk, sk)
        self._condition = condition

    @classmethod
    def _get_connection(cls) -> TableConnection:
        return RollupItem._get_connection()  # the table store.bind points the models at

    def get_update_kwargs_from_instance(
        self,
        actions: list[Action],
        condition: Condition | None = None,
        return_values_on_condition_failure: str | None = None,
        *,
        add_version_condition: bool = True,
    ) -> dict[str, Any]:
        own = self._condition
        if own is not None:
            condition = own if condition is None else condition & own
        return super().get_update_kwargs_from_instance(
            actions,
            condition,
            return_values_on_condition_failure,
            add_version_condition=add_version_condition,
        )


def _not_folded() -> Condition:
    return Path(["folded"]).does_not_exist()


def updates(
    shop: str, case_id: str, deltas: Mapping[RollupKey, Counters]
) -> list[tuple[RollupItem, list[Any]]]:
    """The UpdateItem actions that add one case's deltas, one per rollup item touched."""
    return updates_of(shop, [(case_id, deltas)])


def updates_in(
    shop: str, shard: int, deltas: Mapping[RollupKey, Counters]
) -> list[tuple[RollupItem, list[Any]]]:
    """The same for deltas of a shard's cases (no case named: never taken for a retry)."""
    return _rendered(shop, _plan(shop, [(shard, deltas)], attempt=0))


def updates_of(
    shop: str, changes: Sequence[tuple[str, Mapping[RollupKey, Counters]]]
) -> list[tuple[RollupItem, list[Any]]]:
    """The updates for the changes of the cases one transaction writes (a merge writes
    several): one per item, since a transaction may name an item once."""
    attempt = _attempt(shop, changes)
    parts = [(shard_of(case_id), deltas) for case_id, deltas in changes]
    return _rendered(shop, _plan(shop, parts, attempt=attempt))


def raw_updates(
    shop: str, case_id: str, deltas: Mapping[RollupKey, Counters]
) -> list[dict[str, Any]]:
    """The same updates as TransactWriteItems entries for the plain client (the migration)."""
    table = get_settings().table_name
    plan = _plan(shop, [(shard_of(case_id), deltas)], attempt=_attempt(shop, [(case_id, deltas)]))
    return [{"Update": write.raw(shop, table)} for write in plan]


def _rendered(shop: str, plan: list[_Write]) -> list[tuple[RollupItem, list[Any]]]:
    return [
        (ConditionedRollupItem(write.pk, write.sk, write.condition), write.actions(shop))
        for write in plan
    ]


def _in_shards(day: date, today: date, attempt: int) -> bool:
    """Whether a change to `day` goes to a shard: the day is open (today or yesterday), and
    this is not a retry of a change to yesterday, whose shard may have been folded under it
    (a day item is right for any day, folded or not: only contention keeps open days off it)."""
    if day < today - timedelta(days=OPEN_DAYS - 1):
        return False
    return not (attempt >= RETRIED_TO_DAY and day < today)


def _plan(
    shop: str, parts: Iterable[tuple[int, Mapping[RollupKey, Counters]]], *, attempt: int
) -> list[_Write]:
    today = clock.now().astimezone(UTC).date()
    shards: dict[tuple[int, date], Counters] = {}
    days: dict[tuple[int, RollupKey], Counters] = {}
    months: dict[tuple[int, RollupKey], Counters] = {}
    for shard, deltas in parts:
        late = shard % LATE_SHARDS
        for key, counters in deltas.items():
            if _in_shards(key.day, today, attempt):
                named = {f"{key.currency}:{name}": value for name, value in counters.items()}
                _add(shards.setdefault((shard, key.day), {}), named)
            else:
                _add(days.setdefault((late, key), {}), counters)
                month = RollupKey(rollup.month_of(key.day), key.currency)
                _add(months.setdefault((late, month), {}), rollup.by_day(key.day, counters))
    plan: list[_Write] = []
    for (shard, day), counters in sorted(shards.items()):
        if any(counters.values()):
            plan.append(
                _Write(
                    rollup_pk(shop, shard),
                    day.isoformat(),
                    add={**_nonzero(counters), "w": 1},
                    condition=_not_folded(),
                )
            )
    for (late, key), counters in sorted(days.items()):
        if any(counters.values()):
            sk = _day_sk(key.day, key.currency)
            plan.append(_Write(days_pk(shop, late), sk, _nonzero(counters)))
    for (late, key), counters in sorted(months.items()):
        if any(counters.values()):
            sk = _month_sk(key.day, key.currency)
            plan.append(_Write(months_pk(shop, late), sk, _nonzero(counters)))
    return plan


def _add(into: Counters, counters: Mapping[str, int]) -> None:
    for name, value in counters.items():
        into[name] = into.get(name, 0) + value


def _nonzero(counters: Counters) -> Counters:
    return {name: value for name, value in counters.items() if value}


# The store retries a cancelled transaction with a fresh read of the case: the same case
# asking for the same change again means its last transaction did not land.
_asked: dict[tuple[str, tuple[str, ...]], tuple[Hashable, int, float]] = {}
_asked_lock = threading.Lock()


def _attempt(shop: str, changes: Sequence[tuple[str, Mapping[RollupKey, Counters]]]) -> int:
    """How many times in a row, just now, this process was asked for these same changes of
    these cases (0 the first time)."""
    ids = tuple(case_id for case_id, _ in changes)
    asked: Hashable = tuple(
        tuple(sorted((key, tuple(sorted(counters.items()))) for key, counters in deltas.items()))
        for _, deltas in changes
    )
    now = time.monotonic()
    with _asked_lock:
        if len(_asked) > 1024:
            for old in [k for k, (_, _, at) in _asked.items() if now - at > _RETRY_SECONDS]:
                del _asked[old]
        last = _asked.get((shop, ids))
        again = last is not None and last[0] == asked and now - last[2] < _RETRY_SECONDS
        attempt = last[1] + 1 if again and last is not None else 0
        _asked[(shop, ids)] = (asked, attempt, now)
    return attempt


def forget() -> None:
    """Forget the changes asked for (tests)."""
    with _asked_lock:
        _asked.clear()


# ------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class _Shard:
    """A shard item as read: its day, its counters per currency, its write counter; `legacy`:
    an item of the earlier layout (`<day>#<currency>`, plain counters), which no writer
    writes any more and a fold takes in like the others."""

    sk: str
    shard: int
    day: date
    counters: Mapping[str, Counters]
    writes: int | None  # its write counter, None if it has none
    legacy: bool = False


def _counters(item: Mapping[str, Any]) -> Counters:
    return {
        name: int(value["N"])
        for name, value in item.items()
        if name not in _NOT_COUNTERS and "N" in value
    }


def _shard(shard: int, item: Mapping[str, Any]) -> _Shard:
    sk = str(item["sk"]["S"])
    counters = _counters(item)
    if "#" in sk:  # the earlier layout: one item per day, currency and shard
        day, currency = sk.split("#", 1)
        return _Shard(sk, shard, date.fromisoformat(day), {currency: counters}, None, True)
    by_currency: dict[str, Counters] = {}
    for name, value in counters.items():
        currency, counter = name.split(":", 1)
        by_currency.setdefault(currency, {})[counter] = value
    writes = int(item["w"]["N"]) if "w" in item else None
    return _Shard(sk, shard, date.fromisoformat(sk), by_currency, writes)


def _between(lower: date | None, stop: date | None) -> tuple[str, str]:
    """Sort-key bounds of the days in [lower, stop) (either open), for `sk BETWEEN`."""
    low = lower.isoformat() if lower else "0"
    high = (stop - timedelta(days=1)).isoformat() + "~" if stop else "9"
    return low, high


def _query(pk: str, low: str, high: str, *, consistent: bool = False) -> Iterator[Any]:
    if low > high:
        return
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=get_settings().table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": pk},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            ConsistentRead=consistent,
        )
    )
    for page in pages:
        yield from page.get("Items", [])


def _shards(
    shop: str, lower: date | None, stop: date | None, *, consistent: bool = False
) -> list[_Shard]:
    """The shard items of the days in [lower, stop): one paginated Query per shard."""
    low, high = _between(lower, stop)
    return [
        _shard(shard, item)
        for shard in range(ROLLUP_SHARDS)
        for item in _query(rollup_pk(shop, shard), low, high, consistent=consistent)
    ]


def watermark(shop: str) -> date | None:
    """The last day folded (every day up to it is), None before the first fold."""
    return _mark(shop).through


@dataclass(frozen=True)
class _Mark:
    """The watermark item as read: `through`, the last day folded; `since` and `ready`, the
    first and the last day whose items are in place (`_Preparation`), for each of
    `currencies`."""

    through: date | None = None
    since: date | None = None
    ready: date | None = None
    currencies: frozenset[str] = frozenset()


def _mark(shop: str) -> _Mark:
    item = aws.client("dynamodb").get_item(
        TableName=get_settings().table_name,
        Key={"pk": {"S": days_pk(shop)}, "sk": {"S": WATERMARK}},
        ConsistentRead=True,
    )
    found = item.get("Item") or {}

    def day(name: str) -> date | None:
        return date.fromisoformat(str(found[name]["S"])) if name in found else None

    currencies = found.get("currencies", {}).get("SS", [])
    return _Mark(day("through"), day("since"), day("ready"), frozenset(currencies))


# ------------------------------------------------------------------------------- folds
def fold(shop: str, *, now: datetime | None = None, days: int = FOLD_DAYS) -> date | None:
    """Fold the shop's finished days that are not folded yet (at most `days` of them), in
    order, each exactly once; the watermark after (None: nothing to fold ever was). A
    cancelled transaction (a concurrent fold, or a write the fold had not read) stops it:
    the watermark is read again and returned, and the next call goes on from there.

    Once every finished day is folded, it puts in place the items of the days up to
    tomorrow that are not yet (`_Preparation`): a read then finds every item it names."""
    now = now or clock.now()
    held = _mark(shop)
    through, seen = _fold(shop, now, held.through, days)
    if through is not None and through >= fold_cutoff(now):
        _prepare(shop, now, held, through, seen)
    return through


def _fold(
    shop: str, now: datetime, mark: date | None, days: int
) -> tuple[date | None, frozenset[str]]:
    """The folds of `fold`: the watermark after, and the currencies of the shards read."""
    cutoff = fold_cutoff(now)
    if mark is not None and mark >= cutoff:
        return mark, frozenset()
    lower = mark + timedelta(days=1) if mark is not None else None
    stop = cutoff + timedelta(days=1)
    if lower is not None:
        stop = min(stop, lower + timedelta(days=days))
    found = _shards(shop, lower, stop, consistent=True)
    seen = _currencies(found)
    marked_from = cutoff - timedelta(days=MARK_DAYS - 1)  # absent shards marked from here
    first = lower if lower is not None else min([s.day for s in found] + [marked_from])
    stop = min(stop, first + timedelta(days=days))
    by_day: dict[date, list[_Shard]] = {}
    for item in found:
        by_day.setdefault(item.day, []).append(item)
    batch = _Batch(shop, mark)
    day = first
    while day < stop:
        folded = _day_fold(shop, day, by_day.get(day, []), now, mark_absent=day >= marked_from)
        if not batch.fits(folded):
            if not batch.commit():
                return watermark(shop), seen
            if not batch.fits(folded):  # more than 41 currencies in a day, say
                logger.warning(
                    "A day's fold does not fit in one transaction; its shards stay read",
                    extra={"shop": shop, "day": day.isoformat(), "items": len(folded[0])},
                )
                return batch.mark, seen
        batch.take(day, folded)
        day += timedelta(days=1)
    if batch.pending and not batch.commit():
        return watermark(shop), seen
    return batch.mark, seen


def _currencies(shards: Iterable[_Shard]) -> frozenset[str]:
    return frozenset(currency for item in shards for currency in item.counters)


# A day's fold: its writes, and what it adds to month items (with the day, their `through`).
_DayFold = tuple[list[_Write], dict[RollupKey, tuple[Counters, date]]]


def _day_fold(
    shop: str, day: date, shards: list[_Shard], now: datetime, *, mark_absent: bool
) -> _DayFold:
    """One day's fold: its shard items marked folded (each as it was read, or absent), the
    sum of their counters added to the day items; and what it adds to its month items."""
    expires = int((now + FOLDED_SHARD_TTL).timestamp())
    writes: list[_Write] = []
    sums: dict[str, Counters] = {}
    for item in shards:
        for currency, counters in item.counters.items():
            _add(sums.setdefault(currency, {}), counters)
        unchanged = _not_folded() & (
            Path(["w"]).does_not_exist()
            if item.writes is None
            else Path(["w"]) == Value(item.writes, attribute=NumberAttribute())
        )
        writes.append(
            _Write(
                rollup_pk(shop, item.shard),
                item.sk,
                sets={"folded": 1, "expires_at": expires},
                condition=unchanged,
            )
        )
    if mark_absent:
        present = {item.shard for item in shards if not item.legacy}
        writes += [
            _Write(
                rollup_pk(shop, shard),
                day.isoformat(),
                sets={"folded": 1, "expires_at": expires},
                condition=Path(["pk"]).does_not_exist(),
            )
            for shard in range(ROLLUP_SHARDS)
            if shard not in present
        ]
    months: dict[RollupKey, tuple[Counters, date]] = {}
    for currency, counters in sorted(sums.items()):
        counters = _nonzero(counters)
        if not counters:
            continue
        writes.append(
            _Write(
                days_pk(shop),
                _day_sk(day, currency),
                add=counters,
                sets={"folded": 1},
                condition=_not_folded(),
            )
        )
        months[RollupKey(rollup.month_of(day), currency)] = (rollup.by_day(day, counters), day)
    return writes, months


@dataclass
class _Batch:
    """Consecutive days' folds in one TransactWriteItems, with their month items and the
    watermark (conditioned on the one read: folds go in order, each once)."""

    shop: str
    mark: date | None
    writes: list[_Write] = field(default_factory=list)
    months: dict[RollupKey, tuple[Counters, date]] = field(default_factory=dict)
    last: date | None = None

    @property
    def pending(self) -> bool:
        return self.last is not None

    def fits(self, fold: _DayFold) -> bool:
        """Whether the day's fold fits in this transaction (month items and watermark too)."""
        writes, months = fold
        months_after = len(set(self.months) | set(months))
        return len(self.writes) + len(writes) + months_after + 1 <= TRANSACTION_ITEMS

    def take(self, day: date, fold: _DayFold) -> None:
        writes, months = fold
        self.writes += writes
        for key, (counters, through) in months.items():
            held, _ = self.months.get(key, ({}, through))
            _add(held, counters)
            self.months[key] = (held, through)
        self.last = day

    def commit(self) -> bool:
        """Write the batch; False if it was cancelled (nothing of it was written)."""
        if self.last is None:
            return True
        shop = self.shop
        writes = list(self.writes)
        for key, (counters, through) in sorted(self.months.items()):
            writes.append(
                _Write(
                    months_pk(shop),
                    _month_sk(key.day, key.currency),
                    add=counters,
                    sets={"through": through.isoformat()},
                )
            )
        previous = (
            Path(["through"]).does_not_exist()
            if self.mark is None
            else Path(["through"]) == Value(self.mark.isoformat(), attribute=UnicodeAttribute())
        )
        writes.append(
            _Write(
                days_pk(shop),
                WATERMARK,
                sets={"through": self.last.isoformat()},
                condition=previous,
            )
        )
        table = get_settings().table_name
        client = aws.client("dynamodb")
        items: Any = [{"Update": write.raw(shop, table)} for write in writes]
        try:
            client.transact_write_items(TransactItems=items)
        except client.exceptions.TransactionCanceledException:
            logger.info(
                "A rollup fold met another fold or a write; the next read goes on",
                extra={"shop": shop, "through": self.last.isoformat()},
            )
            return False
        self.mark, self.last = self.last, None
        self.writes, self.months = [], {}
        return True


# ------------------------------------------------------------------------------ in place
@dataclass(frozen=True)
class _Preparation:
    """The items one call puts in place, so that a read finds every item it names, whatever
    the cases: for each currency and each day from its start to `last`, the day's item in
    every partition (`#D`, `#D1`..`#D7`), and the month items, likewise, of the months those
    days begin (and of `since`'s); the 16 shards of each day from `shards_from` to `last`
    (not folded yet). An item put in place holds the shop index's keys only: the writes add
    to it later, or the fold."""

    since: date  # the first day in place: the first of the shop's first month
    last: date
    starts: Mapping[str, date]  # per currency, its first day not in place yet
    shards_from: date

    @classmethod
    def of(
        cls, shop: str, now: datetime, held: _Mark, through: date, seen: frozenset[str]
    ) -> _Preparation | None:
        """What to put in place after a fold to `through` that read shards of `seen`
        currencies; None if every item up to tomorrow is in place."""
        horizon = now.astimezone(UTC).date() + timedelta(days=PREPARE_AHEAD)
        shards_from = through + timedelta(days=1)
        since, ready, held_currencies = held.since, held.ready, held.currencies
        currencies = held_currencies | seen
        if since is None:  # the first time, or after a count (store/rollup_upgrade.py)
            earliest, found = _history(shop)
            since = rollup.month_of(min(earliest or shards_from, shards_from))
            currencies |= found
            ready, held_currencies = None, frozenset()
        after = since if ready is None else ready + timedelta(days=1)
        starts = {c: after if c in held_currencies else since for c in currencies}
        shards_from = max(shards_from, after)
        first = min([shards_from, *starts.values()])
        if first > horizon:
            return None
        last = min(horizon, first + timedelta(days=PREPARE_DAYS - 1))
        return cls(since, last, starts, shards_from)

    def writes(self, shop: str) -> list[_Write]:
        out = [
            _Write(rollup_pk(shop, shard), day.isoformat())
            for day in _days_of(self.shards_from, self.last)
            for shard in range(ROLLUP_SHARDS)
        ]
        for currency, start in sorted(self.starts.items()):
            days = _days_of(start, self.last)
            out += [
                _Write(days_pk(shop, late), _day_sk(day, currency))
                for day in days
                for late in range(LATE_SHARDS)
            ]
            out += [
                _Write(months_pk(shop, late), _month_sk(day, currency))
                for day in days
                if day.day == 1 or day == self.since
                for late in range(LATE_SHARDS)
            ]
        return out


def _days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _prepare(shop: str, now: datetime, held: _Mark, through: date, seen: frozenset[str]) -> None:
    """Put in place the items of the days up to tomorrow not in place yet (`_Preparation`)
    and note it on the watermark item; a write met on the way leaves it to the next call."""
    plan = _Preparation.of(shop, now, held, through, seen)
    if plan is None:
        return
    table = get_settings().table_name
    client = aws.client("dynamodb")
    writes = plan.writes(shop)
    for start in range(0, len(writes), TRANSACTION_ITEMS):
        chunk = writes[start : start + TRANSACTION_ITEMS]
        items: Any = [{"Update": write.raw(shop, table)} for write in chunk]
        try:
            client.transact_write_items(TransactItems=items)
        except client.exceptions.TransactionCanceledException:
            logger.info(
                "Putting rollup items in place met a write; the next read goes on",
                extra={"shop": shop, "through": plan.last.isoformat()},
            )
            return
    _prepared(shop, held, plan)


def _prepared(shop: str, held: _Mark, plan: _Preparation) -> None:
    """Note on the watermark item the days and currencies now in place, conditioned on what
    was read (a concurrent call, or a count asking for them again, wins)."""
    names = {"#through": "through", "#since": "since", "#ready": "ready"}
    values: dict[str, Any] = {
        ":since": {"S": plan.since.isoformat()},
        ":ready": {"S": plan.last.isoformat()},
    }
    update = "SET #since = :since, #ready = :ready"
    if plan.starts:
        update += " ADD #currencies :currencies"
        names["#currencies"] = "currencies"
        values[":currencies"] = {"SS": sorted(plan.starts)}
    conditions = ["attribute_exists(#through)"]
    for name, day in (("since", held.since), ("ready", held.ready)):
        if day is None:
            conditions.append(f"attribute_not_exists(#{name})")
        else:
            conditions.append(f"#{name} = :held_{name}")
            values[f":held_{name}"] = {"S": day.isoformat()}
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=get_settings().table_name,
            Key={"pk": {"S": days_pk(shop)}, "sk": {"S": WATERMARK}},
            UpdateExpression=update,
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except client.exceptions.ConditionalCheckFailedException:
        logger.info("Rollup items were put in place meanwhile", extra={"shop": shop})


def _history(shop: str) -> tuple[date | None, frozenset[str]]:
    """The first day of the shop's first month with a month item, and the currencies of its
    month items (every partition; read consistently, the fold's own just written)."""
    earliest: date | None = None
    currencies: set[str] = set()
    for late in range(LATE_SHARDS):
        for item in _query(months_pk(shop, late), "0", "9", consistent=True):
            month, currency = str(item["sk"]["S"]).split("#", 1)
            first = date.fromisoformat(f"{month}-01")
            earliest = first if earliest is None else min(earliest, first)
            currencies.add(currency)
    return earliest, frozenset(currencies)


def prepare_again(shop: str) -> None:
    """Have the next fold put the shop's items in place again from its first month: after a
    count (store/rollup_upgrade.py) wrote to days the last preparation did not cover."""
    client = aws.client("dynamodb")
    # Never folded (the condition fails): the first fold puts everything in place.
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        client.update_item(
            TableName=get_settings().table_name,
            Key={"pk": {"S": days_pk(shop)}, "sk": {"S": WATERMARK}},
            UpdateExpression="REMOVE #since, #ready",
            ConditionExpression="attribute_exists(#through)",
            ExpressionAttributeNames={"#through": "through", "#since": "since", "#ready": "ready"},
        )


# ------------------------------------------------------------------------------- reads
def read(
    shop: str,
    start: date | None,
    end: date | None,
    *,
    now: datetime | None = None,
    fold_first: bool = True,
) -> Iterator[tuple[RollupKey, Counters]]:
    """The shop's figures for the days in [start, end) (either bound open) as rollup rows:
    a month's row (keyed by its first day; daily series by day) for each whole month in the
    period, a day's row for each day at its edges, and the shards of the days not folded.

    It folds what is due first (`fold_first`). Each change is counted once whatever a fold
    does meanwhile, because a fold copies and marks in one transaction: a not-yet-folded
    day's shards are counted unless the item read for that day (its day item's `folded`,
    or its month item's `through`) says the fold had put them there already. Reads are
    eventually consistent (a dashboard may lag a second)."""
    if start is not None and end is not None and start >= end:
        return
    now = now or clock.now()
    mark = _folded(shop, now) if fold_first else watermark(shop)
    period = _Period.of(start, end, now.astimezone(UTC).date())
    months = _month_items(shop, period.months_from, period.months_to) if period.whole else {}
    days: dict[RollupKey, tuple[Counters, bool]] = {}
    for lower, stop in period.edges():
        days.update(_day_items(shop, lower, stop))
    shards = _unfolded_shards(shop, start, end, mark)
    yield from _held(months)
    yield from _held(days)
    for item in shards:
        for currency, counters in sorted(item.counters.items()):
            if not _read_folded(item.day, currency, period, months, days):
                yield RollupKey(item.day, currency), counters


@dataclass(frozen=True, slots=True)
class _Period:
    """The days a read covers, [start, end), as the whole months in it, [months_from,
    months_to), and the days at their edges. The months run through the current one when
    the period reaches today: no day or month item holds a day after today (later days
    have shards)."""

    start: date | None
    end: date | None
    through_today: bool
    months_from: date | None
    months_to: date

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> _Period:
        through_today = end is None or end > today
        months_from = _month_at_or_after(start) if start is not None else None
        months_to = _next_month(today) if through_today else rollup.month_of(end or today)
        return cls(start, end, through_today, months_from, months_to)

    @property
    def whole(self) -> bool:
        """The period holds a whole month."""
        return self.months_from is None or self.months_from < self.months_to

    def edges(self) -> list[tuple[date | None, date | None]]:
        """The spans of days outside the whole months (every day, for a period within a
        month)."""
        if not self.whole:
            return [(self.start, self.end)]
        spans: list[tuple[date | None, date | None]] = []
        first = self.months_from
        if self.start is not None and first is not None and self.start < first:
            spans.append((self.start, first))
        if not self.through_today and self.end is not None and self.months_to < self.end:
            spans.append((self.months_to, self.end))
        return spans

    def in_months(self, day: date) -> bool:
        after_first = self.months_from is None or day >= self.months_from
        return self.whole and after_first and day < self.months_to


def _held(
    items: Mapping[RollupKey, tuple[Counters, Any]],
) -> Iterator[tuple[RollupKey, Counters]]:
    """The rows of the items read that hold counters (an item put in place holds none)."""
    for key, (counters, _) in sorted(items.items()):
        if counters:
            yield key, counters


def _unfolded_shards(
    shop: str, start: date | None, end: date | None, mark: date | None
) -> list[_Shard]:
    """The shards of the period's days after the last day folded."""
    open_from = mark + timedelta(days=1) if mark is not None else None
    if start is not None and (open_from is None or start > open_from):
        open_from = start
    if open_from is None or end is None or open_from < end:
        return _shards(shop, open_from, end)
    return []


def _read_folded(
    day: date,
    currency: str,
    period: _Period,
    months: Mapping[RollupKey, tuple[Counters, date | None]],
    days: Mapping[RollupKey, tuple[Counters, bool]],
) -> bool:
    """A shard's counters were in the month or day item read: the fold had put them there
    before that item was read."""
    if period.in_months(day):
        month = months.get(RollupKey(rollup.month_of(day), currency))
        return month is not None and month[1] is not None and month[1] >= day
    held = days.get(RollupKey(day, currency))
    return held is not None and held[1]


def _folded(shop: str, now: datetime) -> date | None:
    """Fold what is due and return the watermark; a fold that fails (throttled, say) leaves
    the read to the shards of the days it did not fold."""
    try:
        return fold(shop, now=now)
    except ClientError:
        logger.warning(
            "Rollup fold failed; reading the shards", extra={"shop": shop}, exc_info=True
        )
        return watermark(shop)


def _month_items(
    shop: str, first: date | None, stop: date
) -> dict[RollupKey, tuple[Counters, date | None]]:
    """The month items of the months in [first, stop), summed over their partitions, with
    the last day folded into each (the folds write the first partition only)."""
    low = first.isoformat()[:7] if first else "0"
    high = (stop - timedelta(days=1)).isoformat()[:7] + "~"
    found: dict[RollupKey, tuple[Counters, date | None]] = {}
    for late in range(LATE_SHARDS):
        for item in _query(months_pk(shop, late), low, high):
            month, currency = str(item["sk"]["S"]).split("#", 1)
            key = RollupKey(date.fromisoformat(f"{month}-01"), currency)
            counters, through = found.get(key, ({}, None))
            _add(counters, _counters(item))
            if late == 0 and "through" in item:
                through = date.fromisoformat(item["through"]["S"])
            found[key] = (counters, through)
    return found


def _day_items(
    shop: str, lower: date | None, stop: date | None
) -> dict[RollupKey, tuple[Counters, bool]]:
    """The day items of the days in [lower, stop), summed over their partitions, and whether
    each holds its shards (the folds write the first partition only)."""
    low, high = _between(lower, stop)
    found: dict[RollupKey, tuple[Counters, bool]] = {}
    for late in range(LATE_SHARDS):
        for item in _query(days_pk(shop, late), low, high):
            sk = str(item["sk"]["S"])
            if sk == WATERMARK:
                continue
            day, currency = sk.split("#", 1)
            key = RollupKey(date.fromisoformat(day), currency)
            counters, folded = found.get(key, ({}, False))
            _add(counters, _counters(item))
            found[key] = (counters, folded or (late == 0 and "folded" in item))
    return found


def _month_at_or_after(day: date) -> date:
    return day if day.day == 1 else _next_month(day)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
