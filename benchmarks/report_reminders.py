"""The reminder benchmarks' figures (scheduler reads, lifecycle calls) as text and markdown;
`report` puts them in the terminal output and docs/performance.md."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from benchmarks import lifecycle as life_bench
from benchmarks import scheduler_reads as reads_bench
from benchmarks.lifecycle import LifecycleResult, RoleResult
from benchmarks.scheduler_reads import Drain, ReadsRun, SchedulerReadsResult

# The minimum reads every shard of the due index once a run; what a run reads beyond that.
_SWEEP = (
    "a run at least an hour after the last sweep pass (here every run: they are days apart) "
    "sweeps once more each shard whose pass has a range, for entries left behind its cursor "
    "(`services.scheduling._Run.sweep`): a safety net, empty in normal operation, at most "
    "one Query per shard an hour, not per case. The forward pass's Query of each of the "
    "{shards} shards is in the minimum"
)
# Why a call is above the minimum, by function and call (operation and what it touched);
# {shards} is the due index's shard count.
WHY: Mapping[tuple[str, str], str] = {
    ("scheduler", f"dynamodb.Query ({life_bench.DUE_EMPTY})"): _SWEEP,
    ("scheduler", f"dynamodb.Query ({life_bench.DUE_WITH})"): _SWEEP,
    ("scheduler", f"dynamodb.PutItem ({life_bench.CURSORS})"): (
        "a run with nothing due whose sweep pass begins or ends moves the sweep's positions "
        "in the cursor item: one write for such a run, at most one an hour (a run that "
        "queued steps writes its cursors once, in the minimum)"
    ),
    ("scheduler", f"dynamodb.GetItem ({life_bench.CURSORS})"): (
        "every run reads its cursors, whether anything is due or not"
    ),
    ("sender", "dynamodb.UpdateItem (global contact)"): (
        "after an SMS is recorded, the sender notes which shop last texted the number "
        "(`contacts.update(GLOBAL, ...)`, for HELP replies): once per SMS, after the "
        "record's transaction and best-effort, so it can never cause a second SMS"
    ),
}


def _why(who: str, label: str, shards: int) -> str:
    text = WHY.get((who, label), "not explained here: see the tables above")
    return text.format(shards=shards, empty=shards - 1)


def _ops(ops: Mapping[str, int]) -> str:
    return ", ".join(f"{op} ×{n}" for op, n in ops.items()) or "none"


def _verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT met"


def _n(value: int) -> str:
    return f"{value:,}"


# ---------------------------------------------------------------------------- terminal
def text_lines(reads: SchedulerReadsResult, life: LifecycleResult) -> list[str]:
    lines = [
        "",
        f"3. Scheduler reads per due case (goal <= {reads_bench.GOAL}), one queue_due run:",
    ]
    for r in reads.runs:
        lines.append(
            f"   {_n(r.due)} due + {_n(r.later):>6} later: {r.queries} Queries "
            f"({r.shards_with_due}/{r.shards} shards hold a due case), {r.scanned} items read, "
            f"{r.returned} returned, {r.per_due:.2f} read per due case, {r.queued} jobs "
            f"queued  goal {_verdict(r.per_due, reads_bench.GOAL)}; {_ops(r.operations)}"
        )
    lines.append(f"   items read, full table / 10x fewer later cases: {reads.growth:.2f}")
    for d in reads.drains:
        lines.append(
            f"   drain, {_n(d.due)} due at once: first run queued {_n(d.first.queued)} "
            f"({d.per_run:.2f} of the due) with {d.first.queries} Queries in "
            f"{d.first.seconds:.0f} s; {len(d.runs)} runs to finish; {_n(d.on_queue)} jobs "
            f"on the queue (each once)"
        )
    lines += [
        "",
        f"4. AWS calls for a case's lifecycle / the design's minimum (goal <= {life_bench.GOAL}): "
        f"{life.calls} / {life.minimum} = {life.ratio:.2f}  goal "
        f"{_verdict(life.ratio, life_bench.GOAL)}",
    ]
    for role in life.roles:
        lines.append(
            f"   {role.role:<18} {role.calls:3d} calls (minimum {role.minimum:2d}); "
            f"above it: {_ops(role.excess)}"
        )
    lines.append(
        f"   idle scheduler runs (outside the ratio): {life.idle_runs} runs, "
        f"{_ops(life.idle_operations)} ({life.idle_queries / life.idle_runs:.0f} Queries each)"
    )
    lines.append("   sent: " + "; ".join(life.messages))
    return lines


# ---------------------------------------------------------------------------- markdown
def summary_rows(reads: SchedulerReadsResult, life: LifecycleResult) -> list[str]:
    rows = []
    for r in reversed(reads.runs):
        rows.append(
            f"| Scheduler: items read per due case, {_n(r.due)} due among {_n(r.later)} "
            f"scheduled later | {r.per_due:.2f} | due cases ({r.queued} jobs queued) | "
            f"≤ {reads_bench.GOAL}: {_verdict(r.per_due, reads_bench.GOAL)} |"
        )
    small, full = reads.runs[0], reads.runs[-1]
    rows.append(
        f"| Scheduler: items read with {_n(full.later)} later cases / with {_n(small.later)} | "
        f"{reads.growth:.2f} | same due cases, 10× fewer later | reported |"
    )
    for d in reads.drains:
        rows.append(
            f"| Scheduler: steps queued in one run with {_n(d.due)} due (budget "
            f"{d.budget:.0f} s) | {d.per_run:.2f} | due steps ({_n(d.first.queued)} queued, "
            f"{d.first.queries} Queries; {len(d.runs)} run(s) to finish, none queued twice) | "
            "reported |"
        )
    rows.append(
        f"| AWS calls for a case's lifecycle (opened, {life_bench.REMINDERS} reminders, paid) | "
        f"{life.ratio:.2f} | the design's minimum ({life.minimum} calls) | "
        f"≤ {life_bench.GOAL}: {_verdict(life.ratio, life_bench.GOAL)} |"
    )
    rows.append(
        f"| Idle scheduler run (nothing due): DynamoDB Queries per run, outside the lifecycle "
        f"ratio | {life.idle_queries / life.idle_runs:.2f} | (calls, minimum 0) | reported |"
    )
    return rows


def _reads_row(r: ReadsRun) -> str:
    return (
        f"| {_n(r.due + r.later)} | {_n(r.due)} | {_n(r.later)} | {r.queries} "
        f"({r.shards_with_due} of {r.shards} shards hold a due case) | {r.scanned} | "
        f"{r.returned} | **{r.per_due:.2f}** | {r.queued} | {_ops(r.operations)} |"
    )


def _reads_section(reads: SchedulerReadsResult) -> list[str]:
    small, full = reads.runs[0], reads.runs[-1]
    out = ["## 3. Scheduler reads per due case\n"]
    built = (
        "The first items are built by the store itself: each case is folded from a "
        "normalised Shopify `orders/create` event (`domain.case.apply`, the project's "
        "`order_pending.json` with its own order id), given a scheduled `Dunning` (step 1, "
        "policy version 1) and handed to `store.cases._add_case` on a PynamoDB "
        "`TransactWrite` that is never committed, whose case `Put` (the case doc, `dunning`, "
        "`due_pk`/`due_sk`/`next_step`, version 1 and the rest) is written as it stands. "
    )
    if reads.copied:
        built += (
            "The cases scheduled later are copies of such an item with what differs from case "
            "to case replaced (sort key, case and event id inside the doc, audit head, "
            "dunning, and the due keys through `store.cases.due_shard` and `due_key`); a "
            "sample of copies was checked equal to the store's own items for the same cases "
            "(had they differed, every item would have been built by the store)."
        )
    else:
        built += (
            "Every item was built that way (copies of one item did not match the store's "
            "own, so the faster path was not used)."
        )
    out.append(
        "**How measured.** The local stack in-process (`recoup_local.stack.in_process()`, "
        "moto's `mock_aws`) with the demo shop installed. "
        f"{small.due} cases whose first reminder is due (0 to {small.due - 1} minutes before "
        f"the scheduler's time) and {_n(full.later)} scheduled later (5 minutes to 30 days "
        "after it) are written straight into the table with BatchWriteItem, 25 at a time, "
        "instead of through webhooks and the worker (which would take many minutes on moto). "
        f"{built} Audit entries are not written: they live under other keys, outside the due "
        "index. Then `recoup.services.scheduling.queue_due(now)` runs, as the scheduler "
        "function calls it, as a first run (its cursor item removed before each "
        "measurement), with `botocore.client.BaseClient._make_api_call` wrapped: it "
        "counts the DynamoDB Query calls on the `due` index and sums their responses' "
        "ScannedCount (items read) and Count (items returned), and the jobs queued. That is "
        f"done first with {_n(small.later)} cases scheduled later, then, on the same table, "
        f"after writing the other {_n(full.later - small.later)}. The ratio is items read "
        "over due cases. moto's ScannedCount for a Query counts the items that matched the "
        "key condition, before any filter, as DynamoDB's does (there is no filter here)"
        + (
            "; each shard took one Query (one page)."
            if all(r.queries == r.shards for r in reads.runs)
            else "; some shards took more than one Query (pages)."
        )
        + "\n"
    )
    out.append(
        "| Items in the index | Due | Scheduled later | Queries | Items read (ScannedCount) | "
        "Returned (Count) | Read per due case | Jobs queued | All calls |"
    )
    out.append("|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for r in reads.runs:
        out.append(_reads_row(r))
    out.append("")
    out.append("**What it means.**\n")
    exact = all(r.scanned == r.due for r in reads.runs)
    out.append(
        f"- A scheduler run reads {'exactly the due items' if exact else 'the items above'}: "
        f"{full.per_due:.2f} per due case with {_n(full.later)} cases scheduled later, "
        f"{small.per_due:.2f} with {_n(small.later)} (goal ≤ {reads_bench.GOAL}: "
        f"{_verdict(max(r.per_due for r in reads.runs), reads_bench.GOAL)}). Ten times more "
        f"cases in the table changed the items read by a factor of {reads.growth:.2f}: the "
        "key condition (`due_sk` between the shard's cursor and now) ends each shard's Query "
        "at the first step not yet due, "
        "so a run's reads follow the due steps, not the table. A Scan would read every item "
        f"of the table on every run ({_n(full.due + full.later)}+ here)."
    )
    out.append(
        f"- The Queries are one per shard ({full.shards}), whatever is due: here all "
        f"{full.shards_with_due} shards held due cases, so none was wasted. With few due "
        "cases most of them come back empty; section 4 shows what that costs a single case."
    )
    out.append(
        f"- {full.queued} jobs were queued per run, one per due case (as required), in "
        f"{full.operations.get('sqs.SendMessageBatch', 0)} SendMessageBatch calls of up to ten."
    )
    out.append(
        "- moto is not DynamoDB: it answers a Query by going through the whole table in "
        "Python (which is why loading and querying take seconds here), but the counts it "
        "answers with are DynamoDB's, and they are what this figure is about.\n"
    )
    return out


def _role_row(role: RoleResult) -> str:
    ratio = f"{role.calls / role.minimum:.2f}" if role.minimum else "n/a"
    return f"| {role.role} | {role.calls} | {role.minimum} | {ratio} | {_ops(role.excess)} |"


def _matrix(life: LifecycleResult) -> list[str]:
    roles = [r.role for r in life.roles]
    totals: Counter[str] = Counter()
    by_role: dict[str, Mapping[str, int]] = {}
    for role in life.roles:
        by_role[role.role] = role.operations
        totals.update(role.operations)
    out = ["| Call (what it touched) | " + " | ".join(roles) + " | all |"]
    out.append("|---|" + "---:|" * (len(roles) + 1))
    for label in sorted(totals):
        cells = [str(by_role[r].get(label, "")) for r in roles]
        out.append(f"| {label} | " + " | ".join(cells) + f" | {totals[label]} |")
    cells = [str(sum(by_role[r].values())) for r in roles]
    out.append("| **all** | " + " | ".join(cells) + f" | **{life.calls}** |")
    return out


def _lifecycle_section(life: LifecycleResult, shards: int) -> list[str]:
    out = ["## 4. AWS calls for a case's whole lifecycle\n"]
    out.append(
        "**How measured.** The local stack in-process (moto's `mock_aws`), the demo shop "
        f"installed with `shops.install(SHOP, stripe_account=..., timezone="
        f'"{life_bench.SHOP_TIMEZONE}")`, no stored policy (so the default one: step 1 a day '
        "after the order, step 2 three days after step 1, step 3 four days after step 2, "
        "quiet hours 21:00-08:00 where the customer is), no stored fraud settings (so the "
        "default rules), secrets from the environment (the local stack's setting). One order "
        "(the project's `order_pending.json`; the customer is in Portland, Oregon) goes "
        "through the steps below; the worker screens it for fraud when it opens "
        "(`services.screening.screen`), and the run stops unless that lets its reminders "
        "run. The webhooks go through "
        "`local.lambdas.invoke_http` and the worker through `local.lambdas.drain()`; for each "
        "reminder the clock (`recoup.clock.use`, the sender's) and the scheduler's EventBridge "
        "time are set to the first five-minute slot at or after the step's due time that is "
        "outside the customer's quiet hours, then `local.lambdas.run_schedules(t)` fires the "
        "scheduler and `drain()` runs the sender. Every botocore call "
        "(`BaseClient._make_api_call`) is counted by service and operation, with the item or "
        "index it touched read from its request, and attributed to the function whose handler "
        "made it; the harness's own calls (installing the shop, the poller's ReceiveMessage "
        "and DeleteMessage, which an event source mapping makes in the cloud, reading the case "
        "back to pick the times) are left out. All the functions run in the benchmark's one "
        "process, where the shop item one function cached (`store.shops`, for a minute) would "
        "serve the next; deployed, each function has containers of its own and the steps are "
        "days apart, so the cache is emptied whenever another function, or the same one in a "
        "later step, is invoked. The run checks that each reminder run queued "
        "one job and sent it, that the payment stopped the sequence, and that the emulator "
        "sent exactly three messages.\n"
    )
    out.append("| Step | Clock (UTC) | What happened |")
    out.append("|---|---|---|")
    for step in life.steps:
        out.append(f"| {step.phase} | {step.at:%Y-%m-%d %H:%M} | {step.detail} |")
    out.append("")
    out.append(
        "**The minimum the design needs**, derived in code from what happened (how many "
        "deliveries were accepted, events applied, cases opened, fraud scorings made and the "
        "identities each case named when scored (`store.velocity.Identities`: email, card, "
        "IP, shipping address), jobs queued and from which due-index shards, reminders "
        "sent), by these rules:\n"
    )
    out.append("| Per | Function | Minimum calls | Times | Minimum |")
    out.append("|---|---|---|---:|---:|")
    for rule in life.rules:
        out.append(f"| {rule.what} | {rule.role} | {rule.calls} | {rule.times} | {rule.minimum} |")
    out.append(f"| **all** | | | | **{life.minimum}** |")
    out.append("")
    out.append(
        "Each function's calls are matched against its share of the minimum; the calls left "
        "over are above it.\n"
    )
    out.append("| Function | AWS calls | Minimum | Ratio | Above the minimum |")
    out.append("|---|---:|---:|---:|---|")
    for role in life.roles:
        out.append(_role_row(role))
    out.append(
        f"| **lifecycle** | **{life.calls}** | **{life.minimum}** | **{life.ratio:.2f}** | "
        f"{life.calls - life.minimum} calls |"
    )
    out.append("")
    out.append("Every call, by service.operation and what it touched, and by function:\n")
    out.extend(_matrix(life))
    out.append("")
    missing = [f"{r.role}: {', '.join(r.missing)}" for r in life.roles if r.missing]
    if missing:
        out.append(
            "Minimum calls that were **not** made (the design's minimum is then wrong, or a "
            "step was skipped): " + "; ".join(missing) + "\n"
        )
    out.append(
        f"**Idle scheduler runs**, counted apart and left out of the ratio: after the "
        f"payment, {life.idle_runs} scheduler runs (at step 4's due time, then a day, a week "
        f"and a month later) queued nothing and sent nothing, and made "
        f"{_ops(life.idle_operations)}: idle scheduler runs cost "
        f"{life.idle_queries / life.idle_runs:.0f} Queries each.\n"
    )
    out.append("**What it means.**\n")
    verdict = _verdict(life.ratio, life_bench.GOAL)
    out.append(
        f"- The lifecycle made {life.calls} AWS calls where the design needs {life.minimum}: "
        f"**{life.ratio:.2f}×** the minimum (goal ≤ {life_bench.GOAL}: {verdict})."
    )
    excess = [(role.role, label, n) for role in life.roles for label, n in role.excess.items()]
    excess.sort(key=lambda item: -item[2])
    if excess:
        out.append(
            f"- The {life.calls - life.minimum} calls above the minimum, largest first "
            "(in brackets, the lifecycle's ratio without them):"
        )
        for who, label, n in excess:
            why = _why(who, label, shards)
            without = (life.calls - n) / life.minimum
            out.append(f"  - {who}, {label} ×{n} ({without:.2f}): {why}.")
        if life.ratio > life_bench.GOAL:
            allowed = math.floor(life_bench.GOAL * life.minimum)
            needed = life.calls - allowed
            total, largest = 0, []
            for who, label, n in excess:
                total += n
                largest.append(f"{who}'s {label}")
                if total >= needed:
                    break
            after = (life.calls - total) / life.minimum
            out.append(
                f"- To meet the goal the lifecycle may make at most {allowed} calls, {needed} "
                "fewer. "
                + (
                    f"Removing the largest share alone ({largest[0]}) would do it: {after:.2f}."
                    if len(largest) == 1
                    else f"It takes removing all of: {'; '.join(largest)} ({after:.2f})."
                )
            )
    out.append(
        f"- Idle scheduler runs are a fixed cost: {life.idle_queries / life.idle_runs:.0f} "
        "Queries every five minutes (template.yaml's `rate(5 minutes)`), "
        f"{_n(int(life.idle_queries / life.idle_runs * 12 * 24))} a day, whether any case "
        "is open or not."
    )
    out.append(
        "- Deployed, a few more calls come on top, per container and not per case: with "
        "secrets in SSM (template.yaml) each webhook function reads its signing secret, and "
        "the sender the link-signing secret and the platform Stripe key (`GetParameter`, "
        "cached for 300 s by Powertools; section 2). With a platform "
        "Stripe key configured the sender also creates a Checkout Session per reminder for "
        "the pay link: a Stripe API call, not AWS, so not counted here (this run had no key, "
        "so the links are the order's own Shopify payment page).\n"
    )
    return out


def sections(reads: SchedulerReadsResult, life: LifecycleResult) -> list[str]:
    return [
        *_reads_section(reads),
        *_drain_section(reads.drains),
        *_lifecycle_section(life, reads.runs[0].shards),
    ]


def _drain_section(drains: Sequence[Drain]) -> list[str]:
    if not drains:
        return []
    budget = drains[0].budget
    out = ["## 3b. Scheduler: steps queued per run\n"]
    out.append(
        "**How measured.** For each size, a fresh local stack in-process (moto's `mock_aws`), "
        "the demo shop installed, and that many cases whose first reminder is due (0 s to "
        "the size in seconds before the scheduler's time), built and written as in section "
        "3, nothing scheduled later. Then `recoup.services.scheduling.queue_due` runs as the "
        "scheduler function calls it, each run with the function's time budget: "
        f"`SchedulerFunction`'s Timeout ({reads_bench.FUNCTION_TIMEOUT:.0f} s) less the margin "
        f"the run keeps (so it stops starting pages after {budget:.0f} s), on the wall clock. "
        "Runs follow each other, five minutes apart in the scheduler's time, until one "
        "finishes. Each run's jobs, due index Queries, reported backlog and seconds are "
        "recorded; at the end the reminder queue's ApproximateNumberOfMessages must equal "
        "the due cases (one job each: none lost, none twice), else the benchmark fails. "
        "moto recomputes every attribute of a queue on each SendMessage by walking all its "
        "messages, so n sends cost it n²/2 steps (2,000 jobs took 95 s, nearly all there); "
        "nothing receives or delays a message during the drain, so the three "
        "ApproximateNumberOf... counts are fixed to what they are (the list's length, 0, 0) "
        "while the scheduler runs, and the real count is read for the check.\n"
    )
    out.append(
        "| Due at once | Run | Jobs queued | Queued / due | Queries | Backlog left | Seconds |"
    )
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for d in drains:
        for number, r in enumerate(d.runs, start=1):
            out.append(
                f"| {_n(d.due)} | {number} | {_n(r.queued)} | {r.queued / d.due:.2f} | "
                f"{r.queries} | {_n(r.backlog)} | {r.seconds:.1f} |"
            )
    out.append("")
    out.append("**What it means.**\n")
    for d in drains:
        out.append(
            f"- {_n(d.due)} due: the first run queued {_n(d.first.queued)} "
            f"({d.per_run:.2f} of them) with {d.first.queries} Queries; "
            f"{len(d.runs)} run(s) queued all {_n(d.on_queue)}, each once "
            f"({d.per_second:,.0f} jobs a second here)."
        )
    out.append(
        "- No cap: a run reads a page (500 entries) per shard in turn and keeps going while "
        "it has time; a run out of time reports the backlog and the next resumes after the "
        "last entry queued, so a second run never queues what the first did."
    )
    out.append(
        "- What could make it fail: the pace here is the emulator's (each SendMessageBatch "
        "and Query is parsed and checksummed in Python, on a shared machine); in AWS a "
        "SendMessageBatch takes tens of milliseconds and 20,000 jobs need about 2,000 calls, "
        "within one run's budget, but the calls are sequential, so a slower SQS (a Region "
        "under load, retries) or a function with less CPU lowers jobs per run. A throttled or "
        "failing SQS slows a run (retries) and hands more to the next; more than a run's "
        "worth due every five minutes would keep a backlog (`SchedulerBacklog` > 0, its "
        "alarm after three runs); then raise the Timeout (under five minutes) or send "
        "batches concurrently.\n"
    )
    return out
