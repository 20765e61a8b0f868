"""Read template.yaml: CloudFormation's short-form tags, and the few intrinsics the local
stack needs to resolve (Ref, Sub, GetAtt, Join, If over known conditions)."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _Loader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        key = "Ref" if name == "Ref" else name
        return {key: value}

    return construct


for _short in (
    "Ref",
    "Sub",
    "GetAtt",
    "Join",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Condition",
    "Base64",
    "GetAZs",
):
    _Loader.add_constructor(f"!{_short}", _tag("Ref" if _short == "Ref" else f"Fn::{_short}"))


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data: a copy of its parse, made again when the file changes (each
    test's stack reads it, and parsing takes a quarter of a second)."""
    return copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, _mtime_ns: int) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


@dataclass
class Resolver:
    """Resolves intrinsics against parameters and the physical ids created so far."""

    parameters: dict[str, str]
    conditions: dict[str, bool] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    pseudo: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                return self.attrs[(arg[0], arg[1])]
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.conditions.get(name) else no)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        for table in (self.parameters, self.pseudo, self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"cannot resolve Ref {name}")

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: str(self.resolve(v)) for k, v in extra.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            if "." in name:
                logical, attr = name.split(".", 1)
                return self.attrs[(logical, attr)]
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def evaluate_conditions(self, conditions: Mapping[str, Any]) -> None:
        for name, expr in conditions.items():
            self.conditions[name] = bool(self._condition(expr))

    def _condition(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self._condition(arg[0])
            if key == "Fn::And":
                return all(self._condition(a) for a in arg)
            if key == "Fn::Or":
                return any(self._condition(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
        return self.resolve(expr)
