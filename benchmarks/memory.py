"""Peak memory of one invocation per function, and per-event time warm against all-cached.

Both figures run the handlers the way Lambda runs them: each in a **fresh interpreter**
(the runtime's Python without the development virtualenv: `python -S`, so nothing but the
layer and the function is importable) with the **layer as built** (layers/recoup/Makefile's
`build-RecoupLayer`, the target `sam build` runs, into a scratch directory) and the
function's code copied beside it, both made read-only, with `PYTHONDONTWRITEBYTECODE=1`:
every module is compiled from source, as on Lambda's read-only /opt and /var/task. The
AWS side is moto's server on loopback, provisioned from template.yaml by the local stack
(`recoup_local.stack.emulated`), so the measured process holds nothing but what Lambda
would load. The work each function gets is made by the local stack in this process (the
real webhook handlers enqueue, the real scheduler queues jobs) and read off the queues, so
every record is one production would deliver.

1. **Peak RSS** (`VmHWM` from /proc/self/status; `ru_maxrss` is kept only as a cross-check,
   since Linux carries the spawning parent's high water into it), read in the child after
   the handler has answered, with the botocore clients still alive then: SQS-triggered
   functions get their mapping's BatchSize records (template.yaml: 10), HTTP functions one
   request, the scheduler one scheduled event with due work, the feedback function one SNS
   notification (SNS invokes with one record). Every function of the template is driven,
   every answer checked, and the work seen done where it leaves a trace (the queues, the
   table, the bucket, the outbox, the stand-ins). The ones that call Shopify or
   Stripe reach the local stack's stand-ins: Stripe's on its loopback port through
   `RECOUP_STRIPE_API_BASE`; Shopify's served here on a loopback port
   (`shopify_over_loopback`), the child's Shopify transport pointed at it (`shopify_prelude`).
2. **Warm against all-cached**: in one fresh process the worker (or sender) first answers a
   batch of 10 (the cold invocation, not counted); then, in pairs, a batch as a warm
   container gets it after more than a minute idle (the shop cache, a minute long, expired:
   `shops.forget()`; clients, the PynamoDB connection and settings kept, as they are for the
   container's life), and at once the same work on fresh orders with everything warm. The
   ratio of the two per-event times is taken per process; the median of the rounds counts.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import fresh, lifecycle
from benchmarks.fresh import BenchError
from benchmarks.payloads import SHOP, STRIPE_ACCOUNT, Deliveries
from recoup.integrations.shopify import sign as shopify_sign

if TYPE_CHECKING:
    from recoup_local.stack import LocalStack

GOAL_MB = 128.0
GOAL_RATIO = 1.1
BATCH = 10  # template.yaml: every SQS event source mapping's BatchSize
TIMING_ROUNDS = 3  # fresh processes per function for the timing ratio
TIMING_PAIRS = 2  # warm / all-cached pairs per process
SHOP_TIMEZONE = "America/New_York"
SHOP_NAME, SHOP_CONTACT = "Demo Electronics", "help@demo-electronics.example"
ORDER_BASE = 5_000_000  # this module's orders, apart from the other benchmarks'
# The simulated time of the work: the payload's order (2026-11-02 15:15 UTC), step 1 a day
# later, sent at noon in Portland (the customer), the referral check a month on.
OPENED = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
STEP_ONE = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
SPENT = OPENED + timedelta(days=15)
CHECK = OPENED + timedelta(days=30)


def timing_shift() -> timedelta:
    """How much later than the other phases the timing phases' orders are dated and run:
    whole days (the same time of day, for quiet hours) past both CHECK and the real clock
    (the admin's figures ran on it), so no write lands on a day a dashboard's fold has
    closed (store/rollups.py) or behind the scheduler's cursors: no Lambda's clock runs back."""
    latest = max(CHECK, datetime.now(tz=UTC))
    return timedelta(days=(latest - OPENED).days + 3)


AGENCY = "claims@agency.example"
# The agency's report-backs are signed with the shop's secret of this name (the local stack
# reads it from RECOUP_HANDOVER_SECRET_<NAME>).
AGENCY_SECRET_REF = "bench-agency"  # noqa: S105 - the name of a secret
AGENCY_SECRET = "whsec_bench_agency_local_only"  # noqa: S105 - a local benchmark's own
HANDOVER_SECRET_VAR = "RECOUP_HANDOVER_SECRET_"  # noqa: S105 - a variable name
CHILD_TIMEOUT = 300
# Packages whose own import is measured, to say what dominates a function's figure.
HEAVY = (
    "boto3",
    "pynamodb.models",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.event_handler",
    "stripe",
    "shopify",
    "jinja2",
    "phonenumbers",
    "fpdf",
    "PIL.Image",
    "fontTools.ttLib",
    "email_validator",
    "babel.numbers",
)


# ---------------------------------------------------------------- the built layer
@dataclass(frozen=True)
class Layout:
    """Where a child finds its code: the layer's python/ and the functions' copies."""

    layer: Path  # the directory put on sys.path (the built layer's python/)
    functions: Path  # functions/<name> copies live under here
    python: str  # the interpreter
    flags: tuple[str, ...]  # its flags (-S: no site-packages of that interpreter)
    built: bool  # the layer as `sam build` makes it (False: the source tree, for tests)

    def function_dir(self, name: str) -> Path:
        return self.functions / name


def base_python() -> str:
    """The interpreter behind this virtualenv (the same CPython, without its packages)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(candidate if candidate.exists() else Path(sys.executable))


def _read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@contextmanager
def built_layout() -> Iterator[Layout]:
    """layers/recoup/Makefile's build-RecoupLayer into a scratch directory (what `sam build`
    runs: pinned wheels for the Lambda platform, the recoup package, templates/), and every
    function's directory copied beside it; all read-only until the end."""
    scratch = Path(tempfile.mkdtemp(prefix="recoup-bench-layer-"))
    try:
        artifacts = scratch / "layer"
        artifacts.mkdir()
        done = subprocess.run(
            [
                "make",
                "-s",
                "-f",
                str(fresh.LAYER / "Makefile"),
                "build-RecoupLayer",
                f"ARTIFACTS_DIR={artifacts}",
                f"PYTHON={sys.executable}",
            ],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"building the layer failed:\n{done.stderr[-3000:]}")
        functions = scratch / "functions"
        shutil.copytree(fresh.FUNCTIONS, functions, ignore=shutil.ignore_patterns("__pycache__"))
        _read_only(scratch)
        yield Layout(artifacts / "python", functions, base_python(), ("-S",), built=True)
    finally:
        _writable(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def source_layout() -> Layout:
    """The source tree and this virtualenv (fast; for tests of the harness only)."""
    return Layout(fresh.LAYER, fresh.FUNCTIONS, sys.executable, (), built=False)


# ---------------------------------------------------------------- children
_CONTEXT = """
class _Context:
    def __init__(self, name):
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + name
        self.memory_limit_in_mb = 512
        self.aws_request_id = "bench-request"
        self.log_group_name = "/aws/lambda/" + name
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + 300

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))
"""

# The child's clock runs at the simulated time of its work (recoup.clock: its one hook; an
# offset, so time still passes). Lambda never sets it; it costs no memory to speak of.
_CLOCK = """
from datetime import UTC as _UTC, datetime as _dt, timedelta as _td
import recoup.clock as _clock
_OFFSET = _td(seconds={offset!r})
_clock.use(lambda: _dt.now(tz=_UTC) + _OFFSET)
"""

# The process's own high-water mark. ru_maxrss is not used as the figure: Linux carries the
# pre-exec address space's high water (the spawning parent's, here the benchmark's) into it.
_HWM = """
for _line in open('/proc/self/status'):
    if _line.startswith(('VmHWM:', 'VmRSS:')):
        _facts[_line.split(':')[0]] = int(_line.split()[1])
"""

_MEMORY_FACTS = (
    _HWM
    + """
import resource as _resource
_facts['maxrss_kb'] = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
_facts['heavy_loaded'] = sorted(m for m in {heavy!r} if m in sys.modules)
_facts['answer'] = _summary(_response)
"""
    + """
# The botocore clients alive once the handler has answered, by service (read after the
# high-water mark, so the scan costs the figure nothing).
import gc as _gc
_client_class = getattr(sys.modules.get('botocore.client'), 'BaseClient', None)
_facts['clients'] = {{}}
if _client_class is not None:
    for _object in _gc.get_objects():
        if isinstance(_object, _client_class):
            _service = _object.meta.service_model.service_name
            _facts['clients'][_service] = _facts['clients'].get(_service, 0) + 1
"""
)

_SUMMARY = """
def _summary(response):
    if isinstance(response, dict):
        if 'statusCode' in response:
            headers = {k.lower(): v for k, v in (response.get('headers') or {}).items()}
            return {
                'status': response['statusCode'],
                'location': str(headers.get('location', '')),
                'body': str(response.get('body') or '')[:2000],
            }
        if 'batchItemFailures' in response:
            return {'failed': len(response['batchItemFailures'])}
        return {k: v for k, v in response.items() if isinstance(v, (int, str, bool))}
    return {}
"""


def child_env(layout: Layout, function: str, env: Mapping[str, str]) -> dict[str, str]:
    """Lambda's layout: the function's directory, then the layer; nothing written."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}
    base.update(fresh.FAKE_CREDENTIALS)
    base.update(
        {
            "AWS_DEFAULT_REGION": fresh.REGION,
            "AWS_REGION": fresh.REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            **fresh.powertools_env(),
            **env,
            "PYTHONPATH": os.pathsep.join([str(layout.function_dir(function)), str(layout.layer)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
        }
    )
    if layout.built:
        base["PYTHONTZPATH"] = ""  # no system zoneinfo on Lambda: tzdata comes from the layer
    return base


def run_child(layout: Layout, function: str, env: Mapping[str, str], script: str) -> dict[str, Any]:
    done = subprocess.run(
        # The script on stdin: a batch of ten orders is more than one argument may hold.
        [layout.python, *layout.flags, "-"],
        input=script,
        env=child_env(layout, function, env),
        cwd=layout.function_dir(function),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{function}: exit {done.returncode}\n{done.stderr[-3000:]}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(fresh.MARK):
            result: dict[str, Any] = ast.literal_eval(line[len(fresh.MARK) :])
            result["log"] = done.stdout[-40000:]
            return result
    raise BenchError(f"{function}: no result line\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def rss_script(
    event: Mapping[str, Any] | None,
    *,
    name: str = "bench",
    offset: float | None = None,
    extra: str = "",
    prelude: str = "",
) -> str:
    """Import `app`, answer `event` once, report the peak RSS. `event=None`: no handler
    (the interpreter's and imports' own figure); `extra` runs before the figures are read;
    `prelude` before `import app` (the loopback Shopify transport)."""
    setup = "\n".join(
        [
            "import time",
            _CONTEXT,
            _SUMMARY,
            _CLOCK.format(offset=offset) if offset is not None else "",
            prelude,
            f"EVENT = json.loads({json.dumps(event)!r})" if event is not None else "",
        ]
    )
    measured = (
        f"import app\n_response = app.lambda_handler(EVENT, _Context({name!r}))"
        if event is not None
        else "_response = None"
    )
    return fresh.span_script(
        measured + "\n" + extra,
        setup="import json\n" + setup,
        after=_MEMORY_FACTS.format(heavy=HEAVY),
    )


def import_rss_script(module: str) -> str:
    """RSS after importing `module` alone (and RSS of the interpreter before it)."""
    return fresh.span_script(
        f"import {module}",
        setup=_HWM.replace("_facts[", "_before[").replace("for _line", "_before = {}\nfor _line"),
        after="_facts['before_kb'] = _before['VmHWM']\n" + _HWM,
    )


# The child's Shopify calls go to the local stack's stand-in (recoup_local.shopify_tokens:
# the token endpoint and the GraphQL Admin API), which runs in the benchmark's process and is
# served here on a loopback port (`shopify_over_loopback`). Recoup reaches Shopify through one
# replaceable transport (`recoup.integrations.shopify_http.urllib_transport`, what the local
# stack and the tests replace); the child's is urllib to that port, with the Shopify URL in a
# header, and it builds the default TLS context per call as urllib does for the HTTPS
# connection it would open, so the CA store's load is counted. The rest of the function (the
# OAuth checks, the token's KMS encryption, the Admin API client and its retries) runs as is.
FORWARD_HEADER = "X-Bench-Shopify-Url"
TRANSPORT_FAILED = 599  # the stand-in raised TransportError (no answer from Shopify)
_SHOPIFY_LOOPBACK = """
import ssl as _ssl
import urllib.error as _urlerror
import urllib.request as _urlrequest
from recoup.integrations import shopify_http as _shopify_http

def _loopback(request):
    _ssl.create_default_context()
    headers = {{**dict(request.headers), {header!r}: request.url}}
    prepared = _urlrequest.Request({base!r}, data=request.body, headers=headers, method="POST")
    try:
        with _urlrequest.urlopen(prepared, timeout=10) as answer:
            found = {{k.lower(): v for k, v in answer.headers.items()}}
            return _shopify_http.HttpResponse(answer.status, answer.read(), found)
    except _urlerror.HTTPError as error:
        with error:
            if error.code == {failed}:
                raise _shopify_http.TransportError(error.read().decode()) from None
            found = {{k.lower(): v for k, v in error.headers.items()}}
            return _shopify_http.HttpResponse(error.code, error.read(), found)

_shopify_http.urllib_transport = _loopback
"""


def shopify_prelude(base_url: str) -> str:
    """The child's setup that sends its Shopify calls to the loopback stand-in."""
    return _SHOPIFY_LOOPBACK.format(header=FORWARD_HEADER, base=base_url, failed=TRANSPORT_FAILED)


@contextmanager
def shopify_over_loopback(endpoint: Callable[[Any], Any]) -> Iterator[str]:
    """Serve `endpoint` (a shopify_http transport: the local stack's Shopify stand-in) over
    HTTP on 127.0.0.1 for the children; yields its base URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from recoup.integrations.shopify_http import HttpRequest, TransportError

    skipped = {FORWARD_HEADER.lower(), "host", "content-length", "connection", "accept-encoding"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skipped}
            request = HttpRequest(str(self.headers.get(FORWARD_HEADER)), body, headers)
            try:
                answer = endpoint(request)
            except TransportError as exc:
                self._reply(TRANSPORT_FAILED, {}, str(exc).encode())
                return
            self._reply(answer.status, dict(answer.headers), answer.body)

        def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------- the stack's side
def _records(messages: Sequence[Mapping[str, Any]], arn: str) -> list[dict[str, Any]]:
    from recoup_local.lambdas import _sqs_record

    return [_sqs_record(dict(m), arn, fresh.REGION) for m in messages]


@dataclass
class Stack:
    """The local stack on moto's server, with the demo shop installed, driven here."""

    local: LocalStack
    deliveries: Deliveries
    next_order: int = ORDER_BASE
    now: datetime = OPENED
    shift: timedelta = timedelta(0)  # how much later than the payload's its orders are dated

    # -- environment of a function, as the local stack gives it
    def spec(self, logical_id: str) -> Any:
        return next(s for s in self.local.stack.functions if s.logical_id == logical_id)

    def env(self, logical_id: str) -> dict[str, str]:
        from recoup_local.stack import (
            DEV_SECRETS,
            LOCAL_LINK_LIFETIME_VARIABLE,
            LOCAL_STRIPE_KEYS,
        )

        shared = [
            *DEV_SECRETS,
            *LOCAL_STRIPE_KEYS,
            LOCAL_LINK_LIFETIME_VARIABLE,
            "RECOUP_SECRETS_SOURCE",
            "RECOUP_PUBLIC_URL",
            "RECOUP_SHOPIFY_API_KEY",
            "RECOUP_STRIPE_API_BASE",
            "AWS_ENDPOINT_URL",
        ]
        env = dict(self.spec(logical_id).environment)
        env.update({name: os.environ[name] for name in shared if name in os.environ})
        # The shop's hand-over secrets (report-backs), as the local stack gives them.
        env.update({k: v for k, v in os.environ.items() if k.startswith(HANDOVER_SECRET_VAR)})
        return env

    def offset(self) -> float:
        """Seconds from the real clock to the simulated one (for the children)."""
        return (self.now - datetime.now(tz=UTC)).total_seconds()

    # -- queues
    def sqs(self) -> Any:
        import boto3

        return boto3.client("sqs", region_name=fresh.REGION)

    def queue(self, ref: str) -> tuple[str, str]:
        url = self.local.stack.refs[ref]
        arn = next(a for a, u in self.local.stack.queue_urls_by_arn.items() if u == url)
        return url, arn

    def take(self, ref: str, count: int) -> list[dict[str, Any]]:
        """Up to `count` messages off a queue as Lambda's poller would hand them (invisible
        for an hour: the child's handler answers them; deleted by `done`)."""
        url, arn = self.queue(ref)
        messages: list[dict[str, Any]] = []
        idle = 0
        while len(messages) < count and idle < 3:
            got = (
                self.sqs()
                .receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, count - len(messages)),
                    VisibilityTimeout=3600,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                .get("Messages", [])
            )
            idle = 0 if got else idle + 1
            messages.extend(got)
        return _records(messages, arn)

    def done(self, ref: str, records: Sequence[Mapping[str, Any]]) -> None:
        url, _ = self.queue(ref)
        for record in records:
            self.sqs().delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])

    def purge(self, ref: str) -> None:
        while records := self.take(ref, 10):
            self.done(ref, records)

    def call(self, logical_id: str, event: dict[str, Any]) -> Any:
        from recoup_local.lambdas import LambdaContext

        return self.local.lambdas.handlers[logical_id](
            event, LambdaContext(logical_id, timeout_seconds=300)
        )

    # -- work
    def order_body(self, index: int) -> bytes:
        """Order `index`: its own customer, address and IP, so screening passes (one shop's
        customers, not one customer's hundred orders)."""
        order = copy.deepcopy(self.deliveries.order)
        for key in ("created_at", "updated_at", "processed_at"):
            if isinstance(order.get(key), str) and self.shift:
                order[key] = (datetime.fromisoformat(order[key]) + self.shift).isoformat()
        email = f"bench.{index}@example.com"
        order["email"] = order["contact_email"] = email
        customer = order.get("customer") or {}
        customer.update({"id": 9_100_000_000 + index, "email": email})
        order["customer"] = customer
        for key in ("shipping_address", "billing_address"):
            if isinstance(order.get(key), dict):
                order[key]["address1"] = f"{index} Benchmark Way"
        order["browser_ip"] = f"198.51.{(index >> 8) % 256}.{index % 256}"
        return self.deliveries.shopify_body(index, order)

    def shopify_delivery(self, index: int, topic: str = "orders/create") -> dict[str, Any]:
        from recoup_local.lambdas import http_event

        body = self.order_body(index)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_sign(body, self.local.shopify_secret),
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": f"bench-mem-{self.deliveries.run}-{index}",
            "X-Shopify-API-Version": "2024-10",
        }
        return http_event("POST", "/webhooks/shopify", headers, body)

    def new_orders(self, count: int) -> list[dict[str, Any]]:
        """`count` new pending orders, delivered to the webhook function here: their events,
        as SQS records of the events queue (not yet applied). Delivered when the orders are
        dated (the webhook refuses an order from the future)."""
        from recoup import clock

        before = clock._source
        clock.use(lambda: OPENED + self.shift)
        try:
            for _ in range(count):
                index = self.next_order
                self.next_order += 1
                answer = self.call("ShopifyWebhookFunction", self.shopify_delivery(index))
                if answer["statusCode"] != 200:
                    raise BenchError(f"order {index}: the webhook answered {answer}")
        finally:
            clock.use(before)
        return self.take("EventsQueue", count)

    def apply_here(self, records: Sequence[Mapping[str, Any]]) -> None:
        """The worker, in this process, applies the records (setting up later work)."""
        answer = self.call("EventWorkerFunction", {"Records": list(records)})
        if answer and answer.get("batchItemFailures"):
            raise BenchError(f"the worker failed {answer['batchItemFailures']}")
        self.done("EventsQueue", records)

    def scheduled_event(self, at: datetime) -> dict[str, Any]:
        return {
            "version": "0",
            "id": f"bench-{at.timestamp():.0f}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": fresh.REGION,
            "resources": ["bench-schedule"],
            "detail": {},
        }

    def reminder_jobs(self, count: int, shift: timedelta = timedelta(0)) -> list[dict[str, Any]]:
        """`count` step-1 reminder jobs: orders opened at OPENED + `shift`, the scheduler run
        here at STEP_ONE + `shift`; the jobs as SQS records of the reminder queue."""
        from recoup import clock

        self.purge("ReminderQueue")
        try:
            clock.use(lambda: OPENED + shift)
            for start in range(0, count, BATCH):
                self.apply_here(self.new_orders(min(BATCH, count - start)))
            clock.use(lambda: STEP_ONE + shift)
            self.call("SchedulerFunction", self.scheduled_event(STEP_ONE + shift))
        finally:
            clock.use(None)
        jobs = self.take("ReminderQueue", count)
        if len(jobs) != count:
            raise BenchError(f"the scheduler queued {len(jobs)} reminder jobs, not {count}")
        return jobs


