"""Reading untrusted JSON: exact integers, real bounds, clear errors that name the field.

Every value a webhook carries is checked here before the delivery is accepted, so nothing
that passes the door can fail later for its shape (a year-10000 date, an amount of 1e308, a
name of a megabyte). The limits sit well above anything Shopify or Stripe send:
- bodies up to MAX_BODY_BYTES (Lambda's 6 MB request limit; a large order is ~1 MB),
  nested at most MAX_DEPTH deep (Shopify and Stripe bodies nest under 10);
- amounts not negative and at most `money.MAX_MAJOR_UNITS` of their currency;
- times from EARLIEST to now + FUTURE_SKEW;
- ids at most 64-bit (Shopify) or 255 characters of Stripe's id alphabet;
- text fields at most LIMITS[field] characters.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from recoup import clock
from recoup.domain.money import MAX_MAJOR_UNITS, Money, MoneyError
from recoup.errors import MalformedWebhook

MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_DEPTH = 32
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)  # clocks differ; a day ahead is no longer a clock
MAX_PLATFORM_ID = 2**63 - 1  # Shopify ids are signed 64-bit integers
MAX_LIST_ITEMS = 2000  # line items, refunds' transactions: Shopify caps draft orders at 499

# Longest text accepted per field (characters). Shopify caps names, titles and addresses at
# 255; e-mail addresses are at most 254 (RFC 5321); a line item's name joins product and
# variant titles. Whatever is longer was not written by Shopify or Stripe.
LIMITS: dict[str, int] = {
    "email": 254,
    "phone": 64,
    "name": 255,
    "title": 512,
    "address": 255,
    "city": 255,
    "zip": 32,
    "country": 64,
    "province": 64,
    "locale": 35,
    "code": 255,
    "message": 2000,
    "status": 64,
    "sku": 255,
    "url": 2048,
    "header": 255,
}

_DIGITS = re.compile(r"[0-9]{1,19}")
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a webhook body. Python's json keeps integers exact (Shopify ids exceed 2**53)."""
    if len(raw) > MAX_BODY_BYTES:
        raise MalformedWebhook(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MalformedWebhook(f"body nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise MalformedWebhook("body must be a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise MalformedWebhook(f"body nests deeper than {MAX_DEPTH} levels")
    return data


def _depth(data: Any) -> int:
    """How deep objects and arrays nest (a flat object is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break  # already too deep: no need to look further
        stack.extend((child, level + 1) for child in children)
    return deepest


def require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if value is None:
        raise MalformedWebhook(f"{where}{key} is missing")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise MalformedWebhook(f"{where}{key} has the wrong type ({type(value).__name__})")
    return value


def optional_str(
    data: dict[str, Any] | None, key: str, limit: str = "name", where: str = ""
) -> str | None:
    """An optional text field: None when absent, empty or not text (an odd type means
    "unknown", as for every optional fact). An integer is read as its digits (a zip sent as
    a number). Text longer than LIMITS[limit] is refused: no platform writes it."""
    if not isinstance(data, dict):
        return None
    value = data.get(key)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = _int_text(value, f"{where}{key}")
    elif isinstance(value, str):
        text = value
    else:
        return None
    if len(text) > LIMITS[limit]:
        raise MalformedWebhook(f"{where}{key} is longer than {LIMITS[limit]} characters")
    return text


def _int_text(value: int, field: str) -> str:
    if abs(value) > MAX_PLATFORM_ID:
        raise MalformedWebhook(f"{field} is out of range")
    return str(value)


def money(amount: Any, currency: Any, field: str) -> Money:
    """A Shopify decimal amount: not negative, at most MAX_MAJOR_UNITS of its currency."""
    if not isinstance(currency, str):
        raise MalformedWebhook(f"{field}: currency is missing")
    if isinstance(amount, str) and len(amount) > 64:
        raise MalformedWebhook(f"{field}: amount is longer than 64 characters")
    try:
        return _bounded(Money.parse(amount, currency), field)
    except MoneyError as exc:
        raise MalformedWebhook(f"{field}: {exc}") from None


def stripe_money(amount: Any, currency: Any, field: str) -> Money:
    """A Stripe amount (Stripe's minor units): not negative, at most MAX_MAJOR_UNITS."""
    if not isinstance(currency, str):
        raise MalformedWebhook(f"{field}: currency is missing")
    try:
        return _bounded(Money.from_stripe(amount, currency), field)
    except MoneyError as exc:
        raise MalformedWebhook(f"{field}: {exc}") from None


def _bounded(value: Money, field: str) -> Money:
    if value.minor < 0:
        raise MalformedWebhook(f"{field}: amount must not be negative ({value})")
    if not value.within_bounds():
        raise MalformedWebhook(
            f"{field}: amount is above {MAX_MAJOR_UNITS:,} {value.currency}, the largest accepted"
        )
    return value


def total(amounts: list[Money], field: str) -> Money | None:
    """The sum of amounts of one currency, itself within bounds."""
    if not amounts:
        return None
    currencies = {a.currency for a in amounts}
    if len(currencies) > 1:
        raise MalformedWebhook(f"{field}: amounts in more than one currency ({sorted(currencies)})")
    return _bounded(Money.of(sum(a.minor for a in amounts), amounts[0].currency), field)


def window() -> tuple[datetime, datetime]:
    """The times a delivery may state: from EARLIEST to a day from now. Now is the later of
    the real time and the clock's: the local stack's simulated clock may run behind or ahead
    of the real one, and neither makes a genuine delivery absurd (in Lambda they are one)."""
    return EARLIEST, max(clock.now(), datetime.now(tz=UTC)) + FUTURE_SKEW


def iso_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time with a zone, within `window()`."""
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} is missing")
    shown = value if len(value) <= 40 else value[:37] + "..."
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise MalformedWebhook(f"{field} has no time zone: {shown!r}")
        # A zone can move year 1 or 9999 off the calendar: OverflowError.
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise MalformedWebhook(f"{field} is not an ISO 8601 time: {shown!r}") from None
    return _in_window(parsed, field)


def unix_time(value: Any, field: str) -> datetime:
    """Seconds since 1970 as an integer, within `window()`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedWebhook(f"{field} must be a Unix timestamp")
    earliest, latest = window()
    if not earliest.timestamp() <= value <= latest.timestamp():
        raise _outside(field)
    return datetime.fromtimestamp(value, tz=UTC)


def _in_window(at: datetime, field: str) -> datetime:
    earliest, latest = window()
    if not earliest <= at <= latest:
        raise _outside(field)
    return at


def _outside(field: str) -> MalformedWebhook:
    return MalformedWebhook(
        f"{field} is outside {EARLIEST.date().isoformat()} .. now + {FUTURE_SKEW.days} day"
    )


def optional_time(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone within `window()`, or None when absent, unreadable or
    outside it: for optional facts, where an odd value means "unknown", not a refusal."""
    if not isinstance(value, str):
        return None
    try:
        return iso_time(value, "")
    except MalformedWebhook:
        return None


def optional_id(value: Any) -> str | None:
    """A platform id sent as a positive 64-bit integer or a string of its digits, as exact
    digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 < value <= MAX_PLATFORM_ID else None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value)
        return str(number) if 0 < number <= MAX_PLATFORM_ID else None
    return None


def platform_id(data: dict[str, Any], key: str, where: str = "") -> str:
    """A required positive 64-bit integer id, as exact digits."""
    value = require(data, key, int, where)
    if not 0 < value <= MAX_PLATFORM_ID:
        raise MalformedWebhook(f"{where}{key} must be a positive integer below 2^63")
    return str(value)


def stripe_id(value: Any, field: str) -> str:
    """A Stripe object id (letters, digits, underscores; `pi_...`, `ch_...`)."""
    if not isinstance(value, str) or not _STRIPE_ID.fullmatch(value):
        raise MalformedWebhook(f"{field} is not a Stripe id")
    return value


def bounded_list(value: Any, field: str) -> list[Any]:
    """A list (absent is empty) of at most MAX_LIST_ITEMS entries."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{field} must be a list")
    if len(value) > MAX_LIST_ITEMS:
        raise MalformedWebhook(f"{field} has more than {MAX_LIST_ITEMS} entries")
    return value


def header_value(value: str | None) -> str | None:
    """An unsigned header's value when it is short printable text, else None: a header no
    signature covers is a hint, never a reason to fail."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > LIMITS["header"] or not text.isprintable() or not text.isascii():
        return None
    return text
