"""The customer's requests as rules: the promise date's bounds in the customer's own days,
one promise at a time and none after a broken one, no request on a closed, referred or
written-off case, the notes accepted, the reports, and a promise's course (its nudge, its
check and where the sequence resumes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from recoup.domain import customer_requests as rules
from recoup.domain.aggregate import StoredCase
from recoup.domain.cadence import default_policy
from recoup.domain.case import Case, CaseStatus
from recoup.domain.customer_requests import RequestMeta, RequestRefused
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.fraud.result import FraudLevel, FraudResult
from recoup.domain.fraud.screening import Decision, Gate, Screening
from recoup.domain.money import Money
from recoup.domain.notices import WaitReason, waiting_reason
from recoup.domain.referral import Referrals
from recoup.domain.referral.state import WriteOff
from recoup.errors import InvalidInput

OPENED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# 23:30 UTC on 3 November is already 4 November in Berlin: the customer's today.
NOW = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
TODAY = date(2026, 11, 4)
CUSTOMER = Customer(email="ann@example.com", first_name="Ann", country="DE")
SNAPSHOT = OrderSnapshot(Money.of(12000, "EUR"), Money.of(12000, "EUR"), "#1001", CUSTOMER)
OPEN = Case("shop.myshopify.com", "1001", CaseStatus.OPEN, ((CaseStatus.OPEN, OPENED),), SNAPSHOT)
POLICY = default_policy("UTC")  # the customer's zone comes from their address: Berlin
SENT = SentMessage(0, "email", OPENED + timedelta(days=1), "ses-1", "friendly", 12000, "EUR")
RUNNING = Dunning(
    DunningStatus.SCHEDULED,
    next_step=1,
    next_at=OPENED + timedelta(days=4),
    claimed_step=0,
    sent=(SENT,),
)
META = RequestMeta("203.0.113.9", "Mozilla/5.0")
LOW = Screening().scored(OPENED, FraudResult(5, FraudLevel.LOW, (), 0.9), "digest")


def held(case: Case = OPEN, **parts: object) -> StoredCase:
    return StoredCase(case, 1, 1, "head", **{"dunning": RUNNING, **parts})  # type: ignore[arg-type]


def request(stored: StoredCase, kind: str = rules.PROMISE, note: str = "") -> object:
    return rules.new_request(stored.dunning, kind, note, META, NOW, "salt")


def promised(stored: StoredCase, pay_by: date, policy: object = POLICY) -> rules.Decided:
    return rules.promise(stored, policy, pay_by, request(stored), NOW)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the promise's bounds


def test_a_promise_runs_from_the_customers_tomorrow_to_the_shops_limit() -> None:
    stored = held()
    # Tomorrow in Berlin is fine; so is the limit's own day (14 days by default)
    assert promised(stored, TODAY + timedelta(days=1)).dunning.status is DunningStatus.PROMISED
    limit = promised(stored, TODAY + timedelta(days=14)).dunning.promise
    assert limit is not None and limit.pay_by == date(2026, 11, 18)
    # The day after the limit, today and the day before are not
    for day, words in (
        (TODAY + timedelta(days=15), "no later than 2026-11-18"),
        (TODAY, "from tomorrow"),
        (TODAY - timedelta(days=1), "from tomorrow"),
    ):
        with pytest.raises(InvalidInput) as caught:
            promised(stored, day)
        assert caught.value.field == "pay_by"
        assert words in caught.value.message
    # The shop's own limit holds too
    seven = replace(POLICY, promise_max_days=7)
    assert promised(stored, TODAY + timedelta(days=7), seven).dunning.promise is not None
    with pytest.raises(InvalidInput):
        promised(stored, TODAY + timedelta(days=8), seven)


def test_a_limit_of_zero_offers_no_promise() -> None:
    none = replace(POLICY, promise_max_days=0)
    stored = held()
    with pytest.raises(RequestRefused) as caught:
        promised(stored, TODAY + timedelta(days=1), none)
    assert caught.value.code == "request_refused"
    assert "does not take promises" in caught.value.message
    assert rules.options(stored, none, now=NOW).promise_latest is None
    assert rules.options(stored, POLICY, now=NOW).promise_latest == date(2026, 11, 18)


def test_the_limit_is_validated_like_the_other_policy_fields() -> None:
    from recoup.domain.cadence import PolicyError, parse_policy, policy_to_dict

    data = policy_to_dict(POLICY)
    assert parse_policy({**data, "promise_max_days": 60}).promise_max_days == 60
    for wrong in (-1, 61, "7", 1.5, True):
        with pytest.raises(PolicyError) as caught:
            parse_policy({**data, "promise_max_days": wrong})
        assert caught.value.field == "promise_max_days"
    without = {k: v for k, v in data.items() if k != "promise_max_days"}
    assert parse_policy(without).promise_max_days == 14


def test_one_promise_at_a_time_and_none_after_a_broken_one() -> None:
    first = promised(held(), TODAY + timedelta(days=5)).dunning
    with pytest.raises(RequestRefused) as caught:
        promised(held(dunning=first), TODAY + timedelta(days=6))
    assert "already in force" in caught.value.message
    # The first promise broken: the sequence runs again, and no second promise is taken
    broken = rules.broken(first, POLICY, OPENED, NOW + timedelta(days=10))
    assert broken.status is DunningStatus.SCHEDULED
    with pytest.raises(RequestRefused) as caught:
        promised(held(dunning=broken), TODAY + timedelta(days=12))
    assert "not kept" in caught.value.message
    assert rules.options(held(dunning=broken), POLICY, now=NOW).promise_latest is None


@pytest.mark.parametrize(
    "stored",
    [
        held(replace(OPEN, status=CaseStatus.PAID)),
        held(replace(OPEN, status=CaseStatus.CANCELLED)),
        held(referrals=Referrals(written_off=WriteOff(NOW, "too small", "ana"))),
    ],
    ids=["paid", "cancelled", "written_off"],
)
def test_a_closed_or_written_off_case_takes_no_request(stored: StoredCase) -> None:
    with pytest.raises(RequestRefused):
        promised(stored, TODAY + timedelta(days=2))
    for kind in rules.REPORT_KINDS:
        with pytest.raises(RequestRefused):
            rules.report(stored, kind, request(stored, kind), NOW)
    offered = rules.options(stored, POLICY, now=NOW)
    assert offered.promise_latest is None and offered.reports == ()


# ---------------------------------------------------------------- notes


def test_notes_are_stripped_bounded_and_free_of_control_characters() -> None:
    assert rules.clean_note("  I paid by bank transfer on Monday.\n") == (
        "I paid by bank transfer on Monday."
    )
    assert rules.clean_note("line one\nline two\ttab") == "line one\nline two\ttab"
    assert rules.clean_note(" " + "x" * 1000 + " ") == "x" * 1000
    for bad in ("x" * 1001, "bell\x07", "nul\x00", "escape\x1b[31m", "flip\u202eme"):
        with pytest.raises(InvalidInput) as caught:
            rules.clean_note(bad)
        assert caught.value.field == "note"


def test_what_identifies_a_request_is_bounded() -> None:
    cleaned = rules.clean_meta(RequestMeta(" 2001:db8::1 ", "UA\x00" + "x" * 600))
    assert cleaned.ip == "2001:db8::1"
    assert cleaned.user_agent is not None and len(cleaned.user_agent) == 512
    assert "\x00" not in cleaned.user_agent
    assert rules.clean_meta(RequestMeta("", None)) == RequestMeta(None, None)


# ---------------------------------------------------------------- reports


def test_already_paid_holds_the_reminders_for_the_merchant() -> None:
    stored = held(screening=LOW)
    decided = rules.report(stored, "already_paid", request(stored, "already_paid", "paid!"), NOW)
    assert decided.dunning.status is DunningStatus.HELD
    assert decided.dunning.held_by == "customer"
    assert decided.dunning.report == "already_paid"
    assert decided.screening is None  # the fraud check is not involved
    assert waiting_reason(OPEN, decided.dunning, LOW, None) is WaitReason.CUSTOMER_SAYS_PAID
    assert not WaitReason.CUSTOMER_SAYS_PAID.immediate
    # The page says why, and the same report is not taken twice
    again = held(dunning=decided.dunning, screening=LOW)
    offered = rules.options(again, POLICY, now=NOW)
    assert offered.paused_reason == "You told us you already paid"
    assert offered.reports == ("dispute", "not_mine")
    with pytest.raises(RequestRefused):
        rules.report(again, "already_paid", request(again, "already_paid"), NOW)


def test_not_mine_sends_the_case_to_fraud_review_even_after_an_approval() -> None:
    approved = LOW.decide(Decision.APPROVED, OPENED, "ana", "looked fine")
    stored = held(screening=approved)
    decided = rules.report(stored, "not_mine", request(stored, "not_mine"), NOW)
    assert decided.screening is not None
    assert decided.screening.gate is Gate.HOLD
    assert decided.screening.decision is None
    assert "did not place this order" in decided.screening.why()
    assert decided.dunning.held_by == "customer"
    reason = waiting_reason(OPEN, decided.dunning, decided.screening, None)
    assert reason is WaitReason.NOT_MINE and reason.immediate


def test_a_report_on_a_promise_ends_the_promise_and_holds() -> None:
    promise = promised(held(), TODAY + timedelta(days=5)).dunning
    stored = held(dunning=promise)
    decided = rules.report(stored, "dispute", request(stored, "dispute"), NOW)
    assert decided.dunning.status is DunningStatus.HELD
    assert decided.dunning.promise_in_force is None
    assert decided.dunning.promise_due is None


def test_an_unknown_report_kind_names_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.check_kind("refund_please")
    assert caught.value.field == "kind"


# ---------------------------------------------------------------- the promise's course


def test_the_nudge_is_at_ten_the_day_before_and_the_check_a_day_after_the_date() -> None:
    decided = promised(held(), date(2026, 11, 10))
    promise = decided.dunning.promise
    assert promise is not None
    # 10:00 in Berlin (CET, UTC+1) on 9 November
    assert promise.nudge_at == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
    # the end of 10 November in Berlin, plus a grace day
    assert promise.check_at == datetime(2026, 11, 11, 23, 0, tzinfo=UTC)
    assert decided.dunning.promise_due == (promise.nudge_at, True)
    # The step the sequence paused at is kept
    assert (decided.dunning.next_step, decided.dunning.next_at) == (1, RUNNING.next_at)


def test_a_promise_for_tomorrow_has_no_nudge() -> None:
    promise = promised(held(), TODAY + timedelta(days=1)).dunning
    assert promise.promise is not None and promise.promise.nudge_at is None
    assert promise.promise_due == (promise.promise.check_at, False)


def test_a_broken_promise_resumes_at_the_next_unsent_step_due_now() -> None:
    promise = promised(held(), date(2026, 11, 10)).dunning
    after_nudge = promise.move_nudge(None)
    at = datetime(2026, 11, 11, 23, 0, tzinfo=UTC)
    broken = rules.broken(after_nudge, POLICY, OPENED, at)
    assert broken.status is DunningStatus.SCHEDULED
    assert (broken.next_step, broken.next_at) == (1, at)
    assert broken.resumed_after_promise == 1
    assert broken.promises_broken == 1
    assert broken.promise is None


def test_a_promise_made_after_the_last_step_goes_back_to_escalation_when_broken() -> None:
    spent = Dunning(
        DunningStatus.AWAITING_ESCALATION,
        next_step=3,
        claimed_step=3,
        spent_at=OPENED + timedelta(days=15),
        escalate_at=None,
    )
    promise = promised(held(dunning=spent), TODAY + timedelta(days=3)).dunning
    assert promise.escalation_due_at is None  # no referral check while the promise runs
    broken = rules.broken(promise, POLICY, OPENED, NOW + timedelta(days=5))
    assert broken.status is DunningStatus.AWAITING_ESCALATION
    assert broken.escalate_at == NOW + timedelta(days=5)


def test_a_payment_ends_the_promise() -> None:
    promise = promised(held(), date(2026, 11, 10)).dunning
    stopped = promise.finish(DunningStatus.STOPPED, "case paid")
    assert stopped.promise is None and stopped.promise_due is None


def test_the_nudge_is_claimed_once() -> None:
    promise = promised(held(), date(2026, 11, 10)).dunning
    claimed = promise.claim_nudge(NOW)
    with pytest.raises(ValueError, match="no promise nudge"):
        claimed.claim_nudge(NOW)
    # A claim leaves the due entry where it was; its release allows a retry
    assert claimed.promise_due == promise.promise_due
    assert claimed.release_nudge().claim_nudge(NOW).promise is not None


def test_the_request_record_round_trips_and_erases_to_a_stable_digest() -> None:
    stored = held()
    made = rules.promise(stored, POLICY, date(2026, 11, 10), request(stored, note="Friday"), NOW)
    back = Dunning.from_dict(made.dunning.to_dict())
    assert back == made.dunning
    digest = rules.request_digest(made.request)
    assert digest == rules.request_digest(back.requests[0])
    erased = back.without_personal_data("[erased]")
    record = erased.requests[0]
    assert (record.note, record.ip, record.user_agent, record.salt) == (
        "[erased]",
        "[erased]",
        "[erased]",
        "",
    )
    assert rules.request_digest(record) != digest  # the erased record no longer proves it
    assert erased.promise == back.promise  # what was promised stays