@contextmanager
def stack(deliveries: Deliveries) -> Iterator[Stack]:
    """The local stack on moto's server, the demo shop installed (its Stripe account
    connected), with an agency hand-over by email for the referral checks."""
    from recoup import clock
    from recoup.services import shops
    from recoup.store import policies
    from recoup_local.stack import emulated

    saved = dict(os.environ)
    os.environ[HANDOVER_SECRET_VAR + "BENCH_AGENCY"] = AGENCY_SECRET
    try:
        with _quiet(), emulated() as local:
            clock.use(lambda: OPENED)
            try:
                # The identity Shopify's shop query gives at install (the stand-in's): the
                # privacy jobs email the merchant at its contact address.
                shops.install(
                    SHOP,
                    stripe_account=STRIPE_ACCOUNT,
                    timezone=SHOP_TIMEZONE,
                    shop_name=SHOP_NAME,
                    contact_email=SHOP_CONTACT,
                )
                lifecycle.default_sequence_for_every_case()
                policies.save_doc(
                    SHOP,
                    policies.REFERRAL,
                    1,
                    {
                        "version": 1,
                        "agency": {
                            "after_last_step_days": 14,
                            "hand_over": {
                                "channel": "email",
                                "address": AGENCY,
                                "secret_ref": AGENCY_SECRET_REF,
                            },
                        },
                        "thresholds": {
                            "USD": {
                                "agency_minimum": 5000,
                                "legal_minimum": 500000,
                                "write_off_below": 2500,
                            }
                        },
                    },
                    now=OPENED,
                )
            finally:
                clock.use(None)
            yield Stack(local, deliveries)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _quiet() -> Iterator[None]:
    """The handlers run here log a JSON line per record to stdout: keep the terminal's."""
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):
        yield


