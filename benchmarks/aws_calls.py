"""AWS API calls per webhook delivery, as a ratio to the minimum of one (the SQS SendMessage).

The local stack runs in this process (moto's `mock_aws`), with the functions loaded as the
stack loads them. Every botocore client call is recorded (`api_log`: boto3 clients,
PynamoDB's connection and Powertools' parameter providers alike); each call is attributed to
the function whose handler was running, and calls the harness makes itself (provisioning,
the queue poller) are left out.

Two settings for the signing secrets:
- env: the local stack's setting (RECOUP_SECRETS_SOURCE=env); verification is pure CPU.
- ssm: template.yaml's setting, what is deployed; the secrets come from SSM Parameter Store
  through Powertools' cache (300 s), so a container's first delivery per source reads one.
The worker's DynamoDB calls per applied event are counted while the queue is drained.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from unittest import mock

from benchmarks.api_log import ApiLog
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, WRONG_SECRET, Deliveries, Delivery

if TYPE_CHECKING:
    from recoup_local.stack import LocalStack

WORKER = "EventWorkerFunction"
WORKER_SAMPLE = 10  # orders whose events the worker applies (of each source)
DYNAMODB_READS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable"}
)
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
SECRET_PARAMS = {
    "RECOUP_SHOPIFY_API_SECRET_PARAM": "/recoup/dev/shopify-api-secret",
    "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM": "/recoup/dev/stripe-webhook-secret",
}


@dataclass
class CallLog(ApiLog):
    """The call record (`api_log`), plus the events the worker applied, by source."""

    applied: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # exceptions the worker raised

    @contextmanager
    def counting_applied(self) -> Iterator[None]:
        """Note each event the worker applies (not a duplicate, not dropped), by source."""
        from recoup.services import cases

        original = cases.apply_message

        def apply_message(body: str, **kwargs: Any) -> Any:
            source = str(json.loads(body).get("source", "unknown"))
            self.source = source
            try:
                applied = original(body, **kwargs)
            except Exception as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                raise
            finally:
                self.source = None
            if applied is not None and not applied.duplicate:
                self.applied[source] += 1
            return applied

        with mock.patch.object(cases, "apply_message", apply_message):
            yield

    def operations(self, phase: str, *, function: str | None = None) -> Counter[str]:
        return Counter(call.operation for call in self.made(phase=phase, function=function))


@dataclass(frozen=True)
class PhaseResult:
    label: str
    secrets: str  # "env" or "ssm"
    deliveries: int
    accepted: bool
    operations: Mapping[str, int]

    @property
    def calls(self) -> int:
        return sum(self.operations.values())

    @property
    def per_delivery(self) -> float:
        return self.calls / self.deliveries

    @property
    def ratio(self) -> float | None:
        """Calls per delivery over the minimum, 1 (the SendMessage); None when rejected."""
        return self.per_delivery if self.accepted else None


@dataclass(frozen=True)
class WorkerResult:
    source: str
    applied: int
    reads: int
    writes: int
    operations: Mapping[str, int]


@dataclass(frozen=True)
class CallsResult:
    phases: Sequence[PhaseResult]
    worker: Sequence[WorkerResult]


def _deliver(local: LocalStack, log: CallLog, phase: str, delivery: Delivery, status: int) -> None:
    log.phase = phase
    response = local.lambdas.invoke_http("POST", delivery.path, delivery.headers, delivery.body)
    log.phase = "harness"
    got = (response or {}).get("statusCode")
    if got != status:
        raise BenchError(f"{phase}: answered {got}, expected {status}: {response}")


@dataclass(frozen=True)
class _Kind:
    label: str
    secrets: str  # "env" or "ssm"
    make: Callable[[int], Delivery]
    accepted: bool

    @property
    def key(self) -> str:
        return f"{self.secrets}: {self.label}"

    def send(self, local: LocalStack, log: CallLog, indices: range) -> None:
        for index in indices:
            _deliver(local, log, self.key, self.make(index), 200 if self.accepted else 401)

    def result(self, log: CallLog, count: int) -> PhaseResult:
        operations = dict(log.operations(self.key))
        return PhaseResult(self.label, self.secrets, count, self.accepted, operations)


def _switch_to_ssm(local: LocalStack) -> None:
    """Put the secrets in Parameter Store (as a deployment does) and read them from there."""
    import boto3

    from recoup_local.lambdas import reset_caches

    ssm = boto3.client("ssm", region_name=local.stack.region)
    values = {
        "RECOUP_SHOPIFY_API_SECRET_PARAM": local.shopify_secret,
        "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM": local.stripe_secret,
    }
    for variable, value in values.items():
        name = os.environ.get(variable) or SECRET_PARAMS[variable]
        os.environ[variable] = name
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    os.environ["RECOUP_SECRETS_SOURCE"] = "ssm"
    reset_caches()  # a new container: settings and clients start over


def _worker(log: CallLog) -> list[WorkerResult]:
    results = []
    for source in sorted(log.applied):
        operations = Counter(
            call.operation
            for call in log.made(phase="drain", function=WORKER)
            if call.source == source
        )
        dynamodb = {op.split(".", 1)[1]: n for op, n in operations.items() if op[:9] == "dynamodb."}
        results.append(
            WorkerResult(
                source=source,
                applied=log.applied[source],
                reads=sum(n for op, n in dynamodb.items() if op in DYNAMODB_READS),
                writes=sum(n for op, n in dynamodb.items() if op in DYNAMODB_WRITES),
                operations=dict(operations),
            )
        )
    return results


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """The functions log JSON lines and EMF metrics to stdout (Powertools' Logger keeps its
    own reference to the stream): send file descriptor 1 to /dev/null while they run."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def run(count: int, deliveries: Deliveries) -> CallsResult:
    from recoup.services import shops
    from recoup_local.lambdas import reset_caches
    from recoup_local.stack import in_process

    saved = dict(os.environ)
    log = CallLog()
    try:
        with _quiet_stdout(), in_process() as local:
            shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
            handlers = local.lambdas.handlers
            for logical_id, handler in list(handlers.items()):
                handlers[logical_id] = log.attributed(logical_id, handler)
            with log.recording(), log.counting_applied():
                phases = _deliveries(local, log, count, deliveries)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
    sample = min(WORKER_SAMPLE, count)
    expected = {"shopify": sample, "stripe": sample}
    if dict(log.applied) != expected:
        failed = (
            f"; {len(log.failures)} failure(s), last: {log.failures[-1]}" if log.failures else ""
        )
        raise BenchError(f"worker applied {dict(log.applied)}, expected {expected}{failed}")
    return CallsResult(phases, _worker(log))


