"""`python -m benchmarks` (`make bench`): measure, print, and rewrite docs/performance.md.

The timed figures (every handler's cold import against the built layer, the cold-delivery
probes, then the fraud scoring time, the strategy matching and the what-if in this process)
run alone. The call counts need no quiet machine, so the scheduler-reads benchmark, which
spends most of its time loading ten thousand items into moto, runs in a second process beside
the AWS-call, lifecycle and velocity-read counts (this machine has two cores); `--serial` runs
it in this process instead.

`--only strategies` measures only the strategy matching and the what-if (a minute or two)
and rewrites only their section of docs/performance.md and their Summary rows, leaving every
other section as the last full run wrote it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor

from benchmarks import (
    aws_calls,
    capacity,
    cold_delivery,
    fraud,
    fresh,
    growth,
    import_time,
    lifecycle,
    local_stack,
    memory,
    report,
    report_strategies,
    scheduler_reads,
    strategies,
)
from benchmarks.payloads import Deliveries

_STARTED = time.perf_counter()


def _progress(message: str) -> None:
    elapsed = time.perf_counter() - _STARTED
    print(f"  .. [{elapsed:4.0f} s] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="fresh-interpreter rounds")
    parser.add_argument("--deliveries", type=int, default=50, help="deliveries of each kind")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--serial", action="store_true", help="run the scheduler reads in this process too"
    )
    parser.add_argument(
        "--local-orders",
        default=",".join(str(n) for n in local_stack.SIZES),
        help="orders for the local stack's throughput, comma-separated ('' skips it)",
    )
    parser.add_argument(
        "--no-growth",
        action="store_true",
        help="skip the items read at 100 / 1,000 / 10,000 cases (a few minutes)",
    )
    parser.add_argument(
        "--no-capacity", action="store_true", help="skip the WCU per order and the ceiling"
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the peak RSS per function and the worker/sender warm-vs-cached time",
    )
    parser.add_argument(
        "--only",
        choices=("strategies",),
        help="measure only these figures and rewrite only their section (and Summary rows)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.only == "strategies":
        return _only_strategies(write=not args.no_write, started=started)

    # First, alone on the machine: every handler's cold import against the built layer.
    _progress("cold imports: building the layer, then every handler with and without bytecode")
    imports = import_time.run(
        rounds=args.rounds, old_rounds=import_time.OLD_ROUNDS, progress=_progress
    )
    deliveries = Deliveries()
    _progress("starting moto's server for the cold-delivery probes")
    with cold_delivery.emulator() as emu:
        probes = import_time.yardstick_probes() + cold_delivery.probes(emu, deliveries)
        _progress(f"{len(probes)} fresh-interpreter probes, {args.rounds} rounds")
        samples = fresh.interleave(probes, args.rounds, _progress)
        cold = cold_delivery.summarise(samples)
    reads_scale = (
        f"{scheduler_reads.N_DUE} due cases among "
        f"{scheduler_reads.N_DUE * scheduler_reads.LATER_PER_DUE} scheduled later"
    )
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        pending: Future[scheduler_reads.SchedulerReadsResult] | None = None
        if not args.serial:
            _progress(f"scheduler reads ({reads_scale}), in a second process")
            pending = pool.submit(scheduler_reads.run, deliveries)
        _progress(f"AWS calls: {args.deliveries} deliveries of each kind, in-process stack")
        calls = aws_calls.run(args.deliveries, deliveries)
        _progress("lifecycle: a case opened, reminded three times, paid; in-process stack")
        life = lifecycle.run(deliveries)
        capacity_result: capacity.CapacityResult | None = None
        if not args.no_capacity:
            _progress("write capacity: WCU per paid and unpaid order, in-process stack")
            capacity_result = capacity.run(deliveries)
        sizes = " / ".join(f"{n:,}" for n in fraud.CARD_TESTING)
        _progress(f"fraud velocity reads: one screening under card testing, {sizes} failures")
        fraud_reads = fraud.velocity_reads(deliveries)
        if pending is None:
            _progress(f"scheduler reads ({reads_scale})")
            reads = scheduler_reads.run(deliveries, _progress)
        else:
            _progress("waiting for the scheduler reads")
            reads = pending.result()
    growth_result: growth.GrowthResult | None = None
    if not args.no_growth:
        sizes = " / ".join(f"{n:,}" for n in growth.SIZES)
        _progress(f"items read per request at {sizes} cases, in-process stack")
        growth_result = growth.run(_progress)
    # Timed in this process, so only once the second process is done.
    _progress(f"fraud scoring time: best of {fraud.ROUNDS} rounds, in this process")
    fraud_time = fraud.scoring_time(deliveries, fraud_reads.runs[-1].counts)
    _progress("strategy matching and the what-if, in this process")
    strategies_result = strategies.run(deliveries, _progress)
    # Rates, so alone on the machine too; in a process of its own (it sets the AWS
    # environment of the process it runs in).
    local: local_stack.LocalStackResult | None = None
    orders = tuple(int(n) for n in args.local_orders.split(",") if n.strip())
    if orders:
        _progress(f"local stack against raw moto calls, {orders} orders, in a second process")
        with ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            local = pool.submit(local_stack.run_in_process, orders).result()

    # Peak RSS and per-event times of fresh processes against the built layer; timed, so
    # alone too; in a process of its own (the local stack sets its AWS environment).
    memory_result: memory.Result | None = None
    if not args.no_memory:
        _progress("peak RSS per function and warm/cached time, built layer, second process")
        with ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            memory_result = pool.submit(memory.run_in_process).result()

    results = report.Results(
        rounds=args.rounds,
        deliveries=args.deliveries,
        payload_sources={
            "Shopify": deliveries.order_source,
            "Stripe": deliveries.event_source,
        },
        imports=imports,
        cold=cold,
        calls=calls,
        reads=reads,
        lifecycle=life,
        fraud_time=fraud_time,
        fraud_reads=fraud_reads,
        reads_in_parallel=not args.serial,
        local_stack=local,
        growth=growth_result,
        capacity=capacity_result,
        memory=memory_result,
        strategies=strategies_result,
    )
    print(report.text(results))
    if not args.no_write:
        path = report.write(results)
        print(f"\nwrote {path.relative_to(fresh.ROOT)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


def _only_strategies(*, write: bool, started: float) -> int:
    """`--only strategies`: the strategy matching and the what-if, printed, and spliced into
    docs/performance.md in place of their section and Summary rows."""
    result = strategies.run(Deliveries(), _progress)
    print("\n".join(report_strategies.text_lines(result)))
    if write:
        path = report.write_strategies(result)
        print(f"\nrewrote the strategies' section of {path.relative_to(fresh.ROOT)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