# ---------------------------------------------------------------- 1. peak RSS
@dataclass(frozen=True)
class Peak:
    function: str
    work: str  # what the invocation got
    peak_mb: float | None  # VmHWM at the end; None: not driven (see note)
    maxrss_mb: float | None  # ru_maxrss: includes the spawning parent's pre-exec high water
    import_mb: float | None  # VmHWM right after `import app`, before the handler
    loaded: Sequence[str]
    answer: Mapping[str, Any]
    note: str = ""
    log: str = field(default="", repr=False, compare=False)
    clients: Mapping[str, int] = field(default_factory=dict)  # botocore clients alive after

    @property
    def met(self) -> bool | None:
        return None if self.peak_mb is None else self.peak_mb <= GOAL_MB


@dataclass(frozen=True)
class MemoryResult:
    peaks: Sequence[Peak]
    bare_mb: float  # the interpreter alone, same flags
    packages: Mapping[str, float]  # MB added by importing the package alone
    built: bool
    python: str
    unused: Mapping[str, float] = field(default_factory=dict)  # in the layer, loaded by none
    client_mb: float | None = None  # one more DynamoDB client, in a botocore session of its own

    @property
    def worst(self) -> Peak:
        return max((p for p in self.peaks if p.peak_mb is not None), key=lambda p: p.peak_mb or 0)


