"""The case file's PDF writer (recoup.casefile.pdf_writer): the file is well formed to the byte
(every xref offset, stream length and the trailer), rendering it loads no PDF library, and it
is byte for byte what fpdf2 makes for the same drawing calls (fpdf2, the library the case file
was laid out with before, is the oracle: a dev dependency, not in the layer)."""

from __future__ import annotations

import copy
import random
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from recoup.casefile.pdf import CaseFileLayout, draw, render_pdf
from recoup.casefile.pdf_writer import Document, PdfTextError
from recoup.casefile.record import build_record
from tests.unit.test_casefile import _case, _inputs

LAYER = Path(__file__).resolve().parents[2] / "layers" / "recoup"


def _record(**changes: Any) -> dict[str, Any]:
    return build_record(_inputs(**changes))


def _fpdf2(record: dict[str, Any]) -> bytes:
    import fpdf  # a dev dependency: the oracle, never shipped

    class Reference(CaseFileLayout, fpdf.FPDF):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            fpdf.FPDF.__init__(self, format="A4")

    reference = Reference()
    draw(reference, record)
    return bytes(reference.output())


def _objects(pdf: bytes) -> dict[int, bytes]:
    """Check the file's structure to the byte; the objects by number."""
    assert pdf.startswith(b"%PDF-1.3\n")
    assert pdf.endswith(b"%%EOF\n")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert pdf[startxref:].startswith(b"xref\n0 ")
    table = pdf[startxref:].split(b"trailer\n", 1)[0].splitlines()
    count = int(table[1].split()[1])
    assert table[2] == b"0000000000 65535 f "
    offsets = [int(row.split()[0]) for row in table[3 : 3 + count - 1]]
    assert len(offsets) == count - 1
    objects: dict[int, bytes] = {}
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(f"{number} 0 obj\n".encode())
        end = pdf.index(b"\nendobj\n", offset)
        objects[number] = pdf[offset:end]
    trailer = pdf[startxref:].split(b"trailer\n", 1)[1]
    assert f"/Size {count}".encode() in trailer
    for number, body in objects.items():
        if b"\nstream\n" in body:
            head, stream = body.split(b"\nstream\n", 1)
            assert stream.endswith(b"\nendstream")
            data = stream[: -len(b"\nendstream")]
            length = int(re.search(rb"/Length (\d+)", head).group(1))  # type: ignore[union-attr]
            assert len(data) == length, number
            zlib.decompress(data)  # every content stream is whole
    return objects


def test_the_file_is_well_formed_to_the_byte() -> None:
    # Given a case file long enough for several pages
    record = _record()
    record["events"] = record["events"] * 12
    pdf = render_pdf(record)
    # Then every xref offset points at its object, every stream has its stated length
    objects = _objects(pdf)
    pages = [n for n, body in objects.items() if b"/Type /Page\n" in body]
    assert len(pages) >= 3
    # and every page's footer states its number out of the total (the {nb} alias filled in)
    texts = [
        zlib.decompress(body.split(b"\nstream\n", 1)[1][: -len(b"\nendstream")])
        for body in objects.values()
        if b"/FlateDecode" in body
    ]
    for n, text in enumerate(texts, start=1):
        assert f"page {n}/) Tj ({len(pages)}) Tj".encode() in text
    assert b"{nb}" not in b"".join(texts)


def test_rendering_loads_no_pdf_library() -> None:
    # Given a fresh interpreter with the layer's code (as on Lambda)
    script = (
        "import sys\n"
        "from recoup.casefile.render import render_pdf\n"
        "pdf = render_pdf({'schema': 'x', 'generated_at': '2026-12-20T09:00:00+00:00'})\n"
        "assert pdf.startswith(b'%PDF')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fpdf', 'PIL', 'fontTools'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(LAYER), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Then neither fpdf2 nor what it pulls in (Pillow, fontTools) was imported
    assert done.stdout.strip() == "[]"


def test_the_writer_refuses_what_it_cannot_show() -> None:
    doc = Document()
    doc.add_page()
    doc.set_font("helvetica", size=10)
    with pytest.raises(PdfTextError):
        doc.multi_cell(0, 5, "€ is not Latin-1", new_x="LMARGIN", new_y="NEXT")
    with pytest.raises(ValueError, match="only"):
        doc.set_font("times", size=10)


# --- the same bytes as fpdf2 ----------------------------------------------------------------


def _variants() -> list[tuple[str, dict[str, Any]]]:
    base = _record()
    long_word = "x" * 300
    cases: list[tuple[str, dict[str, Any]]] = [("fixture", base)]
    for name in ("Zoë Ærøskøbing", "ƒrançois 🚀", "李小龙", "\u202eevil\u0000", "{nb} (a)\\b"):
        cases.append((f"customer {name!r}", _record(case=_case(first_name=name))))
    many = copy.deepcopy(base)
    many["events"] = many["events"] * 15  # several pages, breaks inside sections
    cases.append(("many pages", many))
    odd = copy.deepcopy(base)
    odd["referral"]["kind"] = "agency " * 30 + long_word  # a justified title over lines
    odd["merchant"]["name"] = "Shop {nb} (Ltd) \\ " + "é" * 5
    odd["reachability"]["statement"] = "two  spaces,\ttab\n\nblank lines\n"
    odd["order"]["order_name"] = ""
    odd["generated_at"] = "2026-12-20T10:00:00+01:00"
    cases.append(("odd text", odd))
    nameless = copy.deepcopy(base)
    nameless["merchant"]["name"] = ""
    cases.append(("no author", nameless))
    cases.append(("sections missing", {"schema": "x", "generated_at": "no", "events": [1]}))
    return cases


@pytest.mark.parametrize(("name", "record"), _variants(), ids=lambda v: str(v)[:40])
def test_the_bytes_are_fpdf2s(name: str, record: dict[str, Any]) -> None:
    assert render_pdf(record) == _fpdf2(record), name


_PIECES = (
    "a",
    "word",
    "Kreuzberg",
    "1,899.00 USD",
    " ",
    "  ",
    "\n",
    "\n\n",
    "(",
    ")",
    "\\",
    "{nb}",
    "{n",
    "ü",
    "ÿ",
    "–",
    "€",
    "🚀",
    "\t",
    "-",
    "W" * 20,
    "i" * 90,
)


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 60)))


def _scrambled(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrambled(rng, v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_scrambled(rng, v) for v in value]
        return items * rng.randrange(1, 4) if rng.random() < 0.2 else items
    if isinstance(value, str) and rng.random() < 0.5:
        return _text(rng)
    return value


def test_random_records_give_fpdf2s_bytes() -> None:
    # Given records whose texts are random runs of words, spaces, newlines, long words,
    # parentheses, the page-count alias and characters outside Latin-1
    rng = random.Random(20261220)
    base = _record()
    for n in range(40):
        record = _scrambled(rng, base)
        at = GENERATED_AT + timedelta(minutes=n)
        zone = timezone(timedelta(hours=rng.choice((0, 1, -5))))
        record["generated_at"] = at.astimezone(zone).isoformat()
        # Then the writer's file is fpdf2's, byte for byte
        assert render_pdf(record) == _fpdf2(record), n


GENERATED_AT = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
