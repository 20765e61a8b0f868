"""Errors that cross layers and map to a clear answer at the edge.

`HttpProblem` is the one family every HTTP function answers with: an HTTP status, a stable
`code` a client may branch on (docs/api-errors.md lists every one), a message for the person
or program that sent the request, and for bad input the `field` at fault. `recoup.http`
turns them, and the few exceptions of other libraries and modules it knows, into responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecoupError(Exception):
    """Base class for errors the project raises on purpose."""


class HttpProblem(RecoupError):
    """A request answered with something other than success. The class sets the usual
    status and code; an instance may name its own (a foreign refusal carries its status)."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = dict(extra or {})
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        """The JSON error shape: `{"error": code, "message": ..., "field": ...}`, the field
        only when one is at fault (a path into the document sent, or a parameter's name),
        and the few members a code documents besides (`line`, `current`), never in place of
        these three."""
        body: dict[str, Any] = {**self.extra, "error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(HttpProblem):
    """A value the request sent cannot be used; `field` says which."""

    code = "invalid"


class InvalidParameter(InvalidInput):
    """A query parameter cannot be used; `field` is its name."""

    code = "invalid_parameter"


class InvalidJson(HttpProblem):
    code = "invalid_json"


class PayloadTooLarge(HttpProblem):
    status = 413
    code = "too_large"


class NotInstalled(HttpProblem):
    """The shop the request is for has not installed the app."""

    status = 403
    code = "not_installed"


class NotFound(HttpProblem):
    status = 404
    code = "not_found"


class Conflict(HttpProblem):
    """The request does not fit the current state; reloading shows why."""

    status = 409
    code = "conflict"


class VersionConflict(Conflict):
    """Someone saved the settings since the caller loaded them."""

    code = "version_conflict"

    def __init__(self, *, current: Mapping[str, Any] | None = None) -> None:
        """`current`: the settings as they are now, by section, for the page to merge."""
        super().__init__(
            "someone saved these settings since you loaded them: reload to see their change",
            field="version",
            extra={"current": dict(current)} if current is not None else None,
        )


class WebhookRejected(HttpProblem):
    """A delivery we refuse: nothing is written, the sender gets `status` and the reason."""


class SignatureInvalid(WebhookRejected):
    status = 401
    code = "invalid_signature"


class MalformedWebhook(WebhookRejected):
    code = "malformed_webhook"


class ConfigurationError(RecoupError):
    """The deployment is missing something it needs (a secret, a table name). Answered 500
    without the detail, which may name a secret's location."""
