"""Write the fault matrix of a run (`make faults`: one JSON line per cell) into
docs/reliability.md, between its markers.

    python -m tests.fault_matrix.report <results.jsonl> docs/reliability.md
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fault_matrix.harness import FAILURES, KINDS, OUTCOMES
from tests.fault_matrix.scenarios import SCENARIOS

START = "<!-- fault-matrix:start -->"
END = "<!-- fault-matrix:end -->"


def load(path: Path) -> list[dict[str, Any]]:
    """The results, the last one of each cell (a re-run replaces it)."""
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            key = tuple(row[k] for k in ("scenario", "service", "operation", "nth", "kind", "mode"))
            cells[key] = row
    return list(cells.values())


def _outcome(row: dict[str, Any] | None) -> str:
    if row is None:
        return "·"
    outcome = str(row["outcome"])
    return f"**{outcome}**" if outcome in FAILURES else outcome


def render(rows: list[dict[str, Any]], when: datetime) -> str:
    totals = Counter(str(row["outcome"]) for row in rows)
    lines = [
        f"Generated from `make faults` on {when:%Y-%m-%d %H:%M} UTC: {len(rows)} runs.",
        "",
        "| " + " | ".join(OUTCOMES) + " |",
        "|" + "---|" * len(OUTCOMES),
        "| " + " | ".join(str(totals.get(o, 0)) for o in OUTCOMES) + " |",
        "",
        "Each cell: the outcome when the call fails on every SDK attempt, then (after `/`, "
        "where run) when only its first attempt fails and the SDK may retry. `·`: not run. "
        "Failures in bold.",
    ]
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_scenario.setdefault(str(row["scenario"]), []).append(row)
    for name in sorted(by_scenario):
        scenario = SCENARIOS[name]
        lines += [
            "",
            f"### {name} (`{scenario.function}`): {scenario.what}",
            "",
            "| call | " + " | ".join(KINDS) + " |",
            "|---|" + "---|" * len(KINDS),
        ]
        index = {
            (r["service"], r["operation"], r["nth"], r["kind"], r["mode"]): r
            for r in by_scenario[name]
        }
        calls = sorted({(r["service"], r["operation"], r["nth"]) for r in by_scenario[name]})
        for service, operation, nth in calls:
            cells = []
            for kind in KINDS:
                text = _outcome(index.get((service, operation, nth, kind, "call")))
                attempt = index.get((service, operation, nth, kind, "attempt"))
                if attempt is not None:
                    text += f" / {_outcome(attempt)}"
                cells.append(text)
            lines.append(f"| `{service}.{operation}` #{nth} | " + " | ".join(cells) + " |")
    failing = [r for r in rows if r["outcome"] in FAILURES]
    if failing:
        lines += ["", "Failing cells:", ""]
        for r in sorted(failing, key=lambda r: (r["scenario"], r["service"], r["operation"])):
            lines.append(
                f"- {r['scenario']} `{r['service']}.{r['operation']}` #{r['nth']} "
                f"{r['kind']}/{r['mode']}: **{r['outcome']}** ({r['detail']})"
            )
    return "\n".join(lines)


def write(doc: Path, matrix: str) -> None:
    text = doc.read_text(encoding="utf-8")
    head, found, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{doc} has no {START} ... {END} markers")
    doc.write_text(f"{head}{START}\n{matrix}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str]) -> int:
    results, doc = Path(argv[0]), Path(argv[1])
    rows = load(results) if results.exists() else []
    if not rows:
        print(f"no results in {results}", file=sys.stderr)
        return 1
    write(doc, render(rows, datetime.now(tz=UTC)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
