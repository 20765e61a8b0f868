"""`sam build` end to end: the built layer holds what the functions import, for the right CPU.

One build (measured here: 12 s with pip's cache warm, 17 s cold) is shared by every test in
this module. Needs aws-sam-cli (RECOUP_SAM, set by `make test`, or .venv-sam/bin/sam) and a
python3.12 (infra/find-python.sh); skips otherwise. No container runtime, no AWS credentials.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

# One build serves the whole module (make test keeps each file on one test worker).
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "recoup" / "requirements.txt"
REGION = "us-east-1"
BUILD_TIMEOUT_S = 300
# ELF e_machine values (System V ABI) by Lambda architecture name.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, function code plus all its layers
# Every function of the template, by logical id.
FUNCTIONS = (
    "ShopifyWebhookFunction",
    "StripeWebhookFunction",
    "EventWorkerFunction",
    "SchedulerFunction",
    "SenderFunction",
    "FeedbackFunction",
    "UnsubscribeFunction",
    "PayLinkFunction",
    "CustomerPageFunction",
    "AdminApiFunction",
    "PrivacyFunction",
    "ShopifyAuthFunction",
    "ShopifyTasksFunction",
    "EscalationFunction",
    "PlanChargesFunction",
    "HandOverFunction",
    "ReferralReportFunction",
)
# Imports the functions' code depends on (webhooks, worker, reminders: rendering, money
# formatting, phone numbers, addresses, time zones); each must come from the layer. Case
# files are drawn by the layer's own PDF writer (`recoup.casefile.pdf_writer`).
LAYER_IMPORTS = (
    "recoup",
    "stripe",
    "shopify",
    "pynamodb",
    "aws_lambda_powertools",
    "jinja2",
    "babel",
    "phonenumbers",
    "email_validator",
    "tzdata",
)
# Libraries no function loads, which would only make every cold start's layer bigger.
NOT_SHIPPED = ("fpdf", "PIL", "fontTools")
# The bytecode every layer module must ship with: the runtime's tag, and PEP 552's flags for
# an unchecked hash-based .pyc (bit 0: hash-based; bit 1, check_source, clear).
CACHE_TAG = "cpython-312"
UNCHECKED_HASH = 0b01
# Modules outside recoup whose .pyc is checked by name too (the heaviest imports).
COMPILED_DEPENDENCIES = (
    "boto3/__init__.py",
    "boto3/session.py",
    "botocore/client.py",
    "botocore/session.py",
    "stripe/__init__.py",
    "pynamodb/models.py",
    "aws_lambda_powertools/logging/logger.py",
    "jinja2/environment.py",
    "phonenumbers/phonenumberutil.py",
    "six.py",
)
# A zone the reminders may schedule in; it must resolve from the layer's tzdata alone.
ZONE = "Australia/Lord_Howe"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands !Ref, !Sub, ... (a subclass: yaml.SafeLoader stays as is)."""


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


@dataclass(frozen=True)
class Build:
    root: Path  # --build-dir
    template: dict[str, Any]  # the template sam wrote there, code paths relative to root
    seconds: float

    @property
    def layer_python(self) -> Path:
        return (
            self.root
            / self.template["Resources"]["RecoupLayer"]["Properties"]["ContentUri"]
            / "python"
        )

    def functions(self) -> dict[str, dict[str, Any]]:
        return {
            k: v["Properties"]
            for k, v in self.template["Resources"].items()
            if v["Type"] == "AWS::Serverless::Function"
        }

    @property
    def architecture(self) -> str:
        (arch,) = self.template["Globals"]["Function"]["Architectures"]
        return str(arch)


def _sam() -> Path:
    configured = os.environ.get("RECOUP_SAM")
    sam = Path(configured) if configured else Path(".venv-sam/bin/sam")
    sam = sam if sam.is_absolute() else REPO_ROOT / sam
    if not sam.is_file():
        how = "RECOUP_SAM" if configured else "RECOUP_SAM is unset and the fallback"
        pytest.skip(f"aws-sam-cli not found ({how} {sam} does not exist): run `make test`")
    return sam