def _mb(kb: float) -> float:
    return kb / 1024


def _probe(
    layout: Layout,
    function: str,
    logical_id: str,
    env: Mapping[str, str],
    event: Mapping[str, Any],
    work: str,
    *,
    offset: float | None,
    check: Callable[[Mapping[str, Any]], str | None] = lambda _answer: None,
    prelude: str = "",
) -> Peak:
    # The import's own figure first (a separate child: reading RSS mid-run is not a peak).
    imported = run_child(
        layout,
        function,
        env,
        fresh.span_script(
            "import app",
            setup=_CLOCK.format(offset=offset) if offset is not None else "",
            after="import resource\n"
            "_facts['maxrss_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n" + _HWM,
        ),
    )
    script = rss_script(event, name=logical_id, offset=offset, prelude=prelude)
    result = run_child(layout, function, env, script)
    facts = result["facts"]
    answer = facts.get("answer", {})
    problem = check(answer)
    if problem:
        raise BenchError(f"{function}: {problem} ({answer})")
    return Peak(
        function=function,
        work=work,
        peak_mb=_mb(facts["VmHWM"]),
        maxrss_mb=_mb(facts["maxrss_kb"]),
        import_mb=_mb(imported["facts"]["VmHWM"]),
        loaded=tuple(facts.get("heavy_loaded", ())),
        answer=answer,
        log=result.get("log", ""),
        clients=dict(facts.get("clients", {})),
    )


def _outcomes(log: str) -> str:
    """The `outcome` words the handler logged per record (Powertools' JSON lines)."""
    seen: dict[str, int] = {}
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "outcome" in entry:
            seen[str(entry["outcome"])] = seen.get(str(entry["outcome"]), 0) + 1
    return ", ".join(f"{k} ×{n}" for k, n in sorted(seen.items())) or "no outcome logged"


def _no_failures(answer: Mapping[str, Any]) -> str | None:
    return "records failed" if answer.get("failed") else None


def _status(expected: int) -> Callable[[Mapping[str, Any]], str | None]:
    return lambda answer: None if answer.get("status") == expected else f"not {expected}"


