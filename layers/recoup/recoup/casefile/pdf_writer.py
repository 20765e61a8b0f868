"""A small PDF writer for the case file: A4 pages, the standard Helvetica, Helvetica-Bold and
Courier fonts (WinAnsi, not embedded), text in cells and word-wrapped paragraphs, lines,
automatic page breaks with a footer, and the total-pages alias "{nb}".

Why not a PDF library: fpdf2, which laid the case file out before, costs about 30 MB of
resident memory once imported (38,000 lines of its own compiled from source on Lambda's
read-only layer, plus fontTools' subsetter and Pillow, which a text-only file in the standard
fonts never uses). That was the largest part of the escalation function's peak and took it
over its 128 MB goal (docs/performance.md). This module is a few hundred lines, imports only
the standard library, and holds nothing past `output()`.

What it makes is what fpdf2 2.8 makes for the same calls: the class below has the names and
the semantics of the `FPDF` methods the case file uses (`set_margins`, `set_auto_page_break`,
`add_page`, `set_font`, `set_draw_color`, `line`, `ln`, `set_y`, `cell`, `multi_cell` with
`new_x="LMARGIN"`, `new_y="NEXT"`, a `footer()` hook, the metadata setters, `output`), and
follows fpdf2's layout rules step by step, float operation for float operation (where a
line breaks, where a page breaks, how a justified line is spaced), and its serialisation
(object order, dictionaries, compressed content streams, the xref table, the file /ID), so
the bytes are fpdf2's: tests/unit/test_casefile_pdf.py renders the same documents with both
and compares them. Anything else (other fonts, images, right alignment, borders) is refused
rather than approximated.
"""

from __future__ import annotations

import hashlib
import zlib
from binascii import hexlify
from codecs import BOM_UTF16_BE
from dataclasses import dataclass, field
from datetime import UTC, datetime

K = 72 / 25.4  # points per millimetre, the user unit
PAGE_PT = (595.28, 841.89)  # A4, as fpdf2 rounds it
ALIAS = "{nb}"  # replaced by the number of pages in the output
LMARGIN, NEXT, RIGHT, LEFT, TOP = "LMARGIN", "NEXT", "RIGHT", "LEFT", "TOP"
_TOLERANCE = 1e-9  # fpdf2's FloatTolerance
_DRAW_BLACK = "0 G"  # the default stroking colour (never written)
_BREAKING_SPACES = " \t"  # the breaking spaces Latin-1 text can hold
_PLACEHOLDER = "\x00{}\x00"  # a page-count alias in a page's content until the output

# The standard fonts' glyph widths (Adobe's AFM metrics, 1/1000 em) for codes 0-255.
_HELVETICA = (
    *(278,) * 32,
    *(278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556),
    *(556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722),
    *(722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722),
    *(667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556),
    *(556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500),
    *(500, 334, 260, 334, 584, 350, 556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333),
    *(1000, 350, 611, 350, 350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944),
    *(350, 500, 667, 278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737),
    *(333, 400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, 667),
    *(667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722, 778),
    *(778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556),
    *(556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, 556, 556, 556, 556, 556, 556, 556),
    *(584, 611, 556, 556, 556, 556, 500, 556, 500),
)
_HELVETICA_BOLD = (
    *(278,) * 32,
    *(278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556),
    *(556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722),
    *(722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722),
    *(667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611),
    *(611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556),
    *(500, 389, 280, 389, 584, 350, 556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333),
    *(1000, 350, 611, 350, 350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944),
    *(350, 500, 667, 278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737),
    *(333, 400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, 722),
    *(722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722, 778),
    *(778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556),
    *(556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, 611, 611, 611, 611, 611, 611, 611),
    *(584, 611, 611, 611, 611, 611, 556, 611, 556),
)
_COURIER = (600,) * 256
# fontkey (family + style, as fpdf2 keys them) -> PostScript name and widths
_STANDARD_FONTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "helvetica": ("Helvetica", _HELVETICA),
    "helveticaB": ("Helvetica-Bold", _HELVETICA_BOLD),
    "courier": ("Courier", _COURIER),
    "courierB": ("Courier-Bold", _COURIER),
}


