"""Drive one consumer of the in-process stack to quiescence under a fault plan, and classify
the outcome from the stack's state (never from logs).

Only the consumer under test is armed: its AWS calls are recorded and may fail; every other
function, and the harness's own calls (receiving, deleting, reading the state), pass
untouched. SQS consumers are polled as Lambda's event source mapping does (partial batch
failures, a crash fails the whole batch, the queue's redrive policy after maxReceiveCount);
the scheduler is fired with a clock the scenario controls, and a failed run is retried twice,
as Lambda retries an asynchronous (EventBridge) invocation.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.session import Session, get_session
from pynamodb.connection import base as pynamodb_connection

from recoup_local.lambdas import LambdaContext, _sqs_record
from recoup_local.outbox import sent_messages
from recoup_local.provision import ACCOUNT
from recoup_local.stack import LocalStack
from recoup_local.template import load as load_template
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_bytes, shopify_headers
from tests.faults import KINDS, FaultPlan

# Outcomes the invariants allow, and the failures they forbid.
ALLOWED = ("ok", "retried", "dlq", "unknown", "ended", "repeat")
FAILURES = ("lost", "double", "stuck")
OUTCOMES = ALLOWED + FAILURES
# "call": the nth call the code makes fails on every SDK attempt (the code sees the error);
# "attempt": one attempt fails once, and the SDK's own retry may hide it.
MODES = ("call", "attempt")
# Lambda retries a failed asynchronous invocation twice.
ASYNC_RETRIES = 2
# Rounds of polling every queue before a drain counts as an endless requeue.
MAX_POLL_ROUNDS = 120


@dataclass(frozen=True)
class Cell:
    scenario: str
    service: str
    operation: str
    nth: int  # which call of service.operation, in the clean run's order
    kind: str
    mode: str

    @property
    def call(self) -> str:
        return f"{self.service}.{self.operation}#{self.nth}"

    def arm(self, plan: FaultPlan) -> None:
        # Before the fault nothing failed, so the nth call's first attempt is also the nth
        # attempt at that operation: "attempt" fails it once and lets the SDK retry.
        whole = self.mode == "call"
        plan.fail(self.service, self.operation, self.kind, nth=self.nth, whole_call=whole)


@dataclass
class Observation:
    """What a scenario reads from the stack once it is quiet."""

    done: bool  # the work's end state is recorded
    effects: int | None = None  # messages, deliveries or tags made; None: a state change only
    unknown: bool = False  # a send recorded with an unknown outcome
    pending: str | None = None  # a claim or a status left unfinished, in words
    ended: str | None = None  # a permanent refusal ended the work, with this reason recorded
    keyed: bool = False  # every copy made carries one idempotency key (receivers drop repeats)
    detail: str = ""


@dataclass(frozen=True)
class Result:
    cell: Cell | None
    outcome: str
    detail: str

    def to_json(self) -> str:
        cell = asdict(self.cell) if self.cell else {}
        return json.dumps({**cell, "outcome": self.outcome, "detail": self.detail})


@dataclass
class World:
    """One fresh stack, one consumer under test, one clock."""

    local: LocalStack
    plan: FaultPlan
    target: str  # the logical id of the function whose calls are faulted
    now: datetime
    patch: pytest.MonkeyPatch  # undone when the run ends: scenarios replace transports with it
    metric_names: list[str] = field(default_factory=list)
    redelivered: int = 0  # records of the target reported failed (SQS retries them)
    failed_runs: int = 0  # scheduled runs of the target that raised
    quiet: bool = True  # every queue drained within the bound
    arming: bool = True  # False while a scenario sets up its state: nothing is faulted
    _sqs: Any = None

    @contextmanager
    def setup(self) -> Iterator[None]:
        """The state a scenario starts from, made with no function armed."""
        self.arming = False
        try:
            yield
        finally:
            self.arming = True

    def _armed(self, logical_id: str) -> bool:
        return self.arming and logical_id == self.target

    @property
    def region(self) -> str:
        return self.local.stack.region

    # ------------------------------------------------------------------ driving

    def post_shopify(self, name: str, topic: str, webhook_id: str) -> None:
        """A verified delivery, queued by the webhook function (never faulted here)."""
        body = event_bytes(f"shopify/{name}.json")
        headers = shopify_headers(body, self.local.shopify_secret, topic, webhook_id=webhook_id)
        with self.plan.armed(False):
            answer = self.local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
        assert answer is not None and answer["statusCode"] == 200, answer

    def tick(self, when: datetime) -> None:
        """The scheduler's run at `when` (clock set), then every queue drained."""
        self.now = when
        for spec in self.local.stack.functions:
            if not spec.schedules:
                continue
            event = {
                "version": "0",
                "id": f"tick-{when.isoformat()}",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.region,
                "resources": [],
                "detail": {},
            }
            handler = self.local.lambdas.handlers[spec.logical_id]
            for _ in range(1 + ASYNC_RETRIES):
                try:
                    with self.plan.armed(self._armed(spec.logical_id)):
                        handler(event, LambdaContext(spec.logical_id))
                    break
                except Exception:  # noqa: BLE001 - Lambda retries a failed async run
                    self.failed_runs += 1
        self.drain()

    def drain(self) -> None:
        """Poll every mapped queue until a whole round finds nothing (no function ran in it,
        so nothing was queued either); a bound catches an endless requeue."""
        for _ in range(MAX_POLL_ROUNDS):
            if self._poll_once() == 0:
                return
        self.quiet = False

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = boto3.client("sqs", region_name=self.region)
        return self._sqs

    def _poll_once(self) -> int:
        sqs = self.sqs
        handed = 0
        for spec in self.local.stack.functions:
            for arn in spec.queue_arns:
                if not self._waiting(arn):
                    continue
                url = self.local.stack.queue_urls_by_arn[arn]
                with self.plan.armed(False):
                    messages = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=spec.batch_size,
                        AttributeNames=["All"],
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                if not messages:
                    continue
                handed += len(messages)
                records = [_sqs_record(dict(m), arn, self.region) for m in messages]
                handler = self.local.lambdas.handlers[spec.logical_id]
                armed = self._armed(spec.logical_id)
                try:
                    with self.plan.armed(armed):
                        response = handler({"Records": records}, LambdaContext(spec.logical_id))
                    failures = (response or {}).get("batchItemFailures", [])
                    failed = {f["itemIdentifier"] for f in failures}
                except Exception:  # noqa: BLE001 - a crash fails the whole batch
                    failed = {m["MessageId"] for m in messages}
                if armed:
                    self.redelivered += len(failed)
                with self.plan.armed(False):
                    for message in messages:
                        if message["MessageId"] in failed:
                            sqs.change_message_visibility(
                                QueueUrl=url,
                                ReceiptHandle=message["ReceiptHandle"],
                                VisibilityTimeout=0,
                            )
                        else:
                            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return handed

    def _queue(self, arn: str) -> Any:
        """moto's own queue object (same process): reading it costs no emulated call, and
        the harness polls every queue many times per run."""
        from moto.backends import get_backend

        return get_backend("sqs")[ACCOUNT][self.region].get_queue(arn.rsplit(":", 1)[1])

    def _waiting(self, arn: str) -> bool:
        """Messages in the queue, delayed or in flight included."""
        return bool(self._queue(arn)._messages)

    # ------------------------------------------------------------------ reading

    def dead_letters(self) -> dict[str, int]:
        """Messages in each dead-letter queue, by logical id."""
        counts: dict[str, int] = {}
        for logical_id in sorted(dead_letter_queues()):
            count = len(self._queue(self.local.stack.attrs[(logical_id, "Arn")])._messages)
            if count:
                counts[logical_id] = count
        return counts

    def sent(self, kind: str, to: str) -> int:
        """Emails ("email") or text messages ("sms") the provider accepted for `to`."""
        return sum(1 for m in sent_messages(self.region) if m.kind == kind and to in m.to)

    def counted(self, word: str) -> bool:
        """A metric naming `word` (case-insensitive) was emitted during the run."""
        return any(word.lower() in name.lower() for name in self.metric_names)

    # ------------------------------------------------------------------ the verdict

    def classify(self, seen: Observation) -> Result:
        fired = bool(self.plan.injected)
        dead = self.dead_letters()
        notes = [seen.detail] if seen.detail else []
        if dead:
            notes.append("DLQ " + ", ".join(f"{q}: {n}" for q, n in dead.items()))
        if not self.quiet:
            return _result("stuck", ["queues never went quiet (endless requeue)", *notes])
        if seen.effects is not None and seen.effects > 1:
            if seen.keyed:
                # At-least-once by design (hand-overs): one key, so the receiver drops repeats.
                return _result("repeat", [f"{seen.effects} made, one idempotency key", *notes])
            return _result("double", [f"{seen.effects} made", *notes])
        if seen.unknown:
            if self.counted("unknown"):
                return _result("unknown", notes)
            return _result("lost", ["recorded as unknown, no metric counts it", *notes])
        if seen.done:
            if seen.effects == 0:
                return _result("lost", ["recorded as done, nothing was made", *notes])
            retried = self.plan.retried or self.redelivered or self.failed_runs
            return _result("retried" if fired and retried else "ok", notes)
        if dead:
            unalarmed = [q for q in dead if q not in alarmed_queues()]
            if unalarmed:
                return _result("lost", [f"no alarm on {', '.join(unalarmed)}", *notes])
            return _result("dlq", notes)
        if seen.pending:
            return _result("stuck", [seen.pending, *notes])
        if seen.ended:
            return _result("ended", [seen.ended, *notes])
        return _result("lost", ["not done, nothing in a DLQ, nothing pending", *notes])