def peaks(
    layout: Layout,
    st: Stack,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Peak]:
    """One invocation of each function, in the order the work flows."""
    from recoup import clock
    from recoup.store import cases as case_store
    from recoup_local import session_tokens
    from recoup_local.lambdas import http_event
    from recoup_local.outbox import sent_messages

    found: list[Peak] = []

    def add(peak: Peak) -> None:
        found.append(peak)
        progress(f"{peak.function}: {peak.peak_mb:.1f} MB")

    # Webhooks: one request each (a new order; a payment failure on it).
    st.now = OPENED
    index = st.next_order
    st.next_order += 1
    add(
        _probe(
            layout,
            "shopify_webhook",
            "ShopifyWebhookFunction",
            st.env("ShopifyWebhookFunction"),
            st.shopify_delivery(index),
            "1 request: orders/create (valid, queued)",
            offset=st.offset(),
            check=_status(200),
        )
    )
    st.purge("EventsQueue")
    stripe = st.deliveries.stripe(index, st.local.stripe_secret)
    add(
        _probe(
            layout,
            "stripe_webhook",
            "StripeWebhookFunction",
            st.env("StripeWebhookFunction"),
            http_event("POST", stripe.path, stripe.headers, stripe.body),
            "1 request: payment_intent.payment_failed (valid, queued)",
            offset=st.offset(),
            check=_status(200),
        )
    )
    st.purge("EventsQueue")

    # The worker: a batch of 10 new orders' events; they open the cases used below.
    records = st.new_orders(BATCH)
    cases = [json.loads(r["body"]) for r in records]
    add(
        _probe(
            layout,
            "event_worker",
            "EventWorkerFunction",
            st.env("EventWorkerFunction"),
            {"Records": records},
            f"{BATCH} records: orders/create, new orders (each opens a case)",
            offset=st.offset(),
            check=_no_failures,
        )
    )
    st.done("EventsQueue", records)
    del cases

    # The scheduler at step 1's slot: those 10 cases are due.
    st.now = STEP_ONE
    st.purge("ReminderQueue")
    add(
        _probe(
            layout,
            "scheduler",
            "SchedulerFunction",
            st.env("SchedulerFunction"),
            st.scheduled_event(STEP_ONE),
            "1 scheduled event, 10 reminder steps due",
            offset=st.offset(),
            check=lambda a: None if a.get("queued", a.get("reminders", 1)) else "nothing queued",
        )
    )
    # The sender: the 10 jobs it queued (step 1, email).
    jobs = st.take("ReminderQueue", BATCH)
    if len(jobs) != BATCH:
        raise BenchError(f"the scheduler queued {len(jobs)} reminder jobs, not {BATCH}")
    before = len(sent_messages(fresh.REGION))
    add(
        _probe(
            layout,
            "sender",
            "SenderFunction",
            st.env("SenderFunction"),
            {"Records": jobs},
            f"{BATCH} records: reminder step 1 (email)",
            offset=st.offset(),
            check=_no_failures,
        )
    )
    st.done("ReminderQueue", jobs)
    sent = sent_messages(fresh.REGION)[before:]
    if len(sent) != BATCH:
        raise BenchError(f"the sender sent {len(sent)} emails, not {BATCH}")

    # Feedback: SES's Delivery event for one of them (SNS: one record per invocation).
    message_id = _ses_message_id(sent[-1].content)
    feedback = _ses_event("Delivery", message_id, sent[-1].to)
    topic = st.local.stack.refs["EmailFeedbackTopic"]
    add(
        _probe(
            layout,
            "feedback",
            "FeedbackFunction",
            st.env("FeedbackFunction"),
            _sns_event(topic, feedback),
            "1 SNS notification: SES Delivery of a reminder",
            offset=st.offset(),
        )
    )

    # Admin API: the dashboard's figures (the shop now has these cases).
    token = session_tokens.mint(
        SHOP,
        api_key=st.local.shopify_api_key,
        secret=st.local.shopify_secret,
        lifetime=timedelta(minutes=10),
    )
    add(
        _probe(
            layout,
            "admin_api",
            "AdminApiFunction",
            st.env("AdminApiFunction"),
            http_event("GET", "/admin/api/figures", {"Authorization": f"Bearer {token}"}, b""),
            "1 request: GET /admin/api/figures",
            offset=None,  # session tokens are checked against the real clock
            check=_status(200),
        )
    )

    # Escalation: the 10 cases' sequences spent 15 days in; checked at day 30: referred.
    case_ids = [str(st.deliveries.order_id(i)) for i in range(index + 1, index + 1 + BATCH)]
    clock.use(lambda: SPENT)
    try:
        for case_id in case_ids:
            stored = case_store.load(SHOP, case_id)
            if stored is None or stored.dunning is None:
                raise BenchError(f"case {case_id} has no sequence to spend")
            case_store.save_dunning(stored, stored.dunning.spend(SPENT, "sequence spent"))
    finally:
        clock.use(None)
    st.now = CHECK
    st.purge("HandOverQueue")
    st.purge("ShopifyTasksQueue")
    checks = _bodies_as_records(
        st, "EscalationQueue", [{"shop": SHOP, "case_id": c} for c in case_ids]
    )
    peak = _probe(
        layout,
        "escalation",
        "EscalationFunction",
        st.env("EscalationFunction"),
        {"Records": checks},
        f"{BATCH} records: referral checks of spent sequences (each referred)",
        offset=st.offset(),
        check=_no_failures,
    )
    st.done("EscalationQueue", checks)
    # Each referral wrote its file set (a PDF among them) and queued its hand-over.
    pdfs = _case_file_pdfs(st, case_ids)
    handovers = st.take("HandOverQueue", BATCH)
    if pdfs != BATCH or len(handovers) != BATCH:
        raise BenchError(f"escalation: {pdfs} case-file PDFs, {len(handovers)} hand-overs")
    add(replace(peak, note=f"{pdfs} case-file PDFs written, {len(handovers)} hand-overs queued"))

    # Hand-over: the jobs those referrals queued (email with the case file PDF).
    st.now = CHECK + timedelta(minutes=5)  # the quick-path attempts fall due just after
    before = len(sent_messages(fresh.REGION))
    if handovers:
        peak = _probe(
            layout,
            "handover",
            "HandOverFunction",
            st.env("HandOverFunction"),
            {"Records": handovers},
            f"{len(handovers)} records: hand-overs to the agency by email",
            offset=st.offset(),
            check=_no_failures,
        )
        emails = len(sent_messages(fresh.REGION)) - before
        add(replace(peak, note=f"{emails} emails sent; {_outcomes(peak.log)}"))
        st.done("HandOverQueue", handovers)
    else:
        found.append(
            Peak("handover", "none", None, None, None, (), {}, "the checks queued no hand-over")
        )

    # Privacy: 10 customers/data_request jobs through the real webhook, for these customers.
    privacy: list[dict[str, Any]] = []
    for n, i in enumerate(range(index + 1, index + 1 + BATCH)):
        payload = _data_request(st, i, n)
        answer = st.call("ShopifyWebhookFunction", payload)
        if answer["statusCode"] != 200:
            raise BenchError(f"customers/data_request answered {answer}")
    privacy = st.take("PrivacyQueue", BATCH)
    exports, before = _objects(st, f"exports/{SHOP}/"), len(sent_messages(fresh.REGION))
    peak = _probe(
        layout,
        "privacy",
        "PrivacyFunction",
        st.env("PrivacyFunction"),
        {"Records": privacy},
        f"{len(privacy)} records: customers/data_request (one case each)",
        offset=st.offset(),
        check=_no_failures,
    )
    written = _objects(st, f"exports/{SHOP}/") - exports
    emails = len(sent_messages(fresh.REGION)) - before
    if written != len(privacy) or emails != len(privacy):
        raise BenchError(f"privacy: {written} exports written, {emails} merchant emails")
    add(replace(peak, note=f"{written} exports written, the merchant emailed ×{emails}"))
    st.done("PrivacyQueue", privacy)

    # The functions that call Shopify or Stripe, or answer a customer's or an agency's click.
    for peak in outside_calls(layout, st, sent=sent[-1], referred=case_ids):
        add(peak)
    return found


