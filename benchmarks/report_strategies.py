"""The strategy matching and what-if figures as text and markdown; `report` puts them in the
terminal output and docs/performance.md (the whole file, or only this section and its
Summary rows with `python -m benchmarks --only strategies`)."""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks import strategies as bench
from benchmarks.strategies import MatchingResult, StrategiesResult, WhatIfResult, WhatIfSize

HEADING = "## 5b. Strategy matching and the what-if"
# Every Summary row of this section starts with one of these (`--only` replaces them).
ROW_PREFIXES = ("| Strategy matching", "| What-if")
# Lambda gives a function one vCPU at 1,769 MB, in proportion below that.
FULL_VCPU_MB = 1_769


def _us(ns: float) -> str:
    return f"{ns / 1000:,.0f} µs"


def _s(ns: float) -> str:
    return f"{ns / 1e9:,.1f} s"


def _batch_time(ns: float) -> str:
    return f"{ns / 1e9:,.2f} s" if ns >= 1e9 else f"{ns / 1e6:,.1f} ms"


def _n(value: int) -> str:
    return f"{value:,}"


def _under(ratio: float) -> str:
    return "met" if ratio < 1 else "NOT met"


def _linear(ratio: float) -> str:
    return "met" if ratio <= bench.GROWTH_GOAL else "NOT met"


def _counts(counts: Mapping[str, int]) -> str:
    return "; ".join(f"{what}: {_n(n)}" for what, n in counts.items()) or "none"


def _place(country: str, province: str | None, currency: str) -> str:
    return f"{country}-{province} {currency}" if province else f"{country} {currency}"


def cap_ns(planned: WhatIfResult) -> float:
    """The CPU time of a preview's pure part at the service's cap, at the largest size's CPU
    time per case."""
    return planned.sizes[-1].per_case_cpu_ns * planned.service_cap


def lambda_share(planned: WhatIfResult) -> float:
    """The share of one vCPU the admin API function gets at its memory size."""
    return min(1.0, planned.admin_memory_mb / FULL_VCPU_MB)


# ---------------------------------------------------------------------------- terminal
def text_lines(result: StrategiesResult) -> list[str]:
    matching, planned = result.matching, result.whatif
    worst = matching.worst
    lines = [
        "",
        f"5b. Strategy matching per case (goal < 1x json.loads of the order, CPU time), best "
        f"of {matching.rounds} rounds:",
        f"   facts_of + choose, {len(matching.cases)} cases, {matching.strategies} strategies "
        f"(mean {matching.mean_tried:.1f} tried): CPU {_us(matching.per_case_cpu_ns)} per case "
        f"= {matching.to_parse:.2f}x json.loads ({_us(matching.parse_cpu_ns)})  goal "
        f"{_under(matching.to_parse)}; wall clock {_us(matching.per_case_ns)} = "
        f"{matching.wall_to_parse:.2f}x",
        f"   worst case, the default after all {matching.strategies} missed ({worst.label}): "
        f"CPU {_us(worst.cpu_ns)} = {matching.worst_to_parse:.2f}x  goal "
        f"{_under(matching.worst_to_parse)}",
        f"   what-if, plan + summary per case, best of {planned.rounds} rounds:",
    ]
    for size in planned.sizes:
        lines.append(
            f"   {_n(size.cases):>7} cases: {_us(size.per_case_ns)} per case "
            f"(CPU {_us(size.per_case_cpu_ns)}) "
            f"(plans {_batch_time(size.plan_ns)}, summary {_batch_time(size.summary_ns)} "
            "per batch) = "
            f"{planned.to_parse(size):.2f}x json.loads"
        )
    lines.append(
        f"   CPU per case, {_n(planned.sizes[-1].cases)} / {_n(planned.sizes[0].cases)} "
        f"cases: {planned.growth:.2f}  goal <= {bench.GROWTH_GOAL} {_linear(planned.growth)} "
        f"(wall clock {planned.wall_growth:.2f})"
    )
    lines.append(
        f"   run: {result.python}, nproc {result.nproc}, load average "
        f"{result.load[0]:.1f} before, {result.load[1]:.1f} after"
    )
    return lines