def _result(outcome: str, notes: list[str]) -> Result:
    return Result(None, outcome, "; ".join(n for n in notes if n))


# ---------------------------------------------------------------------- the template


@cache
def dead_letter_queues() -> frozenset[str]:
    """Every queue some queue's redrive policy names as its dead-letter target."""
    resources: dict[str, Any] = _template_once()["Resources"]
    targets = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        redrive = (resource.get("Properties") or {}).get("RedrivePolicy") or {}
        arn = redrive.get("deadLetterTargetArn")
        if isinstance(arn, dict) and "Fn::GetAtt" in arn:
            targets.add(arn["Fn::GetAtt"][0])
    return frozenset(targets)


@cache
def alarmed_queues() -> frozenset[str]:
    """Queues a CloudWatch alarm of the template watches (its QueueName dimension)."""
    resources: dict[str, Any] = _template_once()["Resources"]
    watched = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for dimension in (resource.get("Properties") or {}).get("Dimensions") or []:
            value = dimension.get("Value")
            if dimension.get("Name") == "QueueName" and isinstance(value, dict):
                attr = value.get("Fn::GetAtt")
                if attr:
                    watched.add(attr[0])
    return frozenset(watched)


# ---------------------------------------------------------------------- one run

# Clients by what makes them differ (service, region, endpoint, config): creating one costs
# far more than a run's calls, and each fresh stack would create every client again. A
# client holds no state of moto's, so one made for an earlier run serves the next.
_clients: dict[str, Any] = {}


