"""The scheduler: queue one job for every entry of the due index that is due, once, however
many there are.

Forward pass: each shard of the due index has a cursor, the due key of the last entry
queued. A run reads each shard after its cursor up to `now`, a page at a time (the shards
in turn), sends the page's jobs (SendMessageBatch, ten at a time; entries that fail for a
transient reason are retried alone), then moves the cursor to the page's last entry, so the
next run starts after it. Out of time (the Lambda's remaining time less a margin), the run
stops between pages and the next run carries on from the cursors.

Sweep: an entry can sit behind a cursor without a job on its way: written with a due time
already past (a late webhook), or its job was lost (dead-lettered, a sender that died).
A sweep pass per shard at most once an hour re-queues, a bounded page per run, the entries
still in the index that the forward pass had passed at least an hour before and that were
due more than an hour ago. In normal operation that range is empty.

At least once: a job is queued before the cursor passes its entry, so a crash, a timeout or
a failed cursor write makes the next run send that page again (at most one page twice; the
sender's claim makes a duplicate job harmless). A job SQS refuses for good is left in the
index for the sweep, and the run fails (its alarm fires) once it has queued the rest.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from recoup import queue
from recoup.domain.handover import overdue as handover_overdue
from recoup.observability import logger, metrics
from recoup.store import cases as store
from recoup.store import due_cursors
from recoup.store.due_cursors import Cursors, ShardCursor

# Entries per Query: 50 SendMessageBatch calls, a second or two; the time check is per page.
PAGE_SIZE = 500
# Kept back from the Lambda's remaining time: one page's sends with retries and a cursor write.
TIME_MARGIN_SECONDS = 20.0
# How long an entry stays behind the cursor before the sweep re-queues it, and how often a
# sweep pass may start per shard.
STALE_AFTER = timedelta(hours=1)
SWEEP_LIMIT = 200  # entries per shard per run
RUN_EVERY_SECONDS = 300  # the schedule's rate (template.yaml)
SAVE_EVERY = 8  # pages queued between two saves of the cursors within one run
SEND_ATTEMPTS = 5  # per SendMessageBatch entry, on top of botocore's retries of a whole call
BACKOFF_SECONDS = 0.1
SQS_BATCH = queue.BATCH_LIMIT


class SchedulerIncomplete(Exception):
    """Some due jobs could not be queued in this run; the cursors record what was."""


@dataclass(frozen=True, slots=True)
class Route:
    to: queue.Queue
    metric: str  # the count of jobs queued there


REMINDERS = Route(queue.Queue.REMINDERS, "RemindersQueued")
ESCALATION_CHECKS = Route(queue.Queue.ESCALATION_CHECKS, "EscalationChecksQueued")
HANDOVERS = Route(queue.Queue.HANDOVERS, "HandOversQueued")
PLAN_CHARGES = Route(queue.Queue.PLAN_CHARGES, "PlanJobsQueued")


_SENDERS = (
    store.PROMISE_NUDGE,
    store.PROMISE_CHECK,
    store.PLAN_NOTICE,
    store.COURTESY,
    store.CANCEL_NOTICE,
)


def job_for(due: store.DueCase) -> tuple[Route, queue.CaseJob]:
    """Where an entry of the due index goes, and the job it becomes."""
    if due.step == store.ESCALATION_CHECK:
        # the referral check (services.escalation)
        return ESCALATION_CHECKS, queue.CaseJob(due.shop, due.case_id)
    if due.step == store.HANDOVER_DELIVERY:
        # the referral's hand-over (services.handover)
        return HANDOVERS, queue.CaseJob(due.shop, due.case_id)
    if due.step in _SENDERS:
        # a promise to pay's nudge or check, a missed instalment's notice, a courtesy
        # reminder, the notice before an order's cancellation: the sender's
        return REMINDERS, queue.CaseJob(due.shop, due.case_id, step=due.step)
    if due.step == store.PLAN_DUE:
        # an instalment plan's charge, grace end or lapse (services.instalment_plans)
        return PLAN_CHARGES, queue.CaseJob(due.shop, due.case_id)
    if due.step in (store.RETRY_CHARGE, store.CANCEL_ORDER):
        # a retry of the failed card payment (services.payment_retries), an unpaid order's
        # cancellation in Shopify (services.auto_cancel)
        return PLAN_CHARGES, queue.CaseJob(due.shop, due.case_id, step=due.step)
    return REMINDERS, queue.CaseJob(due.shop, due.case_id, step=due.step)


@dataclass
class RunReport:
    queued: int = 0  # jobs the forward pass queued
    requeued: int = 0  # jobs the sweep queued again
    backlog: int = 0  # due entries left for the next run
    queries: int = 0  # pages read from the due index
    finished: bool = True  # False: out of time, the next run carries on
    refused: int = 0  # jobs SQS refused for good (left in the index)
    by_route: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "requeued": self.requeued,
            "backlog": self.backlog,
            "queries": self.queries,
            "finished": self.finished,
        }


def _unlimited() -> float:
    return math.inf


def queue_due(
    now: datetime,
    *,
    time_left: Callable[[], float] = _unlimited,
    page_size: int = PAGE_SIZE,
) -> RunReport:
    """Queue every entry due by `now` that no earlier run queued, then sweep; `time_left`
    gives the seconds the run may still take."""
    report = RunReport()
    run = _Run(now, due_cursors.load(), report, time_left)
    try:
        try:
            run.forward(page_size)
            if report.finished:
                run.sweep()
            else:
                report.backlog = run.backlog()
            run.save()
        except BaseException:
            run.save_quietly()  # keep what was queued; the run's own error is what it raises
            raise
        metrics.add_metric(name="SchedulerBacklog", unit="Count", value=report.backlog)
    finally:
        _emit(report)  # what was queued, even by a run that fails
    if report.refused:
        raise SchedulerIncomplete(f"SQS refused {report.refused} jobs; the sweep retries them")
    return report


@dataclass
class _Run:
    now: datetime
    cursors: Cursors
    report: RunReport
    time_left: Callable[[], float]
    # Moves not yet written: the cursors are saved once a run (and every SAVE_EVERY pages,
    # so a crash re-queues at most that many pages; the sender's claims absorb repeats).
    unsaved_pages: int = 0

    def _out_of_time(self) -> bool:
        return self.time_left() < TIME_MARGIN_SECONDS

    def _move(self, shard: int, cursor: ShardCursor) -> None:
        if cursor == self.cursors.of(shard):
            return
        self.cursors = replace(self.cursors, shards={**self.cursors.shards, shard: cursor})
        self.unsaved_pages += 1

    def save(self) -> None:
        if self.unsaved_pages:
            self.cursors = due_cursors.save(self.cursors, self.now)
            self.unsaved_pages = 0

    def save_quietly(self) -> None:
        try:
            self.save()
        except Exception:  # noqa: BLE001 (the run's own error is the one to raise)
            logger.exception("the scheduler's cursors could not be saved; the next run repeats")

    def forward(self, page_size: int) -> None:
        upper = store.due_upper(self.now)
        # Each five-minute slot starts at the next shard: a run that runs out of time before
        # a page of every shard leaves the last ones to runs that start with them, so no
        # shard waits behind the others for good.
        first = int(self.now.timestamp() // RUN_EVERY_SECONDS) % store.DUE_SHARDS
        pending = [(first + n) % store.DUE_SHARDS for n in range(store.DUE_SHARDS)]
        while pending:
            for shard in list(pending):
                if self._out_of_time():
                    self.report.finished = False
                    return
                if self.unsaved_pages >= SAVE_EVERY:
                    self.save()  # before reading on: a crash repeats at most these pages
                cursor = self.cursors.of(shard)
                page = store.due_page(shard, upper, after=cursor.after, limit=page_size)
                self.report.queries += 1
                sent = _queue(page.cases, self.report, self.now)
                if sent.through is not None:
                    self._move(shard, replace(cursor, after=sent.through))
                self.report.queued += sent.count
                if sent.failed:
                    raise SchedulerIncomplete(f"{sent.failed} due jobs were not queued")
                if not page.more:
                    pending.remove(shard)

    def sweep(self) -> None:
        """One page per shard of its sweep pass; its positions are saved with the forward
        pass's (a crash before that repeats only these swept jobs, which were stuck anyway)."""
        bound = store.due_upper(self.now - STALE_AFTER)
        moved: dict[int, ShardCursor] = {}
        failed = 0
        for shard in range(store.DUE_SHARDS):
            if self._out_of_time():
                break
            cursor = begin_sweep(self.cursors.of(shard), self.now)
            if cursor.sweep_upper is not None:
                upper = min(cursor.sweep_upper, bound)
                page = store.due_page(shard, upper, after=cursor.sweep_after, limit=SWEEP_LIMIT)
                self.report.queries += 1
                sent = _queue(page.cases, self.report, self.now)
                self.report.requeued += sent.count
                if sent.through is not None:
                    cursor = replace(cursor, sweep_after=sent.through)
                if not page.more and not sent.failed:
                    cursor = replace(cursor, sweep_upper=None, sweep_after=None)
                failed += sent.failed
            moved[shard] = cursor
            if failed:
                break
        shards = {**self.cursors.shards, **moved}
        if shards != self.cursors.shards:
            self.cursors = replace(self.cursors, shards=shards)
            self.unsaved_pages += 1
        if failed:
            raise SchedulerIncomplete(f"{failed} swept jobs were not queued")

    def backlog(self) -> int:
        upper = store.due_upper(self.now)
        return sum(
            store.due_count(shard, upper, after=self.cursors.of(shard).after)
            for shard in range(store.DUE_SHARDS)
        )