def outside_calls(
    layout: Layout, st: Stack, *, sent: Any, referred: Sequence[str]
) -> Iterator[Peak]:
    """shopify_auth, shopify_tasks, pay_link, unsubscribe and referral_report, one real
    invocation each, after the escalation (`referred`: its cases, handed over to the agency;
    `sent`: one of the sender's reminders)."""
    from recoup import clock, links
    from recoup.domain import handover
    from recoup.integrations import shopify_oauth
    from recoup.store import cases as case_store
    from recoup.store import contacts, shops, tokens
    from recoup_local.lambdas import http_event

    endpoint = st.local.shopify_tokens
    stripe = st.local.stripe
    if endpoint is None or stripe is None:
        raise BenchError("the local stack has no Shopify or Stripe stand-in")
    secret = st.local.shopify_secret
    with shopify_over_loopback(endpoint) as shopify_url:
        prelude = shopify_prelude(shopify_url)

        # OAuth: Shopify sends the merchant back with a code (the state cookie set by /auth):
        # the code is exchanged at the token endpoint, the token stored (KMS, token key), the
        # shop's identity read with the GraphQL Admin API.
        st.now = CHECK + timedelta(minutes=10)
        nonce, cookie = shopify_oauth.new_state(SHOP, now=st.now, secret=secret)
        params = {
            "code": "bench-authorization-code",
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtby1lbGVjdHJvbmljcw",
            "shop": SHOP,
            "state": nonce,
            "timestamp": str(int(st.now.timestamp())),
        }
        exchanges = endpoint.exchanges
        yield _checked(
            _probe(
                layout,
                "shopify_auth",
                "ShopifyAuthFunction",
                st.env("ShopifyAuthFunction"),
                http_event(
                    "GET",
                    "/auth/callback",
                    {"Cookie": f"{shopify_oauth.STATE_COOKIE}={cookie}"},
                    b"",
                    _signed_query(params, secret),
                ),
                "1 request: GET /auth/callback (OAuth code exchanged, shop queried)",
                offset=st.offset(),
                check=_redirect_to(f"https://{SHOP}/admin/apps/{st.local.shopify_api_key}"),
                prelude=prelude,
            ),
            lambda peak: (
                None
                if endpoint.exchanges == exchanges + 1
                and tokens.status(SHOP).expiring
                and "Reading the shop's identity failed" not in peak.log
                else "no token was exchanged and stored, or the shop not queried"
            ),
            "code exchanged at the Shopify stand-in, token stored, identity read",
        )

        # Customer tags: the jobs the escalation's referrals queued, with the token above.
        jobs = st.take("ShopifyTasksQueue", BATCH)
        if len(jobs) != BATCH:
            raise BenchError(f"the escalation queued {len(jobs)} tag jobs, not {BATCH}")
        tagged = len(_shop_tags(endpoint))
        st.now = CHECK + timedelta(minutes=15)
        yield _checked(
            _probe(
                layout,
                "shopify_tasks",
                "ShopifyTasksFunction",
                st.env("ShopifyTasksFunction"),
                {"Records": jobs},
                f"{BATCH} records: customer tags of referred cases (GraphQL tagsAdd)",
                offset=st.offset(),
                check=_no_failures,
                prelude=prelude,
            ),
            lambda _peak: (
                None
                if len(_shop_tags(endpoint)) == tagged + BATCH
                else f"{len(_shop_tags(endpoint)) - tagged} customers tagged, not {BATCH}"
            ),
            f"{BATCH} customers tagged at the Shopify stand-in",
        )
        st.done("ShopifyTasksQueue", jobs)

    # Pay link: a new order, unpaid for a day; its link opens a Checkout Session for what is
    # owed on the shop's connected account (the Stripe stand-in, through RECOUP_STRIPE_API_BASE).
    try:
        clock.use(lambda: OPENED)
        records = st.new_orders(1)
        st.apply_here(records)
    finally:
        clock.use(None)
    case_id = str(json.loads(records[0]["body"])["case_id"])
    st.now = OPENED + timedelta(days=1)
    token = links.sign_pay(SHOP, case_id, now=st.now, secret=st.local.link_secret)
    sessions = len(stripe.sessions)
    yield _checked(
        _probe(
            layout,
            "pay_link",
            "PayLinkFunction",
            st.env("PayLinkFunction"),
            http_event("GET", f"/pay/{token}", {}, b""),
            "1 request: GET /pay/<token> (Checkout Session created)",
            offset=st.offset(),
            check=_redirect_to(f"{stripe.url}/checkout/cs_test_", prefix=True),
        ),
        lambda _peak: (
            None
            if len(stripe.sessions) == sessions + 1
            and case_store.audit_trail(SHOP, case_id)[-1].body.get("kind") == "pay_link.opened"
            else "no Checkout Session, or the click is not on the case's trail"
        ),
        "Checkout Session on the Stripe stand-in; click on the trail",
    )

    # Unsubscribe: a mail client's one-click POST to a reminder's List-Unsubscribe link.
    url = _unsubscribe_url(sent.content)
    query = url.split("?", 1)[1]
    st.now = CHECK + timedelta(minutes=20)
    yield _checked(
        _probe(
            layout,
            "unsubscribe",
            "UnsubscribeFunction",
            st.env("UnsubscribeFunction"),
            http_event(
                "POST",
                "/unsubscribe",
                {"Content-Type": "application/x-www-form-urlencoded"},
                b"List-Unsubscribe=One-Click",
                query,
            ),
            "1 request: POST /unsubscribe (RFC 8058 one-click of a reminder's link)",
            offset=st.offset(),
            check=_status(200),
        ),
        lambda _peak: (
            None
            if contacts.reachability(SHOP, sent.to, None).email_opted_out
            else "the address is not opted out"
        ),
        "the address opted out of the shop's emails",
    )

    # Report-back: the agency accepted one of the referred cases (signed with its secret).
    st.now = CHECK + timedelta(hours=1)
    body = json.dumps(
        {
            "shop": SHOP,
            "case_id": referred[0],
            "status": "accepted",
            "reported_at": (st.now - timedelta(minutes=1)).isoformat(),
        }
    ).encode()
    signature = handover.sign(body, [AGENCY_SECRET], st.now)
    yield _checked(
        _probe(
            layout,
            "referral_report",
            "ReferralReportFunction",
            st.env("ReferralReportFunction"),
            http_event(
                "POST",
                "/referrals/report",
                {"Content-Type": "application/json", handover.SIGNATURE_HEADER: signature},
                body,
            ),
            "1 request: POST /referrals/report (agency's signed report: accepted)",
            offset=st.offset(),
            check=_status(200),
        ),
        lambda _peak: _referral_status(case_store.load(SHOP, referred[0]), "accepted"),
        "the referral moved to accepted",
    )
    shops.forget()


def _checked(peak: Peak, side_effect: Callable[[Peak], str | None], note: str) -> Peak:
    """The peak, once the work it was given is seen done in the table or the stand-ins."""
    problem = side_effect(peak)
    if problem:
        raise BenchError(f"{peak.function}: {problem} ({peak.answer})")
    return replace(peak, note=note)


def _signed_query(params: Mapping[str, str], secret: str) -> str:
    """A query as Shopify signs it: hex HMAC-SHA256 of the sorted name=value pairs."""
    import hashlib
    import hmac
    from urllib.parse import urlencode

    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def _redirect_to(
    location: str, *, prefix: bool = False
) -> Callable[[Mapping[str, Any]], str | None]:
    def check(answer: Mapping[str, Any]) -> str | None:
        found = str(answer.get("location", ""))
        if answer.get("status") not in (302, 303):
            return f"not a redirect: {str(answer.get('body', ''))[:300]}"
        matches = found.startswith(location) if prefix else found == location
        return None if matches else f"redirected to {found}, not {location}"

    return check


