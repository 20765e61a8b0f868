"""Peak memory per function and warm-against-cached time, as terminal lines and as
docs/performance.md sections (see benchmarks/memory.py for how they are measured)."""

from __future__ import annotations

from benchmarks.memory import BATCH, GOAL_MB, GOAL_RATIO, Peak, Result, Timing


def _verdict(met: bool | None) -> str:
    return "not driven" if met is None else ("met" if met else "NOT met")


def _dominant(peak: Peak, result: Result) -> str:
    """The loaded packages that cost most when imported alone, heaviest first."""
    costs = result.memory.packages
    ranked = sorted(((costs[m], m) for m in peak.loaded if m in costs), reverse=True)[:3]
    return ", ".join(f"`{m}` {mb:.0f} MB" for mb, m in ranked) or "—"


def _clients(peak: Peak) -> str:
    """The botocore clients alive after the invocation, by service."""
    return ", ".join(f"{name} ×{n}" for name, n in sorted(peak.clients.items())) or "—"


def _extra_dynamodb(result: Result) -> list[Peak]:
    """The functions that ended with more than one DynamoDB client, most first."""
    found = [p for p in result.memory.peaks if p.clients.get("dynamodb", 0) > 1]
    return sorted(found, key=lambda p: -p.clients.get("dynamodb", 0))


def text_lines(result: Result) -> list[str]:
    memory = result.memory
    lines = [
        "",
        f"Peak RSS of one invocation (VmHWM, fresh process, "
        f"{'built layer' if memory.built else 'SOURCE tree'}, goal <= {GOAL_MB:.0f} MB); "
        f"bare interpreter {memory.bare_mb:.1f} MB:",
    ]
    for p in memory.peaks:
        figure = f"{p.peak_mb:6.1f} MB" if p.peak_mb is not None else "   n/a   "
        after = f"import {p.import_mb:5.1f} MB" if p.import_mb is not None else ""
        lines.append(
            f"   {p.function:<16} {figure}  {_verdict(p.met):<10} {after}  {p.work}"
            + (f" [{p.note}]" if p.note else "")
            + (f" (clients: {_clients(p)})" if p.clients else "")
        )
    lines.append(
        "   package imports alone: "
        + ", ".join(f"{m} {mb:.0f} MB" for m, mb in sorted(memory.packages.items()))
    )
    if memory.unused:
        lines.append(
            "   in the layer, loaded by no function: "
            + ", ".join(f"{m} {mb:.0f} MB" for m, mb in sorted(memory.unused.items()))
        )
    if memory.client_mb is not None:
        lines.append(f"   one more DynamoDB client, own session: {memory.client_mb:.1f} MB")
    if not result.timings:
        return lines
    lines += ["", f"Per-event time, warm container / everything cached (goal <= {GOAL_RATIO}):"]
    for t in result.timings:
        lines.append(
            f"   {t.function:<12} {t.ratio:5.2f}x  {_verdict(t.met)}  "
            f"(warm {t.warm_ms:.1f} ms, cached {t.cached_ms:.1f} ms, cold first batch "
            f"{t.cold_ms:.1f} ms per event; {len(t.rounds)} rounds; ratios "
            + ", ".join(f"{r.ratio:.2f}" for r in t.rounds)
            + ")"
        )
    return lines


def summary_rows(result: Result) -> list[str]:
    rows = []
    for p in result.memory.peaks:
        if p.peak_mb is None:
            continue
        rows.append(
            f"| Peak RSS, one invocation of {p.function} ({p.work}) | "
            f"{p.peak_mb / GOAL_MB:.2f} | {GOAL_MB:.0f} MB ({p.peak_mb:.0f} MB measured) | "
            f"≤ 1: {_verdict(p.met)} |"
        )
    for t in result.timings:
        rows.append(
            f"| {t.function}: time per event, warm container / everything cached | "
            f"{t.ratio:.2f} | same work, all caches warm | ≤ {GOAL_RATIO}: {_verdict(t.met)} |"
        )
    return rows