# ---------------------------------------------------------------------------- markdown
def summary_rows(result: StrategiesResult) -> list[str]:
    matching, planned = result.matching, result.whatif
    parse = (
        f"`json.loads` of the Shopify order ({_n(matching.parse_bytes)} bytes), CPU time, same run"
    )
    small, large = planned.sizes[0], planned.sizes[-1]
    return [
        f"| Strategy matching, CPU time per case (`facts_of` + `choose`), "
        f"{len(matching.cases)} cases, {matching.strategies} strategies | "
        f"{matching.to_parse:.2f} | {parse} | < 1: "
        f"{_under(matching.to_parse)} |",
        f"| Strategy matching, worst case (the default after all {matching.strategies} miss) "
        f"| {matching.worst_to_parse:.2f} | {parse} | < 1: {_under(matching.worst_to_parse)} |",
        f"| What-if CPU time per case (`plan_case` + `summarise`), {_n(large.cases)} / "
        f"{_n(small.cases)} cases | {planned.growth:.2f} | the same per case at "
        f"{_n(small.cases)} cases | ≤ {bench.GROWTH_GOAL}: {_linear(planned.growth)} |",
        f"| What-if CPU time per case at {_n(large.cases)} cases | "
        f"{planned.to_parse(large):.2f} | "
        f"{parse} | reported |",
    ]


