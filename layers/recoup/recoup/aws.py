"""The package's AWS clients, and what a failed call means.

Every boto3 client of the package comes from here (`client`, `send_client`); PynamoDB's
connection is the store's (`store.bind`). Clients are created on first use (a cold start
that calls nothing never pays for them) and kept for the container's life, one per service.
They share one botocore Config: standard retry mode and bounded connect and read timeouts,
so no single call can outlast its Lambda's timeout. Clients that deliver a message to a
person (SES SendEmail, SNS Publish) have SDK retries off: a retried send whose first attempt
was accepted but whose answer was lost is a second email or SMS, so the application decides
instead (see `classify`).

botocore is imported only when a client is made or an error is read: the webhook functions
import the queue, which imports this module, and a forged delivery must not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from recoup.settings import get_settings

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# Connecting takes milliseconds inside a region; a provider that has not answered a send in
# ten seconds will not answer usefully in thirty (the sender's timeout).
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
RETRY_MODE = "standard"

_clients: dict[tuple[str, bool], Any] = {}


@overload
def client(service: Literal["sqs"]) -> SQSClient: ...
@overload
def client(service: Literal["s3"]) -> S3Client: ...
@overload
def client(service: Literal["kms"]) -> KMSClient: ...
@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["sesv2"]) -> SESV2Client: ...
def client(service: str) -> Any:
    """The service's client for every call that is not a send to a person: the SDK retries
    what failed before the service acted (throttles, connection errors, 5xx)."""
    return _client(service, sending=False)


@overload
def send_client(service: Literal["sesv2"]) -> SESV2Client: ...
@overload
def send_client(service: Literal["sns"]) -> SNSClient: ...
def send_client(service: str) -> Any:
    """The client whose calls deliver a message to a person: no SDK retries."""
    return _client(service, sending=True)


def _client(service: str, *, sending: bool) -> Any:
    key = (service, sending)
    found = _clients.get(key)
    if found is None:
        import boto3

        region = get_settings().region
        # cast: boto3's stubs type `client` per literal service name; the overloads of
        # client and send_client give callers the precise type.
        made = boto3.client(
            cast(Any, service), region_name=region, config=_config(service, sending)
        )
        # Two threads racing on a cold client (the local stack) keep one of the two.
        found = _clients.setdefault(key, made)
    return found


def _config(service: str, sending: bool) -> Config:
    """The botocore Config of a service's client."""
    from botocore.config import Config

    settings: dict[str, Any] = {
        "retries": {"mode": RETRY_MODE},
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }
    if sending:
        # One attempt: whether to try again is decided by the caller from `classify`.
        settings["retries"] = {"mode": RETRY_MODE, "total_max_attempts": 1}
    if service == "s3":
        # SigV4: the only signature S3 accepts for KMS-encrypted objects, presigned links
        # (the case files' downloads) included.
        settings["signature_version"] = "s3v4"
    return Config(**settings)


def reset() -> None:
    """Forget every client (tests; a new local stack in the same process)."""
    _clients.clear()


class CallFailed(Exception):
    """An AWS call failed after the SDK's retries; `code` names the service's answer (or
    the error's class), never the request's content."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _is_sdk_error(error: BaseException) -> bool:
    """Whether the error is an AWS call's (the service's answer, or no answer)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(error, ClientError | BotoCoreError)


@contextmanager
def failures_as(kind: type[CallFailed]) -> Iterator[None]:
    """Raise an AWS call's error from the block as `kind`, so callers outside the adapters
    catch a project exception; any other error passes unchanged."""
    try:
        yield
    except Exception as error:
        if not _is_sdk_error(error):
            raise
        raise kind(error_code(error)) from error


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
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ProxyConnectionError,
    )

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
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or type(error).__name__
    return type(error).__name__
