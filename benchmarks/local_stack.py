"""The local stack's throughput, against raw moto calls for the same work.

The stack runs as `make serve` runs it (`recoup_local.stack.emulated`: moto's server on
loopback, the front on a free port, moto_patches applied). N new Shopify orders
(`orders/create`, one delivery each) are posted by CLIENTS threads of a process of their own
(the load generator, as Shopify, is outside the stack) with the queue consumers stopped:
**deliveries/s**. Then the queues are drained as the poller does (every queue
mapping polled until two rounds find nothing): **drain rate**, orders fully processed per
second. Every AWS call the stack made in each phase (its handlers and the poller's receives
and deletes) is recorded with its parameters and answer.

The raw side is the same calls, made directly: moto is reset and provisioned again on the
same server (same queue URLs), the shop installed again, and each phase's recorded calls are
replayed in order through one boto3 client per service, serially. A receipt handle in a
DeleteMessage or ChangeMessageVisibility is translated to the handle the replay's own
ReceiveMessage gave for the same message. The ratio, stack time over raw time for the same
phase, is what the front, the handlers and the poller cost on top of moto (goal ≤ 1.5).

It runs in a process of its own (`make bench` spawns it after the other figures, alone on the
machine: the figures are rates), because emulated() sets the process's AWS environment.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries

SIZES = (500, 5_000)
CLIENTS = 8
# A phase stops after this long and reports what it did by then (so `make bench` stays a
# few minutes longer at most): posting, then draining. With moto's calls no longer growing
# with the queue and the table (moto_patches "sqs-messages", "dynamodb-query"), 5,000 orders
# post in about 30 s and drain in about 150 s on the two-core machine (the rates are flat
# from 500 to 5,000 orders): the budgets leave room for a slower run, and cut short a run
# whose rates fall again.
BUDGET_SECONDS = {"deliveries": 120.0, "drain": 240.0}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    response: Any


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    on: bool = False

    @contextmanager
    def recording(self) -> Iterator[None]:
        original: Callable[..., Any] = BaseClient._make_api_call  # type: ignore[attr-defined]
        recorder = self

        def record(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            if not recorder.on:
                return original(client, operation_name, api_params)
            params = dict(api_params)
            service = client.meta.service_model.service_name
            try:
                response = original(client, operation_name, api_params)
            except ClientError as error:
                recorder.calls.append(Call(service, operation_name, params, error.response))
                raise
            recorder.calls.append(Call(service, operation_name, params, response))
            return response

        with mock.patch.object(BaseClient, "_make_api_call", record):
            yield

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


@dataclass(frozen=True)
class Phase:
    name: str  # "deliveries", "drain"
    orders: int  # orders posted (deliveries) or fully processed (drain)
    seconds: float
    calls: int
    operations: dict[str, int]
    raw_seconds: float
    raw_errors: int  # replayed calls that answered an error the stack's call had not
    complete: bool = True  # False: the budget ran out first
    # The replayed calls that answered an error the stack's had not, by operation and code
    raw_error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    @property
    def raw_rate(self) -> float:
        return self.orders / self.raw_seconds if self.raw_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.seconds / self.raw_seconds if self.raw_seconds else float("inf")


@dataclass(frozen=True)
class SizeResult:
    orders: int
    clients: int
    instances: int  # the per-function bound
    phases: tuple[Phase, ...]
    transactions: int
    items_copied: int  # by the patched transactions (touched items only)
    whole_table_items: int  # what moto's own transact_write_items would have copied
    table_items: int  # items in the table after the drain
    peak_instances: int  # the most Shopify webhook instances busy at once
    rss_mb: float  # the process's peak resident set after this size
    # The replay's time by operation, slowest first: where moto's own time goes.
    raw_slowest: tuple[tuple[str, float], ...] = ()

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


@dataclass(frozen=True)
class LocalStackResult:
    sizes: tuple[SizeResult, ...]
    patches: tuple[str, ...]


def _quiet() -> None:
    """The handlers' INFO lines and metrics would cost more than the work: off, as in
    `make serve` (after LocalLambdas has set the template's environment)."""
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    logging.getLogger("recoup").setLevel(logging.ERROR)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _post_all(
    front: tuple[str, int], deliveries: Deliveries, secret: str, n: int
) -> tuple[int, float]:
    """Post orders 0..n-1 from CLIENTS threads of a process of their own, as Shopify posts
    from outside the stack: the load generator does not take the stack's interpreter lock.
    Returns how many were answered 200 within the budget, and the seconds from the first
    post to the last answer."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as poster:
        return poster.submit(_post_from_here, front, deliveries, secret, n).result()


def _post_from_here(
    front: tuple[str, int], deliveries: Deliveries, secret: str, n: int
) -> tuple[int, float]:
    started = time.perf_counter()

    def post(index: int) -> bool:
        if time.perf_counter() - started > BUDGET_SECONDS["deliveries"]:
            return False
        delivery = deliveries.shopify(index, secret)
        connection = http.client.HTTPConnection(*front, timeout=60)
        try:
            connection.request("POST", delivery.path, delivery.body, delivery.headers)
            response = connection.getresponse()
            response.read()
            return response.status == 200
        finally:
            connection.close()

    with ThreadPoolExecutor(CLIENTS) as clients:
        accepted = sum(clients.map(post, range(n)))
    return accepted, time.perf_counter() - started


def _drain(lambdas: Any) -> bool:
    """Poll every mapping until two rounds in a row find nothing (LocalLambdas.drain's
    rule), within the budget."""
    started, idle = time.perf_counter(), 0
    while time.perf_counter() - started < BUDGET_SECONDS["drain"]:
        if lambdas.poll_once() == 0:
            idle += 1
            if idle >= 2:
                return True
        else:
            idle = 0
    return False


def _deleted(calls: list[Call], queue_url: str) -> int:
    """Messages of one queue its consumer finished with (deleted): the orders processed."""
    done = 0
    for call in calls:
        if call.params.get("QueueUrl") != queue_url:
            continue
        if call.operation == "DeleteMessage":
            done += 1
        elif call.operation == "DeleteMessageBatch":
            done += len(call.params.get("Entries", []))
    return done


def _operations(calls: list[Call]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for call in calls:
        name = f"{call.service}.{call.operation}"
        counted[name] = counted.get(name, 0) + 1
    return counted


class _Replay:
    """Replays recorded calls through one boto3 client per service, translating receipt
    handles to the ones the replay's own receives gave."""

    def __init__(self, region: str) -> None:
        import boto3

        self._session = boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}
        self._message_ids: dict[str, str] = {}  # recorded MessageId -> replayed MessageId
        self._recorded_handles: dict[str, str] = {}  # recorded handle -> recorded MessageId
        self._handles: dict[str, str] = {}  # replayed MessageId -> replayed handle
        self.errors = 0
        self.error_kinds: dict[str, int] = {}  # "sqs.DeleteMessage ReceiptHandleIsInvalid"
        self.seconds: dict[str, float] = {}  # per operation, for where moto's time goes

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)  # type: ignore[call-overload]
        return self._clients[service]

    def _learn(self, call: Call, response: Any) -> None:
        recorded = call.response if isinstance(call.response, dict) else {}
        if call.operation == "SendMessage" and "MessageId" in recorded:
            self._message_ids[recorded["MessageId"]] = response.get("MessageId", "")
        elif call.operation == "SendMessageBatch":
            mine = {e["Id"]: e["MessageId"] for e in response.get("Successful", [])}
            for entry in recorded.get("Successful", []):
                if entry["Id"] in mine:
                    self._message_ids[entry["MessageId"]] = mine[entry["Id"]]
        elif call.operation == "ReceiveMessage":
            for message in recorded.get("Messages", []):
                self._recorded_handles[message["ReceiptHandle"]] = message["MessageId"]
            for message in response.get("Messages", []):
                self._handles[message["MessageId"]] = message["ReceiptHandle"]

    def _params(self, call: Call) -> dict[str, Any]:
        params = dict(call.params)
        handle = params.get("ReceiptHandle")
        if isinstance(handle, str):
            recorded_id = self._recorded_handles.get(handle, "")
            replayed = self._handles.get(self._message_ids.get(recorded_id, ""))
            if replayed:
                params["ReceiptHandle"] = replayed
        return params

    def run(self, calls: list[Call]) -> float:
        started = time.perf_counter()
        for call in calls:
            method = getattr(self.client(call.service), _snake(call.operation))
            began = time.perf_counter()
            try:
                response = method(**self._params(call))
            except ClientError as error:
                recorded = call.response if isinstance(call.response, dict) else {}
                if "Error" not in recorded:
                    self.errors += 1
                    code = error.response.get("Error", {}).get("Code", "")
                    kind = f"{call.service}.{call.operation} {code}"
                    self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
                response = error.response
            name = f"{call.service}.{call.operation}"
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began
            self._learn(call, response)
        return time.perf_counter() - started


