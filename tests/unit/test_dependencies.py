"""Dependencies are declared once (pyproject.toml) and pinned with hashes; the layer's
requirements are generated from the same pins (`make lock`). These tests fail on drift."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "recoup" / "requirements.txt"
DEV = ROOT / "requirements" / "dev.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s\\]+)", re.MULTILINE)


def _pins(path: Path) -> dict[str, str]:
    return {canonicalize_name(name.split("[")[0]): v for name, v in _PIN.findall(path.read_text())}


def _declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return runtime, dev


def test_every_runtime_dependency_is_pinned_in_the_layer_within_its_declared_range() -> None:
    runtime, _ = _declared()
    layer = _pins(LAYER)
    for requirement in runtime:
        name = canonicalize_name(requirement.name)
        assert name in layer, f"{requirement.name} is declared but not in {LAYER.name}: make lock"
        assert requirement.specifier.contains(layer[name]), f"{name}=={layer[name]} drifted"


def test_the_layer_ships_exactly_the_versions_the_tests_run() -> None:
    layer, dev = _pins(LAYER), _pins(DEV)
    for name, version in layer.items():
        assert dev.get(name) == version, f"{name}: layer {version}, tests {dev.get(name)}"


def test_the_layer_holds_no_development_tool() -> None:
    _, dev = _declared()
    tools = {canonicalize_name(r.name) for r in dev} - {"boto3-stubs"}
    assert tools & set(_pins(LAYER)) == set()


def test_every_pin_carries_hashes() -> None:
    locks = ROOT / "requirements"
    for path in (LAYER, DEV, locks / "sam.txt", locks / "bootstrap.txt"):
        text = path.read_text()
        pins = len(_PIN.findall(text))
        assert pins > 0, path
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
        for block in blocks:
            if _PIN.match(block):
                assert "--hash=sha256:" in block, f"{path.name}: {block.splitlines()[0]}"


def test_no_tracked_file_names_a_package_registry_address() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    registries = re.compile(r"pypi\.org|pythonhosted\.org|registry\.npmjs|/simple/")
    this_file = Path(__file__).resolve().relative_to(ROOT).as_posix()  # holds the patterns
    offenders = [
        name
        for name in files
        if name != this_file
        and (ROOT / name).is_file()
        and registries.search((ROOT / name).read_text(errors="ignore"))
    ]
    assert offenders == []
