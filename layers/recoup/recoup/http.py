"""The webhook endpoints' HTTP side: raw bodies, JSON answers, errors mapped to 4xx/5xx."""

from __future__ import annotations

import base64
import binascii
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

    app.exception_handler(WebhookRejected)(handle_rejected)
    app.exception_handler(ConfigurationError)(misconfigured)
    return app