def _python312() -> Path:
    found = subprocess.run(
        [str(REPO_ROOT / "infra" / "find-python.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = subprocess.run(
        [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != "3.12":
        pytest.skip(f"sam build needs python3.12 for the Lambda runtime; this machine has {found}")
    return Path(found)


def _tool_env(python312: Path) -> dict[str, str]:
    """This environment minus AWS identity and make's job server, with python3.12 on PATH."""
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("AWS_")}
    env["PATH"] = os.pathsep.join([str(python312.parent), env.get("PATH", "")])
    env["AWS_DEFAULT_REGION"] = REGION
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def python312() -> Path:
    return _python312()


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, python312: Path) -> Build:
    sam = _sam()
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    command = [
        str(sam), "build", "--template", str(TEMPLATE), "--build-dir", str(build_dir),
        "--no-cached", "--parallel",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=_tool_env(python312),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, (
        f"sam build failed ({seconds:.0f} s):\n{_tail(result.stdout)}\n{_tail(result.stderr)}"
    )
    built = yaml.load((build_dir / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506
    return Build(root=build_dir, template=built, seconds=seconds)


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------- validate


def test_sam_validate_lint_passes(python312: Path) -> None:
    # Given the template and aws-sam-cli
    sam = _sam()
    # When sam validates it with cfn-lint, offline
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--region", REGION, "--template", str(TEMPLATE)],
        cwd=REPO_ROOT,
        env=_tool_env(python312),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it is valid and lint-clean
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "is a valid SAM Template" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------- layer


def test_layer_holds_the_package_and_the_templates(build: Build) -> None:
    # Given the built layer
    python = build.layer_python
    # When its python/ directory is listed
    # Then the recoup package and the top-level templates/ are there, file for file
    assert (python / "recoup" / "__init__.py").is_file()
    assert (python / "templates").is_dir()
    source_templates = REPO_ROOT / "templates"
    expected = {
        p.relative_to(source_templates)
        for p in _files(source_templates)
        if "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    }
    assert {p.relative_to(python / "templates") for p in _files(python / "templates")} == expected


def test_layer_holds_every_pinned_dependency_at_its_pinned_version(build: Build) -> None:
    # Given the pins of layers/recoup/requirements.txt
    pins = dict(
        re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LAYER_REQUIREMENTS.read_text(), re.M)
    )
    assert pins, "no pins found in the layer's requirements.txt"

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    # When the layer's installed distributions are read from their .dist-info directories
    installed = {}
    for dist_info in build.layer_python.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        installed[canonical(name)] = version
    # Then each pin is installed at exactly its version
    assert {canonical(k): v for k, v in pins.items()} == installed


def test_layer_carries_no_tests_or_scripts(build: Build) -> None:
    # Given the built layer
    python = build.layer_python
    # When it is searched for build leftovers
    leftovers = [
        p.relative_to(python)
        for p in python.rglob("*")
        if p.name in {"tests", "conftest.py"}
        or p.suffix == ".pyo"
        or (p.parts[0] == "recoup" and p.name.startswith("test_") and p.suffix == ".py")
    ]
    # Then there are none, and no console scripts directory either
    assert leftovers == []
    assert not (python / "bin").exists()
    assert not (python / ".venv").exists() and not (python / ".aws-sam").exists()


def _pyc(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


def test_every_layer_module_ships_its_bytecode_beside_its_source(build: Build) -> None:
    # Given the built layer (mounted read-only at /opt, where nothing compiled on a cold start
    # can be cached)
    python = build.layer_python
    sources = [p for p in _files(python) if p.suffix == ".py"]
    own = [p for p in sources if p.relative_to(python).parts[0] == "recoup"]
    assert len(own) > 50, "expected the recoup package's modules"
    # When each module's .pyc is looked up where CPython 3.12 looks for it
    # Then every recoup module and every dependency module has one, the source is still
    # there for tracebacks, and no .pyc is of another interpreter or orphaned
    assert [str(p.relative_to(python)) for p in own if not _pyc(p).is_file()] == []
    named = [python / name for name in COMPILED_DEPENDENCIES]
    assert [str(p.relative_to(python)) for p in named if not _pyc(p).is_file()] == []
    assert [str(p.relative_to(python)) for p in sources if not _pyc(p).is_file()] == []
    stray = [
        p.relative_to(python)
        for p in _files(python)
        if p.suffix == ".pyc"
        and (
            p.parent.name != "__pycache__"
            or not p.name.endswith(f".{CACHE_TAG}.pyc")
            or not (p.parent.parent / (p.name.split(".")[0] + ".py")).is_file()
        )
    ]
    assert stray == []


def test_layer_bytecode_is_unchecked_hash_based_for_this_python(
    build: Build, python312: Path
) -> None:
    # Given the runtime's magic number (the first four bytes of every 3.12 .pyc)
    magic_hex = "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"
    magic = bytes.fromhex(
        subprocess.run(
            [str(python312), "-c", magic_hex],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # When every .pyc's header is read (PEP 552: magic, then a 32-bit little-endian flags word)
    wrong = {}
    for pyc in (p for p in _files(build.layer_python) if p.suffix == ".pyc"):
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != magic or flags != UNCHECKED_HASH:
            wrong[str(pyc.relative_to(build.layer_python))] = (header[:4].hex(), flags)
    # Then each was made by this CPython, hash-based, with the source check off: used as is
    # whatever the mtimes the deployed layer's files end up with
    assert wrong == {}


def test_native_extensions_match_the_function_architecture(build: Build) -> None:
    # Given every ELF shared object in the layer
    expected = ELF_MACHINE[build.architecture]
    shared_objects = [
        p for p in _files(build.layer_python) if p.suffix == ".so" or ".so." in p.name
    ]
    assert shared_objects, "expected native extensions (markupsafe, pyyaml, charset-normalizer)"
    wrong = {}
    for so in shared_objects:
        # When its ELF header is read
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", so
        byteorder = "little" if header[5] == 1 else "big"
        machine = int.from_bytes(header[18:20], byteorder)
        # Then it is a 64-bit object for the template's architecture and Python 3.12's ABI
        if header[4] != 2 or machine != expected:
            wrong[str(so.relative_to(build.layer_python))] = machine
        tag = re.search(r"\.cpython-(\d+)-", so.name)
        assert tag is None or tag.group(1) == "312", so
    assert wrong == {}, f"expected e_machine {expected} ({build.architecture})"


def test_layer_and_each_function_fit_lambdas_unzipped_limit(build: Build) -> None:
    # Given the built layer and functions
    layer_bytes = sum(p.stat().st_size for p in _files(build.layer_python))
    for logical_id, props in build.functions().items():
        # When a function's code and the layer are added up
        function_bytes = sum(p.stat().st_size for p in _files(build.root / props["CodeUri"]))
        # Then Lambda accepts them together
        assert layer_bytes + function_bytes < LAMBDA_UNZIPPED_LIMIT, logical_id


# ---------------------------------------------------------------------------------- functions


def _lambda_like_env(
    build: Build, function: dict[str, Any], task_dir: Path, home: Path
) -> dict[str, str]:
    """Roughly what Lambda gives a function: its variables, a region, /var/task then /opt/python."""
    # Parameters take their defaults; resources, what CloudFormation would name them, in the
    # shape of the real value (the settings check queue URLs, bucket names and ARNs).
    placeholders = {
        name: str(spec.get("Default", ""))
        for name, spec in build.template.get("Parameters", {}).items()
    }
    stage = placeholders["Stage"]
    queues = f"https://sqs.{REGION}.amazonaws.com/000000000000"
    resources = build.template["Resources"]

    def ref(logical_id: str) -> str:
        if logical_id in placeholders:
            return placeholders[logical_id]
        kind = resources.get(logical_id, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"{queues}/recoup-{stage}-{logical_id}"
        if kind == "AWS::S3::Bucket":
            return f"recoup-{stage}-{logical_id}".lower()
        return f"recoup-{stage}-{logical_id}"

    def arn(target: str | list[str]) -> str:
        logical_id = target[0] if isinstance(target, list) else target.split(".")[0]
        service = resources.get(logical_id, {}).get("Type", "AWS::Unknown::x").split("::")[1]
        return f"arn:aws:{service.lower()}:{REGION}:000000000000:{logical_id}"

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(task_dir), str(build.layer_python)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # keep the shared build directory clean
        "PYTHONTZPATH": "",  # no system zoneinfo: time zones come from the layer's tzdata
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",  # no credentials, and no probing for them
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }
    variables = {
        **build.template["Globals"]["Function"]["Environment"]["Variables"],
        **function.get("Environment", {}).get("Variables", {}),
    }
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif "Ref" in value:
            env[name] = ref(value["Ref"])
        elif "Fn::GetAtt" in value:
            env[name] = arn(value["Fn::GetAtt"])
        elif "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            env[name] = value["Fn::Sub"].replace("${Stage}", stage)
        else:
            env[name] = f"placeholder-{name.lower()}"
    return env


_IMPORT_CHECK = """
import importlib, os, sys
module_name, handler_name, task_dir, layer_dir, zone, *layer_imports = sys.argv[1:]
module = importlib.import_module(module_name)
handler = getattr(module, handler_name, None)
assert callable(handler), f"{module_name}.{handler_name} is not callable: {handler!r}"
assert module.__file__.startswith(task_dir + os.sep), module.__file__
for name in layer_imports:
    origin = importlib.import_module(name).__file__
    assert origin.startswith(layer_dir + os.sep), f"{name} imported from {origin}"
import zoneinfo
assert zoneinfo.TZPATH == (), zoneinfo.TZPATH
zoneinfo.ZoneInfo(zone)
# Every module the import took from the layer came with its bytecode (nothing compiled).
uncompiled = sorted(
    name
    for name, loaded in list(sys.modules.items())
    if (getattr(loaded, "__file__", None) or "").startswith(layer_dir + os.sep)
    and loaded.__file__.endswith(".py")
    and not os.path.isfile(loaded.__cached__ or "")
)
assert uncompiled == [], uncompiled
print("ok")
"""


def test_every_function_dir_has_its_handler_module(build: Build) -> None:
    # Given the built functions
    functions = build.functions()
    assert set(functions) == set(FUNCTIONS)
    for logical_id, props in functions.items():
        # When the handler's module is looked up in the function's artifact
        module = props["Handler"].rpartition(".")[0]
        # Then it is there (app.py for every function)
        assert (build.root / props["CodeUri"] / (module.replace(".", "/") + ".py")).is_file(), (
            logical_id
        )


def test_the_layer_ships_no_library_no_function_loads(build: Build) -> None:
    # Given the built layer / Then it holds no PDF, image or font library, neither the
    # package nor its distribution (the escalation function's case files are drawn by
    # recoup.casefile.pdf_writer, so no function needs a PDF layer of its own)
    assert [name for name in NOT_SHIPPED if (build.layer_python / name).exists()] == []
    distributions = {p.name.split("-")[0].lower() for p in build.layer_python.glob("*.dist-info")}
    assert distributions & {"fpdf2", "pillow", "fonttools"} == set()


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_handler_imports_with_only_the_layer(
    build: Build, python312: Path, tmp_path: Path, function_id: str
) -> None:
    # Given a built function, the built layer, and a bare python3.12 (-S: no site-packages,
    # like the Lambda runtime, so nothing can come from this machine's installs)
    props = build.functions()[function_id]
    task_dir = (build.root / props["CodeUri"]).resolve()
    module_name, _, handler_name = props["Handler"].rpartition(".")
    env = _lambda_like_env(build, props, task_dir, tmp_path)
    # When the handler module is imported in a clean process
    result = subprocess.run(
        [
            str(python312), "-S", "-c", _IMPORT_CHECK,
            module_name, handler_name, str(task_dir), str(build.layer_python.resolve()), ZONE,
            *LAYER_IMPORTS,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    # Then it imports, its handler is callable, its dependencies come from the layer with
    # their bytecode, and a time zone resolves without the system's zoneinfo
    assert result.returncode == 0, f"{function_id}:\n{result.stdout}\n{_tail(result.stderr)}"
    assert result.stdout.strip().endswith("ok")