def _deliveries(
    local: LocalStack, log: CallLog, count: int, deliveries: Deliveries
) -> list[PhaseResult]:
    shopify_ok = partial(deliveries.shopify, secret=local.shopify_secret)
    stripe_ok = partial(deliveries.stripe, secret=local.stripe_secret)
    shopify_forged = partial(deliveries.shopify, secret=WRONG_SECRET)
    stripe_forged = partial(deliveries.stripe, secret=WRONG_SECRET)
    valid = [
        _Kind("Shopify, valid", "env", shopify_ok, True),
        _Kind("Stripe, valid", "env", stripe_ok, True),
    ]
    forged = [
        _Kind("Shopify, forged", "env", shopify_forged, False),
        _Kind("Stripe, forged", "env", stripe_forged, False),
    ]
    # The worker's sample first: the first orders and their payment failures, applied by
    # draining the queue. The rest stay queued: draining them would only repeat the sample,
    # slowly (moto takes about 0.2 s per TransactWriteItems).
    sample = range(min(WORKER_SAMPLE, count))
    rest = range(len(sample), count)
    for kind in valid:
        kind.send(local, log, sample)
    log.phase = "drain"
    local.lambdas.drain()
    log.phase = "harness"
    for kind in valid:
        kind.send(local, log, rest)
    for kind in forged:
        kind.send(local, log, range(count))
    # The deployed setting, on a new container that sees forged deliveries first.
    _switch_to_ssm(local)
    cloud = [
        _Kind("Shopify, forged (cold)", "ssm", shopify_forged, False),
        _Kind("Shopify, valid", "ssm", shopify_ok, True),
        _Kind("Stripe, forged (cold)", "ssm", stripe_forged, False),
        _Kind("Stripe, valid", "ssm", stripe_ok, True),
    ]
    for kind in cloud:
        kind.send(local, log, range(count, 2 * count))
    return [kind.result(log, count) for kind in [*valid, *forged, *cloud]]
