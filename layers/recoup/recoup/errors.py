"""Errors that cross layers and map to a clear answer at the edge."""

from __future__ import annotations


class RecoupError(Exception):
    """Base class for errors the project raises on purpose."""


class WebhookRejected(RecoupError):
    """A delivery we refuse: nothing is written, the sender gets `status` and the reason."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class SignatureInvalid(WebhookRejected):
    status = 401
    code = "invalid_signature"


class MalformedWebhook(WebhookRejected):
    status = 400
    code = "malformed_webhook"


class ConfigurationError(RecoupError):
    """The deployment is missing something it needs (a secret, a table name)."""
