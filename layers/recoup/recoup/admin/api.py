"""The admin API: `/admin/api/*` routes for the embedded page, and the page itself at `/app`.

Every `/admin/api/*` request is authenticated first (one middleware, before routing, so an
unknown path answers 401 too): the session token names the shop and the staff member, and
the shop must be installed. No route reads a shop from the body or the query. Input is
validated whole before anything is written; errors are JSON
`{"error": code, "message": ..., "field": "steps[1].delay"}`, with the field as a path into
the document the request sent (`policy`, `settings`, `referral`) or the parameter's name.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from recoup import clock
from recoup.admin import preview, views
from recoup.admin.auth import StaffSession, Unauthorized, authenticate
from recoup.admin.page import StaticPage, needs_install
from recoup.channels import mime
from recoup.channels.render import MessageTooLong, TemplateRejected, validate_override
from recoup.domain import cadence
from recoup.domain.fields import FieldError
from recoup.domain.fraud import DEFAULT_SETTINGS, parse_settings, settings_to_dict
from recoup.domain.fraud.defaults import HIGH_AT, MIN_CONFIDENCE, REVIEW_AT
from recoup.domain.referral import (
    ReferralPolicy,
    check_with_reminders,
    default_referral_policy,
    parse_referral_policy,
    referral_policy_to_dict,
)
from recoup.errors import ConfigurationError, RecoupError
from recoup.observability import logger
from recoup.services import actions, figures, install, onboarding, sample_sends, stripe_connect
from recoup.services import cases as case_service
from recoup.services.shops import TEMPLATE_PARTS, set_template
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies, shops
from recoup.store.cases import StoredCase

API = "/admin/api"
MAX_BODY = 256 * 1024
MAX_PAGE = 100
DEFAULT_PAGE = 25
# A filtered list reads at most this many cases per request, then hands back a cursor: a
# selective filter over a large shop costs several requests, never one long one.
MAX_EXAMINED = 1000
MAX_NOTE = 1000
MAX_ADDRESS = 254  # RFC 5321's longest forward path
_CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_-]{1,40}")
# A case's status, or its reminders' status.
_STATES = frozenset(
    {"open", "paid", "cancelled", "scheduled", "held", "flagged", "awaiting_escalation"}
    | {"not_chased", "stopped"}
)
_RISKS = frozenset({"low", "review", "high", "unscored", "none"})


class ApiError(RecoupError):
    """An answer other than 200, with a code, a message and (for bad input) the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def admin_app(static_dir: Path) -> APIGatewayHttpResolver:
    """The resolver of the admin function: the API and the page's static files."""
    app = APIGatewayHttpResolver()
    page = StaticPage(static_dir)

    def session() -> StaffSession:
        found = app.context.get("session")
        if not isinstance(found, StaffSession):  # the middleware runs first: never here
            raise Unauthorized("missing_token", "no session")
        return found

    def body(allowed: tuple[str, ...]) -> dict[str, Any]:
        data = _json_body(app.current_event.body, bool(app.current_event.is_base64_encoded))
        unknown = sorted(set(data) - set(allowed))
        if unknown:  # a shop named in the body, say: the shop is the token's, never the body's
            raise ApiError(
                400, "invalid", f"unknown key; allowed: {', '.join(allowed)}", unknown[0]
            )
        return data

    def query(name: str) -> str | None:
        value = app.current_event.get_query_string_value(name)
        return value.strip() if value and value.strip() else None

    def authenticated(
        app_: APIGatewayHttpResolver, next_middleware: NextMiddleware
    ) -> Response[Any]:
        path = app_.current_event.path
        if path == API or path.startswith(API + "/"):
            settings = get_settings()
            staff = authenticate(
                app_.current_event.headers.get("authorization"),
                api_key=settings.shopify_api_key,
                secrets=settings.shopify_secrets(),
                max_lifetime=settings.session_token_max_lifetime(),
            )
            bearer = (app_.current_event.headers.get("authorization") or "").partition(" ")[2]
            if not shops.is_installed(staff.shop):
                # Shopify-managed installation: the first visit installs by token exchange.
                if not install.install_from_session(staff.shop, bearer, now=clock.now()):
                    raise ApiError(403, "not_installed", f"{staff.shop} has not installed Recoup")
            else:
                # An expiring offline token by token exchange: for a shop still on a
                # non-expiring token, or one Shopify refused to refresh (one status read else).
                install.connect_from_session(staff.shop, bearer, now=clock.now())
            app_.context["session"] = staff
        return next_middleware(app_)

    app.use([authenticated])

    # ---------------------------------------------------------------- the page

    @app.get("/app")
    def index() -> Response[str]:
        settings = get_settings()
        raw_query = app.current_event.raw_query_string or ""
        launch_token = query("id_token")  # Shopify's embedded launch carries a session token
        if (
            query("hmac") is not None
            and launch_token is None
            and needs_install(raw_query, settings.shopify_secrets())
        ):
            # Shopify opened the app for a shop Recoup holds no token for (first launch, or
            # after an uninstall) without a session token: run OAuth, at the top level
            # (outside the admin's iframe). With one, the page's first API call installs
            # the shop by token exchange (Shopify-managed installation), with no redirect.
            return page.to_install(
                f"/auth?{raw_query}", api_key=settings.shopify_api_key, shop=query("shop")
            )
        return page.index(
            api_key=settings.shopify_api_key,
            shop=query("shop"),
            embedded=query("host") is not None,
        )

    @app.get("/app/<name>")
    def asset(name: str) -> Response[str]:
        return page.asset(name)

    # ---------------------------------------------------------------- settings

    @app.get(f"{API}/settings/reminders")
    def get_reminders() -> Response[str]:
        shop = session().shop
        return _ok(_reminders_view(shop))

    @app.put(f"{API}/settings/reminders")
    def put_reminders() -> Response[str]:
        shop = session().shop
        data = body(("version", "policy"))
        version = _version(data)
        doc = _document(data, "policy")
        try:
            policy = cadence.parse_policy({**doc, "version": version + 1})
        except cadence.PolicyError as exc:
            raise _invalid(exc) from None
        try:
            check_with_reminders(_referral_policy(shop)[1], policy)
        except FieldError as exc:
            last = f"steps[{len(policy.steps) - 1}].tone"
            message = f"the referral policy waits too little for a final notice: {exc.message}"
            raise ApiError(400, "invalid", message, last) from None
        _saving(lambda: policies.save(shop, policy, now=clock.now()))
        return _ok(_reminders_view(shop))

    @app.get(f"{API}/settings/fraud")
    def get_fraud() -> Response[str]:
        return _ok(_fraud_view(session().shop))

    @app.put(f"{API}/settings/fraud")
    def put_fraud() -> Response[str]:
        shop = session().shop
        data = body(("version", "settings"))
        version = _version(data)
        try:
            settings = parse_settings(_document(data, "settings"))
        except FieldError as exc:
            raise _invalid(exc) from None
        doc = settings_to_dict(settings)
        _saving(lambda: policies.save_doc(shop, policies.FRAUD, version + 1, doc, now=clock.now()))
        return _ok(_fraud_view(shop))

    @app.get(f"{API}/settings/referral")
    def get_referral() -> Response[str]:
        return _ok(_referral_view(session().shop))

    @app.put(f"{API}/settings/referral")
    def put_referral() -> Response[str]:
        shop = session().shop
        data = body(("version", "policy"))
        version = _version(data)
        doc = _document(data, "policy")
        # Hand-overs to http://127.0.0.1 only where the agencies' receivers are local too.
        local = get_settings().secrets_source == "env"
        try:
            referral = parse_referral_policy(
                {**doc, "version": version + 1}, allow_loopback_http=local
            )
            check_with_reminders(referral, _reminder_policy(shop))
        except FieldError as exc:
            raise _invalid(exc) from None
        saved = referral_policy_to_dict(referral)
        _saving(
            lambda: policies.save_doc(shop, policies.REFERRAL, version + 1, saved, now=clock.now())
        )
        return _ok(_referral_view(shop))

    @app.get(f"{API}/settings/templates/<name>")
    def get_template(name: str) -> Response[str]:
        shop = session().shop
        _template_name(name)
        item = shops.get(shop)
        parts = ((item.templates or {}) if item else {}).get(name) or {}
        return _ok({"name": name, "parts": parts, "kinds": list(TEMPLATE_PARTS)})

    @app.put(f"{API}/settings/templates/<name>")
    def put_template(name: str) -> Response[str]:
        shop = session().shop
        _template_name(name)
        parts = _document(body(("parts",)), "parts")
        for kind, source in parts.items():
            field = f"parts.{kind}"
            if kind not in TEMPLATE_PARTS:
                raise ApiError(400, "invalid", f"one of {', '.join(TEMPLATE_PARTS)}", field)
            if not isinstance(source, str):
                raise ApiError(400, "invalid", "must be the template's text", field)
            try:
                validate_override(kind, source)  # type: ignore[arg-type]
            except TemplateRejected as exc:
                raise ApiError(400, "template_rejected", exc.message, field) from None
        try:
            set_template(shop, name, {str(k): str(v) for k, v in parts.items()})
        except TemplateRejected as exc:
            raise ApiError(400, "template_rejected", exc.message, "parts") from None
        return _ok({"name": name, "parts": parts, "kinds": list(TEMPLATE_PARTS)})

    @app.post(f"{API}/preview")
    def post_preview() -> Response[str]:
        shop = session().shop
        data = body(("step", "index"))
        try:
            rendered = preview.render_step(shop, data, now=clock.now())
        except FieldError as exc:
            raise _invalid(exc) from None
        except MessageTooLong as exc:
            raise ApiError(400, "message_too_long", str(exc), "step") from None
        return _ok(rendered)

    # ---------------------------------------------------------------- cases

    @app.get(f"{API}/cases")
    def list_cases() -> Response[str]:
        shop = session().shop
        limit = _integer(query("limit"), "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        keep = _case_filter(
            state=_choice(query("state"), "state", _STATES),
            risk=_choice(query("risk"), "risk", _RISKS),
            low=_decimal(query("min_amount"), "min_amount"),
            high=_decimal(query("max_amount"), "max_amount"),
            older_than_days=_integer(query("older_than_days"), "older_than_days", None, 0, 36500),
            now=clock.now(),
        )
        after = _cursor(query("cursor"))
        rows: list[dict[str, Any]] = []
        last: str | None = None
        more = False
        listed = case_store.tracked_cases(shop, after=after, page_size=limit + 1)
        for examined, stored in enumerate(listed):
            if len(rows) == limit or examined == MAX_EXAMINED:
                more = True
                break
            last = stored.case.case_id
            if keep(stored):
                rows.append(views.case_row(stored))
        return _ok({"cases": rows, "next_cursor": _encode_cursor(last) if more and last else None})

    @app.get(f"{API}/cases/<case_id>")
    def get_case(case_id: str) -> Response[str]:
        shop = session().shop
        return _ok(_case_view(shop, _load_case(shop, case_id)))

    @app.post(f"{API}/cases/<case_id>/actions")
    def post_action(case_id: str) -> Response[str]:
        staff = session()
        _load_case(staff.shop, case_id)
        data = body(("action", "note", "kind"))
        action = data.get("action")
        if not isinstance(action, str) or action not in actions.ACTIONS:
            choices = ", ".join(sorted(actions.ACTIONS))
            raise ApiError(400, "invalid", f"must be one of {choices}", "action")
        note = data.get("note", "")
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise ApiError(
                400, "invalid", f"must be a text of at most {MAX_NOTE} characters", "note"
            )
        kind = data.get("kind")
        if kind is not None and kind not in ("agency", "legal"):
            raise ApiError(400, "invalid", "must be agency or legal", "kind")
        if action == "refer" and kind is None:
            raise ApiError(400, "invalid", "is required to refer: agency or legal", "kind")
        try:
            result = actions.perform(
                staff.shop, case_id, action, by=staff.user, note=note, now=clock.now(), kind=kind
            )
        except actions.UnknownCase as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except actions.ActionRefused as exc:
            raise ApiError(409, "action_refused", str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "invalid", str(exc), "action") from None
        return _ok(
            {"result": result, "case": _case_view(staff.shop, _load_case(staff.shop, case_id))}
        )

    # ---------------------------------------------------------------- Stripe Connect

    @app.get(f"{API}/stripe")
    def get_stripe() -> Response[str]:
        item = shops.get_fresh(session().shop)
        account = item.stripe_account if item else None
        return _ok({"connected": account is not None, "account": account})

    @app.post(f"{API}/stripe/connect")
    def post_stripe_connect() -> Response[str]:
        """Where to send the merchant (top level, out of the admin's iframe) to connect."""
        try:
            url = stripe_connect.begin(session().shop, now=clock.now())
        except stripe_connect.ConnectRefused as exc:
            raise ApiError(exc.status, "stripe_connect_unavailable", exc.message) from None
        return _ok({"url": url})

    @app.post(f"{API}/stripe/disconnect")
    def post_stripe_disconnect() -> Response[str]:
        account = stripe_connect.disconnect(session().shop)
        return _ok({"connected": False, "disconnected": account})

    # ---------------------------------------------------------------- getting started

    @app.get(f"{API}/onboarding")
    def get_onboarding() -> Response[str]:
        return _ok(onboarding.checklist(session().shop))

    @app.post(f"{API}/test-message")
    def post_test_message() -> Response[str]:
        """Queue one step to the admin's own address or number (answered 202: the sender
        sends it within seconds; GET /onboarding shows how it went)."""
        shop = session().shop
        data = body(("channel", "step", "to"))
        try:
            sample_sends.request(
                shop,
                channel=data.get("channel"),
                step=data.get("step"),
                to=data.get("to"),
                now=clock.now(),
            )
        except sample_sends.SampleRefused as exc:
            code = "invalid" if exc.status == 400 else "unavailable"
            if exc.status == 429:
                code = "rate_limited"
            raise ApiError(exc.status, code, exc.message, exc.field) from None
        answer = _ok(onboarding.checklist(shop))
        answer.status_code = 202
        return answer

    @app.get(f"{API}/settings/sender")
    def get_sender() -> Response[str]:
        return _ok(_sender_view(session().shop))

    @app.put(f"{API}/settings/sender")
    def put_sender() -> Response[str]:
        """Where customers' replies go; empty: back to the shop's contact email."""
        shop = session().shop
        raw = body(("reply_to",)).get("reply_to")
        if raw is not None and not isinstance(raw, str):
            raise ApiError(400, "invalid", "must be an email address or empty", "reply_to")
        address = (raw or "").strip() or None
        if address is not None:
            problem = mime.address_problem(address)
            if problem is not None or len(address) > MAX_ADDRESS:
                why = problem or f"at most {MAX_ADDRESS} characters"
                raise ApiError(400, "invalid", f"cannot receive replies: {why}", "reply_to")
        if not shops.set_reply_to(shop, address):
            raise ApiError(403, "not_installed", f"{shop} has not installed Recoup")
        return _ok(_sender_view(shop))

    # ---------------------------------------------------------------- figures

    @app.get(f"{API}/figures")
    def get_figures() -> Response[str]:
        shop = session().shop
        start = _date(query("from"), "from", end_of_day=False)
        end = _date(query("to"), "to", end_of_day=True)
        if start and end and start >= end:
            raise ApiError(400, "invalid", "must be after 'from'", "to")
        return _ok(views.figures(figures.for_shop(shop, start=start, end=end), start, end))

    # ---------------------------------------------------------------- errors

    def api_error(exc: ApiError) -> Response[str]:
        return _error(exc.status, exc.code, exc.message, exc.field)

    def unauthorized(exc: Unauthorized) -> Response[str]:
        logger.info("Admin API refused a session token", extra={"reason": exc.code})
        return _error(401, exc.code, exc.message)

    def not_found(_: NotFoundError) -> Response[str]:
        path = app.current_event.path
        return _error(404, "not_found", f"no route {app.current_event.http_method} {path}")

    def misconfigured(exc: ConfigurationError) -> Response[str]:
        logger.error("Configuration error", extra={"detail": str(exc)})
        return _error(500, "configuration_error", "the admin API is misconfigured")

    app.exception_handler(ApiError)(api_error)
    app.exception_handler(Unauthorized)(unauthorized)
    app.exception_handler(NotFoundError)(not_found)
    app.exception_handler(ConfigurationError)(misconfigured)
    return app


