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
from recoup.errors import InvalidInput, VersionConflict
from recoup.http import NO_STORE, Edge, Resolver, answer_errors, json_error, json_response
from recoup.services import admin_access, onboarding, shop_settings, stripe_connect
from recoup.settings import get_settings

# The case pages, the figures, the experiments and the message previews import their
# services in their routes: each reads the case store and the domain (or renders), which no
# other route does.

API = "/admin/api"
EDGE = Edge("AdminApi", "Admin API request", json_error)


def admin_app(static_dir: Path) -> Resolver:
    """The resolver of the admin function: the API and the page's static files."""
    app = Resolver()
    app.use([_authenticated])
    _page(app, StaticPage(static_dir))
    _settings(app)
    _settings_page(app)
    _strategies(app)
    _cases(app)
    _experiments(app)
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
        app.context["session_token"] = bearer  # verified; names the staff member to Shopify
    return next_middleware(app)


def _staff(app: APIGatewayHttpResolver) -> StaffSession:
    found = app.context.get("session")
    if not isinstance(found, StaffSession):  # the middleware runs first: never here
        raise Unauthorized("no session", code="missing_token")
    return found


def _actor(app: APIGatewayHttpResolver) -> Any:
    """The staff member acting, by name when Shopify gives it (`services.staff`): looked up
    once per request, by the action routes only."""
    from recoup.services import staff as staff_service

    session = _staff(app)
    token = str(app.context.get("session_token") or "")
    return staff_service.actor(session.shop, session.user, token, now=clock.now())


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
        return view()

    # The page routes by path (history.pushState): a reload or a shared link of any view
    # gets index.html, and its router draws the view.
    def view() -> Response[str]:
        incoming = Incoming(app.current_event)
        embedded = incoming.query("host") is not None
        return page.index(
            api_key=get_settings().shopify_api_key, shop=incoming.query("shop"), embedded=embedded
        )

    @app.get("/app/<name>")
    def section(name: str) -> Response[str]:
        page.require_view(name)
        return view()

    @app.get("/app/cases/<case_id>")
    def case_view(case_id: str) -> Response[str]:
        return view()

    @app.get("/app/static/<name>")
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

    @app.get(f"{API}/settings/notifications")
    def get_notifications() -> Response[str]:
        from recoup.services import notifications

        return _ok(views.notification_settings(notifications.settings(shop())))

    @app.put(f"{API}/settings/notifications")
    def put_notifications() -> Response[str]:
        from recoup.services import notifications

        update = requests.document_update(incoming(), "notifications")
        saved = notifications.save_settings(shop(), update, now=clock.now())
        return _ok(views.notification_settings(saved))

    _template_routes(app, f"{API}/settings/templates/<name>")

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


def _settings_page(app: APIGatewayHttpResolver) -> None:
    """The settings page's one save of its sections, the templates and their editor, and
    the step the cadence editor adds."""

    def shop() -> str:
        return _staff(app).shop

    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.get(f"{API}/settings")
    def get_all_settings() -> Response[str]:
        return _ok(views.all_settings(shop_settings.all_settings(shop())))

    @app.put(f"{API}/settings")
    def put_all_settings() -> Response[str]:
        update = requests.settings_update(incoming())
        try:
            saved = shop_settings.save_settings(shop(), update, now=clock.now())
        except VersionConflict:
            # With the settings as they are now, so the page can merge its edits into them.
            current = views.all_settings(shop_settings.all_settings(shop()))
            raise VersionConflict(current=current) from None
        return _ok(views.all_settings(saved))

    @app.get(f"{API}/templates")
    def get_templates() -> Response[str]:
        from recoup.services import message_templates

        return _ok(views.templates(message_templates.catalogue(shop())))

    _template_routes(app, f"{API}/templates/<name>")

    @app.post(f"{API}/templates/<name>/preview")
    def post_template_preview(name: str) -> Response[str]:
        from recoup.services import message_templates

        language = message_templates.check_language(incoming().query("lang"))
        situation = message_templates.check_situation(incoming().query("situation"))
        parts = requests.template_parts(incoming())
        shown = message_templates.preview_draft(
            shop(), name, parts, now=clock.now(), language=language, situation=situation
        )
        return _ok(views.template_preview(shown))

    @app.get(f"{API}/cadence/new-step")
    def get_new_step() -> Response[str]:
        return _ok(views.new_step(*shop_settings.new_step(shop())))


