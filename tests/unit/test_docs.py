"""docs/architecture.md lists the functions template.yaml deploys, no more and no fewer.

The list is the table of the section `## Functions` (from that heading to the next `## `
heading), whose first two columns are the logical id and the code directory; further columns
are free text and not checked:

    ## Functions

    | Logical id | Directory | Trigger | What it does |
    |---|---|---|---|
    | `ShopifyWebhookFunction` | `functions/shopify_webhook/` | POST /webhooks/shopify | ... |
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recoup_local.template import load

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
HEADING = "## Functions"
COLUMNS = ("logical id", "directory")


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]


def _section(text: str) -> list[str]:
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.rstrip() == HEADING]
    assert len(starts) == 1, f"{DOC.name}: expected one '{HEADING}' heading, found {len(starts)}"
    body = lines[starts[0] + 1 :]
    end = next((i for i, line in enumerate(body) if line.startswith("## ")), len(body))
    return body[:end]


def documented(text: str) -> dict[str, str]:
    """Logical id -> directory, from the section's table."""
    table = [line for line in _section(text) if line.lstrip().startswith("|")]
    assert len(table) >= 2, f"{DOC.name}: no table under '{HEADING}'"
    header = [cell.lower() for cell in _cells(table[0])]
    assert tuple(header[:2]) == COLUMNS, (
        f"{DOC.name}: the table under '{HEADING}' must start with the columns "
        f"'Logical id | Directory', not {header[:2]}"
    )
    assert re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*\|?", table[1].strip()), table[1]
    found: dict[str, str] = {}
    for line in table[2:]:
        logical_id, directory = _cells(line)[:2]
        assert logical_id not in found, f"{DOC.name}: {logical_id} is listed twice"
        found[logical_id] = directory
    return found


def deployed(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> CodeUri of every AWS::Serverless::Function."""
    return {
        logical_id: str(resource["Properties"]["CodeUri"])
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def _directory(path: str) -> str:
    return path.strip().rstrip("/") + "/"


def test_the_table_is_read_as_written() -> None:
    # Given a section in the expected form, between two other sections
    text = "\n".join(
        [
            "## Layout",
            "| Logical id | Directory |",
            "|---|---|",
            "| `Elsewhere` | `functions/elsewhere/` |",
            "",
            HEADING,
            "",
            "Some prose.",
            "",
            "| Logical id | Directory | Trigger |",
            "|---|---|---|",
            "| `ShopifyWebhookFunction` | `functions/shopify_webhook/` | POST |",
            "| StripeWebhookFunction | functions/stripe_webhook | POST |",
            "",
            "## Next",
            "| Logical id | Directory |",
            "|---|---|",
            "| `After` | `functions/after/` |",
        ]
    )
    # When it is parsed / Then only its own table's rows count, backticks dropped
    assert documented(text) == {
        "ShopifyWebhookFunction": "functions/shopify_webhook/",
        "StripeWebhookFunction": "functions/stripe_webhook",
    }


def test_architecture_lists_exactly_the_templates_functions() -> None:
    # Given the functions template.yaml deploys and those docs/architecture.md lists
    template = deployed(load())
    doc = documented(DOC.read_text(encoding="utf-8"))
    # When they are compared by logical id
    missing = sorted(set(template) - set(doc))
    extra = sorted(set(doc) - set(template))
    # Then both name the same functions
    assert (missing, extra) == ([], []), (
        f"in template.yaml but not in {DOC.name}: {missing}; "
        f"in {DOC.name} but not in template.yaml: {extra}"
    )


def test_each_listed_function_names_its_code_directory() -> None:
    # Given both lists
    template = deployed(load())
    doc = documented(DOC.read_text(encoding="utf-8"))
    # When each function's directory is compared with its CodeUri
    wrong = {
        logical_id: (doc[logical_id], template[logical_id])
        for logical_id in sorted(set(doc) & set(template))
        if _directory(doc[logical_id]) != _directory(template[logical_id])
    }
    # Then they agree, and each directory is there
    assert wrong == {}, f"(documented, CodeUri): {wrong}"
    assert [d for d in template.values() if not (ROOT / d).is_dir()] == []


PACKAGE = ROOT / "layers" / "recoup" / "recoup"
MODULES_HEADING = "### Modules"


def _module_table(text: str) -> str:
    lines = text.splitlines()
    start = lines.index(MODULES_HEADING)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    return "\n".join(lines[start:end])


def _named(cell: str) -> set[str]:
    """`store/policies.py`, `store/contacts.py` and `domain/fraud/rules.py`, `defaults.py`
    both name each module: a bare file name continues the directory of the one before it."""
    named: set[str] = set()
    folder = ""
    for name in re.findall(r"`([a-z0-9_/]+\.py)`", cell):
        if "/" in name:
            folder = name.rsplit("/", 1)[0] + "/"
            named.add(name)
        else:
            named.add(folder + name)
    return named


def test_the_module_table_names_every_module_of_the_package() -> None:
    # Given every module of the recoup package and the first cells of the module table
    modules = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    }
    rows = [line for line in _module_table(DOC.read_text(encoding="utf-8")).splitlines()]
    named = set().union(*(_named(row.split("|")[1]) for row in rows if row.startswith("| `")))
    # When they are compared / Then each module has its one line, and no row names a ghost
    assert (sorted(modules - named), sorted(named - modules)) == ([], [])
