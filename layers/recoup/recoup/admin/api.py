"""The admin API: `/admin/api/*` routes for the embedded page, and the page itself at `/app`.

Every `/admin/api/*` request is authenticated first (one middleware, before routing, so an
unknown path answers 401 too): the session token names the shop and the staff member, and
the shop must be installed. No route reads a shop from the body or the query. A route reads
its request into a typed input (`requests`), calls one service, and answers with the result
as `views` shapes it. Errors are answered by `recoup.http` (docs/api-errors.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from recoup import clock
from recoup.admin import requests, views
from recoup.admin.auth import MAX_LIFETIME_SECONDS, StaffSession, Unauthorized, authenticate
from recoup.admin.page import StaticPage
from recoup.admin.requests import Incoming
from recoup.http import NO_STORE, Edge, Resolver, answer_errors, json_error, json_response
from recoup.services import admin_access, onboarding, shop_settings, stripe_connect
from recoup.settings import get_settings

# The case pages, the figures and the message previews import their services in their
# routes: each reads the case store and the domain (or renders), which no other route does.

API = "/admin/api"
EDGE = Edge("AdminApi", "Admin API request", json_error)


def admin_app(static_dir: Path) -> Resolver:
    """The resolver of the admin function: the API and the page's static files."""
    app = Resolver()
    app.use([_authenticated])
    _page(app, StaticPage(static_dir))
    _settings(app)
    _cases(app)
    _getting_started(app)
    answer_errors(app, EDGE)
    return app


