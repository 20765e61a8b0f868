"""Hand-over webhooks and agency report-backs: signatures, the retry schedule, the report.

Both directions carry `Recoup-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
(Stripe's scheme, which receivers know how to check). A signature is valid for five minutes
either side of its time; several `v1` values may be sent and several secrets tried, so a
secret can be rotated without a window of refused deliveries.

Every hand-over carries `Idempotency-Key: <shop>/<case id>/<referral id>` (also in the signed
body): the same on every attempt, so a receiver drops a repeat. Delivery is at-least-once by
design: a lost legal hand-over is worse than a duplicate the receiver can recognise. A failed
attempt, or one whose outcome is unknown, is retried with exponential backoff and full jitter
(the random source is injected, so the schedule is testable); after the last it has failed.

Pure: the caller supplies the current time, the secrets and the random numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recoup.domain.fields import FieldError, check_keys, is_int, object_at, show
from recoup.domain.money import Money, MoneyError
from recoup.domain.referral import MAX_NOTE_CHARS, ReferralStatus

SIGNATURE_HEADER = "Recoup-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE = timedelta(seconds=300)
MAX_HEADER_CHARS = 1024
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 900
MAX_DELIVERY_ATTEMPTS = 6  # the first try and five retries; then failed, and an alarm
# A hand-over still open this long after its attempt was due is overdue (an alarm): the
# backoff of all six attempts fits well within it.
OVERDUE_AFTER = timedelta(hours=1)
MAX_CASE_ID_CHARS = 100

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"\d{1,12}")
# What an agency may report: every move after "referred".
REPORTED_STATUSES = tuple(s for s in ReferralStatus if s is not ReferralStatus.REFERRED)
_PAYMENTS = (ReferralStatus.PAID_PARTIAL, ReferralStatus.PAID)


class SignatureError(ValueError):
    """A missing, malformed, stale or wrong `Recoup-Signature`."""


class ReportError(FieldError):
    """An invalid report-back; `field` names the key ("amount.minor")."""


# --- signatures ------------------------------------------------------------------------------


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Sequence[str], at: datetime) -> str:
    """The `Recoup-Signature` value for `body` sent at `at`: one `v1` per secret (during a
    rotation, the new secret and the old one)."""
    if not secrets or any(not s for s in secrets):
        raise ValueError("at least one non-empty secret is needed to sign")
    timestamp = int(_utc(at).timestamp())
    return ",".join([f"t={timestamp}", *(f"v1={_digest(s, timestamp, body)}" for s in secrets)])


def verify(body: bytes, header: str | None, secrets: Sequence[str], now: datetime) -> datetime:
    """Check a `Recoup-Signature` against the exact body: some `v1` must be the HMAC under
    some secret (compared in constant time), and its time within five minutes of `now`.
    Returns the signed time; raises `SignatureError` saying what is wrong."""
    if not secrets:
        raise SignatureError("no secret is configured to check the signature")
    timestamp, signatures = _parse_header(header)
    signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    if abs(_utc(now) - signed_at) > TOLERANCE:
        raise SignatureError(
            f"{SIGNATURE_HEADER} is too old or in the future (signed at "
            f"{signed_at.isoformat()}; {int(TOLERANCE.total_seconds())} s allowed)"
        )
    expected = [_digest(secret, timestamp, body) for secret in secrets if secret]
    # Every pair is compared, so the time taken does not tell which one matched.
    matched = False
    for candidate in signatures:
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
    return signed_at


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER} is missing")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(f"{SIGNATURE_HEADER} is longer than {MAX_HEADER_CHARS} characters")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise SignatureError(f"{SIGNATURE_HEADER} has a malformed or repeated t=")
            timestamp = int(value)
        elif key == "v1":
            if not _HEX_DIGEST.fullmatch(value):
                raise SignatureError(f"{SIGNATURE_HEADER} has a v1= that is not a hex SHA-256")
            signatures.append(value)
        # Other schemes are ignored, as Stripe's receivers do: room for a future v2.
    if timestamp is None:
        raise SignatureError(f"{SIGNATURE_HEADER} has no t=")
    if not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER} has no v1=")
    return timestamp, signatures


# --- delivery --------------------------------------------------------------------------------


def idempotency_key(shop: str, case_id: str, referral_id: str) -> str:
    """The key every attempt of one referral's hand-over carries: stable across attempts,
    unique per referral (a second referral of the same case has its own)."""
    return f"{shop}/{case_id}/{referral_id}"


def overdue(due_at: datetime, now: datetime) -> bool:
    """Whether an attempt due at `due_at` is still not made by `now`, past the deadline."""
    return _utc(now) - _utc(due_at) > OVERDUE_AFTER


# --- retries ---------------------------------------------------------------------------------


def backoff_delays(
    attempts: int,
    rand: Callable[[], float],
    *,
    base: int = RETRY_BASE_SECONDS,
    cap: int = RETRY_CAP_SECONDS,
) -> tuple[int, ...]:
    """The wait in whole seconds before each of `attempts` retries (`retry_delay` of 0, 1,
    ...). `rand` returns floats in [0, 1)."""
    if not is_int(attempts) or attempts < 0:
        raise ValueError(f"attempts must be a non-negative integer, got {attempts!r}")
    return tuple(retry_delay(n, rand, base=base, cap=cap) for n in range(attempts))


def retry_delay(
    retry: int,
    rand: Callable[[], float],
    *,
    base: int = RETRY_BASE_SECONDS,
    cap: int = RETRY_CAP_SECONDS,
) -> int:
    """The wait before retry `retry` (from 0): a uniformly random whole number of seconds
    below min(cap, base * 2**retry) ("full jitter"), so receivers that failed together are
    not all retried at the same moment."""
    if not is_int(retry) or retry < 0:
        raise ValueError(f"retry must be a non-negative integer, got {retry!r}")
    if not is_int(base) or not is_int(cap) or not 0 < base <= cap:
        raise ValueError(f"need 0 < base <= cap, got base={base!r}, cap={cap!r}")
    ceiling = min(cap, base * 2 ** min(retry, 32))  # a bounded exponent: no huge integers
    draw = rand()
    if not isinstance(draw, float) or not 0.0 <= draw < 1.0:
        raise ValueError(f"rand() must return a float in [0, 1), got {draw!r}")
    return int(draw * ceiling)


@dataclass(frozen=True, slots=True)
class Retry:
    delay_seconds: int
    attempts: int  # made so far


@dataclass(frozen=True, slots=True)
class DeadLetter:
    attempts: int
    reason: str


def after_failure(
    attempts_made: int, error: str, rand: Callable[[], float], *, limit: int = MAX_DELIVERY_ATTEMPTS
) -> Retry | DeadLetter:
    """What follows a failed delivery, `attempts_made` counting the one that just failed:
    retry after the backoff for that retry, or give up (`DeadLetter`) once `limit` attempts
    failed."""
    if not is_int(attempts_made) or attempts_made < 1:
        raise ValueError(f"attempts_made must be at least 1, got {attempts_made!r}")
    if attempts_made >= limit:
        return DeadLetter(attempts_made, f"{attempts_made} attempts failed; last: {error}")
    return Retry(retry_delay(attempts_made - 1, rand), attempts_made)


# --- the agency's report-back ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyReport:
    """A move the agency or lawyer reports for a referred case."""

    case_id: str
    status: ReferralStatus
    reported_at: datetime
    note: str = ""
    amount: Money | None = None  # paid or paid_partial only


_REPORT_REQUIRED = ("case_id", "status", "reported_at")
_REPORT_OPTIONAL = ("amount", "note")


def parse_report(data: object, now: datetime) -> AgencyReport:
    """Read a report-back body (already verified and parsed as JSON): `{"case_id", "status",
    "amount": {"minor", "currency"} (payments only), "note", "reported_at"}`. Raises
    `ReportError` naming the first invalid field."""
    obj = object_at(data, "", ReportError)
    check_keys(obj, "", _REPORT_REQUIRED, _REPORT_OPTIONAL, ReportError)
    case_id = obj["case_id"]
    if (
        not isinstance(case_id, str)
        or not case_id.strip()
        or len(case_id) > MAX_CASE_ID_CHARS
        or not case_id.isprintable()
    ):
        raise ReportError(
            "case_id",
            f"must be the case id as text, 1 to {MAX_CASE_ID_CHARS} printable characters "
            f"(ids are strings: they exceed 2^53), got {show(case_id)}",
        )
    status = _reported_status(obj["status"])
    reported_at = _reported_at(obj["reported_at"], now)
    note = obj.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ReportError("note", f"must be text of at most {MAX_NOTE_CHARS} characters")
    amount = _amount(obj.get("amount"), status)
    return AgencyReport(case_id, status, reported_at, note, amount)


def _reported_status(raw: object) -> ReferralStatus:
    allowed = ", ".join(str(s) for s in REPORTED_STATUSES)
    if not isinstance(raw, str):
        raise ReportError("status", f"must be one of {allowed}; got {show(raw)}")
    try:
        status = ReferralStatus(raw)
    except ValueError:
        raise ReportError("status", f"must be one of {allowed}; got {show(raw)}") from None
    if status not in REPORTED_STATUSES:
        raise ReportError("status", f"must be one of {allowed}; got {show(raw)}")
    return status


def _reported_at(raw: object, now: datetime) -> datetime:
    if not isinstance(raw, str):
        raise ReportError("reported_at", f"must be an ISO 8601 time, got {show(raw)}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ReportError("reported_at", f"must be an ISO 8601 time, got {show(raw)}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ReportError("reported_at", "must carry a time zone offset (such as Z or +00:00)")
    at = parsed.astimezone(UTC)
    if at > _utc(now) + TOLERANCE:
        raise ReportError("reported_at", f"is in the future ({at.isoformat()})")
    return at


def _amount(raw: object, status: ReferralStatus) -> Money | None:
    if status not in _PAYMENTS:
        if raw is not None:
            raise ReportError("amount", f"is only for payments (paid, paid_partial), not {status}")
        return None
    if raw is None:
        raise ReportError("amount", f"is required for {status}")
    obj: Mapping[str, Any] = object_at(raw, "amount", ReportError)
    check_keys(obj, "amount", ("minor", "currency"), (), ReportError)
    minor = obj["minor"]
    if not is_int(minor) or minor < 0:
        raise ReportError(
            "amount.minor", f"must be a non-negative integer of minor units, got {show(minor)}"
        )
    try:
        return Money(obj["currency"], minor)
    except MoneyError as exc:
        raise ReportError("amount.currency", str(exc)) from None


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_DELIVERY_ATTEMPTS",
    "OVERDUE_AFTER",
    "REPORTED_STATUSES",
    "SIGNATURE_HEADER",
    "TOLERANCE",
    "AgencyReport",
    "DeadLetter",
    "ReportError",
    "Retry",
    "SignatureError",
    "after_failure",
    "backoff_delays",
    "idempotency_key",
    "overdue",
    "parse_report",
    "retry_delay",
    "sign",
    "verify",
]
