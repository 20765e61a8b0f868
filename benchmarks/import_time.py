"""Cold import of every Lambda handler, run the way Lambda runs it, as a ratio to a bare
`import boto3` from the same layer in the same run.

Layout: the layer **as built** (layers/recoup/Makefile's `build-RecoupLayer`, the target
`sam build` runs, into a scratch directory: `memory.built_layout`) and every function's
directory copied beside it, all read-only (write bits removed, as /opt and /var/task are on
Lambda) and with `PYTHONDONTWRITEBYTECODE=1` (root writes past the permissions), so nothing a
probe compiles is kept for the next one. Each
probe is a fresh `python -S` (the runtime's CPython without any site-packages) with
`PYTHONPATH` the function's directory then the layer's `python/`, working directory the
function's, and the environment Lambda gives that function: template.yaml's variables
(globals and the function's own, parameters at their defaults, resources as placeholder
names), the reserved `AWS_LAMBDA_*` variables, a region and credentials.

The span is `import app` alone (interpreter start-up and shutdown are outside it). Every
probe runs `ROUNDS` times in interleaved rounds (the order rotates each round) and the
**median** counts; no run is discarded, not even the first. `import boto3` from the same
layer is probed in the same rounds and is the yardstick: what any Python function that talks
to AWS pays.

The same probes run once more (`OLD_ROUNDS`) against a copy of the layer without its
`__pycache__` directories: how the layer was shipped before, when every cold start compiled
every module it imported. The layer's size is reported too, unzipped and zipped (deflate, as
`sam package` zips it), with and without the bytecode.

A diagnostic, not a figure judged: each handler imported CLASS_CREATION_RUNS more times with
the dataclass decorator's work timed, to say how many classes the import creates and what
share of it that is (the run with the median share).

The layer does not ship the X-Ray SDK, so the Powertools `Tracer()` probe (the figure behind
leaving it out) borrows the SDK from this virtualenv, placed read-only after the layer.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import fresh, memory
from benchmarks.fresh import BenchError, Sample
from recoup_local.template import Resolver, load

GOAL_WEBHOOK = 1.5
GOAL_OTHER = 2.0
WEBHOOKS = ("shopify_webhook", "stripe_webhook")
ROUNDS = 7
OLD_ROUNDS = 1  # the layer without bytecode: a comparison, not a goal (and slow)
TRACER_ROUNDS = 3  # a secondary figure
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: a function's code plus all its layers
ACCOUNT = "123456789012"
BOTO3 = "import boto3"
BARE = "bare interpreter"
TRACER = "Powertools Tracer()"
# Packages whose presence after `import app` says what a handler pays for at import.
HEAVY = (
    "boto3",
    "botocore",
    "pynamodb",
    "stripe",
    "shopify",
    "jinja2",
    "babel",
    "phonenumbers",
    "email_validator",
    "jwt",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parameters",
)


# ---------------------------------------------------------------- the functions
@dataclass(frozen=True)
class Function:
    logical_id: str
    directory: str  # functions/<directory>/
    handler: str
    memory_mb: int
    variables: Mapping[str, Any]  # template.yaml's, globals then the function's own

    @property
    def goal(self) -> float:
        return GOAL_WEBHOOK if self.directory in WEBHOOKS else GOAL_OTHER


def functions(template: Mapping[str, Any] | None = None) -> list[Function]:
    """Every AWS::Serverless::Function of template.yaml, in the template's order."""
    template = template or load()
    globals_ = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        found.append(
            Function(
                logical_id=logical_id,
                directory=Path(props["CodeUri"]).name,
                handler=props.get("Handler", globals_.get("Handler", "")),
                memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
                variables={
                    **globals_.get("Environment", {}).get("Variables", {}),
                    **props.get("Environment", {}).get("Variables", {}),
                },
            )
        )
    return found


