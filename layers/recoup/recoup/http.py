"""The HTTP functions' edge: raw bodies, JSON answers, and one way of answering errors.

Every HTTP function registers `answer_errors`, so whatever its routes raise reaches
`error_response`. An `HttpProblem` (or one of the few foreign refusals in `_FOREIGN`) is
answered with its status and code, logged and counted as `<edge>Rejected`. Anything else is
a fault of ours: 500 `internal_error`, counted as `<edge>Failed` and logged by type and
place only, since an exception's text may quote the request (addresses, names). Only the
look of the answer is the function's own: JSON for programs and the admin page, an HTML page
for customers, plain text for the merchant's OAuth redirects.

Every HTTP function resolves with `Resolver`, which runs each request under its correlation
id (`recoup.correlation`): the Lambda request id, or a webhook's own id once verified.
A webhook delivery is also counted by what it was answered (WebhooksReceived).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import correlation, observability
from recoup.errors import ConfigurationError, HttpProblem, MalformedWebhook, NotFound
from recoup.observability import WebhookOutcome, WebhookSource, logger, metrics

if TYPE_CHECKING:
    from recoup.services.intake import Accepted

NO_STORE = {"Cache-Control": "no-store"}
TRACE_FRAMES = 12  # the innermost frames a fault's log line lists


class Resolver(APIGatewayHttpResolver):
    """An HTTP API resolver that runs each request, its error answers and their log lines
    included, under the Lambda request id as its correlation id."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        with correlation.invocation(correlation.request_id(context)):
            return super().resolve(event, context)


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The exact bytes the sender signed (API Gateway base64-encodes non-text bodies)."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise MalformedWebhook("body is not valid base64") from None
    return body.encode("utf-8")


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=dict(headers or {}),
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.4rem">{title}</h1><p>{message}</p>{form}</body></html>"""


def html_response(status: int, title: str, message: str, form: str = "") -> Response[str]:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message), form=form)
    return Response(status_code=status, content_type=content_types.TEXT_HTML, body=body)


# ------------------------------------------------------------------------------ errors


def json_error(problem: HttpProblem) -> Response[str]:
    return json_response(problem.status, problem.to_body(), NO_STORE)


def html_error(problem: HttpProblem) -> Response[str]:
    """A customer's page: the only requests they make are the links in their messages."""
    title = "This link cannot be used" if problem.status < 500 else "Something went wrong"
    message = problem.message[:1].upper() + problem.message[1:]
    return html_response(problem.status, title, message if message.endswith(".") else message + ".")


def text_error(problem: HttpProblem) -> Response[str]:
    return Response(
        status_code=problem.status,
        content_type=content_types.TEXT_PLAIN,
        body=f"{problem.message}\n",
        headers=NO_STORE,
    )


@dataclass(frozen=True, slots=True)
class Edge:
    """One HTTP function as its errors are answered, logged and counted."""

    name: str  # the prefix of its metrics: <name>Rejected, <name>Failed
    noun: str  # what its log lines call one request ("Webhook failed")
    render: Callable[[HttpProblem], Response[str]]
    webhook: WebhookSource | None = None  # a webhook endpoint: its answers are counted


def _refused_sample(exc: Any, _route: str) -> HttpProblem:
    if exc.status == 429:
        return HttpProblem(exc.message, status=429, code="rate_limited")
    if exc.status >= 500:
        return HttpProblem(exc.message, status=exc.status, code="unavailable")
    return HttpProblem(exc.message, status=exc.status, field=exc.field, code="invalid")


# Refusals raised by code that predates HttpProblem, by qualified class name (most specific
# first along the exception's MRO): matched by name so that a webhook function, which never
# meets them, does not import the services that raise them.
_FOREIGN: dict[str, Callable[[Any, str], HttpProblem]] = {
    "aws_lambda_powertools.event_handler.exceptions.NotFoundError": (
        lambda _exc, route: NotFound(f"no route {route}")
    ),
    "recoup.links.InvalidLink": lambda exc, _route: HttpProblem(str(exc), code="invalid_link"),
    "recoup.integrations.shopify_oauth.ShopifyUnavailable": (
        lambda exc, _route: HttpProblem(exc.message, status=502, code="shopify_unavailable")
    ),
    "recoup.integrations.shopify_oauth.OAuthUnauthorized": (
        lambda exc, _route: HttpProblem(exc.message, status=401, code="oauth_unauthorized")
    ),
    "recoup.integrations.shopify_oauth.OAuthForbidden": (
        lambda exc, _route: HttpProblem(exc.message, status=403, code="oauth_forbidden")
    ),
    "recoup.integrations.shopify_oauth.OAuthRejected": (
        lambda exc, _route: HttpProblem(exc.message, status=exc.status, code="oauth_refused")
    ),
    "recoup.services.stripe_connect.ConnectUnavailable": (
        lambda exc, _route: HttpProblem(exc.message, status=503, code="stripe_connect_unavailable")
    ),
    "recoup.services.stripe_connect.ConnectRefused": (
        lambda exc, _route: HttpProblem(exc.message, code="stripe_connect_refused")
    ),
    "recoup.services.sample_sends.SampleRefused": _refused_sample,
}