def _template_routes(app: APIGatewayHttpResolver, path: str) -> None:
    """GET, PUT and DELETE of the shop's version of one template in one language
    (`?lang=<code>`, default en; another code: 400 naming `lang`): the same at
    `/templates/<name>` and at the older `/settings/templates/<name>`. The service (Jinja2,
    babel) loads with the first request for it."""

    def shop() -> str:
        return _staff(app).shop

    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.get(path)
    def get_template(name: str) -> Response[str]:
        from recoup.services import message_templates as templates

        language = templates.check_language(incoming().query("lang"))
        return _ok(views.template(templates.version(shop(), name, language)))

    @app.put(path)
    def put_template(name: str) -> Response[str]:
        from recoup.services import message_templates as templates

        language = templates.check_language(incoming().query("lang"))
        parts = requests.template_parts(incoming())
        return _ok(views.template(templates.save_version(shop(), name, language, parts)))

    @app.delete(path)
    def delete_template(name: str) -> Response[str]:
        from recoup.services import message_templates as templates

        language = templates.check_language(incoming().query("lang"))
        return _ok(views.template(templates.reset_version(shop(), name, language)))


# ---------------------------------------------------------------- strategies


def _strategies(app: APIGatewayHttpResolver) -> None:
    """The strategies' tester and what-if preview: each reads the reminders document the
    settings page holds, unsaved, and writes nothing."""

    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.post(f"{API}/strategies/test")
    def post_strategy_test() -> Response[str]:
        from recoup.services import strategy_tester

        request = requests.strategy_test(incoming())
        return _ok(views.strategy_test(strategy_tester.try_strategies(_staff(app).shop, request)))

    @app.post(f"{API}/strategies/whatif")
    def post_whatif() -> Response[str]:
        from recoup.domain.fields import FieldError, join_path
        from recoup.services import whatif

        document, days = requests.whatif_request(incoming())
        try:
            found = whatif.preview_doc(_staff(app).shop, document, now=clock.now(), days=days)
        except FieldError as exc:
            raise InvalidInput(exc.message, field=join_path("reminders", exc.field)) from None
        return _ok(found)


# ---------------------------------------------------------------- cases and figures


def _cases(app: APIGatewayHttpResolver) -> None:
    def incoming() -> Incoming:
        return Incoming(app.current_event)

    @app.get(f"{API}/cases")
    def list_cases() -> Response[str]:
        from recoup.services import case_list

        query = requests.case_query(incoming())
        page = case_list.list_cases(_staff(app).shop, query, now=clock.now())
        return _ok(views.case_page(page))

    @app.get(f"{API}/cases.csv")
    def export_cases() -> Response[str]:
        from recoup.services import case_list

        now = clock.now()
        query = requests.case_query(incoming(), paged=False)
        page = case_list.export_cases(_staff(app).shop, query, now=now)
        name = f"recoup-cases-{now.date().isoformat()}.csv"
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=views.cases_csv(page),
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get(f"{API}/cases/<case_id>")
    def get_case(case_id: str) -> Response[str]:
        from recoup.services import case_views, strategy_tester

        shop = _staff(app).shop
        found = case_views.case_detail(shop, case_id, now=clock.now())
        reasons = strategy_tester.case_reasons(shop, found.stored)
        return _ok(views.case_detail(found, reasons))

    @app.post(f"{API}/cases/<case_id>/actions")
    def post_action(case_id: str) -> Response[str]:
        from recoup.services import case_views, strategy_tester

        staff = _staff(app)
        request = requests.action_request(incoming())
        outcome = case_views.perform_action(
            staff.shop, case_id, request, by=_actor(app), now=clock.now()
        )
        reasons = strategy_tester.case_reasons(staff.shop, outcome.case.stored)
        return _ok(views.action(outcome, reasons))

    @app.post(f"{API}/cases/actions")
    def post_bulk_action() -> Response[str]:
        from recoup.services import case_views

        request = requests.bulk_request(incoming())
        results = case_views.perform_bulk(
            _staff(app).shop, request, by=_actor(app), now=clock.now()
        )
        return _ok({"results": results})

    @app.get(f"{API}/figures")
    def get_figures() -> Response[str]:
        from recoup.services import figures

        start, end = requests.period(incoming())
        currency = requests.figures_currency(incoming())
        found = figures.for_shop(_staff(app).shop, start=start, end=end, currency=currency)
        return _ok(views.figures(found, start, end))


# ---------------------------------------------------------------- experiments


def _experiments(app: APIGatewayHttpResolver) -> None:
    @app.get(f"{API}/experiments")
    def get_experiments() -> Response[str]:
        """Every experiment of the shop's strategies as saved (the policy the settings route
        loads), with each arm's figures and the verdict."""
        from recoup.services import experiment_results

        shop = _staff(app).shop
        policy = shop_settings.reminder_policy(shop).value
        return _ok(views.experiments(experiment_results.figures(shop, policy)))


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
