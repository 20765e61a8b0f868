"""The fault matrix: every consumer, its AWS calls failed in turn with every fault kind, run
to quiescence; the outcome is read from the stack's state (tests/fault_matrix/).

The quick subset (in `make test`) fails one representative call per consumer with every
kind; `make faults` runs every call (marker `faults`) and writes docs/reliability.md. The
named tests below are the invariants of docs/reliability.md, each on the cell that breaks it
when the code does not hold it.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import cache

import pytest

from recoup.store import cases as case_store
from tests.conftest import SHOP
from tests.fault_matrix import harness
from tests.fault_matrix.harness import ALLOWED, KINDS, MODES, Cell, Result
from tests.fault_matrix.scenarios import CASE, CUSTOMER_EMAIL, FIRST_STEP_DUE, SCENARIOS
from tests.faults import FaultPlan

# Later calls of an operation from the same function of the project repeat a path the first
# one took (the scheduler's next runs, the next shard's Query): the matrix fails the first
# call of each operation from each place, unless told to fail more.
OCCURRENCES = int(os.environ.get("RECOUP_FAULT_OCCURRENCES", "1"))
# A first attempt failing once: after a throttle the SDK's retry hides it (a 5xx and a
# timeout before sending behave the same), after a timeout the provider acted on, the retry
# repeats the effect.
ATTEMPT_KINDS = ("throttle", "timeout_after")


def describe(result: Result) -> str:
    cell = result.cell
    where = f"{cell.scenario} {cell.call} {cell.kind}/{cell.mode}" if cell else "clean run"
    return f"{where}: {result.outcome} ({result.detail})"


@cache
def clean_calls(scenario: str) -> tuple[tuple[str, str, int], ...]:
    """The calls the consumer makes in a run without faults: (service, operation, nth)."""
    result, plan = harness.run(SCENARIOS[scenario])
    assert result.outcome == "ok", describe(result)
    seen: dict[tuple[str, str], int] = {}
    sites = set()
    calls = []
    for (service, operation), site in zip(plan.invocations, plan.sites, strict=True):
        seen[(service, operation)] = nth = seen.get((service, operation), 0) + 1
        if nth <= OCCURRENCES or (service, operation, site) not in sites:
            calls.append((service, operation, nth))
        sites.add((service, operation, site))
    return tuple(calls)


def run_cell(cell: Cell) -> Result:
    result, plan = harness.run(SCENARIOS[cell.scenario], cell)
    assert plan.injected, f"{cell.call} was never made: the scenario changed"
    harness.record(result)
    return result


# ---------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_clean_run_does_the_work_once(scenario: str) -> None:
    # Without faults each consumer makes AWS calls and ends ok: the baseline of its row
    assert clean_calls(scenario)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_quick_a_representative_call_fails(scenario: str, kind: str) -> None:
    # Given the consumer's most telling call failing (every SDK attempt at it)
    service, operation = SCENARIOS[scenario].representative
    # When the stack runs to quiescence
    result = run_cell(Cell(scenario, service, operation, 1, kind, "call"))
    # Then the work is done once, or dead-lettered with an alarm, or counted as unknown
    assert result.outcome in ALLOWED, describe(result)


def full_cells() -> list[tuple[str, str, str]]:
    return [
        (scenario, kind, mode)
        for scenario in sorted(SCENARIOS)
        for kind in KINDS
        for mode in MODES
        if mode == "call" or kind in ATTEMPT_KINDS
    ]


def recorded() -> dict[Cell, Result]:
    """Cells an interrupted `make faults` run already recorded (not run again)."""
    path = os.environ.get("RECOUP_FAULT_RESULTS")
    if not path or not os.path.exists(path):
        return {}
    done = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            outcome, detail = row.pop("outcome"), row.pop("detail")
            cell = Cell(**row)
            done[cell] = Result(cell, outcome, detail)
    return done


@pytest.mark.faults
@pytest.mark.parametrize(("scenario", "kind", "mode"), full_cells())
def test_every_call_fails_in_turn(scenario: str, kind: str, mode: str) -> None:
    failing = []
    before = recorded()
    for service, operation, nth in clean_calls(scenario):
        cell = Cell(scenario, service, operation, nth, kind, mode)
        result = before[cell] if cell in before else run_cell(cell)
        if result.outcome not in ALLOWED:
            failing.append(describe(result))
    assert not failing, "\n".join(failing)


# ---------------------------------------------------------------------- the invariants


def test_no_silent_loss_a_read_throttled_after_the_claim_does_not_drop_the_step() -> None:
    # Given the sender's read of the customer's reachability throttled (after its claim)
    result = run_cell(Cell("sender-email", "dynamodb", "BatchGetItem", 1, "throttle", "call"))
    # Then the step is still sent once (or counted as unknown), never silently dropped
    assert result.outcome in ALLOWED, describe(result)


def test_no_silent_loss_a_hand_over_that_cannot_be_queued_is_not_left_pending() -> None:
    # Given the escalation's SendMessage of the hand-over job failing with a 5xx
    result = run_cell(Cell("escalation", "sqs", "SendMessage", 1, "server_error", "call"))
    # Then the agency is told once, or the job waits in an alarmed DLQ
    assert result.outcome in ("ok", "retried", "dlq"), describe(result)


@pytest.mark.parametrize(
    ("operation", "kind"),
    [("PutItem", "timeout_after"), ("GetItem", "throttle"), ("UpdateItem", "server_error")],
    ids=["claim-answer-lost", "read-after-claim-throttled", "record-after-send-failing"],
)
def test_no_silent_loss_a_data_export_is_emailed_once_whatever_its_marker_meets(
    operation: str, kind: str
) -> None:
    # Given the data request's marker calls failing: the claim whose answer is lost, the
    # shop read after it, the record after the email
    result = run_cell(Cell("privacy-export", "dynamodb", operation, 1, kind, "call"))
    # Then the merchant is emailed once and the marker says so, never left "claimed"
    assert result.outcome in ("ok", "retried"), describe(result)


def test_one_email_per_step_when_the_ses_answer_times_out_after_sending() -> None:
    # Given SES accepting the email and its answer timing out (once: the SDK would retry)
    result = run_cell(Cell("sender-email", "sesv2", "SendEmail", 1, "timeout_after", "attempt"))
    # Then the customer gets one email at most; a lost answer is recorded as unknown
    assert result.outcome != "double", describe(result)
    assert result.outcome in ALLOWED, describe(result)


def test_one_sms_per_step_when_the_write_after_publish_is_throttled() -> None:
    # Given the write that follows SNS Publish (the number's last-shop record, the second
    # UpdateItem after the claim) throttled
    assert ("dynamodb", "UpdateItem", 2) in clean_calls("sender-sms")
    result = run_cell(Cell("sender-sms", "dynamodb", "UpdateItem", 2, "throttle", "call"))
    # Then the customer gets one text message
    assert result.outcome != "double", describe(result)
    assert result.outcome in ALLOWED, describe(result)


def test_one_agency_delivery_when_its_record_write_is_throttled() -> None:
    # Given the agency accepting the webhook and the write recording it throttled
    cell = Cell("handover-webhook", "dynamodb", "TransactWriteItems", 1, "throttle", "call")
    result = run_cell(cell)
    # Then the agency got one delivery (a redelivery would carry the same idempotency key)
    assert result.outcome != "double", describe(result)
    assert result.outcome in ALLOWED, describe(result)


def test_payment_always_wins_when_the_worker_fails_on_the_paid_event() -> None:
    # Given orders/paid whose case write fails once (every SDK attempt) in the worker
    result = run_cell(
        Cell("event-worker", "dynamodb", "TransactWriteItems", 1, "server_error", "call")
    )
    # Then the payment is applied on SQS's retry and no reminder leaves after it
    assert result.outcome in ("ok", "retried"), describe(result)


def test_permanent_failures_end_a_refused_address_is_not_retried_forever() -> None:
    # Given an address SES refuses every time (a permanent rejection)
    plan = FaultPlan().fail("sesv2", "SendEmail", "reject", nth=0)
    scenario = SCENARIOS["sender-email"]
    with harness.world(scenario.function, scenario.start, plan) as world:
        scenario.run(world)
        # When the scheduler keeps running for two more hours
        for minutes in range(35, 155, 5):
            world.tick(FIRST_STEP_DUE + timedelta(minutes=minutes))
        stored = case_store.load(SHOP, CASE)
        trail = [
            (e.body["kind"], str(e.body["summary"])) for e in case_store.audit_trail(SHOP, CASE)
        ]
        sends = plan.count("sesv2", "SendEmail")
        assert world.sent("email", CUSTOMER_EMAIL) == 0
    # Then the address was tried a bounded number of times (one job's receives at most)
    assert sends <= 5, f"{sends} SendEmail calls for one refused address"
    # and the sequence moved on: step 1 is no longer due, and the trail says why
    assert stored is not None and stored.dunning is not None
    assert not (stored.dunning.due and stored.dunning.next_step == 0), stored.dunning
    assert any(kind != "reminder.sent" and "step 1" in text for kind, text in trail), trail


# ---------------------------------------------------------------------- the harness itself


def test_a_whole_call_fault_reaches_the_code_and_an_attempt_fault_is_retried_by_the_sdk(
    local: object,
) -> None:
    import boto3
    from botocore.exceptions import ClientError

    sqs = boto3.client("sqs", region_name="us-east-1")
    # A whole call: every attempt the SDK makes fails, so the code sees the throttle
    plan = FaultPlan().fail("sqs", "ListQueues", "throttle", whole_call=True)
    with plan, pytest.raises(ClientError, match="ThrottlingException"):
        sqs.list_queues()
    assert plan.invocations == [("sqs", "ListQueues")]
    assert plan.retried == len(plan.injected) - 1 >= 1
    # One attempt: the SDK retries and the code never knows
    with FaultPlan().fail("sqs", "ListQueues", "throttle") as plan:
        sqs.list_queues()
    assert (plan.retried, len(plan.injected)) == (1, 1)
    # Disarmed, nothing is recorded or failed
    with FaultPlan().fail("sqs", "ListQueues", "throttle", nth=0) as plan, plan.armed(False):
        sqs.list_queues()
    assert plan.calls == [] and plan.injected == []
