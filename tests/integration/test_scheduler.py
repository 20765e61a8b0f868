"""The scheduler against moto: every due entry queued once however many there are, a run
out of time handing the rest over without duplicates, SQS failures retried or reported,
never lost, each kind of entry routed to its queue, and a heartbeat each run."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import PutError

from recoup import aws, clock
from recoup.observability import metrics
from recoup.services import scheduling
from recoup.store import cases as case_store
from recoup.store.models import CASE_SK, case_pk
from recoup_local.lambdas import LambdaContext
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers
from tests.faults import FaultPlan

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's and the scheduler's backoff sleeps: real in production, instant here."""
    monkeypatch.setattr("time.sleep", lambda _seconds: None)


def seed(local: Any, entries: list[tuple[str, datetime, int]]) -> None:
    """Put due index entries (case id, due at, step) straight into the table: the scheduler
    reads only the index's keys and `next_step`."""
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    items = [
        {
            "pk": {"S": case_pk(SHOP, case_id)},
            "sk": {"S": CASE_SK},
            "due_pk": {"S": case_store.due_shard(SHOP, case_id)},
            "due_sk": {"S": case_store.due_key(at, SHOP, case_id)},
            "next_step": {"N": str(step)},
        }
        for case_id, at, step in entries
    ]
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={local.stack.refs["Table"]: batch})


def seed_due(local: Any, n: int, *, step: int = 0, prefix: str = "") -> list[str]:
    """n entries due in the hour before NOW, spread over the shards."""
    ids = [f"{prefix}{9000000 + i}" for i in range(n)]
    seed(local, [(c, NOW - timedelta(minutes=60 - i % 60), step) for i, c in enumerate(ids)])
    return ids


def take(local: Any, queue: str) -> list[dict[str, Any]]:
    """Receive and delete every message on a queue: the jobs queued so far."""
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs[queue]
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def remove(local: Any, case_ids: list[str]) -> None:
    """The sender handled these jobs: their entries leave the due index."""
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    for case_id in case_ids:
        ddb.update_item(
            TableName=local.stack.refs["Table"],
            Key={"pk": {"S": case_pk(SHOP, case_id)}, "sk": {"S": CASE_SK}},
            UpdateExpression="REMOVE due_pk, due_sk, next_step",
        )


class Budget:
    """A run's time: plenty for `pages` checks, then less than the margin."""

    def __init__(self, pages: int) -> None:
        self.left = pages

    def __call__(self) -> float:
        self.left -= 1
        return 120.0 if self.left >= 0 else 1.0


def test_a_backlog_is_drained_over_several_runs_each_step_queued_once(local: Any) -> None:
    # Given 240 due entries, and runs with time for 12 pages of 10 each (a page of every
    # shard and a few more)
    ids = seed_due(local, 240)
    runs: list[scheduling.RunReport] = []
    # When the scheduler runs until a run finishes (the sender not yet caught up)
    for slot in range(20):
        at = NOW + timedelta(minutes=5 * slot)
        runs.append(scheduling.queue_due(at, time_left=Budget(12), page_size=10))
        if runs[-1].finished:
            break
    jobs = take(local, "ReminderQueue")
    # Then every due step was queued exactly once, over several runs
    assert Counter(job["case_id"] for job in jobs) == Counter(ids)
    assert {job["step"] for job in jobs} == {0}
    assert len(runs) >= 3
    assert sum(r.queued for r in runs) == 240
    # and each run that ran out of time said how many it left for the next
    queued_so_far = 0
    for run in runs[:-1]:
        queued_so_far += run.queued
        assert (run.finished, run.backlog) == (False, 240 - queued_so_far)
    assert (runs[-1].finished, runs[-1].backlog) == (True, 0)
    # And a later run, with every entry still in the index, queues none of them again
    again = scheduling.queue_due(NOW + timedelta(minutes=30))
    assert (again.queued, again.requeued) == (0, 0)
    assert take(local, "ReminderQueue") == []


