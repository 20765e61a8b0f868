"""AWS clients for the sending integrations (SES, SNS), and what a failed send means.

Clients are created on first use (a cold start that sends nothing never pays for them) and
kept for the container's life. They share one botocore Config: standard retry mode and
bounded connect and read timeouts, so no single call can outlast the sender's Lambda
timeout. Clients that deliver a message to a person (SES SendEmail, SNS Publish) have
SDK retries off: a retried send whose first attempt was accepted but whose answer was lost
is a second email or SMS, so the application decides instead (see `classify`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient

# Connecting takes milliseconds inside a region; a provider that has not answered a send in
# ten seconds will not answer usefully in thirty (the sender's timeout).
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10

_CONFIG = Config(
    retries={"mode": "standard"},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)
# One attempt: whether to try again is decided by the caller from `classify`.
_SEND_CONFIG = _CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

_clients: dict[tuple[str, bool], Any] = {}


@overload
def send_client(service: Literal["sesv2"]) -> SESV2Client: ...
@overload
def send_client(service: Literal["sns"]) -> SNSClient: ...
def send_client(service: str) -> Any:
    """The client whose calls deliver a message to a person: no SDK retries."""
    return _client(service, sending=True)


def _client(service: str, *, sending: bool) -> Any:
    key = (service, sending)
    if key not in _clients:
        import boto3

        config = _SEND_CONFIG if sending else _CONFIG
        region = get_settings().region
        # cast: boto3's stubs type `client` per literal service name; the overloads of
        # send_client give callers the precise type.
        _clients[key] = boto3.client(cast(Any, service), region_name=region, config=config)
    return _clients[key]


def reset() -> None:
    """Forget every client (tests; a new local stack in the same process)."""
    _clients.clear()


class Outcome(StrEnum):
    NOT_SENT = "not_sent"  # certainly not accepted: trying again is safe
    UNKNOWN = "unknown"  # may have been accepted: trying again may deliver twice
    REJECTED = "rejected"  # refused for good (the address): trying again cannot help


# Codes that mean "too many requests": the provider refused before acting.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "KMSThrottlingException",
        "RequestThrottled",
        "SlowDown",
    }
)


def classify(error: BaseException, rejected_codes: frozenset[str]) -> Outcome:
    """What a failed send call means for the message. `rejected_codes` are the service's
    error codes that refuse the recipient for good.

    - Not sent: a connection that never opened (connect timeout, endpoint unreachable), a
      throttle, or any other 4xx (the provider answered that it did not accept).
    - Unknown: a read timeout or a connection dropped after the request was written, a 5xx,
      anything else: the provider may have acted.
    - Rejected: one of `rejected_codes`.
    """
    if isinstance(error, ConnectTimeoutError | EndpointConnectionError | ProxyConnectionError):
        # ConnectTimeoutError and EndpointConnectionError are raised before a byte is sent.
        return Outcome.NOT_SENT
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES:
            return Outcome.NOT_SENT
        if code in rejected_codes:
            return Outcome.REJECTED
        if 400 <= status < 500:
            return Outcome.NOT_SENT
        return Outcome.UNKNOWN
    return Outcome.UNKNOWN


class SendFailed(Exception):
    """A send did not complete; `code` names the provider's answer (never the address)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NotSent(SendFailed):
    """Certainly not accepted (throttled, no connection, a refused request)."""


class OutcomeUnknown(SendFailed):
    """Maybe accepted: the answer was lost (read timeout, connection dropped, 5xx)."""


class Rejected(SendFailed):
    """Refused for good: this recipient cannot be sent this message."""


def send_failure(error: BaseException, rejected_codes: frozenset[str]) -> SendFailed:
    """The exception to raise for a failed send call (see `classify`)."""
    code = error_code(error)
    outcome = classify(error, rejected_codes)
    if outcome is Outcome.REJECTED:
        return Rejected(code)
    if outcome is Outcome.NOT_SENT:
        return NotSent(code)
    return OutcomeUnknown(code)


def error_code(error: BaseException) -> str:
    """A short, address-free name for an error: the service's code, else the class name."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or type(error).__name__
    return type(error).__name__
