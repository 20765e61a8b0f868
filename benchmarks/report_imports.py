"""Cold import of every handler and the layer's size, as terminal lines and as the
docs/performance.md section (see benchmarks/import_time.py for how they are measured)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.import_time import (
    CLASS_CREATION_RUNS,
    GOAL_OTHER,
    GOAL_WEBHOOK,
    LAMBDA_UNZIPPED_LIMIT,
    WEBHOOKS,
    ClassCreation,
    FunctionImport,
    ImportResult,
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _verdict(f: FunctionImport) -> str:
    return "met" if f.met else "NOT met"


def _loaded(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} rounds"


def _runs(spans: Sequence[float]) -> str:
    return " / ".join(f"{s * 1000:.0f}" for s in spans)


def _largest(result: ImportResult) -> FunctionImport:
    return max(result.functions, key=lambda f: f.code_bytes)


def text_lines(result: ImportResult) -> list[str]:
    layer = result.layer
    lines = [
        f"1. Cold import of each handler / import boto3 from the same layer (median of "
        f"{result.rounds}; {'built layer' if result.built else 'SOURCE tree'}, read-only, "
        f"{result.python}); goal <= {GOAL_WEBHOOK} webhooks, <= {GOAL_OTHER} others:",
        f"   import boto3 {_ms(result.boto3_seconds)} (without bytecode "
        f"{_ms(result.old_boto3_seconds)}); bare interpreter (wall) {_ms(result.bare_seconds)}",
    ]
    for f in result.functions:
        lines.append(
            f"   {f.function:<16} {f.ratio:5.2f}x  {_verdict(f):<7} ({_ms(f.seconds)}; wall "
            f"{f.wall_ratio:.2f}x; no bytecode {_ms(f.old_seconds)} = {f.old_ratio:.2f}x, "
            f"{f.gain:.1f}x slower; {f.modules} modules; dataclasses {_classes(f.classes)}; "
            f"loads {_loaded(f.loaded)})"
        )
    for name, (direct, packages) in result.breakdown.items():
        lines.append(
            f"   {name} -X importtime, direct imports: "
            + ", ".join(f"{module} {_ms(s)}" for module, s in direct)
        )
        lines.append(
            "      own time per package: "
            + ", ".join(f"{module} {_ms(s)}" for module, s in packages)
        )
    if result.tracer_spans:
        lines.append(
            f"   Powertools Tracer() (not used) {result.tracer_ratio:5.2f}x "
            f"({_ms(result.tracer_seconds)}; median of {len(result.tracer_spans)})"
        )
    largest = _largest(result)
    lines.append(
        f"   layer: {_mb(layer.unzipped)} unzipped ({_mb(layer.bytecode)} of it bytecode, "
        f"{layer.files} files), {_mb(layer.zipped)} zipped; without bytecode "
        f"{_mb(layer.old_unzipped)} / {_mb(layer.old_zipped)}; with the largest function "
        f"({largest.function}) {(layer.unzipped + largest.code_bytes) / LAMBDA_UNZIPPED_LIMIT:.0%}"
        " of Lambda's unzipped limit"
    )
    return lines


def summary_rows(result: ImportResult) -> list[str]:
    rows = []
    for f in result.functions:
        rows.append(
            f"| Cold `import app`, {f.function} | {f.ratio:.2f} | `import boto3`, same layer | "
            f"≤ {f.goal}: {_verdict(f)} |"
        )
    if result.tracer_spans:
        rows.append(
            f"| Import and instantiate Powertools `Tracer()` (not used) | "
            f"{result.tracer_ratio:.2f} | `import boto3`, same layer | reported |"
        )
    largest = _largest(result)
    rows.append(
        f"| Layer plus the largest function's code ({largest.function}), unzipped | "
        f"{(result.layer.unzipped + largest.code_bytes) / LAMBDA_UNZIPPED_LIMIT:.2f} | "
        f"Lambda's limit, {LAMBDA_UNZIPPED_LIMIT:,} bytes | reported |"
    )
    return rows


NEAR_GOAL = 0.3  # a function this close to its goal may miss it in another run


def _range(ordered: Sequence[str]) -> str:
    """The lowest and highest of values in order, or the one value."""
    return ordered[0] if ordered[0] == ordered[-1] else f"{ordered[0]} to {ordered[-1]}"


def _classes(found: ClassCreation | None) -> str:
    if found is None:
        return "-"
    return f"{found.classes} in {_ms(found.seconds)} ({found.share:.0%})"


def section(result: ImportResult) -> list[str]:
    layer = result.layer
    out: list[str] = []
    add = out.append
    add("## 1. Cold import of every handler\n")
    add(
        "**How measured.** `benchmarks/import_time.py` (alone: `python -m "
        "benchmarks.import_time`). "
        + (
            "The layer **as built** by `layers/recoup/Makefile`'s `build-RecoupLayer` (the "
            "target `sam build` runs: the pinned Lambda-platform wheels, `recoup/`, "
            "`templates/`, and their bytecode, compiled by CPython 3.12 as unchecked-hash "
            ".pyc files) into a scratch directory, "
            if result.built
            else "**The source tree (not the built layer: this run is not the benchmark's "
            "figure)**, "
        )
        + "and every function's directory copied beside it, all made read-only (as /opt and "
        "/var/task are on Lambda). Each probe is a fresh process of the runtime's CPython "
        f"(`{result.python}`: no site-packages) with `PYTHONDONTWRITEBYTECODE=1`, "
        "`PYTHONPATH` the function's directory then the layer's `python/`, the function's "
        "directory as working directory, and the environment Lambda gives that function: "
        "template.yaml's variables (globals and its own; parameters at their defaults, "
        "resources as placeholder names), the reserved `AWS_LAMBDA_*`, `_HANDLER` and "
        "`LAMBDA_TASK_ROOT`, a region and credentials. The span is `import app` alone, read "
        "with `time.perf_counter()` inside the process. All probes, `import boto3` from the "
        f"same layer among them, run in {result.rounds} interleaved rounds (the order rotates "
        "each round); the **median** counts and **no run is discarded**, the first included. "
        f"Then the same probes run {_times(result.old_rounds)} against a read-only copy of the "
        "layer **without its `__pycache__` directories**: the layer as it was shipped before "
        "(`pip --no-compile`, bytecode pruned), when every cold start compiled every module it "
        "imported. The ratio there is to `import boto3` from that copy; the gain is the "
        "time without bytecode over the time with it. Cross-check: the whole process's median "
        f"wall time minus that of `python -S -c pass` ({_ms(result.bare_seconds)}), as a "
        "ratio to boto3's. Dataclasses created: each function imported "
        f"{CLASS_CREATION_RUNS} more times with the "
        "dataclass decorator's work timed (outside the figures above), the run with the "
        "median share shown.\n"
    )
    add(
        f"`import boto3` from the layer: {_ms(result.boto3_seconds)} with the bytecode, "
        f"{_ms(result.old_boto3_seconds)} without. Goal: each webhook handler "
        f"({', '.join(WEBHOOKS)}) at most **{GOAL_WEBHOOK}×** `import boto3`, every other "
        f"function at most **{GOAL_OTHER}×**.\n"
    )
    add(
        "| Function | Ratio to `import boto3` | Goal | Median | Runs (ms) | Wall cross-check | "
        "Without bytecode | Its ratio | Gain | Modules loaded | Dataclasses created | "
        "Heavy packages loaded |"
    )
    add("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for f in result.functions:
        add(
            f"| {f.function} | **{f.ratio:.2f}** | ≤ {f.goal}: {_verdict(f)} | {_ms(f.seconds)} | "
            f"{_runs(f.spans)} | {f.wall_ratio:.2f} | {_ms(f.old_seconds)} | "
            f"{f.old_ratio:.2f} | {f.gain:.1f}× | {f.modules} | {_classes(f.classes)} | "
            f"{_loaded(f.loaded)} |"
        )
    add("")
    measured = [
        (f, f.classes) for f in result.functions if f.classes and f.function not in WEBHOOKS
    ]
    per_class = sum(c.seconds for _f, c in measured) / max(1, sum(c.classes for _f, c in measured))
    near = [c for f, c in measured if f.ratio >= f.goal - NEAR_GOAL]
    classes = "(none is in this run)"
    if near:
        counts = [str(c.classes) for c in sorted(near, key=lambda c: c.classes)]
        shares = [f"{c.share:.0%}" for c in sorted(near, key=lambda c: c.share)]
        classes = (
            f"create {_range(counts)} dataclasses on import, {_range(shares)} of it (the column "
            "above)"
        )
    add(
        "**What could make these fail.** The queue workers and the HTTP functions that read "
        "cases sit near their goal: about 1.6-1.7× is what each pays before its own work "
        "(Powertools' batch or event handler, botocore, PynamoDB), and the domain every one "
        "of them loads (the case and its events, the reminder sequence, instalments, card "
        "retries, referrals, the case store) adds the rest. Much of that is class creation: "
        "CPython 3.12's dataclass decorator compiles six methods for each frozen class, "
        f"{per_class * 1000:.2f} ms a class in this run; the functions within {NEAR_GOAL} of "
        f"their goal {classes}. The ratios of one "
        "function move by 0.1 to 0.2 between runs on this machine, so a function near 2.0 is "
        "met in one run and not in the next. What would lower the floor: fewer classes per "
        "function (modules that load only what the function's common path needs, as the "
        "sender's test messages and merchant notices do), or a record type whose classes "
        "compile nothing (a C implementation such as msgspec's `Struct`: a migration of every"
        " domain class). A module-level import of a heavy library into a shared module "
        "(babel, phonenumbers, Jinja2, email_validator, the `shopify` package, the fraud "
        "rules, the case file) puts it on every function's cold start. Libraries a function "
        "needs only on some invocations load on the first one that needs them, and that "
        "invocation pays the rest: the sender's first email adds the renderer and MIME (about"
        " 0.35× `import boto3`) and phonenumbers on the first customer with a phone (about "
        "0.1×); an email hand-over adds Jinja2 and email_validator (about 0.3×); the worker's"
        " first scoring adds the fraud rules (about 0.12×); the admin API's first case list "
        "adds the case store and views (about 0.3×).\n"
    )
    if result.breakdown:
        add(
            "Where a webhook's import time goes, from one `python -X importtime -c 'import "
            "app'` run per handler against the same layer: `app`'s direct imports with "
            "everything they pulled in, then each module's own time summed per top-level "
            "package (-X importtime adds overhead of its own, so read these for proportions):\n"
        )
        for name, (direct, packages) in result.breakdown.items():
            add(
                f"- {name}: direct imports "
                + ", ".join(f"`{module}` {_ms(s)}" for module, s in direct)
                + "; own time per top-level package: "
                + ", ".join(f"`{module}` {_ms(s)}" for module, s in packages)
            )
        add("")
    if result.tracer_spans:
        add(
            f"Powertools `Tracer()`, which `recoup/observability.py` leaves out: importing and "
            f"instantiating it on its own from the same layer (median of "
            f"{len(result.tracer_spans)}) costs **{result.tracer_ratio:.2f}×** `import boto3` "
            f"({_ms(result.tracer_seconds)}), because it loads the X-Ray SDK even with tracing "
            "off. Lambda's active tracing (template.yaml) records invocations without it.\n"
        )
    add("### Layer size\n")
    add(
        "Every function gets the same one layer; a function's code is its own directory. "
        "Zipped with deflate, file by file, as `sam package` zips it (the size without "
        "bytecode is the same archive less the .pyc entries).\n"
    )
    add("| Layer | Unzipped | Zipped | Files |")
    add("|---|---:|---:|---:|")
    add(
        f"| with bytecode (shipped) | {layer.unzipped:,} B | {layer.zipped:,} B | {layer.files:,} |"
    )
    add(
        f"| without bytecode (before) | {layer.old_unzipped:,} B | {layer.old_zipped:,} B | "
        f"{layer.files - layer.bytecode_files:,} |"
    )
    add(f"| of which bytecode | {layer.bytecode:,} B | | |")
    add("")
    add("| Function | Own code | Layer plus own code (unzipped) | Of Lambda's 250 MB limit |")
    add("|---|---:|---:|---:|")
    for f in result.functions:
        total = layer.unzipped + f.code_bytes
        add(
            f"| {f.function} | {f.code_bytes:,} B | {total:,} B | "
            f"{total / LAMBDA_UNZIPPED_LIMIT:.0%} |"
        )
    add("")
    return out