def _authenticated(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    path = app.current_event.path
    if path == API or path.startswith(API + "/"):
        settings = get_settings()
        header = app.current_event.headers.get("authorization")
        staff = authenticate(
            header,
            api_key=settings.shopify_api_key,
            secrets=settings.shopify_secrets(),
            max_lifetime=settings.local_session_token_lifetime() or MAX_LIFETIME_SECONDS,
        )
        bearer = (header or "").partition(" ")[2]
        admin_access.open_session(staff.shop, bearer, now=clock.now())
        app.context["session"] = staff
    return next_middleware(app)


def _staff(app: APIGatewayHttpResolver) -> StaffSession:
    found = app.context.get("session")
    if not isinstance(found, StaffSession):  # the middleware runs first: never here
        raise Unauthorized("no session", code="missing_token")
    return found


def _ok(body: dict[str, Any], status: int = 200) -> Response[str]:
    return json_response(status, body, NO_STORE)


# ---------------------------------------------------------------- the page


def _page(app: APIGatewayHttpResolver, page: StaticPage) -> None:
    @app.get("/app")
    def index() -> Response[str]:
        settings = get_settings()
        incoming = Incoming(app.current_event)
        raw_query = app.current_event.raw_query_string or ""
        shop = incoming.query("shop")
        # Shopify opened the app for a shop Recoup holds no token for (first launch, or
        # after an uninstall) without a session token (`id_token`): run OAuth, at the top
        # level, outside the admin's iframe. With one, the page's first API call installs
        # the shop by token exchange (Shopify-managed installation), with no redirect.
        if (
            incoming.query("hmac") is not None
            and incoming.query("id_token") is None
            and admin_access.needs_install(raw_query, now=clock.now())
        ):
            return page.to_install(
                f"/auth?{raw_query}", api_key=settings.shopify_api_key, shop=shop
            )
        embedded = incoming.query("host") is not None
        return page.index(api_key=settings.shopify_api_key, shop=shop, embedded=embedded)

    @app.get("/app/<name>")
    def asset(name: str) -> Response[str]:
        return page.asset(name)


# ---------------------------------------------------------------- settings


def _settings(app: APIGatewayHttpResolver) -> None:
    def shop() -> str:
        return _staff(app).shop

    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.get(f"{API}/settings/reminders")
    def get_reminders() -> Response[str]:
        return _ok(views.reminder_settings(shop_settings.reminder_policy(shop())))

    @app.put(f"{API}/settings/reminders")
    def put_reminders() -> Response[str]:
        update = requests.document_update(incoming(), "policy")
        saved = shop_settings.save_reminder_policy(shop(), update, now=clock.now())
        return _ok(views.reminder_settings(saved))

    @app.get(f"{API}/settings/fraud")
    def get_fraud() -> Response[str]:
        return _ok(views.fraud_settings(shop_settings.fraud_settings(shop())))

    @app.put(f"{API}/settings/fraud")
    def put_fraud() -> Response[str]:
        update = requests.document_update(incoming(), "settings")
        saved = shop_settings.save_fraud_settings(shop(), update, now=clock.now())
        return _ok(views.fraud_settings(saved))

    @app.get(f"{API}/settings/referral")
    def get_referral() -> Response[str]:
        return _ok(views.referral_settings(shop_settings.referral_policy(shop())))

    @app.put(f"{API}/settings/referral")
    def put_referral() -> Response[str]:
        update = requests.document_update(incoming(), "policy")
        saved = shop_settings.save_referral_policy(shop(), update, now=clock.now())
        return _ok(views.referral_settings(saved))

    @app.get(f"{API}/settings/templates/<name>")
    def get_template(name: str) -> Response[str]:
        return _ok(views.template(shop_settings.template(shop(), name)))

    @app.put(f"{API}/settings/templates/<name>")
    def put_template(name: str) -> Response[str]:
        parts = requests.template_parts(incoming())
        return _ok(views.template(shop_settings.save_template(shop(), name, parts)))

    @app.get(f"{API}/settings/sender")
    def get_sender() -> Response[str]:
        return _ok(views.sender(shop_settings.sender(shop())))

    @app.put(f"{API}/settings/sender")
    def put_sender() -> Response[str]:
        reply_to = requests.reply_to(incoming())
        return _ok(views.sender(shop_settings.save_reply_to(shop(), reply_to)))

    @app.post(f"{API}/preview")
    def post_preview() -> Response[str]:
        from recoup.services import step_samples

        request = requests.preview_request(incoming())
        return _ok(views.preview(step_samples.preview(shop(), request, now=clock.now())))


# ---------------------------------------------------------------- cases and figures


def _cases(app: APIGatewayHttpResolver) -> None:
    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.get(f"{API}/cases")
    def list_cases() -> Response[str]:
        from recoup.services import case_views

        query = requests.case_query(incoming())
        page = case_views.list_cases(_staff(app).shop, query, now=clock.now())
        return _ok(views.case_page(page))

    @app.get(f"{API}/cases/<case_id>")
    def get_case(case_id: str) -> Response[str]:
        from recoup.services import case_views

        found = case_views.case_detail(_staff(app).shop, case_id, now=clock.now())
        return _ok(views.case_detail(found))

    @app.post(f"{API}/cases/<case_id>/actions")
    def post_action(case_id: str) -> Response[str]:
        from recoup.services import case_views

        staff = _staff(app)
        request = requests.action_request(incoming())
        outcome = case_views.perform_action(
            staff.shop, case_id, request, by=staff.user, now=clock.now()
        )
        return _ok(views.action(outcome))

    @app.get(f"{API}/figures")
    def get_figures() -> Response[str]:
        from recoup.services import figures

        start, end = requests.period(incoming())
        found = figures.for_shop(_staff(app).shop, start=start, end=end)
        return _ok(views.figures(found, start, end))


# ---------------------------------------------------------------- getting started, Stripe


def _getting_started(app: APIGatewayHttpResolver) -> None:
    def shop() -> str:
        return _staff(app).shop

    @app.get(f"{API}/onboarding")
    def get_onboarding() -> Response[str]:
        return _ok(onboarding.checklist(shop()))

    @app.post(f"{API}/test-message")
    def post_test_message() -> Response[str]:
        """Answered 202: the sender sends it within seconds; the checklist shows how it went."""
        from recoup.services import step_samples

        request = requests.sample_request(Incoming(app.current_event))
        return _ok(step_samples.send_test(shop(), request, now=clock.now()), status=202)

    @app.get(f"{API}/stripe")
    def get_stripe() -> Response[str]:
        return _ok(views.stripe(shop_settings.stripe_account(shop())))

    @app.post(f"{API}/stripe/connect")
    def post_stripe_connect() -> Response[str]:
        """Where to send the merchant (top level, out of the admin's iframe) to connect."""
        return _ok({"url": stripe_connect.begin(shop(), now=clock.now())})

    @app.post(f"{API}/stripe/disconnect")
    def post_stripe_disconnect() -> Response[str]:
        return _ok({"connected": False, "disconnected": stripe_connect.disconnect(shop())})