class PdfTextError(ValueError):
    """Text the writer cannot show: outside printable Latin-1 (see `casefile.pdf.latin1`)."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(")", "\\)").replace("(", "\\(").replace("\r", "\\r")


def _pdf_string(text: str) -> str:
    """A text string of the document information dictionary, as fpdf2 writes it."""
    if text.isascii():
        return f"({_escape(text)})"
    return f"<{hexlify(BOM_UTF16_BE + text.encode('utf-16-be')).decode('latin-1')}>"


def _pdf_date(at: datetime) -> str:
    if at.tzinfo == UTC:  # fpdf2's test: another zone of offset 0 is written +00'00'
        return f"(D:{at:%Y%m%d%H%M%SZ})"
    out = f"D:{at:%Y%m%d%H%M%S%z}"
    return f"({out[:-2]}'{out[-2:]}')"


@dataclass(frozen=True, slots=True)
class _Font:
    index: int  # /F<index> in the pages' resources
    key: str
    name: str
    widths: tuple[int, ...]


@dataclass(eq=False, slots=True)
class _Fragment:
    """A run of text in one font and size; `alias` stands for the page count."""

    chars: list[str]
    font: _Font
    size_pt: float
    alias: bool = False
    units: int = -1  # the sum of the characters' widths, kept as they are added

    def __post_init__(self) -> None:
        if self.units < 0:
            self.units = self._units(self.chars)

    def _units(self, chars: list[str] | str) -> int:
        widths = self.font.widths
        return sum(widths[ord(c)] for c in chars)

    @property
    def font_size(self) -> float:
        return self.size_pt / K

    def width(self, chars: str | None = None) -> float:
        """The width in mm, computed as fpdf2 computes it (the same float operations)."""
        if chars is not None:
            units = self._units(chars)
        elif self.alias:
            units = self._units("000")  # the alias reserves "000" whatever it holds
        else:
            units = self.units
        return units * self.size_pt * 0.001 / K

    def append(self, char: str) -> None:
        self.chars.append(char)
        self.units += self.font.widths[ord(char)]

    def trim(self, length: int) -> None:
        self.chars = self.chars[:length]
        self.units = self._units(self.chars)

    def clone(self) -> _Fragment:
        return _Fragment([], self.font, self.size_pt, self.alias, 0)

    def same_style(self, other: _Fragment) -> bool:
        return (self.font, self.size_pt, self.alias) == (other.font, other.size_pt, other.alias)


@dataclass(frozen=True, slots=True)
class _TextLine:
    fragments: list[_Fragment]
    text_width: float
    spaces: int
    align: str  # L, J or C
    max_width: float
    trailing_nl: bool = False

    def measured_width(self) -> float:
        """The width the breaker measured, else (a cell's line) the fragments' summed."""
        text_width = self.text_width
        if not text_width:
            for fragment in self.fragments:
                text_width += fragment.width()
        return text_width

    def max_font_size(self) -> float:
        size: float = 0
        for fragment in self.fragments:
            if fragment.font_size - size > _TOLERANCE:
                size = fragment.font_size
        return size


@dataclass(frozen=True, slots=True)
class _SpaceHint:
    fragment_index: int  # in the paragraph's fragments
    char_index: int
    line_fragments: int  # fragments of the line when the space came
    line_chars: int  # characters of its last fragment before the space
    spaces: int


class _CurrentLine:
    def __init__(self, max_width: float) -> None:
        self.max_width = max_width
        self.fragments: list[_Fragment] = []
        self.spaces = 0
        self.space_hint: _SpaceHint | None = None

    @property
    def width(self) -> float:
        width: float = 0
        for fragment in self.fragments:
            width += fragment.width()
        return width

    def add(self, char: str, source: _Fragment, fragment_index: int, char_index: int) -> None:
        if not self.fragments or not source.same_style(self.fragments[-1]):
            self.fragments.append(source.clone())
        active = self.fragments[-1]
        if char in _BREAKING_SPACES:
            self.space_hint = _SpaceHint(
                fragment_index, char_index, len(self.fragments), len(active.chars), self.spaces
            )
            self.spaces += 1
        active.append(char)

    def manual_break(self, align: str, *, trailing_nl: bool = False) -> _TextLine:
        return _TextLine(
            self.fragments, self.width, self.spaces, align, self.max_width, trailing_nl
        )

    def break_at_space(self, align: str) -> tuple[int, int, _TextLine]:
        hint = self.space_hint
        assert hint is not None
        self.fragments = self.fragments[: hint.line_fragments]
        if self.fragments:
            self.fragments[-1].trim(hint.line_chars)
        self.spaces = hint.spaces
        return hint.fragment_index, hint.char_index, self.manual_break(align)


class _LineBreaker:
    """fpdf2's MultiLineBreak for word wrap: break at the last space that fits, else before
    the character that does not (a word longer than the line), and at every newline."""

    def __init__(self, fragments: list[_Fragment], width: float, margin: float, align: str):
        self.fragments = fragments
        self.width = width
        self.margin = margin  # the cell margin, taken off each side
        self.align = align
        self.fragment_index = 0
        self.char_index = 0

    def _unjustified(self) -> str:
        return "L" if self.align == "J" else self.align

    def line(self) -> _TextLine | None:
        if self.fragment_index == len(self.fragments):
            return None
        font_height: float = 0
        current = _CurrentLine(self.width)
        max_width = self.width - float(self.margin) - float(self.margin)
        while self.fragment_index < len(self.fragments):
            fragment = self.fragments[self.fragment_index]
            if self.char_index >= len(fragment.chars):
                self.char_index = 0
                self.fragment_index += 1
                continue
            if fragment.font_size - font_height > _TOLERANCE:
                font_height = fragment.font_size
                current.max_width = self.width
                max_width = self.width - float(self.margin) - float(self.margin)
            char = fragment.chars[self.char_index]
            char_width = fragment.width(char)
            if char == "\n":
                self.char_index += 1
                return current.manual_break(self._unjustified(), trailing_nl=True)
            if (current.width + char_width) - max_width > _TOLERANCE:
                if char in _BREAKING_SPACES:
                    self.char_index += 1
                    return current.manual_break(self.align)
                if current.space_hint is not None:
                    self.fragment_index, self.char_index, line = current.break_at_space(self.align)
                    self.char_index += 1
                    return line
                return current.manual_break(self._unjustified())
            current.add(char, fragment, self.fragment_index, self.char_index)
            self.char_index += 1
        if current.width:
            return current.manual_break(self._unjustified())
        return None


@dataclass(slots=True)
class _Page:
    contents: bytearray = field(default_factory=bytearray)
    fonts: set[int] = field(default_factory=set)
    aliases: list[tuple[str, _Fragment, float, float]] = field(default_factory=list)


class Document:
    """An A4 document in millimetres, with fpdf2's defaults: 10 mm margins, a 20 mm automatic
    page break margin, a 1 mm cell margin, 0.2 mm lines, black."""

    def __init__(self) -> None:
        self.w = PAGE_PT[0] / K
        self.h = PAGE_PT[1] / K
        margin = (7200 / 254) / K
        self.x: float = 0
        self.y: float = 0
        self.l_margin: float = 0
        self.t_margin: float = 0
        self.r_margin: float = 0
        self.set_margins(margin, margin)
        self.x, self.y = self.l_margin, self.t_margin
        self.c_margin = margin / 10.0
        self.auto_page_break = True
        self.b_margin: float = 2 * margin
        self.page_break_trigger = self.h - self.b_margin
        self.line_width = 0.567 / K
        self.page = 0
        self._pages: list[_Page] = []
        self._fonts: dict[str, _Font] = {}
        self.font_family = ""
        self.font_style = ""
        self.font_size_pt: float = 12
        self._font: _Font | None = None
        self._font_on_page = False
        self._draw_color = _DRAW_BLACK
        self._lasth: float = 0
        self.in_footer = False
        self.creation_date = datetime.now(UTC)
        self.title: str | None = None
        self.author: str | None = None
        self.producer: str | None = None
        self._done: bytes | None = None

    # -- settings
    def set_margins(self, left: float, top: float, right: float = -1) -> None:
        if self.x < left or self.x == self.l_margin:
            self.x = left
        self.l_margin = left
        if self.y < top or self.y == self.t_margin:
            self.y = top
        self.t_margin = top
        self.r_margin = left if right == -1 else right

    def set_auto_page_break(self, auto: bool, margin: float = 0) -> None:
        self.auto_page_break = auto
        self.b_margin = margin
        self.page_break_trigger = self.h - margin

    def set_creation_date(self, date: datetime) -> None:
        self.creation_date = date if date.tzinfo else date.astimezone()

    def set_title(self, title: str) -> None:
        self.title = title

    def set_author(self, author: str) -> None:
        self.author = author

    def set_producer(self, producer: str) -> None:
        self.producer = producer

    @property
    def font_size(self) -> float:
        return self.font_size_pt / K

    def page_no(self) -> int:
        return self.page

    def get_y(self) -> float:
        return self.y

    def set_y(self, y: float) -> None:
        self.x = self.l_margin
        self.y = y if y >= 0 else self.h + y

    def footer(self) -> None:
        """Drawn on each page as it is finished (override)."""

    # -- pages
    def _out(self, line: str) -> None:
        if not self.page:
            raise ValueError("no page: call add_page() first")
        contents = self._pages[self.page - 1].contents
        contents.extend(line.encode("latin-1"))
        contents.append(0x0A)

    def _render_footer(self) -> None:
        self.in_footer = True
        self.footer()
        self.in_footer = False

    def add_page(self) -> None:
        if self._done is not None:
            raise ValueError("the document was already output")
        self._font_on_page = False
        family, style, size = self.font_family, self.font_style, self.font_size_pt
        color = self._draw_color
        if self.page > 0:
            self._render_footer()
        self.page += 1
        self._pages.append(_Page())
        self.x, self.y = self.l_margin, self.t_margin
        self.font_family = ""
        self._out("2 J")
        self._out(f"{self.line_width * K:.2f} w")
        if family:
            self.set_font(family, style, size)
        self._draw_color = color
        if color != _DRAW_BLACK:
            self._out(color)

    def _page_break_if_needed(self, h: float) -> bool:
        if not (self.y + h > self.page_break_trigger and not self.in_footer):
            return False
        if not self.auto_page_break:
            return False
        x = self.x
        saved = (self.font_family, self.font_style, self.font_size_pt, self._font)
        self._font_on_page = False
        self.add_page()
        self.font_family, self.font_style, self.font_size_pt, self._font = saved
        self._font_on_page = False
        self.x = x
        return True

    # -- drawing state
    def set_font(self, family: str = "", style: str = "", size: float = 0) -> None:
        family = (family or self.font_family).lower()
        style = "".join(sorted(style.upper()))
        size = size or self.font_size_pt
        key = family + style
        if key not in _STANDARD_FONTS:
            raise ValueError(f"font {key!r}: only {', '.join(_STANDARD_FONTS)} are supported")
        if (
            self.font_family == family
            and self.font_style == style
            and abs(self.font_size_pt - size) <= _TOLERANCE
            and (self._font is None or self._font.key == key)
        ):
            return
        if key not in self._fonts:
            name, widths = _STANDARD_FONTS[key]
            self._fonts[key] = _Font(len(self._fonts) + 1, key, name, widths)
        self.font_family, self.font_style, self.font_size_pt = family, style, size
        self._font = self._fonts[key]
        self._font_on_page = False

    def set_draw_color(self, r: int, g: int, b: int) -> None:
        """An RGB stroking colour, components 0-255 (what fpdf2 writes for them)."""
        if (r, g, b) == (0, 0, 0):
            color = _DRAW_BLACK
        else:
            color = " ".join(_component(v) for v in (r, g, b)) + " RG"
        if color != self._draw_color:
            self._draw_color = color
            if self.page > 0:
                self._out(color)

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self._out(
            f"{x1 * K:.2f} {(self.h - y1) * K:.2f} m {x2 * K:.2f} {(self.h - y2) * K:.2f} l S"
        )

    def ln(self, h: float | None = None) -> None:
        self.x = self.l_margin
        if h is not None:
            self.y += h
        elif self._lasth:
            self.y += self._lasth
        else:
            self.y += self.font_size

    # -- text
    def _fragments(self, text: str) -> list[_Fragment]:
        for char in text:
            if char != "\n" and not (ord(char) < 256 and char.isprintable()):
                raise PdfTextError(f"character {char!r} is not printable Latin-1")
        if not text:
            return []
        if self._font is None:
            raise ValueError("no font: call set_font() first")
        fragments: list[_Fragment] = []
        for n, part in enumerate(text.split(ALIAS)):
            if n > 0:
                fragments.append(_Fragment(list(ALIAS), self._font, self.font_size_pt, True))
            if part:
                fragments.append(_Fragment(list(part), self._font, self.font_size_pt))
        return fragments

    def cell(self, w: float, h: float, text: str = "", *, align: str = "L") -> None:
        """One line of text in a cell `w` wide (0: to the right margin), left-aligned or
        centred; the position moves right of it."""
        if align not in ("L", "C"):
            raise ValueError(f"align {align!r}: only L and C are supported")
        line = _TextLine(self._fragments(text), 0, 0, align, w)
        self._render_line(line, h, RIGHT, TOP)

    def multi_cell(
        self,
        w: float,
        h: float,
        text: str = "",
        *,
        new_x: str = RIGHT,
        new_y: str = NEXT,
        align: str = "J",
    ) -> None:
        """A paragraph wrapped at words in lines `h` high, `w` wide (0: to the right margin);
        the automatic page break may come between any two lines."""
        if align not in ("L", "J"):
            raise ValueError(f"align {align!r}: only L and J are supported")
        if (new_x, new_y) != (LMARGIN, NEXT):
            raise ValueError("only new_x=LMARGIN, new_y=NEXT are supported")
        if self._font is None:
            raise ValueError("no font: call set_font() first")
        if w == 0:
            w = self.w - self.r_margin - self.x
        breaker = _LineBreaker(self._fragments(text.replace("\r", "")), w, self.c_margin, align)
        lines: list[_TextLine] = []
        while (line := breaker.line()) is not None:
            lines.append(line)
        if not lines:
            lines = [_TextLine([], 0, 0, align, w)]
        for n, line in enumerate(lines):
            self._page_break_if_needed(h)
            last = n == len(lines) - 1
            self._render_line(line, h, new_x if last else LEFT, NEXT)
        if lines[-1].trailing_nl:
            self.ln()

    def _font_for_page(self, font: _Font, size_pt: float) -> str:
        self._pages[self.page - 1].fonts.add(font.index)
        self._font_on_page = True
        return f"/F{font.index} {size_pt:.2f} Tf"

    def _render_line(self, line: _TextLine, h: float, new_x: str, new_y: str) -> None:
        """fpdf2's `_render_styled_text_line` for one line without borders or fill."""
        text_width = line.measured_width()
        w = line.max_width
        if w == 0:
            w = self.w - self.r_margin - self.x
        max_font_size = line.max_font_size()
        self._page_break_if_needed(h)
        if line.fragments:
            parts, current_ws = self._text_object(line, h, w, text_width, max_font_size)
            # fpdf2 saves the graphics state around a line that leaves word spacing set
            self._out(f"q {' '.join(parts)} Q" if current_ws != 0.0 else " ".join(parts))
        self._lasth = h or self.font_size
        self._move_after(w, h, new_x, new_y)

    def _text_object(
        self, line: _TextLine, h: float, w: float, text_width: float, max_font_size: float
    ) -> tuple[list[str], float]:
        """The line's BT ... ET operators, and the word spacing its last fragment set."""
        margin = self.c_margin
        dx = (w - text_width) / 2 if line.align == "C" else margin
        word_spacing: float = 0
        if line.align == "J" and line.spaces:
            word_spacing = (w - margin - margin - text_width) / line.spaces
        parts = [
            f"BT {(self.x + dx) * K:.2f} "
            f"{(self.h - self.y - 0.5 * h - 0.3 * max_font_size) * K:.2f} Td"
        ]
        current_ws = 0.0
        font, size = self._font, self.font_size_pt
        for fragment in line.fragments:
            font, size = self._fragment_font(fragment, font, size, parts)
            parts.append(self._shown(fragment, word_spacing, current_ws))
            current_ws = word_spacing
        parts.append("ET")
        return parts, current_ws

    def _fragment_font(
        self, fragment: _Fragment, font: _Font | None, size: float, parts: list[str]
    ) -> tuple[_Font | None, float]:
        """Select the fragment's font as fpdf2 does: the first on a page in a text object of
        its own, written before the line's; a later change among the line's operators."""
        if not self._font_on_page:
            font = self._font = fragment.font
            size = self.font_size_pt = fragment.size_pt
            self._out(f"BT {self._font_for_page(font, size)} ET")
        elif font != fragment.font or size != fragment.size_pt:
            font, size = fragment.font, fragment.size_pt
            parts.append(self._font_for_page(font, size))
        return font, size

    def _shown(self, fragment: _Fragment, frag_ws: float, current_ws: float) -> str:
        """The fragment's text operator; for the page-count alias, a placeholder that
        `output()` replaces once the count is known."""
        if not fragment.alias:
            return _show(fragment, "".join(fragment.chars), frag_ws, current_ws)
        page = self._pages[self.page - 1]
        placeholder = _PLACEHOLDER.format(sum(len(p.aliases) for p in self._pages))
        page.aliases.append((placeholder, fragment, frag_ws, current_ws))
        return placeholder

    def _move_after(self, w: float, h: float, new_x: str, new_y: str) -> None:
        if new_x == RIGHT:
            self.x += w
        elif new_x == LMARGIN:
            self.x = self.l_margin
        if new_y == NEXT:
            self.y += h

    # -- the file
    def output(self) -> bytes:
        """The document's bytes (the last page's footer drawn, the page count filled in)."""
        if self._done is not None:
            return self._done
        if self.page == 0:
            self.add_page()
        self._render_footer()
        count = str(self.page)
        for page in self._pages:
            for placeholder, fragment, frag_ws, current_ws in page.aliases:
                shown = _show(fragment, count, frag_ws, current_ws)
                page.contents = page.contents.replace(
                    placeholder.encode("latin-1"), shown.encode("latin-1")
                )
        self._done = _serialise(self)
        return self._done


def _component(value: int) -> str:
    """fpdf2's number_to_str of value/255: four decimals, trailing zeros dropped."""
    if not 0 <= value <= 255:
        raise ValueError(f"colour component {value} is not within 0-255")
    return f"{value / 255:.4f}".rstrip("0").rstrip(".")


def _show(fragment: _Fragment, text: str, frag_ws: float, current_ws: float) -> str:
    spacing = f"{frag_ws * K:.3f} Tw " if frag_ws != current_ws else ""
    return f"{spacing}({_escape(text)}) Tj"


def _serialise(doc: Document) -> bytes:
    """The objects in fpdf2's order: pages root, catalog, each page and its content stream,
    the fonts, each page's resources, the information dictionary; then xref and trailer."""
    pages = doc._pages
    fonts = sorted(doc._fonts.values(), key=lambda f: f.index)
    page_ids = [3 + 2 * n for n in range(len(pages))]
    font_ids = {f.index: 3 + 2 * len(pages) + n for n, f in enumerate(fonts)}
    resources_ids = [3 + 2 * len(pages) + len(fonts) + n for n in range(len(pages))]
    info_id = 3 + 3 * len(pages) + len(fonts)
    objects: list[str | bytes] = []  # in id order from 1

    def obj(fields: list[str], stream: bytes | None = None) -> str | bytes:
        head = "\n".join([f"{len(objects) + 1} 0 obj", "<<", "\n".join(fields), ">>"])
        if stream is None:
            return head + "\nendobj"
        return head.encode("latin-1") + b"\nstream\n" + stream + b"\nendstream\nendobj"

    kids = "\n".join(f"{i} 0 R" for i in page_ids)
    media_box = f"[0 0 {PAGE_PT[0]:.2f} {PAGE_PT[1]:.2f}]"
    objects.append(
        obj([f"/Count {len(pages)}", f"/Kids [{kids}]", f"/MediaBox {media_box}", "/Type /Pages"])
    )
    objects.append(
        obj(
            [
                f"/OpenAction [{page_ids[0]} 0 R /FitH null]",
                "/PageLayout /OneColumn",
                "/Pages 1 0 R",
                "/Type /Catalog",
            ]
        )
    )
    for n, page in enumerate(pages):
        objects.append(
            obj(
                [
                    f"/Contents {page_ids[n] + 1} 0 R",
                    "/Parent 1 0 R",
                    f"/Resources {resources_ids[n]} 0 R",
                    "/Type /Page",
                ]
            )
        )
        stream = zlib.compress(bytes(page.contents), level=-1)
        objects.append(obj(["/Filter /FlateDecode", f"/Length {len(stream)}"], stream))
    for font in fonts:
        objects.append(
            obj(
                [
                    f"/BaseFont /{font.name}",
                    "/Encoding /WinAnsiEncoding",
                    "/Subtype /Type1",
                    "/Type /Font",
                ]
            )
        )
    for page in pages:
        used = "\n".join(f"/F{i} {font_ids[i]} 0 R" for i in sorted(page.fonts))
        fields = [f"/Font <<{used}>>"] if page.fonts else []
        objects.append(obj([*fields, "/ProcSet [/PDF /Text /ImageB /ImageC /ImageI]"]))
    info = [
        *([f"/Author {_pdf_string(doc.author)}"] if doc.author else []),
        f"/CreationDate {_pdf_date(doc.creation_date)}",
        *([f"/Producer {_pdf_string(doc.producer)}"] if doc.producer else []),
        *([f"/Title {_pdf_string(doc.title)}"] if doc.title else []),
    ]
    objects.append(obj(info))
    assert len(objects) == info_id

    out = bytearray("%PDF-1.3\n%éëñ¿\n".encode("latin-1"))
    offsets = []
    for item in objects:
        offsets.append(len(out))
        out += item.encode("latin-1") if isinstance(item, str) else item
        out += b"\n"
    startxref = len(out)
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(out)
    digest.update(doc.creation_date.strftime("%Y%m%d%H%M%S").encode("utf8"))
    file_id = digest.hexdigest().upper()
    trailer = [
        "xref",
        f"0 {len(objects) + 1}",
        "0000000000 65535 f ",
        *(f"{offset:010} 00000 n " for offset in offsets),
        "trailer",
        "<<",
        f"/Size {len(objects) + 1}",
        "/Root 2 0 R",
        f"/Info {info_id} 0 R",
        f"/ID [<{file_id}><{file_id}>]",
        ">>",
        "startxref",
        str(startxref),
        "%%EOF",
    ]
    out += "\n".join(trailer).encode("latin-1") + b"\n"
    return bytes(out)


__all__ = ["ALIAS", "LMARGIN", "NEXT", "Document", "PdfTextError"]
