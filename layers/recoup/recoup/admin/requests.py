"""The admin API's requests read into the typed inputs its services take.

Checked here: the shape of the request (the body is a JSON object of at most MAX_BODY with
only the keys the route takes, so a shop named in the body is refused; values have the JSON
types the service takes; query parameters parse). What the values mean is the service's to
check. A field in an error is a path into the body sent, or the parameter's name.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from recoup.errors import InvalidInput, InvalidJson, InvalidParameter, PayloadTooLarge
from recoup.services.shop_settings import DocumentUpdate

# The case pages' and the test message's services are imported by their routes' readers
# below: a request for another page (settings, the checklist) never loads them.
if TYPE_CHECKING:
    from recoup.services.case_views import ActionRequest, CaseQuery
    from recoup.services.step_samples import SampleRequest

MAX_BODY = 256 * 1024
MAX_DAYS = 36500


class Incoming:
    """One request's body and query, as the routes read them."""

    def __init__(self, event: APIGatewayProxyEventV2) -> None:
        self._event = event

    def body(self, *allowed: str) -> dict[str, Any]:
        data = _json_object(self._event.body, bool(self._event.is_base64_encoded))
        unknown = sorted(set(data) - set(allowed))
        if unknown:  # a shop named in the body, say: the shop is the token's, never the body's
            raise InvalidInput(f"unknown key; allowed: {', '.join(allowed)}", field=unknown[0])
        return data

    def query(self, name: str) -> str | None:
        value = self._event.get_query_string_value(name)
        return value.strip() if value and value.strip() else None


# ---------------------------------------------------------------- bodies


def document_update(incoming: Incoming, key: str) -> DocumentUpdate:
    """`{"version": n, key: {...}}`: a policy edited from version n."""
    data = incoming.body("version", key)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidInput(
            "must be the version you loaded (an integer, 0 for none)", field="version"
        )
    return DocumentUpdate(version, _object(data, key))


def template_parts(incoming: Incoming) -> dict[str, Any]:
    return _object(incoming.body("parts"), "parts")


def preview_request(incoming: Incoming) -> dict[str, Any]:
    return incoming.body("step", "index")


def action_request(incoming: Incoming) -> ActionRequest:
    from recoup.services.case_views import ActionRequest

    data = incoming.body("action", "note", "kind")
    action, note, kind = data.get("action"), data.get("note", ""), data.get("kind")
    if not isinstance(action, str):
        raise InvalidInput("must be the action's name", field="action")
    if not isinstance(note, str):
        raise InvalidInput("must be a text", field="note")
    if kind is not None and not isinstance(kind, str):
        raise InvalidInput("must be agency or legal", field="kind")
    return ActionRequest(action, note, kind)


def sample_request(incoming: Incoming) -> SampleRequest:
    from recoup.services.step_samples import SampleRequest

    data = incoming.body("channel", "step", "to")
    return SampleRequest(data.get("channel"), data.get("step"), data.get("to"))


def reply_to(incoming: Incoming) -> str | None:
    raw = incoming.body("reply_to").get("reply_to")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("must be an email address or empty", field="reply_to")
    return raw


def _json_object(raw: str | None, encoded: bool) -> dict[str, Any]:
    text = raw or ""
    if encoded:
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidJson("the body is not UTF-8 JSON") from None
    if len(text) > MAX_BODY:
        raise PayloadTooLarge(f"the body is over {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidJson("the body must be a JSON object")
    return data


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    doc = data.get(key)
    if not isinstance(doc, dict):
        raise InvalidInput("must be an object", field=key)
    return doc


# ---------------------------------------------------------------- query parameters


def case_query(incoming: Incoming) -> CaseQuery:
    from recoup.services.case_views import DEFAULT_PAGE, MAX_PAGE, RISKS, STATES, CaseQuery

    return CaseQuery(
        limit=_integer(incoming.query("limit"), "limit", 1, MAX_PAGE) or DEFAULT_PAGE,
        state=_choice(incoming.query("state"), "state", STATES),
        risk=_choice(incoming.query("risk"), "risk", RISKS),
        min_amount=_amount(incoming.query("min_amount"), "min_amount"),
        max_amount=_amount(incoming.query("max_amount"), "max_amount"),
        older_than_days=_integer(incoming.query("older_than_days"), "older_than_days", 0, MAX_DAYS),
        after=_cursor(incoming.query("cursor")),
    )


def period(incoming: Incoming) -> tuple[datetime | None, datetime | None]:
    """`from` and `to`: days (YYYY-MM-DD, UTC; `to` includes the whole day) or times with
    their offsets; `to` after `from`."""
    start = _date(incoming.query("from"), "from", end_of_day=False)
    end = _date(incoming.query("to"), "to", end_of_day=True)
    if start and end and start >= end:
        raise InvalidInput("must be after 'from'", field="to")
    return start, end


def encode_cursor(after: str) -> str:
    """The opaque cursor the list hands out: where its next page starts."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _cursor(raw: str | None) -> str | None:
    if raw is None:
        return None
    from recoup.services.case_views import CASE_ID

    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str) or not CASE_ID.fullmatch(after):
        raise InvalidParameter("is not a cursor this API handed out", field="cursor")
    return after


def _integer(raw: str | None, name: str, low: int, high: int) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise InvalidParameter(f"must be an integer from {low} to {high}", field=name)
    return int(raw)


def _choice(raw: str | None, name: str, allowed: frozenset[str]) -> str | None:
    if raw is not None and raw not in allowed:
        raise InvalidParameter(f"must be one of {', '.join(sorted(allowed))}", field=name)
    return raw


def _amount(raw: str | None, name: str) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(raw) if len(raw) <= 30 else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise InvalidParameter("must be a non-negative amount such as 25.50", field=name)
    return value


def _date(raw: str | None, name: str, *, end_of_day: bool) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidParameter("must be a date such as 2026-11-30", field=name)
    if len(raw) == 10:  # a bare date
        day = parsed.replace(tzinfo=UTC)
        return day + timedelta(days=1) if end_of_day else day
    if parsed.tzinfo is None:
        raise InvalidParameter("a time must carry its UTC offset", field=name)
    return parsed.astimezone(UTC)