# -------------------------------------------------------------------- views of the settings


def _reminders_view(shop: str) -> dict[str, Any]:
    stored = policies.load_doc(shop, policies.REMINDERS)
    if stored is None:
        item = shops.get(shop)
        version, policy = 0, cadence.default_policy((item.timezone if item else None) or "UTC")
    else:
        version, policy = stored[0], cadence.parse_policy(stored[1])
    doc = cadence.policy_to_dict(policy)
    doc.pop("version")  # the version travels beside the document: it is what a PUT edits
    return {
        "version": version,
        "policy": doc,
        "choices": {
            "channel": [str(c) for c in cadence.Channel],
            "tone": [str(t) for t in cadence.Tone],
            "anchor": [str(a) for a in cadence.Anchor],
            "timezone_rule": [str(r) for r in cadence.TimezoneRule],
        },
        "limits": {
            "steps": [cadence.MIN_STEPS, cadence.MAX_STEPS],
            "delay": [
                cadence.format_delay(cadence.MIN_DELAY),
                cadence.format_delay(cadence.MAX_DELAY),
            ],
            "weekly_cap": [cadence.MIN_WEEKLY_CAP, cadence.MAX_WEEKLY_CAP],
        },
    }


def _sender_view(shop: str) -> dict[str, Any]:
    """Who the messages come from: the shop's name and contact email as Shopify reports them
    (read only here), and the reply-to address the admin may set."""
    item = shops.get_fresh(shop)
    settings = get_settings()
    return {
        "shop_name": (item.shop_name if item else None) or shop,
        "contact_email": item.contact_email if item else None,
        "reply_to": item.reply_to if item else None,
        "replies_go_to": shops.reply_address(item),
        "sender_address": settings.sender_address,
        "timezone": item.timezone if item else None,
        "currency": item.currency if item else None,
    }


