"""Reading untrusted JSON: exact integers, clear errors that name the field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from recoup.domain.money import Money, MoneyError
from recoup.errors import MalformedWebhook

_DIGITS = re.compile(r"[0-9]{1,20}")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a webhook body. Python's json keeps integers exact (Shopify ids exceed 2**53)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedWebhook("body must be a JSON object")
    return data


def require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if value is None:
        raise MalformedWebhook(f"{where}{key} is missing")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise MalformedWebhook(f"{where}{key} has the wrong type ({type(value).__name__})")
    return value


def optional_str(data: dict[str, Any] | None, key: str) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get(key)
    if value is None or value == "":
        return None
    return str(value)


def money(amount: Any, currency: Any, field: str) -> Money:
    if not isinstance(currency, str):
        raise MalformedWebhook(f"{field}: currency is missing")
    try:
        return Money.parse(amount, currency)
    except MoneyError as exc:
        raise MalformedWebhook(f"{field}: {exc}") from None


def stripe_money(amount: Any, currency: Any, field: str) -> Money:
    if not isinstance(currency, str):
        raise MalformedWebhook(f"{field}: currency is missing")
    try:
        return Money.from_stripe(amount, currency)
    except MoneyError as exc:
        raise MalformedWebhook(f"{field}: {exc}") from None


def iso_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedWebhook(f"{field} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise MalformedWebhook(f"{field} has no time zone: {value!r}")
    return parsed.astimezone(UTC)


def unix_time(value: Any, field: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedWebhook(f"{field} must be a Unix timestamp")
    return datetime.fromtimestamp(value, tz=UTC)


def optional_time(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone, or None when absent or unreadable: for optional facts,
    where an odd value means "unknown", not a rejected delivery."""
    if not isinstance(value, str):
        return None
    try:
        return iso_time(value, "")
    except MalformedWebhook:
        return None


def optional_id(value: Any) -> str | None:
    """A platform id sent as a positive integer or a string of digits, as exact digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()) and int(value) > 0:
        return str(int(value))
    return None
