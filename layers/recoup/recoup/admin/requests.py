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
from recoup.services.shop_settings import DocumentUpdate, SettingsUpdate

# The case pages' and the test message's services are imported by their routes' readers
# below: a request for another page (settings, the checklist) never loads them.
if TYPE_CHECKING:
    from recoup.services.case_list import CaseQuery
    from recoup.services.case_views import ActionRequest, BulkRequest
    from recoup.services.step_samples import SampleRequest
    from recoup.services.strategy_tester import TesterRequest

MAX_BODY = 256 * 1024
MAX_DAYS = 36500
WHATIF_DAYS = 90  # the what-if preview looks back at most this many days


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


# The settings page's one save: each section as its own PUT takes it.
SETTINGS_SECTIONS = {"reminders": "policy", "fraud": "settings", "referral": "policy"}


def settings_update(incoming: Incoming) -> SettingsUpdate:
    """`{"reminders"?: {"version", "policy"}, "fraud"?: {"version", "settings"},
    "referral"?: {"version", "policy"}}`; a field at fault is named from its section."""
    data = incoming.body(*SETTINGS_SECTIONS)
    updates: dict[str, DocumentUpdate] = {}
    for section, key in SETTINGS_SECTIONS.items():
        if section not in data:
            continue
        sent = data[section]
        if not isinstance(sent, dict):
            raise InvalidInput("must be an object", field=section)
        unknown = sorted(set(sent) - {"version", key})
        if unknown:
            raise InvalidInput(
                f"unknown key; allowed: version, {key}", field=f"{section}.{unknown[0]}"
            )
        version = sent.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidInput(
                "must be the version you loaded (an integer, 0 for none)",
                field=f"{section}.version",
            )
        if not isinstance(sent.get(key), dict):
            raise InvalidInput("must be an object", field=f"{section}.{key}")
        updates[section] = DocumentUpdate(version, sent[key])
    return SettingsUpdate(**updates)


def preview_request(incoming: Incoming) -> dict[str, Any]:
    return incoming.body("step", "index", "situation")


def strategy_test(incoming: Incoming) -> TesterRequest:
    """`{"reminders": {...}, "case_id": str}` or `{"reminders": {...}, "facts": {...}}`: the
    unsaved reminders document and one case of the shop, or facts entered by hand."""
    from recoup.services.strategy_tester import TesterRequest

    data = incoming.body("reminders", "case_id", "facts")
    reminders = _object(data, "reminders")
    case_id, facts = data.get("case_id"), data.get("facts")
    if (case_id is None) == (facts is None):
        raise InvalidInput("send one of case_id and facts", field="case_id")
    if case_id is not None and (not isinstance(case_id, str) or not case_id.strip()):
        raise InvalidInput("must be the case's id", field="case_id")
    if facts is not None and not isinstance(facts, dict):
        raise InvalidInput("must be an object", field="facts")
    return TesterRequest(reminders, case_id.strip() if case_id else None, facts)


def whatif_request(incoming: Incoming) -> tuple[dict[str, Any], int]:
    """`{"reminders": {...}, "days"?: 1..90}`: the unsaved reminders document, and how many
    days back the preview looks (90 unless given)."""
    data = incoming.body("reminders", "days")
    days = data.get("days", WHATIF_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= WHATIF_DAYS:
        raise InvalidInput(f"must be a whole number of days from 1 to {WHATIF_DAYS}", field="days")
    return _object(data, "reminders"), days


def action_request(incoming: Incoming) -> ActionRequest:
    from recoup.services.case_views import ActionRequest

    data = incoming.body("action", "note", "kind", "mode")
    action, note, kind = data.get("action"), data.get("note", ""), data.get("kind")
    mode = data.get("mode")
    if not isinstance(action, str):
        raise InvalidInput("must be the action's name", field="action")
    if not isinstance(note, str):
        raise InvalidInput("must be a text", field="note")
    if kind is not None and not isinstance(kind, str):
        raise InvalidInput("must be agency or legal", field="kind")
    if mode is not None and not isinstance(mode, str):
        raise InvalidInput("must be resume or start_over", field="mode")
    return ActionRequest(action, note, kind, mode)


def bulk_request(incoming: Incoming) -> BulkRequest:
    """`{"action": "hold"|"resume"|"approve", "case_ids": [...], "note"?}`: at most MAX_BULK
    distinct ids, in the order sent."""
    from recoup.services.actions import MAX_NOTE
    from recoup.services.case_views import BULK_ACTIONS, MAX_BULK, BulkRequest

    data = incoming.body("action", "case_ids", "note")
    action, ids, note = data.get("action"), data.get("case_ids"), data.get("note", "")
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"must be one of {', '.join(BULK_ACTIONS)}", field="action")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("must be a list of case ids", field="case_ids")
    unique = tuple(dict.fromkeys(ids))
    if len(unique) > MAX_BULK:
        raise InvalidInput(f"must name at most {MAX_BULK} cases", field="case_ids")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"must be a text of at most {MAX_NOTE} characters", field="note")
    return BulkRequest(str(action), unique, note)


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


