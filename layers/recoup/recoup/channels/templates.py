"""Where the shipped templates are, for the reminder channels and the case files alike."""

from __future__ import annotations

from pathlib import Path

import recoup


def templates_dir() -> Path:
    """`<repo>/templates` (through layers/recoup/templates) or `/opt/python/templates`."""
    return Path(recoup.__file__).parent.parent / "templates"


__all__ = ["templates_dir"]
