"""The peak-memory and warm-vs-cached benchmarks (benchmarks/memory.py) measure what they
claim: the RSS probe sees memory the child really holds, and the timing harness runs the
worker's handler over real queued events and counts what it applied. Against the source
tree (a built layer takes a pip install; `make bench` uses one)."""

from __future__ import annotations

from benchmarks import memory, report_memory
from benchmarks.payloads import Deliveries


def test_the_rss_probe_reports_fifty_more_megabytes_when_the_child_holds_them() -> None:
    # Given the same fresh interpreter twice, the second holding 50 MB more (written, so
    # the pages are resident)
    layout = memory.source_layout()
    base = memory.run_child(layout, "event_worker", {}, memory.rss_script(None))["facts"]
    more = memory.run_child(
        layout, "event_worker", {}, memory.rss_script(None, extra="_blob = b'x' * (50 << 20)")
    )["facts"]
    # Then its high-water mark is about 50 MB higher
    grown = (more["VmHWM"] - base["VmHWM"]) / 1024
    assert 48 <= grown <= 56, grown


def test_the_timing_harness_applies_every_event_of_every_batch() -> None:
    # Given the local stack on moto's server with the demo shop installed
    with memory.stack(Deliveries()) as st:
        # When the worker's timing runs one process: a first batch, then a warm/cached pair
        timing = memory.worker_timing(memory.source_layout(), st, rounds=1, pairs=1, batch=2)
    (round_,) = timing.rounds
    # Then every batch applied both its events (the handler ran; none failed)
    assert list(round_.processed) == [2, 2, 2]
    # and each timed batch was timed, the cold one slower than the cached one
    assert len(round_.warm) == len(round_.cached) == 1
    assert round_.cold > round_.cached[0] > 0
    assert timing.ratio > 0
    # and no client was made after the first batch (one per container)
    assert round_.clients_timed == 0
    # and the report has a row for it
    rows = report_memory.summary_rows(memory.Result(memory=_no_memory(), timings=[timing]))
    assert any("event_worker" in row for row in rows)


def _no_memory() -> memory.MemoryResult:
    return memory.MemoryResult(peaks=(), bare_mb=0.0, packages={}, built=False, python="")
