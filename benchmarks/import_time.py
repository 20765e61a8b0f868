"""Import time of each webhook handler module, as a ratio to a bare `import boto3`.

Lambda imports a handler as module `app` with the layer's python/ and the function's
directory on sys.path, in the directory of the function; each probe here does the same in a
fresh interpreter. `import boto3` is the yardstick: it is what any Python function that
talks to AWS pays, so a ratio below 1 means the handler is cheaper to start than the SDK.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks import fresh
from benchmarks.fresh import Probe, Sample

GOAL = 1.5
HANDLERS = {"shopify_webhook": "Shopify webhook", "stripe_webhook": "Stripe webhook"}
BARE = "bare interpreter"
BOTO3 = "import boto3"
TRACER = "Powertools Tracer()"
TRACER_ROUNDS = 3  # at most: a secondary figure, and the slowest probe


def _fixed(script: str) -> Callable[[int], str]:
    return lambda _round: script


def probes() -> list[Probe]:
    env = fresh.lambda_env("shopify_webhook")
    cwd = fresh.ROOT
    found = [
        Probe(BARE, _fixed(fresh.span_script("pass")), env, cwd),
        Probe(BOTO3, _fixed(fresh.span_script("import boto3")), env, cwd),
        # observability.py leaves Tracer out; this is the figure behind that decision.
        Probe(
            TRACER,
            _fixed(fresh.span_script("from aws_lambda_powertools import Tracer\nTracer()")),
            env,
            cwd,
            rounds=TRACER_ROUNDS,
        ),
    ]
    for function, label in HANDLERS.items():
        script = fresh.span_script(
            "import app",
            after="_facts['loaded'] = sorted(m for m in ('boto3', 'botocore.client', 'stripe') "
            "if m in sys.modules)",
        )
        found.append(
            Probe(
                f"import app ({label})",
                _fixed(script),
                fresh.lambda_env(function),
                fresh.function_dir(function),
            )
        )
    return found


@dataclass(frozen=True)
class HandlerImport:
    label: str
    seconds: float
    ratio: float  # span / span of import boto3
    wall_ratio: float  # (wall - bare wall) / (boto3 wall - bare wall)
    loaded: Sequence[str]  # of boto3, botocore.client, stripe: which the import pulled in
    heaviest: Sequence[tuple[str, float]]  # direct imports of app, seconds, heaviest first
    packages: Sequence[tuple[str, float]]  # own import time summed per top-level package


@dataclass(frozen=True)
class ImportResult:
    boto3_seconds: float
    bare_seconds: float  # wall time of `python -c pass`
    handlers: Sequence[HandlerImport]
    tracer_ratio: float
    tracer_seconds: float
    rounds: int
    tracer_rounds: int

    @property
    def worst_ratio(self) -> float:
        return max(h.ratio for h in self.handlers)


def _breakdown(
    probe: Probe, top: int = 5
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From one -X importtime run: app's direct imports with their cumulative time, and the
    modules' own time summed per top-level package, heaviest first."""
    rows = fresh.importtime(probe, "app")
    direct = [(row.name, row.cumulative) for row in rows if row.depth == 1]
    per_package: dict[str, float] = defaultdict(float)
    for row in rows:
        if row.depth >= 1:
            per_package[row.name.split(".")[0]] += row.own

    def heaviest(items: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        return sorted(items, key=lambda item: item[1], reverse=True)[:top]

    return heaviest(direct), heaviest(per_package.items())


def summarise(samples: Mapping[str, list[Sample]], all_probes: Sequence[Probe]) -> ImportResult:
    boto3 = fresh.best(samples[BOTO3]).span
    bare_wall = fresh.least_wall(samples[BARE])
    boto3_wall = fresh.least_wall(samples[BOTO3]) - bare_wall
    by_name = {probe.name: probe for probe in all_probes}
    handlers = []
    for label in HANDLERS.values():
        name = f"import app ({label})"
        sample = fresh.best(samples[name])
        direct, packages = _breakdown(by_name[name])
        handlers.append(
            HandlerImport(
                label=label,
                seconds=sample.span,
                ratio=sample.span / boto3,
                wall_ratio=(fresh.least_wall(samples[name]) - bare_wall) / boto3_wall,
                loaded=tuple(sample.facts.get("loaded", ())),
                heaviest=direct,
                packages=packages,
            )
        )
    tracer = fresh.best(samples[TRACER]).span
    return ImportResult(
        boto3_seconds=boto3,
        bare_seconds=bare_wall,
        handlers=handlers,
        tracer_ratio=tracer / boto3,
        tracer_seconds=tracer,
        rounds=len(samples[BOTO3]),
        tracer_rounds=len(samples[TRACER]),
    )
