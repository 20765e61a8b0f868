"""What a failed send means: not sent (retry), unknown (never resend), rejected (for good);
and the send clients make exactly one attempt."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from recoup import aws

URL = "https://email.us-east-1.amazonaws.com"
REJECTED = frozenset({"MessageRejected", "BadRequestException"})


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "test"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendEmail")


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ConnectTimeoutError(endpoint_url=URL), aws.Outcome.NOT_SENT),
        (EndpointConnectionError(endpoint_url=URL), aws.Outcome.NOT_SENT),
        (_client_error("TooManyRequestsException", 429), aws.Outcome.NOT_SENT),
        (_client_error("Throttling", 400), aws.Outcome.NOT_SENT),
        (_client_error("AccessDeniedException", 403), aws.Outcome.NOT_SENT),
        (_client_error("MessageRejected", 400), aws.Outcome.REJECTED),
        (_client_error("BadRequestException", 400), aws.Outcome.REJECTED),
        (_client_error("InternalFailure", 500), aws.Outcome.UNKNOWN),
        (_client_error("ServiceUnavailable", 503), aws.Outcome.UNKNOWN),
        (ReadTimeoutError(endpoint_url=URL), aws.Outcome.UNKNOWN),
        (ConnectionClosedError(endpoint_url=URL), aws.Outcome.UNKNOWN),
        (RuntimeError("anything else"), aws.Outcome.UNKNOWN),
    ],
)
def test_a_failed_send_is_classified_by_what_the_provider_may_have_done(
    error: BaseException, outcome: aws.Outcome
) -> None:
    assert aws.classify(error, REJECTED) is outcome


def test_send_clients_make_one_attempt_with_bounded_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws, "get_settings", lambda: SimpleNamespace(region="us-east-1"))
    aws.reset()
    try:
        for service in ("sesv2", "sns"):
            config = aws.send_client(service).meta.config  # type: ignore[call-overload]
            assert config.retries == {"mode": "standard", "total_max_attempts": 1}
            assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS
            assert config.read_timeout == aws.READ_TIMEOUT_SECONDS
        # One client per service for the container's life
        assert aws.send_client("sns") is aws.send_client("sns")
    finally:
        aws.reset()
