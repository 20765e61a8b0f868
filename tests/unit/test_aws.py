"""What a failed send means: not sent (retry), unknown (never resend), rejected (for good);
the package's clients: one per service per container, standard retries and bounded timeouts,
send clients with exactly one attempt, all forgotten by one reset; and an AWS call's error
translated into the project's exception."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
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


CLIENT_SERVICES = ("sqs", "s3", "kms", "dynamodb", "sesv2")
SEND_SERVICES = ("sesv2", "sns")


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The services boto3 was asked for a client of, in order; no client is kept after."""
    made: list[str] = []
    real = boto3.client

    def counting(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real(service, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(boto3, "client", counting)
    monkeypatch.setattr(aws, "get_settings", lambda: SimpleNamespace(region="us-east-1"))
    aws.reset()
    yield made
    aws.reset()


def test_send_clients_make_one_attempt_with_bounded_timeouts(created: list[str]) -> None:
    for service in SEND_SERVICES:
        config = aws.send_client(service).meta.config  # type: ignore[call-overload]
        assert config.retries == {"mode": "standard", "total_max_attempts": 1}
        assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS
        assert config.read_timeout == aws.READ_TIMEOUT_SECONDS
    # One client per service for the container's life
    assert aws.send_client("sns") is aws.send_client("sns")


@pytest.mark.parametrize("service", CLIENT_SERVICES)
def test_other_clients_retry_in_standard_mode_with_bounded_timeouts(
    created: list[str], service: str
) -> None:
    config = aws.client(service).meta.config  # type: ignore[call-overload]
    assert config.retries == {"mode": "standard"}
    assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS
    assert config.read_timeout == aws.READ_TIMEOUT_SECONDS


def test_s3_signs_with_sigv4_for_kms_encrypted_objects_and_presigned_links(
    created: list[str],
) -> None:
    config: Any = aws.client("s3").meta.config  # the stubs leave signature_version out
    assert config.signature_version == "s3v4"


def test_one_client_per_service_per_container(created: list[str]) -> None:
    # Given every client asked for twice
    first = {service: aws.client(service) for service in CLIENT_SERVICES}  # type: ignore[call-overload]
    again = {service: aws.client(service) for service in CLIENT_SERVICES}  # type: ignore[call-overload]
    sending = aws.send_client("sesv2")
    # Then each service's client was made once and is the same object each time; a send
    # client is a client of its own (its retries differ)
    assert all(again[service] is first[service] for service in CLIENT_SERVICES)
    assert sorted(created) == sorted([*CLIENT_SERVICES, "sesv2"])
    assert sending is aws.send_client("sesv2") and sending is not first["sesv2"]


def test_reset_forgets_every_client(created: list[str]) -> None:
    # Given one client of each kind
    before = [aws.client("sqs"), aws.client("s3"), aws.send_client("sns")]
    # When the clients are reset
    aws.reset()
    # Then the next ones are new
    after = [aws.client("sqs"), aws.client("s3"), aws.send_client("sns")]
    assert all(new is not old for new, old in zip(after, before, strict=True))
    assert len(created) == 6


class Refused(aws.CallFailed):
    pass


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_client_error("ThrottlingException", 400), "ThrottlingException"),
        (ReadTimeoutError(endpoint_url=URL), "ReadTimeoutError"),
        (EndpointConnectionError(endpoint_url=URL), "EndpointConnectionError"),
    ],
)
def test_an_aws_call_error_is_raised_as_the_project_exception_named_by_its_code(
    error: BaseException, code: str
) -> None:
    with pytest.raises(Refused) as raised, aws.failures_as(Refused):
        raise error
    assert raised.value.code == code
    assert raised.value.__cause__ is error


def test_any_other_error_passes_unchanged() -> None:
    with pytest.raises(KeyError), aws.failures_as(Refused):
        raise KeyError("not an AWS call's")


def test_importing_the_queue_loads_no_sdk() -> None:
    # The webhook functions import the queue; a forged delivery must not pay for botocore's
    # clients, nor boto3.
    layer = Path(__file__).parents[2] / "layers" / "recoup"
    script = (
        "import sys; import recoup.queue, recoup.aws; "
        "print(sorted(m for m in ('boto3', 'botocore.client', 'botocore.config') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=layer,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
