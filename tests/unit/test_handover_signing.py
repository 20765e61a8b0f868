"""Hand-over webhooks and report-backs: the signature, the retry schedule, the report."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.domain.handover import (
    MAX_DELIVERY_ATTEMPTS,
    RETRY_BASE_SECONDS,
    RETRY_CAP_SECONDS,
    DeadLetter,
    ReportError,
    Retry,
    SignatureError,
    after_failure,
    backoff_delays,
    idempotency_key,
    overdue,
    parse_report,
    retry_delay,
    sign,
    verify,
)
from recoup.domain.money import Money
from recoup.domain.referral import (
    EmailHandOver,
    ReferralKind,
    ReferralStatus,
    start_referral,
    transition,
)

NOW = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
BODY = b'{"case_id":"5960359936123456789","status":"accepted"}'
SECRET = "hook-secret-2026"
OLD_SECRET = "hook-secret-2025"


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


# --- signatures ------------------------------------------------------------------------------


def test_the_header_is_hmac_sha256_of_time_dot_body() -> None:
    header = sign(BODY, [SECRET], NOW)
    timestamp = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + BODY, hashlib.sha256)
    assert header == f"t={timestamp},v1={expected.hexdigest()}"
    assert verify(BODY, header, [SECRET], NOW) == NOW


def test_a_changed_body_or_wrong_secret_is_refused() -> None:
    header = sign(BODY, [SECRET], NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY.replace(b"accepted", b"paid"), header, [SECRET], NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, header, ["another"], NOW)


def test_the_time_is_signed_too() -> None:
    header = sign(BODY, [SECRET], NOW)
    forged = header.replace(f"t={int(NOW.timestamp())}", f"t={int(NOW.timestamp()) + 60}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, forged, [SECRET], NOW)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(300, True), (301, False), (-300, True), (-301, False)],
)
def test_signatures_are_valid_for_five_minutes_either_way(offset: int, ok: bool) -> None:
    header = sign(BODY, [SECRET], NOW)
    now = NOW + timedelta(seconds=offset)
    if ok:
        assert verify(BODY, header, [SECRET], now) == NOW
    else:
        with pytest.raises(SignatureError, match="too old or in the future"):
            verify(BODY, header, [SECRET], now)


def test_rotation_either_side_may_hold_two_secrets() -> None:
    # The sender signs with the new and the old secret; a receiver with either accepts.
    both = sign(BODY, [SECRET, OLD_SECRET], NOW)
    assert both.count("v1=") == 2
    assert verify(BODY, both, [OLD_SECRET], NOW) == NOW
    # The receiver tries both secrets on a sender that has only the new one.
    assert verify(BODY, sign(BODY, [SECRET], NOW), [OLD_SECRET, SECRET], NOW) == NOW


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=" + "a" * 64, "no t="),
        ("t=1700000000", "no v1="),
        ("t=abc,v1=" + "a" * 64, "malformed"),
        ("t=1,t=2,v1=" + "a" * 64, "repeated"),
        ("t=1700000000,v1=xyz", "not a hex"),
        ("t=1700000000," + ",".join(["v1=" + "a" * 64] * 20), "longer than"),
    ],
)
def test_malformed_headers_say_what_is_wrong(header: str | None, words: str) -> None:
    with pytest.raises(SignatureError, match=words):
        verify(BODY, header, [SECRET], NOW)


def test_unknown_schemes_are_ignored() -> None:
    header = sign(BODY, [SECRET], NOW) + ",v0=whatever"
    assert verify(BODY, header, [SECRET], NOW) == NOW


def test_signing_and_checking_need_secrets() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, [], NOW)
    with pytest.raises(SignatureError, match="no secret"):
        verify(BODY, sign(BODY, [SECRET], NOW), [], NOW)


# --- retries ---------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    top = backoff_delays(8, _constant(0.999999))
    assert top == (29, 59, 119, 239, 479, 899, 899, 899)
    assert backoff_delays(8, _constant(0.0)) == (0,) * 8
    half = backoff_delays(3, _constant(0.5))
    assert half == (RETRY_BASE_SECONDS // 2, RETRY_BASE_SECONDS, RETRY_BASE_SECONDS * 2)
    delays = backoff_delays(40, random.Random(7).random)
    assert all(0 <= d < RETRY_CAP_SECONDS for d in delays)
    assert len(set(delays)) > 10  # jittered: not one fixed schedule


def test_backoff_refuses_a_bad_random_source_or_counts() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        retry_delay(0, _constant(1.0))
    with pytest.raises(ValueError, match="non-negative"):
        backoff_delays(-1, _constant(0.5))
    with pytest.raises(ValueError, match="base <= cap"):
        retry_delay(0, _constant(0.5), base=10, cap=5)
    assert retry_delay(10_000, _constant(0.5)) == RETRY_CAP_SECONDS // 2  # no huge numbers


def _deliver(receiver: Callable[[int], bool]) -> tuple[int, list[int], DeadLetter | None]:
    """Drive a hand-over as the escalation worker does: try, and on failure follow
    `after_failure` (retry after its delay, or dead-letter)."""
    rand = random.Random(11).random
    waits: list[int] = []
    attempt = 0
    while True:
        attempt += 1
        if receiver(attempt):
            return attempt, waits, None
        step = after_failure(attempt, f"HTTP 503 on attempt {attempt}", rand)
        if isinstance(step, DeadLetter):
            return attempt, waits, step
        assert isinstance(step, Retry)
        assert step.attempts == attempt
        waits.append(step.delay_seconds)


def test_a_receiver_that_fails_twice_then_succeeds_gets_the_hand_over() -> None:
    attempts, waits, dead = _deliver(lambda attempt: attempt == 3)
    assert dead is None
    assert attempts == 3
    assert len(waits) == 2
    assert 0 <= waits[0] < RETRY_BASE_SECONDS
    assert 0 <= waits[1] < RETRY_BASE_SECONDS * 2


def test_a_receiver_that_always_fails_is_dead_lettered() -> None:
    attempts, waits, dead = _deliver(lambda _: False)
    assert attempts == MAX_DELIVERY_ATTEMPTS
    assert len(waits) == MAX_DELIVERY_ATTEMPTS - 1
    assert dead is not None
    assert dead.reason == f"{MAX_DELIVERY_ATTEMPTS} attempts failed; last: HTTP 503 on attempt 6"


# --- the report-back -------------------------------------------------------------------------


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "case_id": "5960359936123456789",
        "status": "paid_partial",
        "amount": {"minor": 50_000, "currency": "usd"},
        "note": "first instalment",
        "reported_at": "2026-12-20T08:30:00Z",
    }
    report.update(changes)
    return {k: v for k, v in report.items() if v is not None}


def test_the_idempotency_key_names_one_referral_and_is_the_same_on_every_attempt() -> None:
    key = idempotency_key("shop.myshopify.com", "5960359936123456789", "legal-2")
    assert key == "shop.myshopify.com/5960359936123456789/legal-2"
    assert key == idempotency_key("shop.myshopify.com", "5960359936123456789", "legal-2")
    assert key != idempotency_key("shop.myshopify.com", "5960359936123456789", "agency-1")


def test_a_hand_over_is_overdue_only_an_hour_past_its_due_time() -> None:
    assert not overdue(NOW, NOW + timedelta(minutes=60))
    assert overdue(NOW, NOW + timedelta(minutes=60, seconds=1))
    assert not overdue(NOW, NOW - timedelta(days=1))  # not yet due
    with pytest.raises(ValueError, match="timezone-aware"):
        overdue(NOW.replace(tzinfo=None), NOW)


def test_a_report_parses_and_applies_to_the_referral() -> None:
    report = parse_report(_report(), NOW)
    assert report.status is ReferralStatus.PAID_PARTIAL
    assert report.amount == Money("USD", 50_000)
    assert report.reported_at == datetime(2026, 12, 20, 8, 30, tzinfo=UTC)
    referral = start_referral(
        ReferralKind.AGENCY,
        at=NOW - timedelta(days=5),
        reason="owed",
        owed=Money("USD", 189_900),
        hand_over=EmailHandOver("a@agency.example"),
    )
    updated = transition(referral, report.status, report.reported_at, report.note, report.amount)
    assert updated.recovered == Money("USD", 50_000)


def test_a_report_without_payment_carries_no_amount() -> None:
    report = parse_report(_report(status="accepted", amount=None, note=None), NOW)
    assert report.amount is None
    assert report.note == ""


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"case_id": 5960359936123456789}, "case_id", "as text"),
        ({"case_id": ""}, "case_id", "as text"),
        ({"status": "referred"}, "status", "must be one of accepted"),
        ({"status": "lost"}, "status", "must be one of"),
        ({"amount": None}, "amount", "required for paid_partial"),
        ({"status": "accepted"}, "amount", "only for payments"),
        ({"amount": {"minor": "500", "currency": "USD"}}, "amount.minor", "integer"),
        ({"amount": {"minor": 500.0, "currency": "USD"}}, "amount.minor", "integer"),
        ({"amount": {"minor": 500, "currency": "DOLLARS"}}, "amount.currency", "three-letter"),
        ({"amount": {"minor": 500}}, "amount.currency", "required"),
        ({"reported_at": "2026-12-20T08:30:00"}, "reported_at", "time zone"),
        ({"reported_at": "yesterday"}, "reported_at", "ISO 8601"),
        ({"reported_at": "2026-12-21T09:00:00Z"}, "reported_at", "future"),
        ({"note": "x" * 1001}, "note", "at most 1000"),
        ({"extra": 1}, "extra", "unknown key"),
    ],
)
def test_invalid_reports_name_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    data = _report()
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ReportError) as raised:
        parse_report(data, NOW)
    assert raised.value.field == field
    assert words in raised.value.message


def test_a_report_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ReportError, match="must be an object"):
        parse_report(["accepted"], NOW)