def test_runs_too_short_for_every_shard_still_reach_every_shard(local: Any) -> None:
    # Given 80 due entries over the 8 shards, and runs with time for only 3 pages
    ids = seed_due(local, 80)
    # When the scheduler runs every five minutes for an hour
    for slot in range(12):
        scheduling.queue_due(NOW + timedelta(minutes=5 * slot), time_left=Budget(3))
    # Then each run started at another shard, and every step was queued, once
    assert Counter(job["case_id"] for job in take(local, "ReminderQueue")) == Counter(ids)


def test_a_run_without_a_cap_queues_everything_due_in_one_go(local: Any) -> None:
    # Given many more entries due than fit in one page of the due index
    ids = seed_due(local, 150)
    # When one run with time enough runs
    run = scheduling.queue_due(NOW, page_size=10)
    # Then all of them are queued, page after page, and the next run repeats none
    assert (run.queued, run.finished, run.backlog) == (150, True, 0)
    assert run.queries >= 150 // 10
    assert sorted(job["case_id"] for job in take(local, "ReminderQueue")) == sorted(ids)
    assert scheduling.queue_due(NOW + timedelta(minutes=5), page_size=10).queued == 0


def test_entries_due_later_wait_for_their_time_and_are_queued_once(local: Any) -> None:
    # Given entries due now and some due in ten minutes
    now_ids = seed_due(local, 30)
    later = [f"{8000000 + i}" for i in range(12)]
    seed(local, [(c, NOW + timedelta(minutes=10), 1) for c in later])
    # When the scheduler runs now, then at each slot after
    first = scheduling.queue_due(NOW)
    assert sorted(j["case_id"] for j in take(local, "ReminderQueue")) == sorted(now_ids)
    remove(local, now_ids)
    second = scheduling.queue_due(NOW + timedelta(minutes=5))
    third = scheduling.queue_due(NOW + timedelta(minutes=10))
    # Then the later ones went at their slot, once
    assert (first.queued, second.queued, third.queued) == (30, 0, 12)
    assert sorted(j["case_id"] for j in take(local, "ReminderQueue")) == sorted(later)


def test_a_run_writes_its_cursors_once(local: Any) -> None:
    # Given 100 due entries over the due index's shards
    seed_due(local, 100)
    with FaultPlan() as plan:
        # When one run queues them all
        run = scheduling.queue_due(NOW)
        # Then the cursors it moved in every shard, and its sweep's, were written once
        assert (run.queued, run.queries) == (100, case_store.DUE_SHARDS)
        assert plan.count("dynamodb", "PutItem") == 1
    # and a run that moved nothing writes nothing
    with FaultPlan() as plan:
        assert scheduling.queue_due(NOW + timedelta(minutes=5), page_size=10).queued == 0
        assert plan.count("dynamodb", "PutItem") == 0


def test_a_crash_before_the_cursor_is_saved_repeats_at_most_the_unsaved_pages(
    local: Any,
) -> None:
    # Given 100 due entries, and the first cursor write refused, then again when the failing
    # run tries to keep what it queued
    ids = seed_due(local, 100)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "PutItem", "reject", nth=1, times=2)
        with pytest.raises(PutError):
            scheduling.queue_due(NOW, page_size=10)
    # When the next run resumes from the cursors that were saved (none)
    resumed = scheduling.queue_due(NOW + timedelta(minutes=5), page_size=10)
    jobs = Counter(j["case_id"] for j in take(local, "ReminderQueue"))
    # Then every step was queued, and only the pages whose cursors were lost twice
    assert set(jobs) == set(ids)
    twice = [c for c, n in jobs.items() if n == 2]
    assert 0 < len(twice) <= scheduling.SAVE_EVERY * 10
    assert max(jobs.values()) == 2
    assert resumed.finished


def test_a_failed_cursor_write_is_tried_again_before_the_run_fails(local: Any) -> None:
    # Given 100 due entries, and the first cursor write refused once
    ids = seed_due(local, 100)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "PutItem", "reject", nth=1)
        with pytest.raises(PutError):
            scheduling.queue_due(NOW, page_size=10)
    # When the next run comes
    again = scheduling.queue_due(NOW + timedelta(minutes=5), page_size=10)
    # Then the failing run kept what it queued (its alarm still fires), the next queued the
    # rest: every step once
    assert Counter(j["case_id"] for j in take(local, "ReminderQueue")) == Counter(ids)
    assert 0 < again.queued < 100


