"""The case file for people: HTML (Jinja2, autoescaped) and PDF, from the JSON record.

Both are rendered from the record alone, so they can never say more or other than it. The
templates' environment here also serves the demand letters (`recoup.casefile.letters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup.channels.templates import templates_dir

if TYPE_CHECKING:
    from jinja2 import Environment

CASEFILE_TEMPLATE = "casefile/casefile.html.j2"


def format_when(value: object) -> str:
    """An ISO time from the record as people read it: '2026-11-02 15:10:00 UTC'. Anything
    else is shown as it is ('' for None)."""
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        return value
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@cache
def environment() -> Environment:
    """The trusted templates of case files and letters: autoescaped when the name ends in
    .html.j2, strict about undefined names, None printed as nothing."""
    # Jinja2 only where a file, letter or hand-over email is rendered: the hand-over worker
    # imports this module for its email branch, which a webhook hand-over never takes.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters["when"] = format_when
    return env


def render_html(record: Mapping[str, Any]) -> str:
    return environment().get_template(CASEFILE_TEMPLATE).render(r=record)


def render_pdf(record: Mapping[str, Any]) -> bytes:
    """The printable PDF of a case-file record (A4, page numbers, reproducible bytes)."""
    from recoup.casefile import pdf  # only where a PDF is made (the writer, the layout)

    return pdf.render_pdf(record)


__all__ = ["CASEFILE_TEMPLATE", "environment", "format_when", "render_html", "render_pdf"]