def _reminder_policy(shop: str) -> cadence.ReminderPolicy:
    item = shops.get(shop)
    return policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")


def _referral_policy(shop: str) -> tuple[int, ReferralPolicy]:
    stored = policies.load_doc(shop, policies.REFERRAL)
    if stored is None:
        return 0, default_referral_policy()
    local = get_settings().secrets_source == "env"
    return stored[0], parse_referral_policy(stored[1], allow_loopback_http=local)


def _referral_view(shop: str) -> dict[str, Any]:
    version, referral = _referral_policy(shop)
    doc = referral_policy_to_dict(referral)
    doc.pop("version")
    return {"version": version, "policy": doc}


def _fraud_view(shop: str) -> dict[str, Any]:
    stored = policies.load_doc(shop, policies.FRAUD)
    version, settings = (
        (0, DEFAULT_SETTINGS) if stored is None else (stored[0], parse_settings(stored[1]))
    )
    return {
        "version": version,
        "settings": settings_to_dict(settings),
        "rules": views.default_rules(),
        "defaults": {"review": REVIEW_AT, "high": HIGH_AT, "min_confidence": MIN_CONFIDENCE},
    }


def _case_view(shop: str, stored: StoredCase) -> dict[str, Any]:
    return views.case_detail(
        stored,
        case_service.timeline(shop, stored.case.case_id),
        actions.available(stored, clock.now()),
    )


