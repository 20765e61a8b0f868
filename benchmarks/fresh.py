"""Time a span of code in a fresh interpreter, laid out the way Lambda lays out a function.

Each probe is a small script run with `python -c` in a new process. The script reads
`time.perf_counter()` just before and just after the code being measured and prints the
difference, so interpreter start-up, `site` and shutdown are outside the span; the wall time
of the whole process is kept too, for the `python -c pass` cross-check. Probes are run in
interleaved rounds (the order rotates each round) and the best round counts: on a shared
machine the minimum is the run least disturbed by others.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from recoup_local.template import Resolver, load

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "recoup"
FUNCTIONS = ROOT / "functions"
REGION = "us-east-1"
MARK = "@@recoup-bench@@ "
TIMEOUT_SECONDS = 60

# Lambda gives a function its credentials in the environment; without them botocore would
# look for an instance metadata service and the span would time a network timeout.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
}
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class BenchError(RuntimeError):
    """A probe failed or answered something other than what it measures."""


@dataclass(frozen=True)
class Probe:
    """One thing to time. `script(round)` gives the script for a round (so each round can
    send a delivery with its own id)."""

    name: str
    script: Callable[[int], str]
    env: Mapping[str, str]
    cwd: Path
    rounds: int | None = None  # fewer rounds than the run's, for slow, secondary figures


@dataclass(frozen=True)
class Sample:
    span: float  # seconds, inside the process, around the measured code
    wall: float  # seconds, the whole process as the parent saw it
    facts: Mapping[str, Any]  # whatever the script reported after the span


def function_dir(name: str) -> Path:
    return FUNCTIONS / name


@cache
def powertools_env() -> dict[str, str]:
    """The POWERTOOLS_* variables template.yaml's Globals give every function."""
    template = load()
    defaults = {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    resolver = Resolver(parameters=defaults)
    return {
        name: str(resolver.resolve(value))
        for name, value in variables.items()
        if name.startswith("POWERTOOLS_")
    }


def lambda_env(function: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment: the layer's python/ and the function's directory on the path,
    a region, credentials and template.yaml's POWERTOOLS_* settings; nothing else leaks in."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(LAYER), str(function_dir(function))]),
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **powertools_env(),
        }
    )
    env.update(extra or {})
    return env


def span_script(measured: str, *, setup: str = "", after: str = "") -> str:
    """A script that times `measured`. `setup` runs before the span; `after` runs after it
    and may put plain values (literals) in the dict `_facts` to report them."""
    return "\n".join(
        [
            "import sys, time",
            setup,
            "_t0 = time.perf_counter()",
            measured,
            "_t1 = time.perf_counter()",
            "_facts = {}",
            after,
            f"sys.stdout.write({MARK!r} + repr({{'span': _t1 - _t0, 'facts': _facts}}) + '\\n')",
        ]
    )


def run(probe: Probe, round_index: int) -> Sample:
    script = probe.script(round_index)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(probe.env),
        cwd=probe.cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{probe.name}: exit {done.returncode}\n{done.stderr[-3000:]}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK):
            result = ast.literal_eval(line[len(MARK) :])
            return Sample(span=float(result["span"]), wall=wall, facts=result["facts"])
    raise BenchError(f"{probe.name}: no result line\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def interleave(
    probes: Sequence[Probe],
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Sample]]:
    """Run `rounds` rounds of every probe (or the probe's own, smaller number), rotating the
    order each round. No separate warm-up: the best round counts, so a first run that
    compiles bytecode or fills the page cache is discarded like any other slow one."""
    samples: dict[str, list[Sample]] = {probe.name: [] for probe in probes}
    for index in range(rounds):
        shift = index % len(probes)
        for probe in [*probes[shift:], *probes[:shift]]:
            if probe.rounds is None or index < probe.rounds:
                samples[probe.name].append(run(probe, index))
        if progress:
            progress(f"round {index + 1}/{rounds}")
    return samples


def best(samples: Iterable[Sample]) -> Sample:
    """The round with the shortest span."""
    return min(samples, key=lambda sample: sample.span)


def least_wall(samples: Iterable[Sample]) -> float:
    return min(sample.wall for sample in samples)


@dataclass(frozen=True)
class ImportRow:
    own: float  # seconds spent in this module's own body
    cumulative: float  # seconds including the modules it imported first
    depth: int  # 0 for the module asked for, 1 for its direct imports, ...
    name: str


def importtime_rows(stderr: str) -> list[ImportRow]:
    """The rows `python -X importtime` printed: own and cumulative seconds, depth, module."""
    rows: list[ImportRow] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append(ImportRow(int(own) / 1e6, int(cumulative) / 1e6, depth, name.strip()))
    return rows


def importtime(probe: Probe, module: str) -> list[ImportRow]:
    """One `python -X importtime -c 'import <module>'` run in the probe's environment: every
    module first imported under `module`, and `module` itself (last)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=dict(probe.env),
        cwd=probe.cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"importtime {module}: exit {done.returncode}\n{done.stderr[-3000:]}")
    rows = importtime_rows(done.stderr)
    # The tree under `module` is the run of rows deeper than it, just before its own row
    # (the interpreter reports children before their parent).
    end = max(i for i, row in enumerate(rows) if row.name == module and row.depth == 0)
    start = end
    while start > 0 and rows[start - 1].depth > 0:
        start -= 1
    return rows[start : end + 1]