def problem_for(exc: Exception, route: str) -> HttpProblem | None:
    """The answer `exc` asks for; None when it is a fault of ours. `route` ("GET /path")
    is for the answer to a path no route serves."""
    if isinstance(exc, HttpProblem):
        return exc
    if isinstance(exc, ConfigurationError):
        # The detail names what is missing (a secret's location): logged, never answered.
        return HttpProblem("service misconfigured", status=500, code="configuration_error")
    for kind in type(exc).__mro__:
        convert = _FOREIGN.get(f"{kind.__module__}.{kind.__qualname__}")
        if convert is not None:
            return convert(exc, route)
    return None


def error_response(exc: Exception, edge: Edge, route: str) -> Response[str]:
    """The one answer of every HTTP function to an exception out of a route."""
    problem = problem_for(exc, route)
    if problem is None:
        _fault(exc, edge)
        problem = HttpProblem("try again later", status=500, code="internal_error")
    elif isinstance(exc, ConfigurationError):
        logger.error("Configuration error", extra={"edge": edge.name, "detail": str(exc)})
        metrics.add_metric(name=f"{edge.name}Failed", unit="Count", value=1)
    else:
        _refusal(problem, edge)
    if edge.webhook is not None:
        observability.webhook_received(edge.webhook, webhook_outcome(problem.status))
    return edge.render(problem)


def webhook_outcome(status: int) -> WebhookOutcome:
    """What a refused or failed delivery's status says of it, as WebhooksReceived counts it."""
    if status in (401, 403):
        return "unauthorized"
    if status >= 500:
        return "failed"
    return "malformed"


def answer_errors(app: APIGatewayHttpResolver, edge: Edge) -> None:
    """Route every exception of `app` (an unknown path's too) through `error_response`."""

    def answer(exc: Exception) -> Response[str]:
        event = app.current_event
        return error_response(exc, edge, f"{event.http_method} {event.path}")

    app.exception_handler(Exception)(answer)


def _refusal(problem: HttpProblem, edge: Edge) -> None:
    """Logged with the message the caller gets: written to name the problem (a field, a
    limit, a claim), where a fault's text could quote anything."""
    loud = problem.status in (401, 403) or problem.status >= 500
    (logger.warning if loud else logger.info)(
        f"{edge.noun} refused",
        extra={
            "edge": edge.name,
            "status": problem.status,
            "code": problem.code,
            "field": problem.field,
            "detail": problem.message,
        },
    )
    metrics.add_metric(name=f"{edge.name}Rejected", unit="Count", value=1)


def _fault(exc: Exception, edge: Edge) -> None:
    """Logged by the exception's type and the frames it passed through, not its text."""
    frames = [
        (frame.f_code.co_filename, line, frame.f_code.co_name)
        for frame, line in traceback.walk_tb(exc.__traceback__)
    ]
    where = f"{frames[-1][0]}:{frames[-1][1]}" if frames else "unknown"
    trace = [f"{Path(file).name}:{line} {name}" for file, line, name in frames[-TRACE_FRAMES:]]
    logger.error(
        f"{edge.noun} failed",
        extra={"edge": edge.name, "error": type(exc).__name__, "at": where, "trace": trace},
    )
    metrics.add_metric(name=f"{edge.name}Failed", unit="Count", value=1)


# ------------------------------------------------------------------------------ the functions