def _shop_tags(endpoint: Any) -> dict[Any, set[str]]:
    """The customers the Shopify stand-in holds tags for, in the demo shop."""
    tags: dict[tuple[str, str], set[str]] = getattr(endpoint.inner, "tags", {})
    return {key: held for key, held in tags.items() if key[0] == SHOP and held}


def _unsubscribe_url(content: bytes) -> str:
    from email import message_from_bytes, policy

    parsed = message_from_bytes(content, policy=policy.default)
    header = str(parsed.get("List-Unsubscribe", ""))
    for part in header.split(","):
        url = part.strip().strip("<>")
        if url.startswith("http") and "?" in url:
            return url
    raise BenchError(f"the reminder has no unsubscribe link: {header!r}")


def _referral_status(stored: Any, expected: str) -> str | None:
    latest = stored.referrals.latest if stored and stored.referrals else None
    status = str(latest.status) if latest else None
    return None if status == expected else f"the referral is {status}, not {expected}"


def _objects(st: Stack, prefix: str) -> int:
    """Objects under `prefix` in the case-files bucket."""
    import boto3

    s3 = boto3.client("s3", region_name=fresh.REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=st.local.stack.refs["CaseFilesBucket"], Prefix=prefix
    )
    return sum(len(page.get("Contents", [])) for page in pages)


def _case_file_pdfs(st: Stack, case_ids: Sequence[str]) -> int:
    """The cases whose referral's case file has a PDF (its first bytes read: a PDF)."""
    import boto3

    s3 = boto3.client("s3", region_name=fresh.REGION)
    bucket = st.local.stack.refs["CaseFilesBucket"]
    found = 0
    for case_id in case_ids:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"cases/{SHOP}/{case_id}/")
        keys = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".pdf")]
        if keys:
            head = s3.get_object(Bucket=bucket, Key=keys[0], Range="bytes=0-7")["Body"].read()
            found += head.startswith(b"%PDF-")
    return found


def _bodies_as_records(st: Stack, ref: str, bodies: Sequence[Any]) -> list[dict[str, Any]]:
    url, _ = st.queue(ref)
    for body in bodies:
        st.sqs().send_message(QueueUrl=url, MessageBody=json.dumps(body))
    return st.take(ref, len(bodies))