def _load_case(shop: str, case_id: str) -> StoredCase:
    if not _CASE_ID.fullmatch(case_id):
        raise ApiError(404, "not_found", "no such case in this shop")
    stored = case_store.load(shop, case_id)
    if stored is None or not stored.case.opened or stored.case.merged_into is not None:
        raise ApiError(404, "not_found", f"no case {case_id} in this shop")
    return stored


def _saving(save: Callable[[], None]) -> None:
    try:
        save()
    except policies.PolicyConflict:
        raise ApiError(
            409,
            "version_conflict",
            "someone saved these settings since you loaded them: reload to see their change",
            "version",
        ) from None


# -------------------------------------------------------------------- the case list's filter


def _case_filter(
    *,
    state: str | None,
    risk: str | None,
    low: Decimal | None,
    high: Decimal | None,
    older_than_days: int | None,
    now: datetime,
) -> Callable[[StoredCase], bool]:
    opened_before = now - timedelta(days=older_than_days) if older_than_days is not None else None

    def keep(stored: StoredCase) -> bool:
        case, dunning = stored.case, stored.dunning
        if state and state != str(case.status) and not (dunning and state == str(dunning.status)):
            return False
        if risk:
            current = stored.screening.current if stored.screening else None
            if (str(current.level) if current else "none") != risk:
                return False
        if low is not None or high is not None:
            owed = case.amount_owed
            if owed is None:
                return False
            if (low is not None and owed.decimal < low) or (
                high is not None and owed.decimal > high
            ):
                return False
        if opened_before is not None:
            return case.opened_at is not None and case.opened_at <= opened_before
        return True

    return keep