def begin_sweep(cursor: ShardCursor, now: datetime) -> ShardCursor:
    """The cursor with a sweep pass under way: the current one, or a new one if none ran in
    the last STALE_AFTER. A new pass ends where the forward pass was when the previous pass
    began (at least STALE_AFTER ago), and notes where it is now for the next."""
    if cursor.sweep_upper is not None:
        return cursor
    started = cursor.sweep_started_at
    if started is not None and started <= now < started + STALE_AFTER:
        return cursor
    return replace(
        cursor,
        sweep_upper=cursor.next_sweep_upper,
        sweep_after=None,
        next_sweep_upper=cursor.after,
        sweep_started_at=now,
    )


@dataclass(frozen=True, slots=True)
class _Sent:
    count: int  # jobs queued
    through: str | None  # the due key up to which every job was queued or refused for good
    failed: int  # jobs not queued for a transient reason (SQS failing): the run stops


def _queue(cases: Sequence[store.DueCase], report: RunReport, now: datetime) -> _Sent:
    """Send one page's jobs, by queue; stops at the first batch SQS keeps failing."""
    by_route: dict[Route, list[tuple[int, queue.CaseJob]]] = {}
    for index, due in enumerate(cases):
        route, job = job_for(due)
        if route is HANDOVERS and handover_overdue(datetime.fromisoformat(due.due_at), now):
            # The outbox's safety net: an agency or lawyer not told in time (alarmed).
            metrics.add_metric(name="HandOverOverdue", unit="Count", value=1)
        by_route.setdefault(route, []).append((index, job))
    queued: set[int] = set()
    refused: set[int] = set()
    for route, jobs in by_route.items():
        failing = False
        for start in range(0, len(jobs), SQS_BATCH):
            batch = jobs[start : start + SQS_BATCH]
            failed, rejected = _send_batch(route.to, batch)
            done = {index for index, _ in batch} - failed - rejected
            queued |= done
            refused |= rejected
            report.by_route[route.metric] += len(done)
            if failed:
                failing = True
                break
        if failing:
            break
    if refused:
        logger.error("SQS refused due jobs; they stay in the due index", extra={"n": len(refused)})
        report.refused += len(refused)
    # The cursor may pass what was queued or refused, up to the first job that was neither.
    missing = set(range(len(cases))) - queued - refused
    first_missing = min(missing, default=len(cases))
    return _Sent(
        count=len(queued),
        through=cases[first_missing - 1].key if first_missing > 0 else None,
        failed=len(missing),
    )