@pytest.mark.parametrize("times", [1, 100])
def test_a_throttled_send_message_batch_loses_nothing(local: Any, times: int) -> None:
    # Given 100 due entries, and SQS throttling SendMessageBatch from the 4th call, once
    # (botocore's retry absorbs it) or for good (the run gives up)
    ids = seed_due(local, 100)
    with FaultPlan() as plan:
        plan.fail("sqs", "SendMessageBatch", "throttle", nth=4, times=times)
        try:
            first = scheduling.queue_due(NOW, page_size=20)
        except scheduling.SchedulerIncomplete:
            first = None
    # When the next run comes
    scheduling.queue_due(NOW + timedelta(minutes=5), page_size=20)
    # Then every step was queued exactly once: what was queued before the throttle is not
    # sent again, the rest is sent by the next run
    assert Counter(j["case_id"] for j in take(local, "ReminderQueue")) == Counter(ids)
    assert ("sqs", "SendMessageBatch", "throttle") in plan.injected
    # and a throttle that outlasted the retries failed the run (its alarm), not silently
    assert (first is None) == (times > 1)


def test_entries_sqs_fails_in_a_batch_are_retried_alone(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 40 due entries, and SQS failing (its own fault) the first two entries of every
    # batch the first time it sees them
    ids = seed_due(local, 40)
    client = aws.client("sqs")
    real = client.send_message_batch
    failed_once: set[str] = set()
    retries: list[set[str]] = []

    def partly_failing(**kwargs: Any) -> Any:
        entries = kwargs["Entries"]
        cases = {e["Id"]: json.loads(e["MessageBody"])["case_id"] for e in entries}
        if set(cases.values()) <= failed_once:
            retries.append(set(cases.values()))
        dropped = [e for e in entries[:2] if cases[e["Id"]] not in failed_once]
        failed_once.update(cases[e["Id"]] for e in dropped)
        response = real(**{**kwargs, "Entries": [e for e in entries if e not in dropped]})
        response["Failed"] = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in dropped
        ]
        return response

    monkeypatch.setattr(client, "send_message_batch", partly_failing)
    # When the scheduler runs
    run = scheduling.queue_due(NOW)
    # Then the failed entries, and only they, were sent again, and each step is queued once
    assert run.queued == 40
    assert failed_once
    assert set().union(*retries) == failed_once
    assert Counter(j["case_id"] for j in take(local, "ReminderQueue")) == Counter(ids)


