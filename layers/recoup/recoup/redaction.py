"""Take personal data out of text bound for the logs: exception messages and tracebacks can
quote an email address (a validator's or the provider's message), a phone number or an IP.

Redacted: email addresses (Unicode local parts included), phone numbers written with a
leading `+` or with separators (`(555) 010-9999`, `555-010-9999`), IPv4 and IPv6 addresses.
Bare runs of digits are kept: order, customer and payment ids are digits and are what an
operator needs to find the case.
"""

from __future__ import annotations

import ipaddress
import re

EMAIL = "[email]"
PHONE = "[phone]"
IP = "[ip]"

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# + and 7 to 15 digits, spaces, dots, dashes or brackets between them; or a national number
# with separators: 3 digits, 3 digits, 4 digits (the area code may be in brackets).
_PHONE = re.compile(
    r"\+\d[\d\s().-]{5,18}\d"
    r"|(?<![\w.])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w.])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Hex digits, dots and at least two colons (IPv4-mapped forms included), checked by parsing.
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?![\w])")


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    address = text.rstrip(".")  # a full stop ending the sentence
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return text  # a time (15:15:00) or some other run of colons, not an address
    return IP + text[len(address) :]


def _ipv4(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv4Address(match.group(0))
    except ValueError:
        return match.group(0)  # a version number or the like
    return IP


def redact(text: str) -> str:
    """The text with emails, phone numbers and IP addresses replaced by a marker."""
    text = _EMAIL.sub(EMAIL, text)
    text = _IPV6_CANDIDATE.sub(_ipv6, text)
    text = _IPV4.sub(_ipv4, text)
    return _PHONE.sub(PHONE, text)