def _send_batch(
    to: queue.Queue, jobs: list[tuple[int, queue.CaseJob]]
) -> tuple[set[int], set[int]]:
    """Send up to ten jobs; entries that fail for a transient reason (throttled, SQS's own
    fault) are sent again alone, with backoff. Returns (not sent, refused for good)."""
    pending = {str(index): (index, job) for index, job in jobs}
    refused: set[int] = set()
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))  # noqa: S311 (jitter)
        try:
            answer = queue.send_batch(to, {entry_id: job for entry_id, (_, job) in pending.items()})
        except queue.NotQueued as exc:  # after botocore's own retries
            logger.warning("SendMessageBatch failed", extra={"error": exc.code, "attempt": attempt})
            continue
        refused.update(pending[entry_id][0] for entry_id in answer.refused)
        pending = {entry_id: pending[entry_id] for entry_id in answer.retry}
        if not pending:
            break
    return {index for index, _ in pending.values()}, refused


def _emit(report: RunReport) -> None:
    metrics.add_metric(name="StepsQueued", unit="Count", value=report.queued + report.requeued)
    metrics.add_metric(name="StepsRequeued", unit="Count", value=report.requeued)
    for name, count in report.by_route.items():
        if count:
            metrics.add_metric(name=name, unit="Count", value=count)