class _Attributes(dict[tuple[str, str], str]):
    """Fn::GetAtt of any resource: an ARN of its service (nothing is deployed)."""

    def __init__(self, kinds: Mapping[str, str]) -> None:
        super().__init__()
        self.kinds = kinds

    def __missing__(self, key: tuple[str, str]) -> str:
        logical_id, attribute = key
        service = self.kinds.get(logical_id, "AWS::Unknown::X").split("::")[1].lower()
        suffix = "" if attribute == "Arn" else f"/{attribute}"
        return f"arn:aws:{service}:{fresh.REGION}:{ACCOUNT}:{logical_id}{suffix}"


def _placeholder(logical_id: str, kind: str, stage: str) -> str:
    """What Ref gives for a resource CloudFormation would have created."""
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{fresh.REGION}.amazonaws.com/{ACCOUNT}/recoup-{stage}-{logical_id}"
    if kind == "AWS::S3::Bucket":
        return f"recoup-{stage}-{logical_id}".lower()
    return f"recoup-{stage}-{logical_id}"


def resolver(template: Mapping[str, Any] | None = None) -> Resolver:
    template = template or load()
    parameters = {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }
    stage = parameters.get("Stage", "dev")
    found = Resolver(
        parameters=parameters,
        refs={
            logical_id: _placeholder(logical_id, resource.get("Type", ""), stage)
            for logical_id, resource in template["Resources"].items()
        },
        attrs=_Attributes(
            {logical_id: r.get("Type", "") for logical_id, r in template["Resources"].items()}
        ),
        pseudo={
            "AWS::Region": fresh.REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"recoup-{stage}",
            "AWS::NoValue": "",
        },
    )
    found.evaluate_conditions(template.get("Conditions") or {})
    return found