def test_a_job_sqs_refuses_fails_the_run_and_is_swept_later(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 20 due entries, and SQS refusing one of them for good (a sender fault)
    ids = seed_due(local, 20)
    refused_case = ids[7]
    client = aws.client("sqs")
    real = client.send_message_batch
    refusing = {"on": True}

    def refuse_one(**kwargs: Any) -> Any:
        entries = kwargs["Entries"]
        bad = [e for e in entries if refusing["on"] and refused_case in e["MessageBody"]]
        response = real(**{**kwargs, "Entries": [e for e in entries if e not in bad]})
        response["Failed"] = [{"Id": e["Id"], "SenderFault": True, "Code": "Invalid"} for e in bad]
        return response

    monkeypatch.setattr(client, "send_message_batch", refuse_one)
    # When the scheduler runs
    with pytest.raises(scheduling.SchedulerIncomplete):
        scheduling.queue_due(NOW)
    # Then the others were queued, and the run failed so that its alarm fires
    first = Counter(j["case_id"] for j in take(local, "ReminderQueue"))
    assert first == Counter(c for c in ids if c != refused_case)
    # And the sender handled the others; the refused entry stays in the index
    remove(local, [c for c in ids if c != refused_case])
    refusing["on"] = False
    # so the next runs leave it (no repeats) until the sweep an hour later queues it, and,
    # as long as it stays in the index, once an hour, never every run
    for minutes in (5, 10, 30):
        assert scheduling.queue_due(NOW + timedelta(minutes=minutes)).requeued == 0
    hours = (1, 1 + 5 / 60, 1.5, 2, 2 + 5 / 60)
    swept = [scheduling.queue_due(NOW + timedelta(hours=h)).requeued for h in hours]
    jobs = take(local, "ReminderQueue")
    assert swept == [1, 0, 0, 1, 0]
    assert [j["case_id"] for j in jobs] == [refused_case, refused_case]


def test_an_entry_written_behind_the_cursor_is_swept_once(local: Any) -> None:
    # Given a run that queued everything due, then an entry written with a due time already
    # passed (a late webhook), behind the cursor
    seed_due(local, 10)
    scheduling.queue_due(NOW)
    take(local, "ReminderQueue")
    seed(local, [("late-1", NOW - timedelta(minutes=30), 0)])
    # When the scheduler runs every five minutes for three hours
    requeued = [scheduling.queue_due(NOW + timedelta(minutes=m)).requeued for m in range(5, 185, 5)]
    jobs = take(local, "ReminderQueue")
    # Then the sweep queued the late entry (and the ten still in the index, whose jobs the
    # sender never handled here) once an hour at most, never every run
    late = [j for j in jobs if j["case_id"] == "late-1"]
    assert 1 <= len(late) <= 3
    assert sum(1 for r in requeued if r) <= 6
    assert Counter(j["case_id"] for j in jobs).most_common(1)[0][1] <= 3


def test_each_kind_of_entry_goes_to_its_queue(local: Any) -> None:
    # Given a reminder step, a referral check and a hand-over delivery due
    seed(
        local,
        [
            ("101", NOW - timedelta(minutes=3), 2),
            ("102", NOW - timedelta(minutes=2), case_store.ESCALATION_CHECK),
            ("103", NOW - timedelta(minutes=1), case_store.HANDOVER_DELIVERY),
        ],
    )
    # When the scheduler runs
    run = scheduling.queue_due(NOW)
    # Then each went to its own queue with its own job
    assert run.queued == 3
    assert take(local, "ReminderQueue") == [{"shop": SHOP, "case_id": "101", "step": 2}]
    assert take(local, "EscalationQueue") == [{"shop": SHOP, "case_id": "102"}]
    assert take(local, "HandOverQueue") == [{"shop": SHOP, "case_id": "103"}]
    assert run.by_route == Counter(
        {"RemindersQueued": 1, "EscalationChecksQueued": 1, "HandOversQueued": 1}
    )


def test_the_scheduler_function_reports_a_heartbeat_each_run(
    local: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one due step and the function's metrics switched on
    seed_due(local, 3)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handler = local.lambdas.handlers["SchedulerFunction"]
    event = {"time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    metrics.clear_metrics()  # what earlier tests left unflushed (their metrics were off)
    # When EventBridge Scheduler invokes it with the slot's time, twice
    capsys.readouterr()
    first = handler(event, LambdaContext("SchedulerFunction"))
    second = handler({"time": "2026-11-10T12:05:00Z"}, LambdaContext("SchedulerFunction"))
    out = capsys.readouterr().out
    # Then the first queued the steps and the second nothing, each emitting the heartbeat,
    # the steps queued and the backlog
    assert (first["queued"], second["queued"]) == (3, 0)
    emitted = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert [m["SchedulerRuns"] for m in emitted] == [[1.0], [1.0]]
    assert [m["StepsQueued"] for m in emitted] == [[3.0], [0.0]]
    assert [m["SchedulerBacklog"] for m in emitted] == [[0.0], [0.0]]
    assert {m["service"] for m in emitted} == {"recoup"}  # the alarm's dimension


def test_due_cases_reads_only_the_due_entries(local: Any) -> None:
    # Given one due case among others scheduled later, through the webhooks and the worker,
    # at the time the orders were placed
    clock.use(lambda: OPENED)
    try:
        for name in ("order_pending", "order_voided", "order_expired", "order_partially_paid"):
            body = event_bytes(f"shopify/{name}.json")
            headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id=name)
            local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
        local.lambdas.drain()
    finally:
        clock.use(None)
    when = OPENED + timedelta(days=1, minutes=1)
    # When the due entries are listed
    due = list(case_store.due_cases(when))
    # Then only the pending order's first step is
    assert [(d.case_id, d.step) for d in due] == [(PENDING_ID, 0)]