def case_query(incoming: Incoming, *, paged: bool = True) -> CaseQuery:
    """The case list's search, sort and filters (and, `paged`, its page: limit, cursor).
    Amounts and the owed sorts are in one currency, which they need."""
    from recoup.services import case_list

    sort = _choice(incoming.query("sort"), "sort", frozenset(case_list.SORTS)) or "opened_desc"
    currency = _currency(incoming.query("currency"))
    low = _amount(incoming.query("min_amount"), "min_amount")
    high = _amount(incoming.query("max_amount"), "max_amount")
    owed_sort = sort if sort in case_list.OWED_SORTS else None
    for name, given in (("min_amount", low), ("max_amount", high), ("sort", owed_sort)):
        if given is not None and currency is None:
            raise InvalidParameter(
                "needs the currency it is in, such as currency=USD",
                field=name,
                code="currency_required",
            )
    limit = _integer(incoming.query("limit"), "limit", 1, case_list.MAX_PAGE) if paged else None
    return case_list.CaseQuery(
        limit=limit or case_list.DEFAULT_PAGE,
        after=_cursor(incoming.query("cursor"), sort) if paged else None,
        q=_search(incoming.query("q"), case_list.MIN_SEARCH),
        sort=sort,
        state=_choice(incoming.query("state"), "state", case_list.STATES),
        risk=_choice(incoming.query("risk"), "risk", case_list.RISKS),
        currency=currency,
        min_amount=low,
        max_amount=high,
        older_than_days=_integer(incoming.query("older_than_days"), "older_than_days", 0, MAX_DAYS),
    )


def period(incoming: Incoming) -> tuple[datetime | None, datetime | None]:
    """`from` and `to`: days (YYYY-MM-DD, UTC; `to` includes the whole day) or times with
    their offsets; `to` after `from`."""
    start = _date(incoming.query("from"), "from", end_of_day=False)
    end = _date(incoming.query("to"), "to", end_of_day=True)
    if start and end and start >= end:
        raise InvalidInput("must be after 'from'", field="to")
    return start, end


def figures_currency(incoming: Incoming) -> str | None:
    """`currency`: the figures' currency, an ISO 4217 code (three upper-case letters);
    absent, the service picks one."""
    raw = incoming.query("currency")
    if raw is None:
        return None
    if len(raw) != 3 or not (raw.isascii() and raw.isalpha() and raw.isupper()):
        raise InvalidParameter("must be a currency code such as USD", field="currency")
    return raw


def encode_cursor(after: str, sort: str) -> str:
    """The opaque cursor the list hands out: where its next page starts, in which order."""
    cursor = json.dumps({"after": after, "sort": sort}).encode()
    return base64.urlsafe_b64encode(cursor).decode().rstrip("=")


def _cursor(raw: str | None, sort: str) -> str | None:
    """A cursor of the list in this sort (one of another order starts nowhere sensible)."""
    if raw is None:
        return None
    from recoup.services.case_list import POSITION

    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    found = decoded if isinstance(decoded, dict) else {}
    after = found.get("after")
    if not isinstance(after, str) or not POSITION.fullmatch(after) or found.get("sort") != sort:
        raise InvalidParameter("is not a cursor this API handed out", field="cursor")
    return after


def _currency(raw: str | None) -> str | None:
    if raw is not None and not (len(raw) == 3 and raw.isascii() and raw.isalpha()):
        raise InvalidParameter("must be a currency code such as USD", field="currency")
    if raw is not None and not raw.isupper():
        raise InvalidParameter("must be a currency code such as USD", field="currency")
    return raw


def _search(raw: str | None, shortest: int) -> str | None:
    if raw is not None and not shortest <= len(raw) <= 100:
        raise InvalidParameter(
            f"must be {shortest} to 100 characters: an order, an email or a name", field="q"
        )
    return raw


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
