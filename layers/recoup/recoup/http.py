"""The webhook endpoints' HTTP side: raw bodies, JSON answers, errors mapped to 4xx/5xx."""

from __future__ import annotations

import base64
import binascii
import html
import json
from collections.abc import Callable, Mapping

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from recoup.errors import ConfigurationError, MalformedWebhook, WebhookRejected
from recoup.observability import logger, metrics
from recoup.services.intake import Accepted


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The exact bytes the sender signed (API Gateway base64-encodes non-text bodies)."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise MalformedWebhook("body is not valid base64") from None
    return body.encode("utf-8")


def json_response(status: int, body: dict[str, str]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
    )


def rejected(exc: WebhookRejected, source: str) -> Response[str]:
    logger.warning(
        "Rejected webhook", extra={"source": source, "reason": exc.code, "detail": exc.message}
    )
    metrics.add_metric(name=f"{source}WebhookRejected", unit="Count", value=1)
    return json_response(exc.status, exc.to_body())


def misconfigured(exc: ConfigurationError) -> Response[str]:
    logger.error("Configuration error", extra={"detail": str(exc)})
    return json_response(500, {"error": "configuration_error", "message": "service misconfigured"})


def webhook_app(
    path: str, accept: Callable[[bytes, Mapping[str, str]], Accepted], source: str
) -> APIGatewayHttpResolver:
    """An HTTP API resolver with one POST route that hands the raw delivery to `accept`."""
    app = APIGatewayHttpResolver()

    @app.post(path)
    def receive() -> Response[str]:
        accepted = accept(raw_body(app.current_event), app.current_event.headers)
        metrics.add_metric(name=f"{source}WebhookAccepted", unit="Count", value=1)
        return json_response(200, accepted.to_body())

    def handle_rejected(exc: WebhookRejected) -> Response[str]:
        return rejected(exc, source)

    def handle_unexpected(exc: Exception) -> Response[str]:
        return unexpected(exc, source)

    app.exception_handler(WebhookRejected)(handle_rejected)
    app.exception_handler(ConfigurationError)(misconfigured)
    app.exception_handler(Exception)(handle_unexpected)
    return app


def unexpected(exc: Exception, source: str) -> Response[str]:
    """A fault of ours (or of AWS): 500, so the sender retries. Logged by type and place
    only: an exception's text may quote the body (addresses, names)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "unknown"
    logger.error(
        "Webhook failed", extra={"source": source, "error": type(exc).__name__, "at": where}
    )
    metrics.add_metric(name=f"{source}WebhookFailed", unit="Count", value=1)
    return json_response(500, {"error": "internal_error", "message": "try again later"})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.4rem">{title}</h1><p>{message}</p>{form}</body></html>"""


def html_response(status: int, title: str, message: str, form: str = "") -> Response[str]:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message), form=form)
    return Response(status_code=status, content_type=content_types.TEXT_HTML, body=body)


def unsubscribe_app() -> APIGatewayHttpResolver:
    """The unsubscribe link: GET confirms, POST (a person's click or a mail client's
    one-click) opts the address out of the shop's emails."""
    from recoup import clock
    from recoup.links import SAMPLE_TOKEN, InvalidLink, verify_unsubscribe
    from recoup.services import feedback
    from recoup.settings import get_settings

    app = APIGatewayHttpResolver()

    def token() -> str:
        value = app.current_event.get_query_string_value("t") or ""
        if not value:
            raise InvalidLink("the link has no token")
        if value == SAMPLE_TOKEN:
            raise InvalidLink(
                "it came in a test message; in a customer's reminder it stops this store's "
                "reminder emails to them"
            )
        return value

    @app.get("/unsubscribe")
    def page() -> Response[str]:
        link = verify_unsubscribe(token(), now=clock.now(), secrets=get_settings().link_secrets())
        form = (
            f'<form method="post" action="/unsubscribe?t={html.escape(token(), quote=True)}">'
            '<button type="submit" name="List-Unsubscribe" value="One-Click" '
            'style="padding:.6rem 1.2rem;font-size:1rem">Unsubscribe</button></form>'
        )
        return html_response(
            200,
            "Stop payment reminder emails?",
            f"You will no longer receive payment reminder emails about orders from "
            f"{link.shop}. You may still receive SMS if you gave a phone number "
            f"(reply STOP to those).",
            form,
        )

    @app.post("/unsubscribe")
    def one_click() -> Response[str]:
        link = feedback.unsubscribe(token(), now=clock.now())
        return html_response(
            200,
            "You are unsubscribed",
            f"{link.shop} will not send you payment reminder emails any more.",
        )

    def invalid(exc: InvalidLink) -> Response[str]:
        return html_response(400, "This link cannot be used", f"{exc}.")

    app.exception_handler(InvalidLink)(invalid)
    app.exception_handler(ConfigurationError)(misconfigured)
    return app


def pay_app() -> APIGatewayHttpResolver:
    """The pay link of every reminder: GET /pay/<token> redirects (303) to a payment page
    made for what is owed now, or shows why there is nothing to pay."""
    from recoup import clock
    from recoup.links import InvalidLink
    from recoup.services import pay_links

    app = APIGatewayHttpResolver()

    @app.get("/pay/<token>")
    def pay(token: str) -> Response[str]:
        answer = pay_links.open_link(token, now=clock.now())
        if answer.location is not None:
            return Response(
                status_code=answer.status,
                content_type="text/plain",
                body="",
                headers={"Location": answer.location, "Cache-Control": "no-store"},
            )
        return html_response(answer.status, answer.title, answer.message)

    def invalid(exc: InvalidLink) -> Response[str]:
        return html_response(400, "This link cannot be used", f"{exc}.")

    app.exception_handler(InvalidLink)(invalid)
    app.exception_handler(ConfigurationError)(misconfigured)
    return app