# -------------------------------------------------------------------- reading the request


def _json_body(raw: str | None, encoded: bool) -> dict[str, Any]:
    text = raw or ""
    if encoded:
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "the body is not UTF-8 JSON") from None
    if len(text) > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY // 1024} KiB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def _version(data: dict[str, Any]) -> int:
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ApiError(
            400, "invalid", "must be the version you loaded (an integer, 0 for none)", "version"
        )
    return version


def _document(data: dict[str, Any], key: str) -> dict[str, Any]:
    doc = data.get(key)
    if not isinstance(doc, dict):
        raise ApiError(400, "invalid", "must be an object", key)
    return doc


def _invalid(exc: FieldError) -> ApiError:
    return ApiError(400, "invalid", exc.message, exc.field)


def _template_name(name: str) -> None:
    if not _TEMPLATE_NAME.fullmatch(name):
        raise ApiError(400, "invalid", "must be 1 to 40 characters of a-z, 0-9, '_' or '-'", "name")


def _integer(raw: str | None, name: str, default: int | None, low: int, high: int) -> Any:
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_parameter", f"must be an integer from {low} to {high}", name)
    return int(raw)


def _choice(raw: str | None, name: str, allowed: frozenset[str]) -> str | None:
    if raw is not None and raw not in allowed:
        raise ApiError(
            400, "invalid_parameter", f"must be one of {', '.join(sorted(allowed))}", name
        )
    return raw


def _decimal(raw: str | None, name: str) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(raw) if len(raw) <= 30 else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ApiError(
            400, "invalid_parameter", "must be a non-negative amount such as 25.50", name
        )
    return value


def _date(raw: str | None, name: str, *, end_of_day: bool) -> datetime | None:
    """A day (YYYY-MM-DD, UTC; `to` includes the whole day) or a time with its offset."""
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError(400, "invalid_parameter", "must be a date such as 2026-11-30", name)
    if len(raw) == 10:  # a bare date
        day = parsed.replace(tzinfo=UTC)
        return day + timedelta(days=1) if end_of_day else day
    if parsed.tzinfo is None:
        raise ApiError(400, "invalid_parameter", "a time must carry its UTC offset", name)
    return parsed.astimezone(UTC)


def _cursor(raw: str | None) -> str | None:
    """The id of the last case the previous page read (the cursor is opaque to the page)."""
    if raw is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str) or not _CASE_ID.fullmatch(after):
        raise ApiError(400, "invalid_parameter", "is not a cursor this API handed out", "cursor")
    return after


def _encode_cursor(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


# -------------------------------------------------------------------- answers


def _ok(body: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, code: str, message: str, field: str | None = None) -> Response[str]:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )
