"""`python -m benchmarks` (`make bench`): measure, print, and rewrite docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks import aws_calls, cold_delivery, fresh, import_time, report
from benchmarks.payloads import Deliveries


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="fresh-interpreter rounds")
    parser.add_argument("--deliveries", type=int, default=50, help="deliveries of each kind")
    parser.add_argument("--no-write", action="store_true", help="print only")
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
    _progress(f"AWS calls: {args.deliveries} deliveries of each kind, in-process stack")
    calls = aws_calls.run(args.deliveries, deliveries)

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
    )
    print(report.text(results))
    if not args.no_write:
        path = report.write(results)
        print(f"\nwrote {path.relative_to(fresh.ROOT)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