def _parsed_template() -> dict[str, Any]:
    """template.yaml, parsed once per process (each fresh stack reads it)."""
    return copy.deepcopy(_template_once())


@cache
def _template_once() -> dict[str, Any]:
    return load_template()


@cache
def _shared_session() -> Session:
    """One botocore session for PynamoDB's connections (it makes one per model)."""
    return get_session()


def _shared_clients(create: Callable[..., Any]) -> Callable[..., Any]:
    def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        options = sorted((config._user_provided_options if config else {}).items())
        named = sorted((k, v) for k, v in kwargs.items() if k != "config")
        key = repr((service_name, args, named, options))
        if key not in _clients:
            _clients[key] = create(session, service_name, *args, **kwargs)
        return _clients[key]

    return create_client


@contextmanager
def world(target: str, start: datetime, plan: FaultPlan) -> Iterator[World]:
    """A fresh in-process stack with the demo shop installed, the clock at `start`, hand-over
    retries without jitter, and the metrics the functions emit recorded."""
    from recoup import clock, observability
    from recoup.domain import strategies
    from recoup.services import handover, shops
    from recoup_local import provision
    from recoup_local.stack import in_process

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        for name in (
            "RECOUP_SHOPIFY_API_SECRET",
            "RECOUP_STRIPE_WEBHOOK_SECRET",
            "AWS_ENDPOINT_URL",
        ):
            patch.delenv(name, raising=False)
        patch.setattr(handover, "rand", lambda: 0.0)
        # The scenarios time their steps by the default sequence; the pending order fixture
        # is a bank transfer, which the shipped strategy would give a slower one.
        patch.setattr(strategies, "shipped", tuple)
        patch.setattr(Session, "create_client", _shared_clients(Session.create_client))
        patch.setattr(provision, "load", _parsed_template)
        patch.setattr(pynamodb_connection, "get_session", _shared_session)
        with in_process() as local:
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
            state = World(local, plan, target, start, patch)
            clock.use(lambda: state.now)
            add_metric = observability.metrics.add_metric

            def recorded(*args: Any, **kwargs: Any) -> Any:
                state.metric_names.append(str(kwargs.get("name") or args[0]))
                return add_metric(*args, **kwargs)

            patch.setattr(observability.metrics, "add_metric", recorded)
            from recoup.services import sending

            single = sending.single_metric

            def recorded_single(*args: Any, **kwargs: Any) -> Any:
                state.metric_names.append(str(kwargs.get("name") or args[0]))
                return single(*args, **kwargs)

            patch.setattr(sending, "single_metric", recorded_single)
            try:
                with plan:
                    plan.active = False  # armed per function by the driver
                    yield state
            finally:
                clock.use(None)


def run(scenario: Any, cell: Cell | None = None) -> tuple[Result, FaultPlan]:
    """One fresh run of `scenario`, with `cell`'s fault armed (None: the clean run)."""
    plan = FaultPlan()
    if cell is not None:
        cell.arm(plan)
    with world(scenario.function, scenario.start, plan) as state:
        seen = scenario.run(state)
        verdict = state.classify(seen)
    return replace(verdict, cell=cell), plan


def record(result: Result) -> None:
    """Append a result for `make faults`'s report (RECOUP_FAULT_RESULTS names the file)."""
    path = os.environ.get("RECOUP_FAULT_RESULTS")
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(result.to_json() + "\n")


__all__ = ["ALLOWED", "FAILURES", "KINDS", "MODES", "Cell", "Observation", "Result", "World"]
