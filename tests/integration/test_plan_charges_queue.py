"""The plan charges worker as template.yaml wires it, on the in-process local stack: the
scheduler queues an instalment plan's due entry on its own queue, the worker takes the job
(one with nothing due is done with, not retried), and a job that keeps failing is retried
by SQS, then dead-lettered, and runs again once redriven."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from recoup.integrations.stripe_payments import ChargeNotConfirmed
from recoup.services import instalment_plans, scheduling
from recoup.store import cases as case_store
from recoup.store.models import CASE_SK, case_pk
from tests.conftest import SHOP, event_json, shopify_headers

PENDING = event_json("shopify/order_pending.json")
CASE_ID = str(PENDING["id"])
NOW = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC) + timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's and the scheduler's backoff sleeps: real in production, instant here."""
    monkeypatch.setattr("time.sleep", lambda _seconds: None)


def _plan_due(local: Any) -> None:
    """An order's case, opened by its webhook, whose due index entry is made an instalment
    plan's job (the scheduler reads only the index's keys and `next_step`); no plan is in
    force."""
    body = json.dumps(PENDING).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    boto3.client("dynamodb", region_name=local.stack.region).update_item(
        TableName=local.stack.refs["Table"],
        Key={"pk": {"S": case_pk(SHOP, CASE_ID)}, "sk": {"S": CASE_SK}},
        UpdateExpression="SET due_pk = :pk, due_sk = :sk, next_step = :step",
        ExpressionAttributeValues={
            ":pk": {"S": case_store.due_shard(SHOP, CASE_ID)},
            ":sk": {"S": case_store.due_key(NOW - timedelta(minutes=1), SHOP, CASE_ID)},
            ":step": {"N": str(case_store.PLAN_DUE)},
        },
    )


def _bodies(local: Any, queue: str) -> list[dict[str, Any]]:
    """The bodies on a queue, left there (visible again at once)."""
    sqs = boto3.client("sqs", region_name=local.stack.region)
    messages = sqs.receive_message(
        QueueUrl=local.stack.refs[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_scheduler_queues_a_plans_job_for_the_plan_charges_worker(local: Any) -> None:
    # Given an instalment plan's entry due in the index
    _plan_due(local)
    # When the scheduler runs
    run = scheduling.queue_due(NOW)
    # Then the job is on the plan charges queue alone
    assert run.by_route == {"PlanJobsQueued": 1}
    assert _bodies(local, "PlanChargesQueue") == [{"shop": SHOP, "case_id": CASE_ID}]
    assert _bodies(local, "ReminderQueue") == []
    # When the stack's queue consumers run
    local.lambdas.drain()
    # Then the plan charges worker took it: nothing is in force to charge, so it is done
    # with, and neither retried nor dead-lettered
    assert _bodies(local, "PlanChargesQueue") == []
    assert _bodies(local, "PlanChargesDeadLetterQueue") == []


def test_a_job_that_keeps_failing_is_dead_lettered_and_runs_again_when_redriven(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Stripe not confirming a charge until told otherwise, and a plan's job queued
    attempts: list[str] = []
    answering = [False]
    run_due = instalment_plans.run_due

    def unconfirmed(shop: str, case_id: str, *, now: datetime) -> Any:
        attempts.append(case_id)
        if not answering[0]:
            raise ChargeNotConfirmed("no answer")
        return run_due(shop, case_id, now=now)

    monkeypatch.setattr(instalment_plans, "run_due", unconfirmed)
    _plan_due(local)
    scheduling.queue_due(NOW)
    # When the stack's queue consumers run until nothing is left to take
    local.lambdas.drain()
    # Then SQS gave the job to the worker maxReceiveCount times, then dead-lettered it whole
    assert len(attempts) == 5
    assert _bodies(local, "PlanChargesQueue") == []
    assert _bodies(local, "PlanChargesDeadLetterQueue") == [{"shop": SHOP, "case_id": CASE_ID}]
    # When Stripe answers again and the dead-letter queue is redriven
    answering[0] = True
    assert local.lambdas.redrive("PlanChargesDeadLetterQueue", "PlanChargesQueue") == 1
    local.lambdas.drain()
    # Then the job ran once more and was done with
    assert len(attempts) == 6
    assert _bodies(local, "PlanChargesQueue") == []
    assert _bodies(local, "PlanChargesDeadLetterQueue") == []