def _snake(operation: str) -> str:
    out = []
    for i, char in enumerate(operation):
        if char.isupper() and i and not operation[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def _reset_and_provision() -> None:
    """moto as new, with the stack's resources and the shop installed again (same names,
    so the same queue URLs), outside the recording."""
    from moto.moto_api._internal.models import moto_api_backend

    from recoup.services import shops
    from recoup_local import stack as local_stack
    from recoup_local.lambdas import reset_caches
    from recoup_local.provision import provision

    moto_api_backend.reset()
    local_stack._verify_sender(provision(region=local_stack.REGION))
    reset_caches()
    shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)


def _one_size(n: int, deliveries: Deliveries, progress: Callable[[str], None]) -> SizeResult:
    from moto.backends import get_backend
    from moto.moto_api._internal.models import moto_api_backend

    from recoup.services import shops
    from recoup_local import moto_patches
    from recoup_local.front import make_server
    from recoup_local.lambdas import instance_limit
    from recoup_local.provision import ACCOUNT
    from recoup_local.stack import emulated

    moto_api_backend.reset()  # moto's backends are the process's: none left by a last size
    recorder = Recorder()
    with recorder.recording(), emulated() as local:
        _quiet()
        shops.install(SHOP, stripe_account=STRIPE_ACCOUNT)
        server = make_server(local.lambdas, port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        front = (str(server.server_address[0]), int(server.server_address[1]))
        try:
            moto_patches.stats.reset()
            moto_patches.stats.counting = True
            # Deliveries: the front answers, the consumers are stopped.
            recorder.on = True
            accepted, posting = _post_all(front, deliveries, local.shopify_secret, n)
            intake = recorder.take()
            progress(f"local stack, {n:,} orders: {accepted:,} accepted in {posting:.1f} s")
            # Drain: the queue consumers process everything the deliveries queued.
            started = time.perf_counter()
            drained = _drain(local.lambdas)
            draining = time.perf_counter() - started
            recorder.on = False
            work = recorder.take()
            events_queue = local.stack.refs["EventsQueue"]
            processed = accepted if drained else _deleted(work, events_queue)
            progress(f"local stack, {n:,} orders: {processed:,} processed in {draining:.1f} s")
        finally:
            server.shutdown()
            server.server_close()
            moto_patches.stats.counting = False
        table = get_backend("dynamodb")[ACCOUNT][local.stack.region].tables
        table_items = sum(len(t) for t in table.values())
        stats = moto_patches.stats
        transactions, copied, whole = (
            stats.transactions,
            stats.items_copied,
            stats.whole_table_items,
        )
        peak = local.lambdas.pools["ShopifyWebhookFunction"].peak
        # Raw: the same calls again, directly, on a fresh moto with the same resources.
        _reset_and_provision()
        replay = _Replay(local.stack.region)
        raw_intake = replay.run(intake)
        raw_work = replay.run(work)
        progress(f"raw moto, {n:,} orders: {raw_intake:.1f} s + {raw_work:.1f} s")
        slowest = sorted(replay.seconds.items(), key=lambda kv: -kv[1])[:5]
        progress("raw moto time by operation: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    phases = (
        Phase(
            "deliveries",
            accepted,
            posting,
            len(intake),
            _operations(intake),
            raw_intake,
            0,
            accepted == n,
        ),
        Phase(
            "drain",
            processed,
            draining,
            len(work),
            _operations(work),
            raw_work,
            replay.errors,
            drained,
            dict(replay.error_kinds),
        ),
    )
    return SizeResult(
        orders=n,
        clients=CLIENTS,
        instances=instance_limit(),
        phases=phases,
        transactions=transactions,
        items_copied=copied,
        whole_table_items=whole,
        table_items=table_items,
        peak_instances=peak,
        rss_mb=_peak_rss_mb(),
        raw_slowest=tuple(slowest),
    )


def run(sizes: tuple[int, ...] = SIZES, progress: Callable[[str], None] | None = None) -> Any:
    """Measure every size in this process; returns a LocalStackResult."""
    from recoup_local import moto_patches

    say = progress or (lambda message: print(f"  .. {message}", file=sys.stderr, flush=True))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    for name in ("RECOUP_SHOPIFY_API_SECRET", "RECOUP_STRIPE_WEBHOOK_SECRET"):
        os.environ.pop(name, None)
    logging.getLogger("recoup_local.front").setLevel(logging.CRITICAL)
    patches = tuple(sorted(moto_patches.apply()))
    deliveries = Deliveries()
    # Powertools prints a metrics batch every 100 values even with metrics disabled.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        results = tuple(_one_size(n, deliveries, say) for n in sizes)
    return LocalStackResult(results, patches)


def run_in_process(sizes: tuple[int, ...] = SIZES) -> LocalStackResult:
    """For `ProcessPoolExecutor.submit`: a module-level callable."""
    result: LocalStackResult = run(sizes)
    return result


if __name__ == "__main__":
    # `python -m benchmarks.local_stack [orders ...]`: this figure alone, printed.
    from benchmarks import report_local

    chosen = tuple(int(a) for a in sys.argv[1:]) or SIZES
    measured = run(chosen)
    if dump := os.environ.get("RECOUP_BENCH_DUMP"):  # for rendering the doc section again
        import pickle

        with open(dump, "wb") as out:
            pickle.dump(measured, out)
    print("\n".join(report_local.text_lines(measured)))
    for size in measured.sizes:
        for phase in size.phases:
            print(
                f"{size.orders:>6} {phase.name:<10} {phase.rate:7.1f}/s stack, "
                f"{phase.raw_rate:7.1f}/s raw, ratio {phase.ratio:.2f}, {phase.calls} calls "
                f"({phase.raw_errors} replay errors: {phase.raw_error_kinds or 'none'}), "
                f"complete {phase.complete}"
            )
        print(
            f"       {size.transactions} transactions, {size.items_copied} items copied, "
            f"moto's own would copy {size.whole_table_items}; table {size.table_items}; "
            f"peak instances {size.peak_instances}; rss {size.rss_mb:.0f} MB"
        )
