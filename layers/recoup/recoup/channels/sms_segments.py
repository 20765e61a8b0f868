"""How an SMS text travels: its encoding, its length in that encoding, and how many segments
(billed messages) it is split into.

GSM-7 (3GPP TS 23.038) when every character is in the basic set or its extension table: a
basic character is one septet, an extension character two (the escape and the character);
a single message holds 160 septets, a concatenated one 153 per segment (the user data
header takes the rest). Anything else goes as UCS-2, counted in UTF-16 code units (an emoji
outside the Basic Multilingual Plane is two): 70 in a single message, 67 per segment.
Segments are filled greedily and a two-unit character (an escape pair, a surrogate pair) is
never split across two, as handsets and carriers do.

Written by hand: the PyPI packages that count segments either count characters rather than
UTF-16 units for UCS-2 or transliterate the text, and none is kept up; the tables below are
the standard's and do not change. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The GSM 03.38 basic character set (the escape, 0x1B, is not a character of its own).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as the escape and a septet, two septets in all.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True, slots=True)
class SmsSize:
    """`length` in septets (GSM-7) or UTF-16 code units (UCS-2); `per_segment` is what one
    segment holds at this size (160/70 alone, 153/67 once split)."""

    encoding: Encoding
    length: int
    segments: int
    per_segment: int


def encoding_of(text: str) -> Encoding:
    return "GSM-7" if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text) else "UCS-2"


def _units(text: str, encoding: Encoding) -> list[int]:
    """What each character costs in its encoding."""
    if encoding == "GSM-7":
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def measure(text: str) -> SmsSize:
    encoding = encoding_of(text)
    units = _units(text, encoding)
    length = sum(units)
    if length <= SINGLE[encoding]:
        return SmsSize(encoding, length, 1 if length else 0, SINGLE[encoding])
    capacity = CONCATENATED[encoding]
    segments, used = 1, 0
    for cost in units:
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return SmsSize(encoding, length, segments, capacity)


__all__ = ["CONCATENATED", "GSM_BASIC", "GSM_EXTENSION", "SINGLE", "SmsSize", "measure"]
