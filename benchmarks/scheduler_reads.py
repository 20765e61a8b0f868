"""Scheduler reads per due case: what one scheduler run reads from DynamoDB to find the
reminder steps that are due, as a ratio to the number of due steps.

The local stack runs in this process (moto's `mock_aws`). The table gets N_DUE cases whose
next reminder is due and LATER_PER_DUE times as many scheduled later, written straight into
the table with BatchWriteItem rather than through webhooks and the worker (which would take
minutes on moto). The items are the ones `store.cases` itself builds: each case is folded
from a normalised Shopify `orders/create` event (`domain.case.apply`), given a scheduled
`Dunning`, and passed to `store.cases._add_case` on a PynamoDB `TransactWrite` that is never
committed; the case item's `Put` (doc, dunning, due_pk/due_sk/next_step, version 1) is then
written as is. The cases scheduled later are copies of such an item with the per-case
fields replaced, checked equal to the store's own on a sample (`_Cases`). Audit entries are
left out: they live under other keys, outside the due index, and only make the load slower.

Then `recoup.services.scheduling.queue_due(now)` runs, as the scheduler function would, with
every AWS call counted (`api_log`): the Query calls on the due index, the items they read
(the sum of each response's ScannedCount; Count is what they returned) and the jobs queued.
That is done twice on the same table: first with 10x fewer cases scheduled later, then after
adding the rest, to show the reads follow the due cases, not the table.

Drain (`drain`): on a fresh stack, DRAIN_SIZES due cases at once (nothing later), then
scheduler runs, each with the function's time budget (its template Timeout, less
`scheduling.TIME_MARGIN_SECONDS`, on the wall clock), one after the other until a run
finishes: per run the jobs queued, the Queries, the backlog it reported, its seconds; at
the end the messages on the reminder queue, which must equal the due cases (none twice).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from benchmarks.api_log import ApiLog
from benchmarks.aws_calls import _quiet_stdout
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries

N_DUE = 100
LATER_PER_DUE = 100  # cases scheduled later, per due case, in the full table
SMALLER = 10  # the first measurement has this many times fewer cases scheduled later
SHOP_TIMEZONE = "America/New_York"
SCHEDULER = "SchedulerFunction"
BATCH = 25  # BatchWriteItem's limit
GOAL = 1.1  # items read per due case
DRAIN_SIZES = (2_000, 20_000)  # due cases at once, for the drain runs
FUNCTION_TIMEOUT = 180.0  # template.yaml's SchedulerFunction Timeout (checked in `drain`)


@dataclass(frozen=True)
class ReadsRun:
    due: int  # cases with a step due
    later: int  # cases scheduled later (in the due index, not due)
    queries: int  # dynamodb.Query calls on the due index
    scanned: int  # items those queries read: sum of ScannedCount
    returned: int  # items they returned: sum of Count
    queued: int  # jobs queue_due put on the reminder queue
    shards: int  # due index shards
    shards_with_due: int  # shards that held at least one due case
    operations: Mapping[str, int]  # every call queue_due made, by service.operation

    @property
    def per_due(self) -> float:
        return self.scanned / self.due


@dataclass(frozen=True)
class DrainRun:
    queued: int  # jobs this run queued
    queries: int  # due index Queries it made
    backlog: int  # due entries it reported left for the next run
    seconds: float  # its wall-clock time
    finished: bool


@dataclass(frozen=True)
class Drain:
    due: int  # due cases at once
    runs: Sequence[DrainRun]
    on_queue: int  # messages on the reminder queue after the last run
    budget: float  # seconds each run may take before its margin

    @property
    def first(self) -> DrainRun:
        return self.runs[0]

    @property
    def per_run(self) -> float:
        """Jobs queued in the first run over the due cases."""
        return self.first.queued / self.due

    @property
    def per_second(self) -> float:
        return sum(r.queued for r in self.runs) / sum(r.seconds for r in self.runs)


@dataclass(frozen=True)
class SchedulerReadsResult:
    runs: Sequence[ReadsRun]  # smaller table first
    copied: bool  # the cases scheduled later were copies of a store-built item (checked)
    drains: Sequence[Drain] = ()

    @property
    def growth(self) -> float:
        """Items read with the full table over items read with the smaller one."""
        return self.runs[-1].scanned / self.runs[0].scanned


class _Cases:
    """Case items exactly as `store.cases` writes them, one per index (the Shopify order of
    that index in `Deliveries`), with its first reminder step due at a given time.

    `by_store` builds an item the slow, sure way: fold the event into a new case, make the
    audit entry, and let `store.cases._add_case` put it on an uncommitted PynamoDB
    `TransactWrite` (about a millisecond an item, mostly PynamoDB's serialisation).
    `by_copy` copies one such item and changes only what differs from case to case (the
    sort key, the case id and event id inside the doc, the audit head, the dunning and the
    due index keys, through `store.cases`' own helpers); `check` compares the two on a
    sample, and if they ever differ every item is built by the store instead.
    """

    def __init__(self, deliveries: Deliveries, secret: str) -> None:
        from recoup.domain.cadence import default_policy
        from recoup.integrations import shopify

        self.deliveries = deliveries
        delivery = deliveries.shopify(0, secret)
        event = shopify.normalise(shopify.read_delivery(delivery.headers), delivery.body)
        if event is None:
            raise BenchError("the Shopify order does not normalise to an event")
        self.event = event
        self.opened = event.occurred_at
        self.policy_version = default_policy(SHOP_TIMEZONE).version
        self.copying = True
        self._template: dict[str, Any] | None = None
        self._template_body: dict[str, object] = {}

    def case_id(self, index: int) -> str:
        return str(self.deliveries.order_id(index))

    def event_id(self, index: int) -> str:
        return f"bench-{self.deliveries.run}-{index:06d}"

    def _dunning(self, at: datetime) -> Any:
        from recoup.domain.dunning import Dunning, DunningStatus

        return Dunning(
            DunningStatus.SCHEDULED, next_step=0, next_at=at, policy_version=self.policy_version
        )

    def by_store(self, index: int, at: datetime) -> dict[str, Any]:
        from pynamodb.transactions import TransactWrite

        from recoup import clock
        from recoup.domain.audit import GENESIS, AuditEntry
        from recoup.domain.case import apply, new_case
        from recoup.services.cases import audit_body
        from recoup.store import bind
        from recoup.store import cases as store

        case_id = self.case_id(index)
        event = dataclasses.replace(
            self.event.with_case(case_id, linked=True), event_id=self.event_id(index)
        )
        outcome = apply(new_case(SHOP, case_id), event)
        body = audit_body(event, outcome.effect, self.opened)
        entry = AuditEntry.following(0, GENESIS, body)
        tx = TransactWrite(connection=bind.connection())  # collects; never committed
        write = store.CaseWrite(outcome.case, None, entry, self._dunning(at))
        # Written when the order opened, as the worker would have: the due key is then the
        # step's own time (a write keys an entry no earlier than the second after its clock).
        clock.use(lambda: self.opened)
        try:
            store._add_case(tx, write, self.opened)
        finally:
            clock.use(None)
        puts: list[dict[str, Any]] = tx._put_items
        cases = [p["Item"] for p in puts if p["Item"]["sk"]["S"] == "CASE"]
        item: dict[str, Any] = cases[0]
        if self._template is None:
            self._template = {"index": index, "item": item}
            self._template_body = body
        return item

    def by_copy(self, index: int, at: datetime) -> dict[str, Any]:
        from recoup.domain.audit import GENESIS, AuditEntry
        from recoup.store import cases as store
        from recoup.store.models import CASE_SK, TRACKED, case_pk, shop_part

        if self._template is None:
            return self.by_store(index, at)
        first = int(self._template["index"])
        template: dict[str, Any] = self._template["item"]
        case_id, event_id = self.case_id(index), self.event_id(index)
        doc = str(template["doc"]["S"])
        doc = doc.replace(json.dumps(self.case_id(first)), json.dumps(case_id))
        doc = doc.replace(json.dumps(self.event_id(first)), json.dumps(event_id))
        entry = AuditEntry.following(0, GENESIS, {**self._template_body, "event_id": event_id})
        return {
            **template,
            "pk": {"S": case_pk(SHOP, case_id)},
            "sk": {"S": CASE_SK},
            "shop_part": {"S": shop_part(SHOP, case_id)},
            "shop_sort": {"S": TRACKED + case_id},
            "doc": {"S": doc},
            "audit_head": {"S": entry.hash},
            "dunning": {"S": json.dumps(self._dunning(at).to_dict())},
            "due_pk": {"S": store.due_shard(SHOP, case_id)},
            "due_sk": {"S": store.due_key(at, SHOP, case_id)},
        }

    def check(self, sample: Mapping[int, datetime]) -> None:
        """Copies must equal the store's own items; otherwise stop copying."""
        for index, at in sample.items():
            if self.by_copy(index, at) != self.by_store(index, at):
                self.copying = False
                return

    def items(self, due_at: Mapping[int, datetime]) -> list[dict[str, Any]]:
        build = self.by_copy if self.copying else self.by_store
        return [build(index, at) for index, at in due_at.items()]


def _write(table: str, items: list[dict[str, Any]]) -> None:
    import boto3
    from botocore.config import Config

    # The harness's own writes: skip botocore's client-side validation (a seventh of their
    # time; moto parses and checks every request anyway).
    client = boto3.client(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(parameter_validation=False),
    )
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        requests: Any = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        for _ in range(10):
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems")
            if not requests:
                break
        else:
            raise BenchError("BatchWriteItem kept leaving items unprocessed")


def _measure(
    log: ApiLog, label: str, now: datetime, due: int, later: int, shards_with_due: int
) -> ReadsRun:
    from recoup.services import scheduling
    from recoup.store import cases as store

    _forget_cursors()  # each measurement is a first run over the same due cases
    log.phase, log.function = label, SCHEDULER
    try:
        with log.recording():
            queued = scheduling.queue_due(now).queued
    finally:
        log.phase, log.function = "harness", None
    calls = log.made(phase=label)
    queries = [c for c in calls if c.operation == "dynamodb.Query" and c.target == "due index"]
    return ReadsRun(
        due=due,
        later=later,
        queries=len(queries),
        scanned=sum(c.scanned or 0 for c in queries),
        returned=sum(c.count or 0 for c in queries),
        queued=queued,
        shards=store.DUE_SHARDS,
        shards_with_due=shards_with_due,
        operations=dict(Counter(c.operation for c in calls)),
    )


def _forget_cursors() -> None:
    from pynamodb.exceptions import DoesNotExist

    from recoup.store.models import DueCursorItem

    try:
        DueCursorItem.get("SCHEDULER", "CURSOR#DUE").delete()
    except DoesNotExist:
        return


def progress_to_stderr(message: str) -> None:
    """Progress from a second process (`python -m benchmarks` runs this one beside others)."""
    print(f"  .. [reads] {message}", file=sys.stderr, flush=True)


def run(
    deliveries: Deliveries, progress: Callable[[str], None] = progress_to_stderr
) -> SchedulerReadsResult:
    from recoup.services import shops
    from recoup.settings import get_settings
    from recoup.store import cases as store
    from recoup.store.bind import bind
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    saved = dict(os.environ)
    log = ApiLog()
    runs: list[ReadsRun] = []
    try:
        with _quiet_stdout(), in_process() as local:
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone=SHOP_TIMEZONE)
            bind()
            table = get_settings().table_name
            cases = _Cases(deliveries, local.shopify_secret)
            now = cases.opened + timedelta(days=8)
            due = {i: now - timedelta(minutes=i) for i in range(N_DUE)}
            later_total = N_DUE * LATER_PER_DUE
            later = {
                N_DUE + j: now + timedelta(minutes=5 + j % (30 * 24 * 60))
                for j in range(later_total)
            }
            shards_with_due = len({store.due_shard(SHOP, cases.case_id(i)) for i in due})
            cases.check(dict([*list(due.items())[:3], *list(later.items())[:3]]))
            sizes = [later_total // SMALLER, later_total]
            written = 0
            _write(table, [cases.by_store(i, at) for i, at in due.items()])
            for size in sizes:
                progress(f"scheduler reads: {N_DUE} due + {size} later cases")
                batch = dict(list(later.items())[written:size])
                _write(table, cases.items(batch))
                written = size
                runs.append(_measure(log, f"{size} later", now, N_DUE, size, shards_with_due))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    for r in runs:
        if r.queued != r.due:
            raise BenchError(f"queue_due queued {r.queued} jobs for {r.due} due cases")
    drains = [drain(deliveries, n, progress) for n in DRAIN_SIZES]
    return SchedulerReadsResult(runs, copied=cases.copying, drains=drains)


def drain(
    deliveries: Deliveries, due: int, progress: Callable[[str], None] = progress_to_stderr
) -> Drain:
    """`due` cases due at once, then scheduler runs with the function's time budget until
    one finishes; the reminder queue must then hold exactly one job per case."""
    import boto3

    from recoup.services import scheduling, shops
    from recoup.settings import get_settings
    from recoup.store.bind import bind
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    _check_timeout()
    saved = dict(os.environ)
    budget = FUNCTION_TIMEOUT - scheduling.TIME_MARGIN_SECONDS
    runs: list[DrainRun] = []
    try:
        with _quiet_stdout(), in_process() as local:
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone=SHOP_TIMEZONE)
            bind()
            cases = _Cases(deliveries, local.shopify_secret)
            now = cases.opened + timedelta(days=8)
            progress(f"scheduler drain: writing {due:,} due cases")
            due_at = {i: now - timedelta(seconds=i) for i in range(due)}
            cases.check(dict(list(due_at.items())[:3]))
            _write(get_settings().table_name, cases.items(due_at))
            with _constant_time_queue_counts():
                runs = _drain_runs(now, due, progress)
            sqs = boto3.client("sqs", region_name=local.stack.region)
            attributes = sqs.get_queue_attributes(
                QueueUrl=local.stack.refs["ReminderQueue"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
            on_queue = int(attributes["ApproximateNumberOfMessages"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    if on_queue != due or sum(r.queued for r in runs) != due:
        raise BenchError(f"{due:,} due cases gave {on_queue:,} jobs on the queue")
    return Drain(due, runs, on_queue, budget)


def _drain_runs(now: datetime, due: int, progress: Callable[[str], None]) -> list[DrainRun]:
    """Scheduler runs five minutes apart, each with the function's time budget on the wall
    clock, until one finishes."""
    import time

    from recoup.services import scheduling

    runs: list[DrainRun] = []
    for slot in range(100):
        deadline = time.perf_counter() + FUNCTION_TIMEOUT
        started = time.perf_counter()
        report = scheduling.queue_due(
            now + timedelta(minutes=5 * slot),
            time_left=lambda deadline=deadline: deadline - time.perf_counter(),
        )
        runs.append(
            DrainRun(
                report.queued + report.requeued,
                report.queries,
                report.backlog,
                time.perf_counter() - started,
                report.finished,
            )
        )
        progress(f"scheduler drain ({due:,}): run {slot + 1} queued {runs[-1].queued:,}")
        if report.finished:
            break
    return runs


@contextlib.contextmanager
def _constant_time_queue_counts() -> Iterator[None]:
    """moto recomputes every queue attribute on each SendMessage, walking all the queue's
    messages (its ApproximateNumberOf... counts), so sending n jobs costs it n^2/2 steps and
    its time, not the scheduler's, would set the pace: 2,000 jobs took 95 s, mostly there.
    Nothing receives from or delays a message on the queue during the drain, so those
    counts are the list's length, 0 and 0; they are fixed to that while the scheduler runs
    and the real ones are read afterwards for the check."""
    from unittest import mock

    from moto.sqs.models import Queue

    def visible(queue: Queue) -> int:
        return len(queue._messages)

    with (
        mock.patch.object(Queue, "approximate_number_of_messages", property(visible)),
        mock.patch.object(Queue, "approximate_number_of_messages_delayed", property(_none)),
        mock.patch.object(Queue, "approximate_number_of_messages_not_visible", property(_none)),
    ):
        yield


def _none(_queue: object) -> int:
    return 0


def _check_timeout() -> None:
    from benchmarks.fresh import ROOT

    text = (ROOT / "template.yaml").read_text()
    function = text.split("  SchedulerFunction:", 1)[1].split("\n\n", 1)[0]
    if f"Timeout: {FUNCTION_TIMEOUT:.0f}" not in function:
        raise BenchError("template.yaml's SchedulerFunction Timeout is not FUNCTION_TIMEOUT")