def _data_request(st: Stack, index: int, n: int) -> dict[str, Any]:
    from recoup_local.lambdas import http_event

    email = f"bench.{index}@example.com"
    body = json.dumps(
        {
            "shop_id": 548380009,
            "shop_domain": SHOP,
            "orders_requested": [st.deliveries.order_id(index)],
            "customer": {"id": 9_100_000_000 + index, "email": email, "phone": None},
            "data_request": {"id": 9_900_000 + index},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": shopify_sign(body, st.local.shopify_secret),
        "X-Shopify-Topic": "customers/data_request",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": f"bench-mem-{st.deliveries.run}-dr-{n}",
        "X-Shopify-API-Version": "2024-10",
    }
    return http_event("POST", "/webhooks/shopify", headers, body)


def _ses_message_id(content: bytes) -> str:
    from email import message_from_bytes, policy

    parsed = message_from_bytes(content, policy=policy.default)
    return str(parsed.get("Message-ID", "bench-message")).strip("<>").split("@")[0]


def _ses_event(kind: str, message_id: str, to: str) -> dict[str, Any]:
    return {
        "eventType": kind,
        "mail": {
            "timestamp": STEP_ONE.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "source": "reminders@recoup.example",
            "messageId": message_id,
            "destination": [to],
            "tags": {"shop": [SHOP.replace(".", "_")]},
        },
        "delivery": {
            "timestamp": STEP_ONE.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "recipients": [to],
            "smtpResponse": "250 ok",
        },
    }


def _sns_event(topic: str, message: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:bench",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "bench-notification",
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": json.dumps(message),
                    "Timestamp": STEP_ONE.isoformat(),
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _importable(layout: Layout, module: str) -> bool:
    """The module's package is in the layer (looked up without importing it)."""
    import importlib.util

    top = module.split(".")[0]
    if layout.built:
        return (layout.layer / top).is_dir() or (layout.layer / f"{top}.py").is_file()
    return importlib.util.find_spec(top) is not None


def package_costs(layout: Layout, modules: Sequence[str]) -> dict[str, float]:
    """MB each module adds when imported alone in a fresh interpreter (with what it pulls)."""
    costs: dict[str, float] = {}
    for module in modules:
        facts = run_child(layout, "event_worker", {}, import_rss_script(module))["facts"]
        costs[module] = _mb(facts["VmHWM"] - facts["before_kb"])
    return costs


_CLIENT_COST = (
    """
import botocore.session
_clients = [botocore.session.get_session().create_client('dynamodb', region_name='us-east-1')]
"""
    + _HWM.replace("_facts[", "_first[").replace("for _line", "_first = {}\nfor _line")
    + """
_clients.append(botocore.session.get_session().create_client('dynamodb', region_name='us-east-1'))
"""
)


def client_cost(layout: Layout) -> float:
    """MB a second DynamoDB client adds when it is made in a botocore session of its own (as
    each PynamoDB model's connection makes one): the service model is loaded and parsed
    again, per session."""
    script = fresh.span_script(_CLIENT_COST, after="_facts['first_kb'] = _first['VmHWM']\n" + _HWM)
    facts = run_child(layout, "event_worker", {}, script)["facts"]
    return _mb(facts["VmHWM"] - facts["first_kb"])


def bare_rss(layout: Layout) -> float:
    facts = run_child(layout, "event_worker", {}, rss_script(None))["facts"]
    return _mb(facts["VmHWM"])


# ---------------------------------------------------------------- 2. warm vs all-cached
_TIMING = """
import json, time
from recoup.store import shops as _shops
BATCHES = json.loads({batches!r})
import app
_ctx = _Context({name!r})
def _count(answer, batch):
    failed = len((answer or {{}}).get('batchItemFailures', []))
    return len(batch) - failed
_t = time.perf_counter()
_answer = app.lambda_handler({{'Records': BATCHES[0]}}, _ctx)
_cold = time.perf_counter() - _t
_processed = [_count(_answer, BATCHES[0])]
_warm, _cached = [], []
for _i in range(1, len(BATCHES), 2):
    _shops.forget()  # more than a minute since the last invocation: the shop cache expired
    _t = time.perf_counter()
    _answer = app.lambda_handler({{'Records': BATCHES[_i]}}, _ctx)
    _warm.append((time.perf_counter() - _t) / len(BATCHES[_i]))
    _processed.append(_count(_answer, BATCHES[_i]))
    _t = time.perf_counter()
    _answer = app.lambda_handler({{'Records': BATCHES[_i + 1]}}, _ctx)
    _cached.append((time.perf_counter() - _t) / len(BATCHES[_i + 1]))
    _processed.append(_count(_answer, BATCHES[_i + 1]))
"""

_TIMING_FACTS = """
_facts['cold'] = _cold / len(BATCHES[0])
_facts['warm'] = _warm
_facts['cached'] = _cached
_facts['processed'] = _processed
_facts['clients'] = _clients
"""

# Counts botocore clients made during the timed batches (a client per batch or per
# transaction is what a per-container cache prevents).
_CLIENT_COUNTER = """
import botocore.session as _bs
_clients = {'cold': 0, 'timed': 0}
_phase = ['cold']
_orig_create = _bs.Session.create_client
def _create_client(self, *args, **kwargs):
    _clients[_phase[0]] += 1
    return _orig_create(self, *args, **kwargs)
_bs.Session.create_client = _create_client
"""


@dataclass(frozen=True)
class TimingRound:
    cold: float  # seconds per event, first invocation
    warm: Sequence[float]  # seconds per event, warm container, shop cache expired
    cached: Sequence[float]  # seconds per event, everything warm
    processed: Sequence[int]  # events each batch applied
    clients_cold: int  # botocore clients made in the first invocation
    clients_timed: int  # ... in all the timed batches after it

    @property
    def ratio(self) -> float:
        return statistics.median(self.warm) / statistics.median(self.cached)


@dataclass(frozen=True)
class Timing:
    function: str
    work: str
    rounds: Sequence[TimingRound]

    @property
    def ratio(self) -> float:
        return statistics.median(r.ratio for r in self.rounds)

    @property
    def met(self) -> bool:
        return self.ratio <= GOAL_RATIO

    @property
    def cached_ms(self) -> float:
        return statistics.median(statistics.median(r.cached) for r in self.rounds) * 1000

    @property
    def warm_ms(self) -> float:
        return statistics.median(statistics.median(r.warm) for r in self.rounds) * 1000

    @property
    def cold_ms(self) -> float:
        return statistics.median(r.cold for r in self.rounds) * 1000


def timing_script(batches: Sequence[Sequence[Mapping[str, Any]]], name: str, offset: float) -> str:
    script = _TIMING.format(batches=json.dumps(batches), name=name)
    # The client counter counts only the timed batches once the first is done.
    script = script.replace(
        "_warm, _cached = [], []", "_warm, _cached = [], []\n_phase[0] = 'timed'"
    )
    return fresh.span_script(
        script,
        setup="\n".join(["import time", _CONTEXT, _CLOCK.format(offset=offset), _CLIENT_COUNTER]),
        after=_TIMING_FACTS,
    )


def _timing_round(
    layout: Layout, function: str, logical_id: str, st: Stack, batches: list[list[dict[str, Any]]]
) -> TimingRound:
    facts = run_child(
        layout,
        function,
        st.env(logical_id),
        timing_script(batches, logical_id, st.offset()),
    )["facts"]
    expected = [len(b) for b in batches]
    if list(facts["processed"]) != expected:
        raise BenchError(f"{function}: applied {facts['processed']}, expected {expected}")
    return TimingRound(
        cold=facts["cold"],
        warm=tuple(facts["warm"]),
        cached=tuple(facts["cached"]),
        processed=tuple(facts["processed"]),
        clients_cold=facts["clients"]["cold"],
        clients_timed=facts["clients"]["timed"],
    )


def worker_timing(
    layout: Layout,
    st: Stack,
    rounds: int = TIMING_ROUNDS,
    pairs: int = TIMING_PAIRS,
    batch: int = BATCH,
) -> Timing:
    found = []
    st.shift = timing_shift()
    st.now = OPENED + st.shift
    for _ in range(rounds):
        batches = [st.new_orders(batch) for _ in range(1 + 2 * pairs)]
        found.append(_timing_round(layout, "event_worker", "EventWorkerFunction", st, batches))
        for records in batches:
            st.done("EventsQueue", records)
    return Timing(
        "event_worker", f"batches of {batch} orders/create events, each a new order", found
    )


def sender_timing(
    layout: Layout,
    st: Stack,
    rounds: int = TIMING_ROUNDS,
    pairs: int = TIMING_PAIRS,
    batch: int = BATCH,
) -> Timing:
    found = []
    st.shift = timing_shift()
    for _ in range(rounds):
        jobs = st.reminder_jobs(batch * (1 + 2 * pairs), st.shift)
        batches = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
        st.now = STEP_ONE + st.shift
        found.append(_timing_round(layout, "sender", "SenderFunction", st, batches))
        st.done("ReminderQueue", jobs)
    return Timing("sender", f"batches of {batch} reminder jobs (step 1, email)", found)


# ---------------------------------------------------------------- the whole run
@dataclass(frozen=True)
class Result:
    memory: MemoryResult
    timings: Sequence[Timing]
    seconds: float = 0.0


def run(
    deliveries: Deliveries | None = None,
    *,
    rounds: int = TIMING_ROUNDS,
    progress: Callable[[str], None] = lambda _m: None,
    layout: Layout | None = None,
    timing: bool = True,
) -> Result:
    """Both parts; `timing=False` measures the peaks only (no warm/cached timing)."""
    started = time.perf_counter()
    deliveries = deliveries or Deliveries()
    timings: list[Timing] = []
    with nullcontext(layout) if layout else built_layout() as lay:
        progress(f"layer: {'built' if lay.built else 'source'} ({lay.layer})")
        with stack(deliveries) as st:
            found = peaks(lay, st, progress)
            if timing:
                progress("worker timing")
                timings.append(worker_timing(lay, st, rounds))
                progress(f"worker: {timings[-1].ratio:.2f}; sender timing")
                timings.append(sender_timing(lay, st, rounds))
                progress(f"sender: {timings[-1].ratio:.2f}")
        loaded = sorted({m for p in found for m in p.loaded})
        unused = [m for m in HEAVY if m not in loaded and _importable(lay, m)]
        progress(f"package import costs: {', '.join(loaded)}; loaded by none: {unused}")
        memory = MemoryResult(
            peaks=found,
            bare_mb=bare_rss(lay),
            packages=package_costs(lay, loaded),
            built=lay.built,
            python=f"{Path(lay.python).name} {' '.join(lay.flags)}".strip(),
            unused=package_costs(lay, unused),
            client_mb=client_cost(lay),
        )
    return Result(memory=memory, timings=tuple(timings), seconds=time.perf_counter() - started)


def run_in_process(rounds: int = TIMING_ROUNDS) -> Result:
    """For a spawned process: the local stack sets this process's AWS environment."""
    return run(rounds=rounds)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.memory`: this benchmark alone, printed (docs/performance.md is
    rewritten by `make bench` only)."""
    import argparse

    from benchmarks import report_memory

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=TIMING_ROUNDS, help="timing processes")
    parser.add_argument("--no-timing", action="store_true", help="peak RSS only")
    parser.add_argument("--markdown", action="store_true", help="print the doc's sections too")
    args = parser.parse_args(argv)
    outcome = run(
        rounds=args.rounds,
        timing=not args.no_timing,
        progress=lambda m: print(f"  .. {m}", file=sys.stderr, flush=True),
    )
    print("\n".join(report_memory.text_lines(outcome)))
    if args.markdown:
        print("\n".join(report_memory.section(outcome)))
    print(f"({outcome.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