def webhook_app(
    path: str, accept: Callable[[bytes, Mapping[str, str]], Accepted], source: WebhookSource
) -> Resolver:
    """An HTTP API resolver with one POST route that hands the raw delivery to `accept`
    (which sets the delivery's own id as the correlation id once it is verified)."""
    app = Resolver()

    @app.post(path)
    def receive() -> Response[str]:
        accepted = accept(raw_body(app.current_event), app.current_event.headers)
        outcome: WebhookOutcome = "queued" if accepted.status == "queued" else "ignored"
        observability.webhook_received(source, outcome)
        return json_response(200, accepted.to_body())

    # The edge keeps its name (ShopifyWebhookFailed is alarmed on, by that name).
    answer_errors(app, Edge(f"{source.title()}Webhook", "Webhook", json_error, webhook=source))
    return app


def unsubscribe_app() -> Resolver:
    """The unsubscribe link: GET confirms, POST (a person's click or a mail client's
    one-click) opts the address out of the shop's emails. In the customer's language: the
    link's `lang`, else Accept-Language, else English."""
    from recoup import clock
    from recoup.links import SAMPLE_TOKEN, InvalidLink, verify_unsubscribe
    from recoup.settings import get_settings

    app = Resolver()

    def shown(status: int, state: str, token: str = "", shop: str = "") -> Response[str]:
        # The page's rendering (Jinja2, the catalogs) loads on the first request, not in the
        # cold start's import.
        from recoup.services import case_pages, customer_page

        event = app.current_event
        language = case_pages.unsubscribe_language(
            event.get_query_string_value("lang"), event.headers.get("accept-language")
        )
        page = customer_page.render(
            "unsubscribe.html.j2", language, state=state, token=token, shop=shop
        )
        return page_response(status, page.html, page.nonce)

    def token() -> str:
        return app.current_event.get_query_string_value("t") or ""

    @app.get("/unsubscribe")
    def page() -> Response[str]:
        if token() == SAMPLE_TOKEN:
            return shown(400, "sample")
        try:
            link = verify_unsubscribe(
                token(), now=clock.now(), secrets=get_settings().link_secrets()
            )
        except InvalidLink:
            return shown(400, "invalid")
        return shown(200, "confirm", token(), link.shop)

    @app.post("/unsubscribe")
    def one_click() -> Response[str]:
        if token() == SAMPLE_TOKEN:
            return shown(400, "sample")
        from recoup.services import feedback

        try:
            link = feedback.unsubscribe(token(), now=clock.now())
        except InvalidLink:
            return shown(400, "invalid")
        return shown(200, "done", shop=link.shop)

    answer_errors(app, Edge("Unsubscribe", "Unsubscribe request", page_error(app)))
    return app


def page_error(app: APIGatewayHttpResolver) -> Callable[[HttpProblem], Response[str]]:
    """How a customer's page answers an error (a form too large, a path it does not serve,
    a fault of ours): the page's own look and headers, in the request's language (?lang=,
    else Accept-Language), saying nothing about any order. Should the page itself fail to
    render, the plain error page answers, with the same headers."""

    def render(problem: HttpProblem) -> Response[str]:
        from recoup.services import case_pages, customer_page

        try:
            event = app.current_event
            language = case_pages.unsubscribe_language(
                event.get_query_string_value("lang"), event.headers.get("accept-language")
            )
            page = customer_page.render("error.html.j2", language, status=problem.status)
        except Exception as error:  # noqa: BLE001 (the answer must still go out)
            logger.error("Error page not rendered", extra={"error": type(error).__name__})
            plain = html_error(problem)
            return page_response(problem.status, str(plain.body), "")
        return page_response(problem.status, page.html, page.nonce)

    return render


