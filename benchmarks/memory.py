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

1. **Peak RSS** (`ru_maxrss`, and `VmHWM` from /proc/self/status as a cross-check), read in
   the child after the handler has answered: SQS-triggered functions get their mapping's
   BatchSize records (template.yaml: 10), HTTP functions one request, the scheduler one
   scheduled event with due work, the feedback function one SNS notification (SNS invokes
   with one record).
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

from benchmarks import fresh
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
ORDER_BASE = 5_000_000  # this module's orders, apart from the other benchmarks'
# The simulated time of the work: the payload's order (2026-11-02 15:15 UTC), step 1 a day
# later, sent at noon in Portland (the customer), the referral check a month on.
OPENED = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
STEP_ONE = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
SPENT = OPENED + timedelta(days=15)
CHECK = OPENED + timedelta(days=30)
AGENCY = "claims@agency.example"
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
)

_SUMMARY = """
def _summary(response):
    if isinstance(response, dict):
        if 'statusCode' in response:
            return {'status': response['statusCode']}
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
) -> str:
    """Import `app`, answer `event` once, report the peak RSS. `event=None`: no handler
    (the interpreter's and imports' own figure); `extra` runs before the figures are read."""
    setup = "\n".join(
        [
            "import time",
            _CONTEXT,
            _SUMMARY,
            _CLOCK.format(offset=offset) if offset is not None else "",
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
        as SQS records of the events queue (not yet applied)."""
        for _ in range(count):
            index = self.next_order
            self.next_order += 1
            answer = self.call("ShopifyWebhookFunction", self.shopify_delivery(index))
            if answer["statusCode"] != 200:
                raise BenchError(f"order {index}: the webhook answered {answer}")
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

    def reminder_jobs(self, count: int) -> list[dict[str, Any]]:
        """`count` step-1 reminder jobs: orders opened at OPENED, the scheduler run here at
        STEP_ONE; the jobs as SQS records of the reminder queue."""
        from recoup import clock

        self.purge("ReminderQueue")
        try:
            clock.use(lambda: OPENED)
            for start in range(0, count, BATCH):
                self.apply_here(self.new_orders(min(BATCH, count - start)))
            clock.use(lambda: STEP_ONE)
            self.call("SchedulerFunction", self.scheduled_event(STEP_ONE))
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
    try:
        with _quiet(), emulated() as local:
            clock.use(lambda: OPENED)
            try:
                shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, timezone=SHOP_TIMEZONE)
                policies.save_doc(
                    SHOP,
                    policies.REFERRAL,
                    1,
                    {
                        "version": 1,
                        "agency": {
                            "after_last_step_days": 14,
                            "hand_over": {"channel": "email", "address": AGENCY},
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
    result = run_child(layout, function, env, rss_script(event, name=logical_id, offset=offset))
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
    before = len(sent_messages(fresh.REGION))
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
    emails = len(sent_messages(fresh.REGION)) - before
    add(replace(peak, note=f"{emails} emails sent"))
    st.done("EscalationQueue", checks)

    # Hand-over: the jobs those referrals queued (email with the case file PDF).
    handovers = st.take("HandOverQueue", BATCH)
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
    add(
        _probe(
            layout,
            "privacy",
            "PrivacyFunction",
            st.env("PrivacyFunction"),
            {"Records": privacy},
            f"{len(privacy)} records: customers/data_request (one case each)",
            offset=st.offset(),
            check=_no_failures,
        )
    )
    st.done("PrivacyQueue", privacy)
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


def package_costs(layout: Layout, modules: Sequence[str]) -> dict[str, float]:
    """MB each module adds when imported alone in a fresh interpreter (with what it pulls)."""
    costs: dict[str, float] = {}
    for module in modules:
        facts = run_child(layout, "event_worker", {}, import_rss_script(module))["facts"]
        costs[module] = _mb(facts["VmHWM"] - facts["before_kb"])
    return costs


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
    st.now = OPENED
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
    for _ in range(rounds):
        jobs = st.reminder_jobs(batch * (1 + 2 * pairs))
        batches = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
        st.now = STEP_ONE
        found.append(_timing_round(layout, "sender", "SenderFunction", st, batches))
        st.done("ReminderQueue", jobs)
    return Timing("sender", f"batches of {batch} reminder jobs (step 1, email)", found)


# ---------------------------------------------------------------- the whole run
@dataclass(frozen=True)
class Result:
    memory: MemoryResult
    timings: Sequence[Timing]
    seconds: float = 0.0
    notes: Sequence[str] = field(default_factory=tuple)


NOT_DRIVEN = {
    "shopify_auth": "OAuth install and token exchange call Shopify's token endpoint, whose "
    "stand-in runs inside the local stack's process only",
    "shopify_tasks": "its jobs call Shopify's GraphQL Admin API (customer tags); same reason",
    "pay_link": "a pay link opens a Stripe Checkout session on the platform's stand-in; not "
    "driven yet",
    "unsubscribe": "not driven yet (one small GET; no heavy package on its path)",
    "referral_report": "not driven yet (a signed report-back from an agency)",
}


def run(
    deliveries: Deliveries | None = None,
    *,
    rounds: int = TIMING_ROUNDS,
    progress: Callable[[str], None] = lambda _m: None,
    layout: Layout | None = None,
) -> Result:
    started = time.perf_counter()
    deliveries = deliveries or Deliveries()
    with nullcontext(layout) if layout else built_layout() as lay:
        progress(f"layer: {'built' if lay.built else 'source'} ({lay.layer})")
        with stack(deliveries) as st:
            found = peaks(lay, st, progress)
            progress("worker timing")
            worker = worker_timing(lay, st, rounds)
            progress(f"worker: {worker.ratio:.2f}; sender timing")
            sender = sender_timing(lay, st, rounds)
            progress(f"sender: {sender.ratio:.2f}")
        loaded = sorted({m for p in found for m in p.loaded})
        progress(f"package import costs: {', '.join(loaded)}")
        memory = MemoryResult(
            peaks=found,
            bare_mb=bare_rss(lay),
            packages=package_costs(lay, loaded),
            built=lay.built,
            python=f"{Path(lay.python).name} {' '.join(lay.flags)}".strip(),
        )
    return Result(
        memory=memory,
        timings=(worker, sender),
        seconds=time.perf_counter() - started,
        notes=tuple(f"{name}: {why}" for name, why in NOT_DRIVEN.items()),
    )


def run_in_process(rounds: int = TIMING_ROUNDS) -> Result:
    """For a spawned process: the local stack sets this process's AWS environment."""
    return run(rounds=rounds)


if __name__ == "__main__":
    from benchmarks import report_memory

    outcome = run(progress=lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
    print("\n".join(report_memory.text_lines(outcome)))