def _timing_table(t: Timing) -> list[str]:
    rows = [
        "| Round | Cold first batch (ms/event) | Warm (ms/event) | All cached (ms/event) | "
        "Ratio | Events applied | Clients made after the first batch |",
        "|---:|---:|---:|---:|---:|---|---:|",
    ]
    for n, r in enumerate(t.rounds, 1):
        rows.append(
            f"| {n} | {r.cold * 1000:.1f} | "
            + " / ".join(f"{w * 1000:.1f}" for w in r.warm)
            + " | "
            + " / ".join(f"{c * 1000:.1f}" for c in r.cached)
            + f" | {r.ratio:.2f} | {', '.join(str(x) for x in r.processed)} | "
            f"{r.clients_timed} (first batch: {r.clients_cold}) |"
        )
    return rows


def section(result: Result) -> list[str]:
    memory = result.memory
    out: list[str] = []
    add = out.append
    add("## Peak memory of one invocation per function\n")
    add(
        "**How measured.** `benchmarks/memory.py` (alone: `python -m benchmarks.memory`). "
        "Each function runs in a fresh interpreter "
        f"laid out as Lambda lays it out: the runtime's CPython (`{memory.python}`: `-S`, so "
        "the development virtualenv's packages are not importable), `PYTHONPATH` the "
        "function's directory then the layer's `python/`, "
        + (
            "the layer **as built** by `layers/recoup/Makefile`'s `build-RecoupLayer` (the "
            "target `sam build` runs: the pinned Lambda-platform wheels, `recoup/`, "
            "`templates/`, and the bytecode of every module in it) into a scratch directory, "
            if memory.built
            else "**the source tree (not the built layer: this run is not the benchmark's "
            "figure)**, "
        )
        + "layer and function code read-only and `PYTHONDONTWRITEBYTECODE=1`, so nothing "
        "compiled is kept from one process to the next: the layer's modules load from the "
        "bytecode it ships and the function's own are compiled, as on a cold Lambda container. "
        "The AWS side is moto's server "
        "on loopback, provisioned from template.yaml by the local stack, which also makes the "
        "work in the benchmark's process with the real handlers: the webhook function queues "
        "the worker's events, the scheduler queues the sender's jobs, the escalation checks "
        "queue the hand-overs and the customer tags, Shopify's `customers/data_request` "
        f"deliveries queue the privacy jobs. SQS-triggered functions get their mapping's "
        f"BatchSize ({BATCH}) records (shopify_tasks: the tag jobs of the escalation's "
        "referrals), HTTP functions one request (shopify_auth: Shopify's redirect back to "
        "`/auth/callback`, its query signed with the app's secret and the state cookie "
        "`/auth` sets; pay_link: a reminder's pay link, signed, for an order unpaid a day; "
        "unsubscribe: a mail client's RFC 8058 one-click POST to a reminder's "
        "`List-Unsubscribe` link; referral_report: the agency's report, signed with its "
        "hand-over secret, that it accepted a referral), the scheduler one scheduled event "
        "with due work, the feedback function one SNS notification (SNS invokes with one "
        "record). Shopify and Stripe are the local stack's stand-ins: Stripe's "
        "(`recoup_local.stripe_platform`: Checkout Sessions) listens on loopback and the "
        "child reaches it through `RECOUP_STRIPE_API_BASE`, as the local stack's functions "
        "do; Shopify's (`recoup_local.shopify_tokens`: the token endpoint and the GraphQL "
        "Admin API) runs in the benchmark's process and is served on a loopback port, and "
        "the child's one Shopify transport (`recoup.integrations.shopify_http."
        "urllib_transport`, which the local stack and the tests replace too) posts to it "
        "with the Shopify URL in a header, building the default TLS context per call as "
        "urllib does for HTTPS (the leg itself is plain HTTP). Every answer is checked, and "
        "the work seen done where it leaves a trace: the reminder jobs queued, the "
        "reminders, hand-overs and merchant emails sent, the case-file PDFs and exports "
        "written, the token exchanged and stored, the customers tagged at the stand-in, the "
        "Checkout Session created and the click on the case's trail, the address opted out, "
        "the referral moved (the Note column). The child's `recoup.clock` runs "
        "at the simulated time of the work (an offset; the admin API, whose session token is "
        "checked against the real clock, keeps the real one). The figure is the child's "
        "`VmHWM` (/proc/self/status) once the handler has answered: `ru_maxrss` is not used, "
        "because Linux carries the pre-exec high water of the spawning process (here the "
        'benchmark, about 200 MB) into it. One invocation per function. "After import" is '
        'VmHWM of a separate child that only imports `app`. "botocore clients" are the '
        "clients alive in the child once the handler has answered, by service (counted "
        "after the figure is read). The interpreter alone: "
        f"{memory.bare_mb:.1f} MB. Lambda bills the whole sandbox, including its runtime "
        "client (a few MB more than this process).\n"
    )
    add(
        f"| Function | Invocation | Peak RSS | Goal ≤ {GOAL_MB:.0f} MB | After import | "
        "Heaviest packages it loaded (MB each, imported alone) | botocore clients | "
        "Note |"
    )
    add("|---|---|---:|---|---:|---|---|---|")
    for p in memory.peaks:
        figure = f"**{p.peak_mb:.1f} MB**" if p.peak_mb is not None else "n/a"
        imported = f"{p.import_mb:.1f} MB" if p.import_mb is not None else "n/a"
        add(
            f"| {p.function} | {p.work} | {figure} | {_verdict(p.met)} | {imported} | "
            f"{_dominant(p, result)} | {_clients(p)} | {p.note} |"
        )
    add("")
    add(
        "Each package's own cost, imported alone in a fresh interpreter with the same layout "
        "(VmHWM after minus before; shared dependencies counted in each): "
        + ", ".join(f"`{m}` {mb:.1f} MB" for m, mb in sorted(memory.packages.items()))
        + "."
        + (
            " In the layer but loaded by no function: "
            + ", ".join(f"`{m}` {mb:.1f} MB" for m, mb in sorted(memory.unused.items()))
            + "."
            if memory.unused
            else ""
        )
        + (
            " One more DynamoDB client made in a botocore session of its own, after a first: "
            f"{memory.client_mb:.1f} MB (the service model is loaded again per session)."
            if memory.client_mb is not None
            else ""
        )
        + "\n"
    )
    over = [p for p in memory.peaks if p.met is False]
    add("**What it means.**\n")
    if over:
        for p in over:
            add(
                f"- {p.function} peaks at {p.peak_mb:.0f} MB, over the goal: it loads "
                f"{_dominant(p, result)}; after `import app` alone it is at "
                f"{p.import_mb:.0f} MB, so the rest is the invocation's own work"
                + (f" (botocore clients alive after: {_clients(p)})." if p.clients else ".")
            )
    else:
        driven = [p for p in memory.peaks if p.peak_mb is not None]
        top = sorted(driven, key=lambda p: -(p.peak_mb or 0))[:3]
        add(
            f"- All {len(driven)} functions stay within {GOAL_MB:.0f} MB; the highest: "
            + ", ".join(
                f"{p.function} {p.peak_mb:.0f} MB ({GOAL_MB - (p.peak_mb or 0):.0f} MB under)"
                for p in top
            )
            + "."
        )
    extra = _extra_dynamodb(result)
    if extra:
        cost = f" (about {memory.client_mb:.0f} MB each, above)" if memory.client_mb else ""
        add(
            "- Functions that end with more than one DynamoDB client: "
            + ", ".join(f"{p.function} ×{p.clients['dynamodb']}" for p in extra)
            + ". PynamoDB gives each model class its own connection (`store/bind.py`), and "
            "each connection makes its client in a botocore session of its own, which loads "
            f"the DynamoDB service model again{cost}; one session or client shared by the "
            "models would hold it once."
        )
    if "fpdf" in memory.unused:
        add(
            "- The escalation writes each referral's case-file PDF with "
            "`recoup.casefile.pdf_writer` (the standard library only): the same bytes fpdf2 "
            "made for the same calls (`tests/unit/test_casefile_pdf.py` compares them), "
            f"without fpdf2's {memory.unused['fpdf']:.0f} MB (it is still in the layer, "
            "loaded by no function)."
        )
    add(
        "- The figures are for one invocation of a new container; a warm container's later "
        "invocations can only keep or raise the high-water mark (caches, fragmentation), "
        "which this does not measure. Against the real Shopify and Stripe, TLS handshakes "
        "and fuller answers add a little to the three functions that call them "
        "(shopify_auth, shopify_tasks, pay_link)."
    )
    add(
        "- **Why it can fail**: a handler that imports a heavy package for a path it rarely "
        "takes (a PDF or imaging library, the Shopify client), a botocore client per model "
        "or per call rather than one per container (each loads its service model again), a "
        "read that holds a whole shop's items in memory, or a larger batch than the "
        "template's.\n"
    )

    if not result.timings:  # measured without them (python -m benchmarks.memory --no-timing)
        return out
    add("## Worker and sender: time per event, warm container against everything cached\n")
    add(
        "**How measured.** `benchmarks/memory.py`, same fresh-interpreter layout and moto "
        "server as above. In one process the function first answers a batch of "
        f"{BATCH} (the cold invocation, reported but not in the ratio); then, in pairs, a "
        "batch as a warm container gets it when its previous invocation was more than a "
        "minute ago (the shop cache, one minute, is emptied with `shops.forget()`; clients, "
        "the PynamoDB connection of `store/bind.connection()`, settings and templates stay, "
        "as they do for a container's life), and at once the same work on fresh orders with "
        "everything warm. Worker: `orders/create` events of new orders (each opens a case). "
        "Sender: step-1 reminder jobs (email) the scheduler queued for new cases. Per process "
        "the ratio is the median warm time per event over the median all-cached time; "
        "the figure is the median over the processes. The harness checks every batch applied "
        "all its events, and counts the botocore clients made after the first batch (a "
        "client per transaction or per batch would show here).\n"
    )
    add("| Function | Work | Ratio | Goal | Warm | All cached | Cold first batch |")
    add("|---|---|---:|---|---:|---:|---:|")
    for t in result.timings:
        add(
            f"| {t.function} | {t.work} | **{t.ratio:.2f}** | ≤ {GOAL_RATIO}: {_verdict(t.met)} | "
            f"{t.warm_ms:.1f} ms | {t.cached_ms:.1f} ms | {t.cold_ms:.1f} ms |"
        )
    add("")
    for t in result.timings:
        add(f"{t.function}, per round (one fresh process each):\n")
        out.extend(_timing_table(t))
        add("")
    add("**What it means.**\n")
    add(
        "- What is cached in production: clients and the PynamoDB connection for the "
        "container's life, settings likewise, the shop item for a minute. What is not: the "
        "case, the policies and velocity reads, which are read for each event. So the warm "
        "batch pays only the shop read (one per batch, not per event) over the all-cached one."
    )
    add(
        "- The cold first batch is much slower per event: imports, client creation and the "
        "first connection; it is what a new container pays once."
    )
    add(
        "- **Why it can fail**: anything built per invocation or per event instead of per "
        "container (a client, a connection, a parsed template, a settings read), or a cache "
        "keyed so that new orders miss it. On this shared two-core machine a ratio near the "
        "goal can also be noise: look at the per-round figures.\n"
    )
    return out
