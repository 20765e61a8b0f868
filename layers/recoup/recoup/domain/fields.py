"""Validating settings a merchant writes: errors that name the field, by path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self


class FieldError(ValueError):
    """Invalid data; `field` is a path into it ("steps[2].delay", "rules[3].when.op")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def under(self, prefix: str) -> Self:
        """The same error, with its field seen from an enclosing object."""
        return type(self)(join_path(prefix, self.field), self.message)


def join_path(prefix: str, field: str) -> str:
    if not prefix:
        return field
    if not field:
        return prefix
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


def show(value: object) -> str:
    """A value as an error message quotes it: repr, cut to 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def object_at(value: object, path: str, error: type[FieldError]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise error(path, f"must be an object, got {show(value)}")
    return value


def check_keys(
    obj: Mapping[str, Any],
    path: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    error: type[FieldError],
) -> None:
    """Refuse unknown keys (naming the first) and missing required ones."""
    allowed = required + optional
    unknown = sorted(str(key) for key in obj if key not in allowed)
    if unknown:
        others = f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise error(
            join_path(path, unknown[0]),
            f"unknown key{others}; allowed keys are {', '.join(sorted(allowed))}",
        )
    for key in required:
        if key not in obj:
            raise error(join_path(path, key), "is required")
