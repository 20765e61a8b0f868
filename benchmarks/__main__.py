"""`python -m benchmarks` (`make bench`): measure, print, and rewrite docs/performance.md.

The timed figures (fresh-interpreter probes, then the fraud scoring time in this process)
run alone. The call counts need no quiet machine, so the scheduler-reads benchmark, which
spends most of its time loading ten thousand items into moto, runs in a second process
beside the AWS-call, lifecycle and velocity-read counts (this machine has two cores);
`--serial` runs it in this process instead.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor

from benchmarks import (
    aws_calls,
    cold_delivery,
    fraud,
    fresh,
    import_time,
    lifecycle,
    report,
    scheduler_reads,
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
    args = parser.parse_args(argv)
    started = time.perf_counter()

    deliveries = Deliveries()
    _progress("starting moto's server for the cold-delivery probes")
    with cold_delivery.emulator() as emu:
        probes = import_time.probes() + cold_delivery.probes(emu, deliveries)
        _progress(f"{len(probes)} fresh-interpreter probes, {args.rounds} rounds")
        samples = fresh.interleave(probes, args.rounds, _progress)
        cold = cold_delivery.summarise(samples)
    _progress("import breakdown (-X importtime)")
    imports = import_time.summarise(samples, probes)
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
        sizes = " then ".join(f"{h:,}" for h in fraud.HISTORY)
        _progress(f"fraud velocity reads: one screening, {sizes} failed payments in history")
        fraud_reads = fraud.velocity_reads(deliveries)
        if pending is None:
            _progress(f"scheduler reads ({reads_scale})")
            reads = scheduler_reads.run(deliveries, _progress)
        else:
            _progress("waiting for the scheduler reads")
            reads = pending.result()
    # Timed in this process, so only once the second process is done.
    _progress(f"fraud scoring time: best of {fraud.ROUNDS} rounds, in this process")
    fraud_time = fraud.scoring_time(deliveries, fraud_reads.runs[-1].counts)

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
    )
    print(report.text(results))
    if not args.no_write:
        path = report.write(results)
        print(f"\nwrote {path.relative_to(fresh.ROOT)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