def page_route(method: str, path: str) -> str:
    """The route a customer page's request took, as its log lines name it: the token in
    the path is a credential and is never logged."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "c":
        return f"{method} /c/{{token}}" + ("/{action}" if len(parts) > 3 else "")
    return f"{method} {path}"


# Where the customer's page forms may lead: the page's payment forms answer with a redirect to
# Stripe Checkout, which browsers hold to `form-action` too.
STRIPE_CHECKOUT = "https://checkout.stripe.com"


def page_headers(nonce: str, *, form_action: str = "'self'") -> dict[str, str]:
    """Every customer page's headers: no script at all, the one <style> by its nonce, never
    framed, never cached, and no Referer (the token is in the URL)."""
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src https: data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        **NO_STORE,
    }


def page_response(
    status: int,
    html_text: str,
    nonce: str,
    headers: Mapping[str, str] | None = None,
    *,
    form_action: str = "'self'",
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=html_text,
        headers={**page_headers(nonce, form_action=form_action), **(headers or {})},
    )


def checkout_form_action() -> str:
    """The customer page's `form-action`: itself and Stripe Checkout (and the local stack's
    stand-in for Stripe, which is never set in the cloud)."""
    from urllib.parse import urlsplit

    from recoup.settings import get_settings

    targets = ["'self'", STRIPE_CHECKOUT]
    base = get_settings().stripe_api_base
    if base:
        parts = urlsplit(base)
        targets.append(f"{parts.scheme}://{parts.netloc}")
    return " ".join(targets)


PAGE_FORM_MAX_BYTES = 16_384  # a note of 1000 characters, percent-encoded, and the rest
PAGE_FORM_MAX_FIELDS = 40


def customer_page_app() -> Resolver:
    """The customer's page of a case: GET /c/<token> (with a plan's choice to preview), and
    its forms, POST /c/<token>/<promise | report | preferences | new-link | plan | plan-card
    | settle> (services/case_pages.py)."""
    from urllib.parse import parse_qs

    from recoup import clock
    from recoup.errors import PayloadTooLarge
    from recoup.services import case_pages

    app = Resolver()

    def request(token: str, action: str | None) -> case_pages.PageRequest:
        event = app.current_event
        form: dict[str, list[str]] = {}
        if action is not None:
            body = raw_body(event)
            if len(body) > PAGE_FORM_MAX_BYTES:
                raise PayloadTooLarge("the form is too large")
            try:
                form = parse_qs(
                    body.decode("utf-8", "replace"),
                    keep_blank_values=True,
                    max_num_fields=PAGE_FORM_MAX_FIELDS,
                )
            except ValueError:  # more fields than any of the page's forms has
                raise PayloadTooLarge("the form has too many fields") from None
        headers = event.headers
        language = (form.get("lang") or [""])[0] or event.get_query_string_value("lang")
        query = (
            {name: [event.get_query_string_value(name) or ""] for name in case_pages.PLAN_QUERY}
            if action is None
            else {}
        )
        return case_pages.PageRequest(
            token=token,
            action=action,
            form=form,
            query=query,
            language=language or None,
            status=event.get_query_string_value("done"),
            accept_language=headers.get("accept-language"),
            origin=headers.get("origin"),
            host=headers.get("host"),
            fetch_site=headers.get("sec-fetch-site"),
            # The address API Gateway saw the request come from, never a header the client sets.
            ip=event.request_context.http.source_ip or None,
            user_agent=headers.get("user-agent"),
        )

    def answer(result: case_pages.PageAnswer) -> Response[str]:
        extra: dict[str, str] = {}
        if result.location is not None:
            extra["Location"] = result.location
        if result.retry_after is not None:
            extra["Retry-After"] = str(result.retry_after)
        return page_response(
            result.status, result.html, result.nonce, extra, form_action=checkout_form_action()
        )

    @app.get("/c/<token>")
    def page(token: str) -> Response[str]:
        return answer(case_pages.serve(request(token, None), now=clock.now()))

    @app.post("/c/<token>/<action>")
    def act(token: str, action: str) -> Response[str]:
        if action not in case_pages.ACTIONS:
            raise NotFound("no route POST /c/{token}/{action}: no such form")
        return answer(case_pages.serve(request(token, action), now=clock.now()))

    edge = Edge("CustomerPage", "Customer page request", page_error(app))

    def failed(exc: Exception) -> Response[str]:
        event = app.current_event
        return error_response(exc, edge, page_route(event.http_method, event.path))

    # As `answer_errors`, but the route is logged by its template, never with the token.
    app.exception_handler(Exception)(failed)
    return app


def pay_app() -> Resolver:
    """The pay link of every reminder: GET /pay/<token> redirects (303) to a payment page
    made for what is owed now, or shows why there is nothing to pay."""
    from recoup import clock
    from recoup.services import pay_links

    app = Resolver()

    @app.get("/pay/<token>")
    def pay(token: str) -> Response[str]:
        answer = pay_links.open_link(token, now=clock.now())
        if answer.location is not None:
            return Response(
                status_code=answer.status,
                content_type="text/plain",
                body="",
                headers={"Location": answer.location, **NO_STORE},
            )
        return html_response(answer.status, answer.title, answer.message)

    answer_errors(app, Edge("PayLink", "Pay link", html_error))
    return app
