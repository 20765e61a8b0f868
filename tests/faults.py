"""Fault injection for AWS calls, at the layer where botocore sends a request and retries it.

Every client (boto3's, PynamoDB's) sends through `botocore.endpoint.Endpoint`, so wrapping
its `_do_get_response` reaches every AWS call the code makes, in-process moto included,
and botocore's own retry loop still runs around the fault (a timeout after the provider
acted is then retried by the SDK exactly as in production, unless the client turned
retries off).

    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")      # the first SendEmail
        plan.fail("dynamodb", "GetItem", "throttle", nth=2)    # the second GetItem
        ...
    plan.calls     # every (service, operation) attempted, in order, faults included
    plan.invocations  # every call the code made (an SDK retry is not a new one)
    plan.injected  # the faults that fired

`fail(..., whole_call=True)` fails the `nth` call the code makes on every attempt the SDK
makes at it, so the code sees the error whatever its client's retry settings (`nth` and
`times` then count calls, not attempts). `with plan.armed(False):` lets calls through
unrecorded: the harness's own calls, and the functions a scenario does not test.

Kinds:
- `throttle`: the provider refused for rate (did not act): 400 with the service's code.
- `server_error`: a 500 (the provider may or may not have acted; botocore retries it).
- `timeout_before`: the connection timed out before the request reached the provider.
- `timeout_after`: the provider acted, then reading its answer timed out.
- `reject`: a permanent refusal (400 with a validation code): retrying cannot help.
- `transaction_conflict` (not in the matrix): a TransactWriteItems cancelled because another
  transaction held one of its items (a shared rollup); nothing was written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

KINDS = ("throttle", "server_error", "timeout_before", "timeout_after", "reject")
# Not in the matrix (DynamoDB transactions only): another transaction held an item of this
# one at the same moment; DynamoDB cancels it, acting on nothing.
CONFLICT = "transaction_conflict"

_THROTTLE_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "sesv2": "TooManyRequestsException",
    "sns": "Throttling",
    "sqs": "ThrottlingException",
    "s3": "SlowDown",
    "kms": "ThrottlingException",
    "ssm": "ThrottlingException",
}
_REJECT_CODES = {
    "dynamodb": "ValidationException",
    "sesv2": "BadRequestException",
    "sns": "InvalidParameter",
    "sqs": "InvalidParameterValue",
    "s3": "AccessDenied",
    "kms": "AccessDeniedException",
    "ssm": "ValidationException",
}


@dataclass
class _Rule:
    service: str
    operation: str
    kind: str
    nth: int  # 1-based occurrence of (service, operation) that fails; 0: every one
    times: int  # how many consecutive occurrences fail from nth on
    code: str | None
    whole_call: bool = False  # count calls, not attempts, and fail every attempt of them
    fired: int = 0


@dataclass
class FaultPlan:
    calls: list[tuple[str, str]] = field(default_factory=list)
    invocations: list[tuple[str, str]] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # where in recoup each invocation was made
    injected: list[tuple[str, str, str]] = field(default_factory=list)
    retried: int = 0  # attempts the SDK made after a first one (its own retries)
    active: bool = True
    _rules: list[_Rule] = field(default_factory=list)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _seen_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    _original: Any = None

    def fail(
        self,
        service: str,
        operation: str,
        kind: str,
        *,
        nth: int = 1,
        times: int = 1,
        code: str | None = None,
        whole_call: bool = False,
    ) -> FaultPlan:
        """Fail the `nth` call of `service.operation` (and the `times - 1` after it) with
        `kind`; `nth=0` fails every call. `code` overrides the error code sent."""
        if kind not in (*KINDS, CONFLICT):
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS} or {CONFLICT}")
        self._rules.append(_Rule(service, operation, kind, nth, times, code, whole_call))
        return self

    def count(self, service: str, operation: str) -> int:
        return sum(1 for call in self.calls if call == (service, operation))

    @contextmanager
    def armed(self, active: bool) -> Iterator[None]:
        """Record and inject (True) or let every call through untouched (False)."""
        before, self.active = self.active, active
        try:
            yield
        finally:
            self.active = before

    def __enter__(self) -> FaultPlan:
        plan = self
        original = Endpoint._do_get_response
        self._original = original

        def wrapped(endpoint: Endpoint, request: Any, operation_model: Any, context: Any) -> Any:
            service = operation_model.service_model.endpoint_prefix
            service = "sesv2" if operation_model.service_model.service_name == "sesv2" else service
            if not plan.active:
                return original(endpoint, request, operation_model, context)
            key = (service, operation_model.name)
            attempt = int((context or {}).get("retries", {}).get("attempt", 1))
            plan.calls.append(key)
            plan._seen[key] = seen = plan._seen.get(key, 0) + 1
            if attempt == 1:
                plan.invocations.append(key)
                plan.sites.append(_call_site())
                plan._seen_calls[key] = plan._seen_calls.get(key, 0) + 1
            else:
                plan.retried += 1
            rule = plan._match(key, seen, plan._seen_calls.get(key, 0))
            if rule is None:
                return original(endpoint, request, operation_model, context)
            rule.fired += 1
            plan.injected.append((service, operation_model.name, rule.kind))
            if rule.kind == "timeout_before":
                return None, ConnectTimeoutError(endpoint_url=request.url)
            if rule.kind == "timeout_after":
                original(endpoint, request, operation_model, context)
                return None, ReadTimeoutError(endpoint_url=request.url)
            if rule.kind == CONFLICT:
                error = _error(request.url, 400, "TransactionCanceledException")
                error[0][1]["CancellationReasons"] = [{"Code": "TransactionConflict"}]
                return error
            status = {"throttle": 400, "server_error": 500, "reject": 400}[rule.kind]
            code = (
                rule.code
                or {
                    "throttle": _THROTTLE_CODES.get(service, "ThrottlingException"),
                    "server_error": "InternalFailure",
                    "reject": _REJECT_CODES.get(service, "ValidationException"),
                }[rule.kind]
            )
            return _error(request.url, status, code)

        Endpoint._do_get_response = wrapped  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Endpoint._do_get_response = self._original  # type: ignore[method-assign]

    def _match(self, key: tuple[str, str], seen: int, seen_calls: int) -> _Rule | None:
        for rule in self._rules:
            if (rule.service, rule.operation) != key:
                continue
            count = seen_calls if rule.whole_call else seen
            if rule.nth == 0 or rule.nth <= count < rule.nth + rule.times:
                return rule
        return None


def _call_site() -> str:
    """The innermost function of the project that made the call (`module.function`)."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if f"{os.sep}recoup{os.sep}" in path and "site-packages" not in path:
            return f"{Path(path).stem}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


class _EmptyBody:
    """The raw body of an injected error: botocore may read or stream it."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""

    def read(self, *_: Any) -> bytes:
        return b""


def _error(url: str, status: int, code: str) -> tuple[tuple[AWSResponse, dict[str, Any]], None]:
    response = AWSResponse(url, status, {}, _EmptyBody())
    parsed = {
        "Error": {"Code": code, "Message": f"injected fault: {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return (response, parsed), None


def fault_cases(
    operations: list[tuple[str, str]], kinds: tuple[str, ...] = KINDS
) -> Iterator[tuple[str, str, str]]:
    """Every (service, operation, kind) of a matrix, for parametrised tests."""
    for service, operation in operations:
        for kind in kinds:
            yield service, operation, kind