def lambda_env(
    function: Function, task_dir: Path, layer: Path, resolve: Resolver, scratch: Path
) -> dict[str, str]:
    """What Lambda puts in a python3.12 function's environment before it imports the handler,
    plus what keeps the probe honest (nothing written, no machine configuration read)."""
    name = f"recoup-{resolve.parameters.get('Stage', 'dev')}-{function.logical_id}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_dir),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": fresh.REGION,
        "AWS_DEFAULT_REGION": fresh.REGION,
        **fresh.FAKE_CREDENTIALS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "PYTHONPATH": os.pathsep.join([str(task_dir), str(layer)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONTZPATH": "",  # no system zoneinfo on Lambda: tzdata comes from the layer
    }
    for variable, value in function.variables.items():
        env[variable] = str(resolve.resolve(value))
    return env


# ---------------------------------------------------------------- probes
@dataclass(frozen=True)
class Probe:
    name: str
    script: str
    env: Mapping[str, str]
    cwd: Path
    rounds: int | None = None  # fewer than the run's, for a secondary figure


_FACTS = (
    "_facts['modules'] = len(sys.modules)\n"
    f"_facts['loaded'] = [m for m in {HEAVY!r} if m in sys.modules]\n"
    # Nothing compiled may be kept: the layer is read-only and nothing is written.
    "_facts['writes_bytecode'] = not sys.dont_write_bytecode\n"
)


def _child(
    python: str, flags: Sequence[str], probe: Probe, *args: str
) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter run in the probe's environment and working directory."""
    return subprocess.run(
        [python, *flags, *args],
        env=dict(probe.env),
        cwd=probe.cwd,
        capture_output=True,
        text=True,
        timeout=fresh.TIMEOUT_SECONDS,
        check=False,
    )


def _run(python: str, flags: Sequence[str], probe: Probe) -> Sample:
    started = time.perf_counter()
    done = _child(python, flags, probe, "-c", probe.script)
    wall = time.perf_counter() - started
    result = _marked(done, probe.name)
    if result["facts"].get("writes_bytecode"):
        raise BenchError(f"{probe.name}: the child could write bytecode")
    return Sample(span=float(result["span"]), wall=wall, facts=result["facts"])


def _marked(done: subprocess.CompletedProcess[str], name: str) -> dict[str, Any]:
    """The result a child wrote on its last marked line."""
    if done.returncode != 0:
        raise BenchError(f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(fresh.MARK):
            found: dict[str, Any] = ast.literal_eval(line[len(fresh.MARK) :])
            return found
    raise BenchError(f"{name}: no result line\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def interleave(
    python: str,
    flags: Sequence[str],
    probes: Sequence[Probe],
    rounds: int,
    progress: Callable[[str], None],
    label: str,
) -> dict[str, list[Sample]]:
    """Every probe `rounds` times (or its own fewer), the order rotating each round; every
    run is kept."""
    samples: dict[str, list[Sample]] = {probe.name: [] for probe in probes}
    for index in range(rounds):
        shift = index % len(probes)
        for probe in [*probes[shift:], *probes[:shift]]:
            if probe.rounds is None or index < probe.rounds:
                samples[probe.name].append(_run(python, flags, probe))
        progress(f"{label}: round {index + 1}/{rounds}")
    return samples


# The X-Ray SDK and its one dependency, which the Tracer probe borrows (the layer has neither).
XRAY = ("aws_xray_sdk", "wrapt")


def _xray_dir(scratch: Path) -> Path:
    target = scratch / "xray"
    if not target.exists():
        target.mkdir()
        for name in XRAY:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise BenchError(f"{name} is not installed here: run `make install`")
            shutil.copytree(Path(spec.origin).parent, target / name)
        subprocess.run(["chmod", "-R", "a-w", str(target)], check=True)
    return target


def probes(
    layer: Path,
    function_dir: Callable[[str], Path],
    scratch: Path,
    chosen: Sequence[Function],
    resolve: Resolver,
    *,
    tracer: bool = True,
) -> list[Probe]:
    # The yardsticks run as the first function chosen would: same environment, same path.
    base = chosen[0]
    base_dir = function_dir(base.directory)
    base_env = lambda_env(base, base_dir, layer, resolve, scratch)
    found = [
        Probe(BARE, fresh.span_script("pass", after=_FACTS), base_env, base_dir),
        Probe(BOTO3, fresh.span_script("import boto3", after=_FACTS), base_env, base_dir),
    ]
    if tracer:
        # observability.py leaves Tracer out; this is the figure behind that decision.
        path = os.pathsep.join([base_env["PYTHONPATH"], str(_xray_dir(scratch))])
        found.append(
            Probe(
                TRACER,
                fresh.span_script(
                    "from aws_lambda_powertools import Tracer\nTracer()", after=_FACTS
                ),
                {**base_env, "PYTHONPATH": path},
                base_dir,
                rounds=TRACER_ROUNDS,
            )
        )
    for function in chosen:
        task_dir = function_dir(function.directory)
        found.append(
            Probe(
                function.directory,
                fresh.span_script("import app", after=_FACTS),
                lambda_env(function, task_dir, layer, resolve, scratch),
                task_dir,
            )
        )
    return found


def importtime(python: str, flags: Sequence[str], probe: Probe) -> list[fresh.ImportRow]:
    """One `python -X importtime -c 'import app'` run in the probe's environment: `app` and
    every module first imported under it."""
    done = _child(python, flags, probe, "-X", "importtime", "-c", "import app")
    if done.returncode != 0:
        raise BenchError(f"importtime {probe.name}: exit {done.returncode}\n{done.stderr[-3000:]}")
    rows = fresh.importtime_rows(done.stderr)
    # The interpreter reports children before their parent: `app`'s tree is the run of
    # deeper rows just before its own row.
    end = max(i for i, row in enumerate(rows) if row.name == "app" and row.depth == 0)
    start = end
    while start > 0 and rows[start - 1].depth > 0:
        start -= 1
    return rows[start : end + 1]


# The dataclass decorator's work, timed around CPython's `dataclasses._process_class` (a
# private function: a diagnostic of this benchmark only, never in the measured span).
_CLASS_CREATION = (
    "import dataclasses, sys, time\n"
    "_spent = [0.0, 0]\n"
    "_process = dataclasses._process_class\n"
    "def _timed(*args, **kwargs):\n"
    "    started = time.perf_counter()\n"
    "    try:\n"
    "        return _process(*args, **kwargs)\n"
    "    finally:\n"
    "        _spent[0] += time.perf_counter() - started\n"
    "        _spent[1] += 1\n"
    "dataclasses._process_class = _timed\n"
    "_t0 = time.perf_counter()\n"
    "import app\n"
    "_total = time.perf_counter() - _t0\n"
    f"sys.stdout.write({fresh.MARK!r} + repr("
    "{'classes': _spent[1], 'seconds': _spent[0], 'total': _total}) + '\\n')\n"
)
CLASS_CREATION_RUNS = 3


@dataclass(frozen=True)
class ClassCreation:
    """The dataclasses `import app` created, and the decorator's time on them (the run of
    CLASS_CREATION_RUNS with the median share)."""

    classes: int
    seconds: float
    share: float  # of that run's `import app`


def class_creation(python: str, flags: Sequence[str], probe: Probe) -> ClassCreation:
    runs = []
    for _ in range(CLASS_CREATION_RUNS):
        found = _marked(_child(python, flags, probe, "-c", _CLASS_CREATION), probe.name)
        runs.append(
            ClassCreation(found["classes"], found["seconds"], found["seconds"] / found["total"])
        )
    return sorted(runs, key=lambda r: r.share)[len(runs) // 2]


def _breakdown(
    rows: Sequence[fresh.ImportRow], top: int = 5
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """`app`'s direct imports with their cumulative time, and the modules' own time summed
    per top-level package; heaviest first."""
    per_package: dict[str, float] = defaultdict(float)
    for row in rows:
        if row.depth >= 1:
            per_package[row.name.split(".")[0]] += row.own

    def heaviest(items: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        return sorted(items, key=lambda item: item[1], reverse=True)[:top]

    direct = [(row.name, row.cumulative) for row in rows if row.depth == 1]
    return heaviest(direct), heaviest(per_package.items())


# ---------------------------------------------------------------- sizes
def _files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def _bytecode(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def _entry_bytes(info: zipfile.ZipInfo) -> int:
    """An entry's share of the archive: local header, data, central directory record."""
    name = len(info.filename.encode())
    return (30 + name + len(info.extra) + info.compress_size) + (
        46 + name + len(info.extra) + len(info.comment)
    )


@dataclass(frozen=True)
class LayerSize:
    unzipped: int  # bytes of every file under python/
    zipped: int  # the archive sam would upload
    bytecode: int  # of `unzipped`, the .pyc files
    files: int
    bytecode_files: int
    old_unzipped: int  # without the bytecode
    old_zipped: int


def layer_size(layer: Path, scratch: Path) -> LayerSize:
    """Zip the layer as `sam package` does (deflate, paths under python/); the archive without
    bytecode is the same entries less the .pyc ones (deflate works file by file)."""
    archive = scratch / "layer.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in _files(layer):
            zipped.write(path, Path(layer.name) / path.relative_to(layer))
        infos = zipped.infolist()
    zipped_bytes = archive.stat().st_size
    archive.unlink()
    kept = [info for info in infos if not _bytecode(Path(info.filename))]
    files = list(_files(layer))
    unzipped = sum(p.stat().st_size for p in files)
    bytecode = sum(p.stat().st_size for p in files if _bytecode(p))
    return LayerSize(
        unzipped=unzipped,
        zipped=zipped_bytes,
        bytecode=bytecode,
        files=len(files),
        bytecode_files=sum(1 for p in files if _bytecode(p)),
        old_unzipped=unzipped - bytecode,
        old_zipped=zipped_bytes - sum(_entry_bytes(info) for info in infos if info not in kept),
    )


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in _files(root))


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class FunctionImport:
    function: str  # functions/<function>/
    logical_id: str
    goal: float
    spans: Sequence[float]  # every run, bytecode shipped
    old_spans: Sequence[float]  # every run, no bytecode in the layer
    boto3: float  # the yardstick's median, same run
    old_boto3: float
    wall_ratio: float  # (median wall - bare) / (boto3's median wall - bare)
    modules: int  # in sys.modules after `import app`
    loaded: Sequence[str]  # of HEAVY
    code_bytes: int  # the function's own directory
    classes: ClassCreation | None = None

    @property
    def seconds(self) -> float:
        return statistics.median(self.spans)

    @property
    def old_seconds(self) -> float:
        return statistics.median(self.old_spans) if self.old_spans else float("nan")

    @property
    def ratio(self) -> float:
        return self.seconds / self.boto3

    @property
    def old_ratio(self) -> float:
        return self.old_seconds / self.old_boto3

    @property
    def gain(self) -> float:
        """How many times longer the import took when it compiled every module."""
        return self.old_seconds / self.seconds

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal


@dataclass(frozen=True)
class ImportResult:
    functions: Sequence[FunctionImport]
    boto3_spans: Sequence[float]
    old_boto3_spans: Sequence[float]
    bare_seconds: float  # median wall of `python -S -c pass`
    tracer_spans: Sequence[float]
    layer: LayerSize
    rounds: int
    old_rounds: int
    python: str  # the interpreter and its flags
    built: bool  # the layer as `sam build` makes it
    breakdown: Mapping[str, tuple[Sequence[tuple[str, float]], Sequence[tuple[str, float]]]] = (
        field(default_factory=dict)
    )
    seconds: float = 0.0

    @property
    def boto3_seconds(self) -> float:
        return statistics.median(self.boto3_spans)

    @property
    def old_boto3_seconds(self) -> float:
        return statistics.median(self.old_boto3_spans) if self.old_boto3_spans else float("nan")

    @property
    def tracer_seconds(self) -> float:
        return statistics.median(self.tracer_spans) if self.tracer_spans else float("nan")

    @property
    def tracer_ratio(self) -> float:
        return self.tracer_seconds / self.boto3_seconds

    @property
    def worst_ratio(self) -> float:
        return max(f.ratio for f in self.functions)

    @property
    def all_met(self) -> bool:
        return all(f.met for f in self.functions)


def _median(samples: Sequence[Sample], attribute: str) -> float:
    return float(statistics.median(getattr(s, attribute) for s in samples))


# ---------------------------------------------------------------- the run
@contextmanager
def _without_bytecode(layer: Path) -> Iterator[Path]:
    """A read-only copy of the layer's python/ without its __pycache__ directories."""
    scratch = Path(tempfile.mkdtemp(prefix="recoup-bench-nopyc-"))
    copy = scratch / layer.name
    try:
        shutil.copytree(layer, copy, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
        subprocess.run(["chmod", "-R", "a-w", str(copy)], check=True)
        yield copy
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def run(
    *,
    rounds: int = ROUNDS,
    old_rounds: int = OLD_ROUNDS,
    only: Sequence[str] | None = None,
    layout: memory.Layout | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ImportResult:
    """Build the layer (unless a `memory.Layout` is given), then time every handler's import
    with and without the bytecode; `only` limits the functions (directory names)."""
    started = time.perf_counter()
    template = load()  # once: both passes see the same template
    resolve = resolver(template)
    chosen = [f for f in functions(template) if only is None or f.directory in only]
    if not chosen:
        raise BenchError(f"no function of template.yaml among {only}")
    with (
        nullcontext(layout) if layout else memory.built_layout() as lay,
        tempfile.TemporaryDirectory(prefix="recoup-bench-imports-") as tmp,
    ):
        scratch = Path(tmp)
        python, flags = lay.python, lay.flags
        progress(f"layer: {'built' if lay.built else 'source'} ({lay.layer})")
        new = probes(lay.layer, lay.function_dir, scratch, chosen, resolve)
        samples = interleave(python, flags, new, rounds, progress, "bytecode shipped")
        breakdown = {}
        classes = {}
        handlers = {f.directory for f in chosen}
        progress(f"dataclass creation: each handler, {CLASS_CREATION_RUNS} runs")
        for probe in new:
            if probe.name in WEBHOOKS:
                breakdown[probe.name] = _breakdown(importtime(python, flags, probe))
            if probe.name in handlers:
                classes[probe.name] = class_creation(python, flags, probe)
        old_samples: dict[str, list[Sample]] = defaultdict(list)
        if old_rounds:
            with _without_bytecode(lay.layer) as bare_layer:
                old = [
                    p
                    for p in probes(
                        bare_layer, lay.function_dir, scratch, chosen, resolve, tracer=False
                    )
                    if p.name != BARE
                ]
                old_samples.update(
                    interleave(python, flags, old, old_rounds, progress, "no bytecode")
                )
        progress("layer size, zipped as sam packages it")
        size = layer_size(lay.layer, scratch)
        bare_wall = _median(samples[BARE], "wall")
        boto3_span = _median(samples[BOTO3], "span")
        boto3_wall = _median(samples[BOTO3], "wall") - bare_wall
        old_boto3 = [s.span for s in old_samples[BOTO3]]
        found = []
        for function in chosen:
            runs = samples[function.directory]
            last = runs[-1].facts
            found.append(
                FunctionImport(
                    function=function.directory,
                    logical_id=function.logical_id,
                    goal=function.goal,
                    spans=tuple(s.span for s in runs),
                    old_spans=tuple(s.span for s in old_samples[function.directory]),
                    boto3=boto3_span,
                    old_boto3=statistics.median(old_boto3) if old_boto3 else float("nan"),
                    wall_ratio=(_median(runs, "wall") - bare_wall) / boto3_wall,
                    modules=int(last.get("modules", 0)),
                    loaded=tuple(last.get("loaded", ())),
                    code_bytes=_dir_bytes(lay.function_dir(function.directory)),
                    classes=classes.get(function.directory),
                )
            )
        return ImportResult(
            functions=tuple(found),
            boto3_spans=tuple(s.span for s in samples[BOTO3]),
            old_boto3_spans=tuple(old_boto3),
            bare_seconds=bare_wall,
            tracer_spans=tuple(s.span for s in samples.get(TRACER, [])),
            layer=size,
            rounds=rounds,
            old_rounds=old_rounds,
            python=f"{Path(python).name} {' '.join(flags)}".strip(),
            built=bool(lay.built),
            breakdown=breakdown,
            seconds=time.perf_counter() - started,
        )


# ---------------------------------------------------------------- the cold-delivery yardstick
def yardstick_probes() -> list[fresh.Probe]:
    """`import boto3` from the source tree in this virtualenv, for the cold-delivery probes,
    which run that way (`benchmarks/cold_delivery.py` divides by it)."""
    script = fresh.span_script("import boto3")
    return [
        fresh.Probe(
            BOTO3,
            lambda _round: script,
            fresh.lambda_env(WEBHOOKS[0]),
            fresh.function_dir(WEBHOOKS[0]),
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.import_time`: this benchmark alone, printed (docs/performance.md
    is rewritten by `make bench` only)."""
    import argparse

    from benchmarks import report_imports

    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_time", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs per probe")
    parser.add_argument("--old-rounds", type=int, default=OLD_ROUNDS, help="... without bytecode")
    parser.add_argument("--only", default="", help="function directories, comma-separated")
    parser.add_argument("--markdown", action="store_true", help="print the doc's section too")
    args = parser.parse_args(argv)
    only = [name for name in args.only.split(",") if name.strip()] or None
    outcome = run(
        rounds=args.rounds,
        old_rounds=args.old_rounds,
        only=only,
        progress=lambda m: print(f"  .. {m}", file=sys.stderr, flush=True),
    )
    print("\n".join(report_imports.text_lines(outcome)))
    if args.markdown:
        print("\n".join(report_imports.section(outcome)))
    print(f"({outcome.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