def _matching_table(matching: MatchingResult) -> list[str]:
    out = [
        "| Case | Taken by | Strategies tried | Arm | CPU time | Ratio to `json.loads` (CPU, "
        "goal < 1) | Wall clock | Ratio (wall clock) |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    worst = matching.worst
    for case in matching.cases:
        label = f"**{case.label}** (worst)" if case is worst else case.label
        out.append(
            f"| {label} | {case.strategy} | {case.tried} | {case.arm or '–'} | "
            f"{_us(case.cpu_ns)} | {case.cpu_ns / matching.parse_cpu_ns:.2f} | "
            f"{_us(case.ns)} | {case.ns / matching.parse_ns:.2f} |"
        )
    out.append(
        f"| mean of the {len(matching.cases)} cases | | {matching.mean_tried:.1f} | | "
        f"{_us(matching.per_case_cpu_ns)} | **{matching.to_parse:.2f}** | "
        f"{_us(matching.per_case_ns)} | {matching.wall_to_parse:.2f} |"
    )
    out.append(
        f"| `json.loads` of the Shopify order's body ({_n(matching.parse_bytes)} bytes) | | | | "
        f"{_us(matching.parse_cpu_ns)} | 1.00 | {_us(matching.parse_ns)} | 1.00 |"
    )
    return out


def _whatif_row(planned: WhatIfResult, size: WhatIfSize) -> str:
    base = planned.sizes[0]
    return (
        f"| {_n(size.cases)} | {size.repeats} | {_batch_time(size.plan_ns)} | "
        f"{_batch_time(size.summary_ns)} | {_us(size.per_case_ns)} | "
        f"{_us(size.per_case_cpu_ns)} | **{size.per_case_cpu_ns / base.per_case_cpu_ns:.2f}** | "
        f"{size.per_case_ns / base.per_case_ns:.2f} | {planned.to_parse(size):.2f} | "
        f"{_n(size.gone)} / {_n(size.to_come)} |"
    )


def _how_matching(result: StrategiesResult) -> str:
    matching = result.matching
    return (
        "**How measured: strategy matching.** In the benchmark process, pure CPU, nothing "
        "read. The policy holds the most strategies "
        f"a shop may set ({matching.strategies}, `strategies.MAX_STRATEGIES`), parsed from its "
        "JSON as the admin saves it (`benchmarks/strategies.py`, `policy_document`), the "
        "narrow ones first: " + "; ".join(matching.names) + ". The last one, soft card "
        "declines, runs an experiment of three arms (45 / 45 / 10, the last the holdout). "
        "Each case "
        "is built as the worker builds it: the project's Shopify order (`order_pending.json`) "
        "with its gateways, country, currency and amount, payment terms or the customer's "
        "earlier orders changed, normalised by `integrations.shopify`; for a card order with "
        "a decline, the project's Stripe payment failure "
        "(`payment_intent.payment_failed.json`) with that decline code, normalised by "
        "`integrations.stripe` and folded into the same case. The timed work is what the "
        "worker and the what-if run per case: `case_facts.facts_of(case, risk)` then "
        "`strategies.choose(policy, facts, shop, case_id)` (the first strategy whose "
        "conditions hold, the default last, the reason in words, the arm by SHA-256 when the "
        f"strategy runs an experiment), {matching.repeats} times in a row per span, timed "
        "twice: by the wall clock (`time.perf_counter_ns`) and by the CPU time the process "
        "spent (`time.process_time_ns`). "
        f"{matching.rounds} rounds after one that warms up and is not counted; each case's "
        "figure is its best round, the mean is over the cases' best. The yardstick, in the "
        "same rounds and timed the same two ways: `json.loads` of the Shopify order's body, "
        "the bytes the webhook receives (as in section 5). The ratios that judge the goals "
        "are of CPU time: on a shared machine the wall clock also counts the turns other "
        "work had the core, and on a quiet machine the two agree. The goal: matching a case "
        "costs less than parsing its order (ratio < 1), so it never matters next to the work "
        "of the webhook that brought it; the worst case is a case every strategy misses, "
        "which walks the whole list and gives the default with all "
        f"{matching.strategies} reasons.\n"
    )


def _how_whatif(result: StrategiesResult) -> str:
    planned = result.whatif
    sizes = " / ".join(_n(s.cases) for s in planned.sizes)
    return (
        f"**How measured: the what-if over {sizes} cases.** In the benchmark process, pure "
        "CPU. The cases are `Case` objects built as `tests/unit/test_whatif_plan.py` builds "
        f"them, opened over the {bench.WHATIF_DAYS} days before the preview's `now` (the "
        "golden-ratio sequence, so every size spreads evenly), cycling through a mix of twenty "
        "(below): card orders with a decline of their own (a soft, an expired, a do-not-honour, "
        "a stolen card, or none), paid an hour after the reminder their kind names when that "
        "was before `now` (else still open), bank transfers, cash on delivery, payment terms "
        "due 30 days after the order or without a due date yet, and one case below the "
        f"policy's minimum; in {len(bench.PLACES)} places ("
        + ", ".join(_place(*place) for place in bench.PLACES)
        + f") and {len(set(bench.WHATIF_RISKS))} fraud levels. The policy is the one above, "
        "with a minimum worth chasing. Per case, the work `services.whatif` does once the "
        "case is read: `timezones.zone_of_customer`, then `whatif.plan_case` (facts, "
        "strategy and arm, each step's time moved out of quiet hours in the customer's zone, "
        "up to the case's payment); then `whatif.summarise` over the batch (per strategy, "
        "step, channel and week). Each span plans and summarises "
        f"{_n(planned.sizes[-1].cases)} cases in all, the smaller batches repeated (the "
        "repeats column), so every size is timed over as much work; the figures are per "
        f"batch. {planned.rounds} rounds after a batch that warms up; each figure is its best "
        "round; garbage collection stays on. Beside the wall-clock time, the CPU time the "
        "process spent on the same work (`time.process_time_ns`): on a shared machine the "
        "wall clock also counts the time other work had the core, so the goals are judged on "
        "the CPU time (on a quiet machine the two agree). The goal: the CPU time per case at "
        f"{_n(planned.sizes[-1].cases)} cases is at most {bench.GROWTH_GOAL}× that at "
        f"{_n(planned.sizes[0].cases)}, i.e. nothing grows with the batch; the time per "
        "case against `json.loads` of the order is given for scale. **Not timed:** what the "
        "service reads first, the shop's opened-date keys of the window (a keys-only Query "
        "per shard of the sixteen, a hundred keys a page) and the cases themselves "
        "(BatchGetItem, a hundred at a time): their counts grow with the cases opened in the "
        "window (a Query per shard and a hundred keys, a BatchGetItem per hundred cases), "
        "and a preview stops at "
        f"{_n(planned.service_cap)} cases (`services.whatif.MAX_CASES`).\n"
    )


def _matching_bullets(matching: MatchingResult) -> list[str]:
    worst, slowest = matching.worst, matching.slowest
    taken = sum(1 for c in matching.cases if c.tried <= matching.strategies // 2)
    return [
        f"- Matching a case takes {_us(matching.per_case_cpu_ns)} of CPU on average over the "
        f"{len(matching.cases)} cases, **{matching.to_parse:.2f}×** parsing the order's JSON "
        f"once (goal < 1: {_under(matching.to_parse)}; by the wall clock "
        f"{_us(matching.per_case_ns)}, {matching.wall_to_parse:.2f}×); "
        f"{matching.mean_tried:.1f} of the "
        f"{matching.strategies + 1} strategies (the default included) were tried on average, "
        f"and {taken} of the cases were taken within the first {matching.strategies // 2}. "
        f"The slowest case, {slowest.label}, took {_us(slowest.cpu_ns)} "
        f"({slowest.cpu_ns / matching.parse_cpu_ns:.2f}×).",
        f"- The worst case, {worst.label}, misses all {matching.strategies} strategies: "
        f"{_us(worst.cpu_ns)}, **{matching.worst_to_parse:.2f}×** the parse (goal < 1: "
        f"{_under(matching.worst_to_parse)}). Every strategy tried costs its conditions' "
        "checks and, when one fails, the reason in words (`Conditions.failure` formats the "
        "values it expected), and the default's reason joins all of them; "
        "`strategies.in_force` also builds (and so validates) the default strategy on every "
        "call, and `facts_of` reads the gateways, the newest decline and the signals anew.",
    ]


def _whatif_bullets(planned: WhatIfResult) -> list[str]:
    small, large = planned.sizes[0], planned.sizes[-1]
    summary_share = large.summary_ns / (large.plan_ns + large.summary_ns)
    cap = cap_ns(planned)
    share = lambda_share(planned)
    return [
        f"- Planning and summarising takes {_us(large.per_case_cpu_ns)} of CPU a case at "
        f"{_n(large.cases)} cases and {_us(small.per_case_cpu_ns)} at {_n(small.cases)}: "
        f"**{planned.growth:.2f}×** (goal ≤ {bench.GROWTH_GOAL}: {_linear(planned.growth)}; "
        f"by the wall clock {_us(large.per_case_ns)} and {_us(small.per_case_ns)}, "
        f"{planned.wall_growth:.2f}×). "
        f"The summary is {summary_share:.0%} of it at {_n(large.cases)}; the rest is the "
        f"plans. A case costs {planned.to_parse(large):.2f}× parsing the order's JSON (CPU "
        "time): "
        "`plan_case` matches the case as above, then `strategies.cadence_for` gives the "
        "strategy's steps as a policy (a `dataclasses.replace` of the whole policy, which "
        "validates it again, currencies of its minimums included) and each step is moved "
        "out of quiet hours in the customer's zone.",
        f"- The largest batch's mix: {_counts(planned.mix)}. What its summary counted: "
        f"{_counts(planned.outcome)}. Cases per strategy: {_counts(planned.by_strategy)}.",
        f"- For scale: at this run's CPU time per case at {_n(large.cases)} cases "
        f"({_us(large.per_case_cpu_ns)}; the wall-clock time above is "
        f"{1 / large.cpu_share:.1f}× that, the process having had a core "
        f"{large.cpu_share:.0%} of the time), a preview at the service's cap "
        f"({_n(planned.service_cap)} cases) spends about {_s(cap)} of one core in the "
        f"planner and summary alone, before its reads. The admin API function that serves it "
        f"has a {planned.admin_timeout_s} s timeout and {_n(planned.admin_memory_mb)} MB "
        f"(template.yaml), and Lambda gives {_n(planned.admin_memory_mb)} MB about "
        f"{share:.0%} of a vCPU ({_n(FULL_VCPU_MB)} MB get a whole one), so about "
        f"{_s(cap / share)} there: "
        + (
            "the pure part of the largest preview does not fit in that timeout."
            if cap / share > planned.admin_timeout_s * 1e9
            else "the pure part of the largest preview fits in that timeout."
        ),
    ]


def section(result: StrategiesResult) -> list[str]:
    matching, planned = result.matching, result.whatif
    out = [f"{HEADING}\n"]
    out.append(_how_matching(result))
    out.extend(_matching_table(matching))
    out.append("")
    out.append(_how_whatif(result))
    out.append(
        "| Cases | Batches per span | Plans, per batch | Summary, per batch | Per case | "
        f"CPU per case | CPU, ratio to {_n(planned.sizes[0].cases)} (goal ≤ "
        f"{bench.GROWTH_GOAL}) | Wall clock, ratio to {_n(planned.sizes[0].cases)} | Ratio "
        "to `json.loads` | Messages gone / to come |"
    )
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    out.extend(_whatif_row(planned, size) for size in planned.sizes)
    out.append("")
    out.append(
        f"Run: {result.python}, nproc {result.nproc}; load average (1 min) "
        f"{result.load[0]:.1f} before these timings and {result.load[1]:.1f} after"
        + (
            ": other work shared the cores, so the wall-clock times are high and noisy; the "
            "goals are judged on CPU time."
            if max(result.load) > result.nproc / 2
            else "."
        )
        + "\n"
    )
    out.append("**What it means.**\n")
    out.extend(_matching_bullets(matching))
    out.extend(_whatif_bullets(planned))
    out.append("")
    out.append(
        "**What could make them fail.** Matching: a strategy list longer than the bound "
        f"({matching.strategies}; `check_strategies` refuses more) would lengthen the walk "
        "every case of a miss pays; conditions that grow costly per check, such as "
        "regular expressions over names or addresses, or a lookup per condition rather than "
        "one `facts_of` per case; reasons built in words for every strategy that misses "
        "(they are, today: see the worst case); an experiment's hash computed per strategy "
        "tried rather than once for the strategy that takes the case (it is once, today). "
        "The what-if: reading or planning per message rather than per case (a read per step, "
        "a plan per message), the quiet-hours search walking many days (it tries at most "
        "nine days around the due time, `guardrails.next_allowed`), a summary that compares "
        "plans with each other (it walks them once per strategy listed and once for the steps "
        "and the weeks), and "
        "the policy validated again per case (`cadence_for`), which grows with the policy "
        "rather than the batch. A loaded machine raises every wall-clock time here, which is "
        "why the goals are judged on CPU time; CPU time still moves a little with what shares "
        "the core (its caches, its clock), so a figure near a goal's bound can fall on either "
        "side of it from one run to the next.\n"
    )
    return out
