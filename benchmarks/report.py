"""The figures as text (for the terminal) and as docs/performance.md."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks import (
    report_fraud,
    report_imports,
    report_local,
    report_memory,
    report_reminders,
    report_scale,
    report_strategies,
)
from benchmarks.aws_calls import CallsResult, PhaseResult
from benchmarks.capacity import CapacityResult
from benchmarks.cold_delivery import ColdResult
from benchmarks.fraud import ScoringTime, VelocityResult
from benchmarks.fresh import ROOT
from benchmarks.growth import GrowthResult
from benchmarks.import_time import ImportResult
from benchmarks.lifecycle import LifecycleResult
from benchmarks.local_stack import LocalStackResult
from benchmarks.memory import Result as MemoryResult
from benchmarks.scheduler_reads import SchedulerReadsResult
from benchmarks.strategies import StrategiesResult

DOC = ROOT / "docs" / "performance.md"
COMMAND = "make bench"
PACKAGES = ("boto3", "botocore", "aws-lambda-powertools", "stripe", "pynamodb", "moto")
ONLY = "--only strategies"
HEADER = (
    f"Written by `{COMMAND}` (`.venv/bin/python -m benchmarks`, from the repository root), "
    "which rewrites this file on every run; do not edit it by hand. "
    f"`.venv/bin/python -m benchmarks {ONLY}` measures only the strategy matching and the "
    "what-if and rewrites only their section (5b) and their Summary rows, leaving the rest "
    "as the last full run wrote it. Every figure is a **ratio of two measurements taken in "
    "the same run on the same machine**. The milliseconds beside them are context for that "
    "machine only: they are not thresholds, and nothing here is a test."
)


@dataclass(frozen=True)
class Results:
    rounds: int
    deliveries: int
    payload_sources: Mapping[str, str]
    imports: ImportResult
    cold: Sequence[ColdResult]
    calls: CallsResult
    reads: SchedulerReadsResult
    lifecycle: LifecycleResult
    fraud_time: ScoringTime
    fraud_reads: VelocityResult
    reads_in_parallel: bool = True  # the scheduler reads ran in a second process
    local_stack: LocalStackResult | None = None  # None: skipped (--no-local-stack)
    growth: GrowthResult | None = None  # None: skipped (--no-growth)
    capacity: CapacityResult | None = None  # None: skipped (--no-capacity)
    memory: MemoryResult | None = None  # None: skipped (--no-memory)
    strategies: StrategiesResult | None = None  # None: not measured


def machine() -> dict[str, str]:
    """Date-free facts about where the figures came from."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu or platform.processor() or "unknown",
        "arch": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _loaded(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def _operations(ops: Mapping[str, int]) -> str:
    return ", ".join(f"{op} ×{n}" for op, n in sorted(ops.items())) or "none"


def _boto3_after(cold: Sequence[ColdResult], valid: bool, secrets: str) -> bool:
    return any(
        "boto3" in c.loaded
        for c in cold
        if c.variant.valid == valid and c.variant.secrets == secrets
    )


def _ssm_calls(phases: Sequence[PhaseResult]) -> int:
    return sum(
        n for p in phases if p.secrets == "ssm" for op, n in p.operations.items() if "ssm." in op
    )


# ---------------------------------------------------------------------------- terminal
def text(results: Results) -> str:
    imports, cold, calls = results.imports, results.cold, results.calls
    lines = report_imports.text_lines(imports)
    lines += [
        "",
        f"   Cold first Shopify delivery (import + handle one) / import boto3, source tree, "
        f"best of {cold[0].rounds if cold else 0}:",
    ]
    for c in cold:
        lines.append(
            f"   {c.variant.name:<42} {c.ratio:5.2f}x  ({_ms(c.seconds)}); "
            f"loaded: {_loaded(c.loaded)}"
        )
    lines += [
        "",
        f"2. AWS calls per webhook delivery ({results.deliveries} of each), "
        "ratio to the minimum of 1:",
    ]
    for p in calls.phases:
        ratio = f"{p.ratio:5.2f}x" if p.ratio is not None else "  n/a "
        lines.append(
            f"   [{p.secrets}] {p.label:<24} {p.calls:4d} calls, {p.per_delivery:5.2f}/delivery "
            f"{ratio}  {_operations(p.operations)}"
        )
    lines += ["", "   Worker DynamoDB calls per applied event (for information):"]
    for w in calls.worker:
        lines.append(
            f"   {w.source:<8} {w.applied} applied: {w.reads / w.applied:.2f} reads + "
            f"{w.writes / w.applied:.2f} writes per event  ({_operations(w.operations)})"
        )
    lines += report_reminders.text_lines(results.reads, results.lifecycle)
    lines += report_fraud.text_lines(results.fraud_time, results.fraud_reads)
    if results.strategies is not None:
        lines += report_strategies.text_lines(results.strategies)
    if results.local_stack is not None:
        lines += report_local.text_lines(results.local_stack)
    lines += report_scale.text_lines(results.growth, results.capacity)
    if results.memory is not None:
        lines += report_memory.text_lines(results.memory)
    lines += [
        "",
        "   payloads: " + "; ".join(f"{k}: {v}" for k, v in results.payload_sources.items()),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- markdown
def _strategy_parts(results: Results) -> tuple[list[str], list[str]]:
    """The strategies' Summary rows and section; none when they were not measured."""
    if results.strategies is None:
        return [], []
    return (
        report_strategies.summary_rows(results.strategies),
        report_strategies.section(results.strategies),
    )


def markdown(results: Results) -> str:
    imports, cold, calls = results.imports, results.cold, results.calls
    box = machine()
    out: list[str] = []
    add = out.append

    add("# Performance\n")
    add(HEADER + "\n")
    add("## Machine\n")
    add(f"- nproc: {box['nproc']} ({box['arch']}, {box['cpu']})")
    add(f"- Python: {box['python']}")
    add(f"- Packages: {box['packages']}")
    add(
        f"- Run: cold imports are the median of {imports.rounds} interleaved rounds against "
        f"the built layer ({imports.old_rounds} without its bytecode; Tracer: "
        f"{len(imports.tracer_spans)}); the cold first delivery the best of "
        f"{cold[0].rounds if cold else 0}; {results.deliveries} deliveries of each kind for "
        "the call counts"
        + (
            "; the scheduler reads ran in a second process beside the other call counts "
            "(counts only, nothing timed)"
            if results.reads_in_parallel
            else ""
        )
    )
    add(
        "- Payloads: " + "; ".join(f"{k}: `{v}`" for k, v in results.payload_sources.items()) + "\n"
    )

    add("## Summary\n")
    add("| Figure | Ratio | Against | Goal |")
    add("|---|---:|---|---|")
    out.extend(report_imports.summary_rows(imports))
    for c in cold:
        add(
            f"| Cold Shopify {c.variant.name} | {c.ratio:.2f} | `import boto3`, source tree | "
            "reported |"
        )
    for p in calls.phases:
        if p.accepted:
            goal = "1: met" if p.per_delivery == 1 else "1: NOT met"
            add(
                f"| AWS calls per accepted delivery, {p.label} (secrets: {p.secrets}) | "
                f"{p.per_delivery:.2f} | minimum of 1 call | {goal} |"
            )
        else:
            goal = (
                "0: met"
                if p.calls == 0
                else f"0: NOT met ({_operations(p.operations)} in {p.deliveries})"
            )
            add(
                f"| AWS calls per forged delivery, {p.label} (secrets: {p.secrets}) | "
                f"{p.per_delivery:.2f} | (calls, minimum 0) | {goal} |"
            )
    out.extend(report_reminders.summary_rows(results.reads, results.lifecycle))
    out.extend(report_fraud.summary_rows(results.fraud_time, results.fraud_reads))
    strategy_rows, strategy_section = _strategy_parts(results)
    out.extend(strategy_rows)
    if results.local_stack is not None:
        out.extend(report_local.summary_rows(results.local_stack))
    out.extend(report_scale.summary_rows(results.growth, results.capacity))
    if results.memory is not None:
        out.extend(report_memory.summary_rows(results.memory))
    add("")

    # ------------------------------------------------------------------ 1. imports
    out.extend(report_imports.section(imports))

    # ------------------------------------------------------------------ cold delivery
    add("## 1b. Cold first delivery (Shopify webhook)\n")
    add(
        "**How measured.** Fresh-interpreter probes of the Shopify handler from the source "
        "tree, in this virtualenv's interpreter with `PYTHONPATH=layers/recoup:functions/"
        "shopify_webhook`, `AWS_DEFAULT_REGION`, credentials and template.yaml's `POWERTOOLS_*` "
        "globals (not the built layer of section 1), interleaved with `import boto3` run the "
        "same way, which is the yardstick "
        f"here; the best of {cold[0].rounds if cold else 0} rounds counts, so these are warm "
        "figures (bytecode compiled, page cache filled). The span runs from "
        "just before `import app` to just after `app.lambda_handler(event, context)` has "
        "answered one delivery (an API Gateway HTTP API v2 event built by the local stack's "
        "`http_event`, signed with the right secret, or a wrong one for the forged case). The "
        "AWS side is moto's server on 127.0.0.1, started in the benchmark process, with "
        "`AWS_ENDPOINT_URL` pointing at it. Not `mock_aws` inside the measured process: "
        "`from moto import mock_aws` imports boto3 and botocore (over a hundred modules), so "
        "the span could never include the SDK's import, which is the cost this figure is "
        "about. With the server, moto's import is outside the measured process entirely, and "
        "an accepted delivery's span includes importing boto3, creating the SQS client and "
        "one SendMessage over loopback. Secrets come either from the environment (the local "
        "stack's setting) or from SSM Parameter Store (template.yaml's setting, what is "
        "deployed), read through Powertools' parameters utility.\n"
    )
    add("| Shopify delivery | Ratio to `import boto3` | Time | Loaded afterwards |")
    add("|---|---:|---:|---|")
    for c in cold:
        add(f"| {c.variant.name} | **{c.ratio:.2f}** | {_ms(c.seconds)} | {_loaded(c.loaded)} |")
    add("")
    add("**What it means.**\n")
    forged_env = _boto3_after(cold, valid=False, secrets="env")
    forged_ssm = _boto3_after(cold, valid=False, secrets="ssm")
    add(
        "- The import-only ratio is not what a cold container pays for a real delivery. "
        "`recoup/queue.py` imports boto3 and creates the SQS client on the first enqueue, and "
        "`recoup/integrations/stripe.py` imports stripe inside `verify_signature`, so an "
        "accepted delivery pays for them in its first invocation instead of at import: compare "
        "the import-only and first-delivery rows."
    )
    if forged_env:
        add(
            "- With secrets from the environment, a forged delivery on a cold container "
            "**did** import boto3 in this run: something on the rejection path now loads it."
        )
    else:
        add(
            "- With secrets from the environment, a forged delivery on a cold container never "
            "pays for boto3: verification is an HMAC with a secret already in memory, and the "
            "delivery is rejected before `queue.py` is asked for a client (boto3 was not "
            "loaded afterwards)."
        )
    by_name = {(c.variant.valid, c.variant.secrets): c.ratio for c in cold}
    enqueue = by_name.get((True, "env"), 0.0) - by_name.get((False, "env"), 0.0)
    secret = by_name.get((False, "ssm"), 0.0) - by_name.get((False, "env"), 0.0)
    add(
        f"- The first enqueue (importing boto3, creating the SQS client, one SendMessage) "
        f"costs about {enqueue:.2f}× `import boto3` (valid minus forged, secrets from env); "
        f"fetching the first secret from SSM costs about {secret:.2f}× (forged from SSM minus "
        "forged from env). Each includes the SDK's import, so they do not add up: whichever "
        "comes first pays it."
    )
    if forged_ssm:
        add(
            "- With the deployed setting (secrets from SSM), that no longer holds: the first "
            "delivery a container verifies, forged or not, needs the secret, so Powertools' "
            "parameters utility imports boto3, creates an SSM client and calls GetParameter "
            "before anything can be rejected. In the cloud the lazy boto3 import therefore "
            "moves the SDK's cost from the import into the first invocation; it does not "
            "spare a cold container from it. The secret is then cached for 300 s, so later "
            "deliveries to the same container pay neither."
        )
    else:
        add(
            "- With the deployed setting (secrets from SSM), the forged delivery did not load "
            "boto3 either."
        )
    add("")

    # ------------------------------------------------------------------ 2. calls
    add("## 2. AWS calls per webhook delivery\n")
    add(
        "**How measured.** The local stack runs in-process (`recoup_local.stack.in_process()`, "
        "moto's `mock_aws`), with the demo shop installed. "
        "`botocore.client.BaseClient._make_api_call`, which every boto3 client, PynamoDB's "
        "connection and Powertools' parameter provider go through, is wrapped for the run by "
        "a counter that records each call's service and operation and the function whose "
        "handler was running; calls the harness makes itself (provisioning, the queue poller's "
        f"ReceiveMessage and DeleteMessage) are left out. {results.deliveries} valid Shopify "
        "deliveries (`orders/create`, a new order each), the same number of valid Stripe "
        "`payment_intent.payment_failed` events (one per order, linked through "
        "`metadata.shopify_order_id`) and as many forged deliveries of each (signed with a "
        "wrong secret) go through `local.lambdas.invoke_http`. That is done twice: with "
        "secrets from the environment (the local stack's setting), and then, as a new "
        "container (settings and client caches cleared), with secrets from SSM Parameter "
        "Store (template.yaml's setting), forged deliveries first. The ratio is calls per "
        "accepted delivery over the minimum, one SQS SendMessage.\n"
    )
    add(
        "| Secrets | Kind | Deliveries | AWS calls | Per delivery | Ratio to minimum (1) "
        "| Operations |"
    )
    add("|---|---|---:|---:|---:|---:|---|")
    for p in calls.phases:
        ratio = f"**{p.ratio:.2f}**" if p.ratio is not None else "n/a (minimum 0)"
        add(
            f"| {p.secrets} | {p.label} | {p.deliveries} | {p.calls} | {p.per_delivery:.2f} | "
            f"{ratio} | {_operations(p.operations)} |"
        )
    add("")
    env_verify = sum(p.calls for p in calls.phases if p.secrets == "env" and not p.accepted)
    add("**What it means.**\n")
    add(
        f"- Secrets from the environment: forged deliveries made {env_verify} AWS calls, so "
        "verification itself costs none; an accepted delivery costs its SendMessage"
        + (
            " and nothing else."
            if all(p.per_delivery == 1 for p in calls.phases if p.secrets == "env" and p.accepted)
            else ", and more (see the table)."
        )
    )
    ssm_total = sum(p.calls for p in calls.phases if p.secrets == "ssm")
    ssm_accepted = sum(p.deliveries for p in calls.phases if p.secrets == "ssm" and p.accepted)
    add(
        f"- Secrets from SSM (deployed): {_ssm_calls(calls.phases)} SSM call(s) in all, one "
        "GetParameter per secret the first time the container verifies a delivery of that "
        "source, forged or not (Powertools then caches it for 300 s). So the goal of no call "
        "to verify holds only while the cache is warm: a cold container's first delivery, "
        "even a forged one, costs a GetParameter, and so does the first after each 300 s. "
        f"Counted against the accepted deliveries, this run made {ssm_total} calls for "
        f"{ssm_accepted} accepted deliveries ({ssm_total / ssm_accepted:.2f} per delivery)."
    )
    add("")
    add("### Worker, for information\n")
    add(
        "DynamoDB calls the event worker made while the queue was drained, per event it "
        "applied (a duplicate or an event for a shop that is not installed would not count; "
        "none occurred). The worker's sample is the first orders' events, queued and drained "
        "before the rest of the deliveries (moto takes about 0.2 s per TransactWriteItems, so "
        "draining all of them would only repeat the sample, slowly): each Shopify event opens "
        "a new case, each Stripe payment failure updates the case its order opened. Reads are "
        "GetItem, BatchGetItem, Query, Scan; writes are PutItem, UpdateItem, DeleteItem, "
        "BatchWriteItem, TransactWriteItems (one transaction writes several items).\n"
    )
    add("| Event source | Applied | Reads per event | Writes per event | Operations |")
    add("|---|---:|---:|---:|---|")
    for w in calls.worker:
        add(
            f"| {w.source} | {w.applied} | {w.reads / w.applied:.2f} | "
            f"{w.writes / w.applied:.2f} | {_operations(w.operations)} |"
        )
    add("")
    out.extend(report_reminders.sections(results.reads, results.lifecycle))
    out.extend(report_fraud.section(results.fraud_time, results.fraud_reads))
    out.extend(strategy_section)
    if results.local_stack is not None:
        out.extend(report_local.section(results.local_stack))
    out.extend(report_scale.sections(results.growth, results.capacity))
    if results.memory is not None:
        out.extend(report_memory.section(results.memory))
    return "\n".join(out)


def write(results: Results, path: Path = DOC) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(results), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- --only
# The Summary rows a new strategies section follows when the file has none yet: the fraud
# screening's (report_fraud.summary_rows), as in a full run.
_FRAUD_ROWS = ("| Fraud scoring", "| The worker's pure screening", "| Velocity")
_NEXT_SECTION = "## 6."  # a new strategies section goes before it, as in a full run


def _table_rows(lines: list[str], heading: str) -> range:
    """The indices of the table rows under `heading` (its header and rule included)."""
    start = lines.index(heading)
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return range(first, end)


def _with_rows(lines: list[str], rows: list[str]) -> list[str]:
    """The Summary table with the strategies' rows replaced, or added after the fraud's."""
    table = _table_rows(lines, "## Summary")
    ours = [i for i in table if lines[i].startswith(report_strategies.ROW_PREFIXES)]
    if ours:
        at = ours[0]
    else:
        fraud = [i for i in table if lines[i].startswith(_FRAUD_ROWS)]
        at = fraud[-1] + 1 if fraud else table.stop
    kept = [line for i, line in enumerate(lines) if i not in ours]
    return kept[:at] + rows + kept[at:]


def _with_section(lines: list[str], section: list[str]) -> list[str]:
    """The document with the strategies' section (up to the next `## ` heading) replaced,
    or put before section 6 (at the end when there is none)."""
    heading = report_strategies.HEADING
    if heading in lines:
        start = lines.index(heading)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
    else:
        start = end = next(
            (i for i, line in enumerate(lines) if line.startswith(_NEXT_SECTION)), len(lines)
        )
    return lines[:start] + section + lines[end:]


def splice_strategies(doc: str, result: StrategiesResult) -> str:
    """`doc` (docs/performance.md as a full run wrote it) with the header, the strategies'
    Summary rows and their section written anew from `result`; every other line kept."""
    lines = doc.split("\n")
    if "## Summary" not in lines:
        raise ValueError("the document has no '## Summary' table: run the whole benchmark")
    lines = [HEADER if line.startswith("Written by `") else line for line in lines]
    lines = _with_rows(lines, report_strategies.summary_rows(result))
    section = "\n".join(report_strategies.section(result)).split("\n")
    return "\n".join(_with_section(lines, section))


def write_strategies(result: StrategiesResult, path: Path = DOC) -> Path:
    """Rewrite only the strategies' section and Summary rows of the existing `path`."""
    path.write_text(splice_strategies(path.read_text(encoding="utf-8"), result), "utf-8")
    return path
