"""The referral policy (parse, validate, defaults) and the decision it drives for one case."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recoup.domain.cadence import default_policy, parse_policy, policy_to_dict
from recoup.domain.money import Money
from recoup.domain.referral import (
    DecisionKind,
    EmailHandOver,
    ReferralFacts,
    ReferralKind,
    ReferralPolicy,
    ReferralPolicyError,
    ReferralStatus,
    Thresholds,
    WebhookHandOver,
    check_with_reminders,
    decide,
    default_referral_policy,
    parse_referral_policy,
    referral_policy_to_dict,
    start_referral,
    transition,
)

SPENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
AFTER_WAIT = SPENT + timedelta(days=14, seconds=1)
AGENCY = EmailHandOver("referrals@agency.example")
LAWYER = WebhookHandOver("https://law.example/recoup/referrals", "legal/webhook")

# (currency, agency minimum, legal minimum, write-off floor) in minor units.
LIMITS = {
    "USD": (5_000, 100_000, 2_500),
    "EUR": (6_000, 120_000, 2_000),
    "GBP": (4_000, 80_000, 1_500),
    "JPY": (7_000, 150_000, 3_000),  # zero-decimal: these are yen
}


def _policy(**changes: Any) -> ReferralPolicy:
    thresholds = {
        code: Thresholds(Money(code, agency), Money(code, legal), Money(code, floor))
        for code, (agency, legal, floor) in LIMITS.items()
    }
    fields: dict[str, Any] = {
        "version": 1,
        "thresholds": thresholds,
        "agency_hand_over": AGENCY,
        "legal_hand_over": LAWYER,
    }
    return ReferralPolicy(**(fields | changes))


def _facts(owed_minor: int, currency: str = "USD", **changes: Any) -> ReferralFacts:
    fields: dict[str, Any] = {"owed": Money(currency, owed_minor), "sequence_spent_at": SPENT}
    return ReferralFacts(**(fields | changes))


def _data() -> dict[str, Any]:
    return {
        "version": 2,
        "thresholds": {
            "USD": {"agency_minimum": 5000, "legal_minimum": 100000, "write_off_below": 2500}
        },
        "agency": {
            "after_last_step_days": 21,
            "hand_over": {"channel": "email", "address": "referrals@agency.example"},
        },
        "legal": {
            "hand_over": {
                "channel": "webhook",
                "url": "https://law.example/hook",
                "secret_ref": "legal/hook",
            }
        },
        "tags": {"agency": "collections", "legal": "lawyer"},
    }


# --- the policy -----------------------------------------------------------------------------


def test_defaults_cover_the_main_currencies_and_refer_nowhere() -> None:
    policy = default_referral_policy()
    assert {"USD", "EUR", "GBP", "CAD", "AUD"} <= set(policy.thresholds)
    assert policy.after_last_step_days == 14
    assert policy.agency_hand_over is None
    assert policy.legal_hand_over is None
    assert (policy.agency_tag, policy.legal_tag) == ("recoup:agency", "recoup:legal")
    for limits in policy.thresholds.values():
        assert limits.write_off_below <= limits.agency_minimum <= limits.legal_minimum


def test_the_documented_format_parses_and_round_trips() -> None:
    policy = parse_referral_policy(_data())
    assert policy.version == 2
    assert policy.after_last_step_days == 21
    assert policy.thresholds["USD"].legal_minimum == Money("USD", 100000)
    assert set(policy.thresholds) == {"USD"}  # a given table replaces the defaults whole
    assert policy.agency_hand_over == EmailHandOver("referrals@agency.example")
    assert policy.legal_hand_over == WebhookHandOver("https://law.example/hook", "legal/hook")
    assert policy.tag(ReferralKind.LEGAL) == "lawyer"
    assert parse_referral_policy(referral_policy_to_dict(policy)) == policy
    default = default_referral_policy()
    assert parse_referral_policy(referral_policy_to_dict(default)) == default


def test_only_the_version_is_required() -> None:
    assert parse_referral_policy({"version": 1}) == default_referral_policy()


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (("version",), 0, "version", "positive integer"),
        (("thresholds", "USD", "legal_minimum"), 4000, "thresholds.USD.legal_minimum", "at least"),
        (
            ("thresholds", "USD", "write_off_below"),
            6000,
            "thresholds.USD.write_off_below",
            "exceed",
        ),
        (
            ("thresholds", "USD", "agency_minimum"),
            -1,
            "thresholds.USD.agency_minimum",
            "non-negative",
        ),
        (("thresholds", "USD", "agency_minimum"), 50.0, "thresholds.USD.agency_minimum", "integer"),
        (("agency", "after_last_step_days"), 0, "agency.after_last_step_days", "1 to 365"),
        (("agency", "hand_over", "channel"), "fax", "agency.hand_over.channel", "'email'"),
        (("agency", "hand_over", "address"), "not-an-address", "agency.hand_over.address", "valid"),
        (("legal", "hand_over", "url"), "http://law.example/hook", "legal.hand_over.url", "https"),
        (("legal", "hand_over", "url"), "https://10.0.0.7/hook", "legal.hand_over.url", "public"),
        (
            ("legal", "hand_over", "url"),
            "https://u:p@law.example/",
            "legal.hand_over.url",
            "credentials",
        ),
        (("legal", "hand_over", "secret_ref"), "/etc/passwd", "legal.hand_over.secret_ref", "name"),
        (("legal", "hand_over", "secret_ref"), "a/../b", "legal.hand_over.secret_ref", "name"),
        (("tags", "agency"), "a" * 41, "tags.agency", "40"),
        (("tags", "legal"), "legal,collections", "tags.legal", "commas"),
        (("tags", "legal"), "Collections", "tags.legal", "differ"),
    ],
)
def test_invalid_policies_name_the_field(
    path: tuple[str, ...], value: object, field: str, words: str
) -> None:
    data = copy.deepcopy(_data())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ReferralPolicyError) as raised:
        parse_referral_policy(data)
    assert raised.value.field == field
    assert words in raised.value.message


def test_unknown_and_missing_keys_are_named() -> None:
    data = _data()
    data["legal"]["hand_over"]["secret"] = "whsec_123"
    with pytest.raises(ReferralPolicyError) as raised:
        parse_referral_policy(data)
    assert raised.value.field == "legal.hand_over.secret"
    del data["legal"]["hand_over"]["secret"]
    del data["thresholds"]["USD"]["write_off_below"]
    with pytest.raises(ReferralPolicyError) as raised:
        parse_referral_policy(data)
    assert raised.value.field == "thresholds.USD.write_off_below"
    assert raised.value.message == "is required"


def test_an_unknown_currency_is_named() -> None:
    data = _data()
    data["thresholds"]["XXY"] = data["thresholds"]["USD"]
    with pytest.raises(ReferralPolicyError) as raised:
        parse_referral_policy(data)
    assert raised.value.field == "thresholds.XXY"


def test_loopback_http_webhooks_need_the_local_flag() -> None:
    data = _data()
    data["legal"]["hand_over"]["url"] = "http://127.0.0.1:8900/hook"
    with pytest.raises(ReferralPolicyError) as raised:
        parse_referral_policy(data)
    assert raised.value.field == "legal.hand_over.url"
    local = parse_referral_policy(data, allow_loopback_http=True)
    assert local.legal_hand_over == WebhookHandOver(
        "http://127.0.0.1:8900/hook", "legal/hook", allow_loopback_http=True
    )
    data["legal"]["hand_over"]["url"] = "http://law.example/hook"  # the flag is loopback only
    with pytest.raises(ReferralPolicyError):
        parse_referral_policy(data, allow_loopback_http=True)


def test_the_wait_must_cover_a_final_notice() -> None:
    reminders = default_policy()  # ends with a final notice
    with pytest.raises(ReferralPolicyError) as raised:
        check_with_reminders(_policy(after_last_step_days=13), reminders)
    assert raised.value.field == "agency.after_last_step_days"
    check_with_reminders(_policy(after_last_step_days=14), reminders)
    no_notice = policy_to_dict(reminders)
    no_notice["steps"][-1]["tone"] = "firm"
    check_with_reminders(_policy(after_last_step_days=3), parse_policy(no_notice))


# --- the decision: thresholds ---------------------------------------------------------------


@pytest.mark.parametrize("currency", sorted(LIMITS))
def test_agency_minimum_boundary(currency: str) -> None:
    agency = LIMITS[currency][0]
    at = decide(_facts(agency, currency), _policy(), AFTER_WAIT)
    below = decide(_facts(agency - 1, currency), _policy(), AFTER_WAIT)
    assert at.kind is DecisionKind.AGENCY
    assert "≥ agency minimum" in at.reason
    assert below.kind is DecisionKind.NONE
    assert "< agency minimum" in below.reason


@pytest.mark.parametrize("currency", sorted(LIMITS))
def test_legal_minimum_boundary(currency: str) -> None:
    legal = LIMITS[currency][1]
    assert decide(_facts(legal, currency), _policy(), AFTER_WAIT).kind is DecisionKind.LEGAL
    assert decide(_facts(legal - 1, currency), _policy(), AFTER_WAIT).kind is DecisionKind.AGENCY


@pytest.mark.parametrize("currency", sorted(LIMITS))
def test_write_off_floor_boundary(currency: str) -> None:
    floor = LIMITS[currency][2]
    below = decide(_facts(floor - 1, currency), _policy(), AFTER_WAIT)
    assert below.kind is DecisionKind.WRITE_OFF
    assert "< write-off floor" in below.reason
    assert decide(_facts(floor, currency), _policy(), AFTER_WAIT).kind is DecisionKind.NONE


def test_reasons_state_the_amounts_compared() -> None:
    decision = decide(_facts(189_900), _policy(), AFTER_WAIT)
    assert decision.reason == "owed 1,899.00 USD ≥ legal minimum 1,000.00 USD"
    yen = decide(_facts(150_000, "JPY"), _policy(), AFTER_WAIT)
    assert yen.reason == "owed 150,000 JPY ≥ legal minimum 150,000 JPY"


def test_a_currency_without_thresholds_is_never_referred_on_a_guess() -> None:
    for facts in (
        _facts(10_000_000, "CHF"),
        _facts(10_000_000, "CHF", fraud_confirmed=True),
        _facts(1, "CHF"),  # not written off either
    ):
        decision = decide(facts, _policy(), AFTER_WAIT)
        assert decision.kind is DecisionKind.NONE
        assert "no referral thresholds for CHF" in decision.reason


def test_a_customer_who_paid_something_is_not_sent_to_an_agency() -> None:
    paid = _facts(10_000, paid=Money("USD", 2_000))
    decision = decide(paid, _policy(), AFTER_WAIT)
    assert decision.kind is DecisionKind.NONE
    assert "has paid 20.00 USD" in decision.reason
    refunded = _facts(10_000, paid=Money("USD", 2_000), refunded=Money("USD", 2_000))
    assert decide(refunded, _policy(), AFTER_WAIT).kind is DecisionKind.AGENCY
    big = _facts(200_000, paid=Money("USD", 2_000))  # legal does not ask for that
    assert decide(big, _policy(), AFTER_WAIT).kind is DecisionKind.LEGAL


# --- the decision: timing -------------------------------------------------------------------


def test_nothing_before_the_sequence_is_spent() -> None:
    decision = decide(_facts(10_000, sequence_spent_at=None), _policy(), AFTER_WAIT)
    assert decision.kind is DecisionKind.NONE
    assert "not finished" in decision.reason


def test_wait_after_the_last_step_without_a_final_notice() -> None:
    policy = _policy(after_last_step_days=20)
    due = SPENT + timedelta(days=20)
    early = decide(_facts(10_000), policy, due - timedelta(seconds=1))
    assert early.kind is DecisionKind.WAIT
    assert early.pending is DecisionKind.AGENCY
    assert early.not_before == due
    assert "20 days after the last reminder" in early.reason
    assert decide(_facts(10_000), policy, due).kind is DecisionKind.AGENCY


def test_wait_until_the_date_a_final_notice_gave_is_over_for_the_customer() -> None:
    # Given a final notice sent at 11:50 in Tokyo: "if it is still unpaid on <14 days on>"
    tokyo = ZoneInfo("Asia/Tokyo")
    notice = datetime(2026, 11, 21, 11, 50, tzinfo=tokyo).astimezone(UTC)  # after SPENT
    facts = _facts(10_000, final_notice_at=notice, customer_zone=tokyo)
    # Then no referral on that date, whatever its hour, only once the date is over there
    end = datetime(2026, 12, 6, 0, 0, tzinfo=tokyo).astimezone(UTC)
    early = decide(facts, _policy(), notice + timedelta(days=14))
    assert early.kind is DecisionKind.WAIT
    assert early.not_before == end
    assert "final notice" in early.reason
    assert decide(facts, _policy(), end - timedelta(minutes=1)).kind is DecisionKind.WAIT
    assert decide(facts, _policy(), end).kind is DecisionKind.AGENCY
    # And without a known zone, the date is UTC's
    utc = _facts(10_000, final_notice_at=notice)
    assert decide(utc, _policy(), notice).not_before == datetime(2026, 12, 6, tzinfo=UTC)


def test_fraud_goes_to_legal_at_once_but_never_before_a_final_notice_date() -> None:
    facts = _facts(3_000, fraud_confirmed=True, sequence_spent_at=None)
    now = SPENT
    decision = decide(facts, _policy(), now)
    assert decision.kind is DecisionKind.LEGAL
    assert decision.reason == "fraud confirmed"
    noticed = _facts(3_000, fraud_confirmed=True, final_notice_at=now - timedelta(days=1))
    waiting = decide(noticed, _policy(), now)
    assert waiting.kind is DecisionKind.WAIT
    assert waiting.pending is DecisionKind.LEGAL


def test_a_case_the_check_flagged_waits_for_the_merchant_to_confirm_fraud() -> None:
    facts = _facts(3_000, fraud_flagged=True, sequence_spent_at=None)
    decision = decide(facts, _policy(), SPENT)
    assert decision.kind is DecisionKind.NONE
    assert "once the merchant confirms fraud" in decision.reason


def test_fraud_below_the_floor_is_written_off() -> None:
    decision = decide(_facts(2_499, fraud_confirmed=True), _policy(), AFTER_WAIT)
    assert decision.kind is DecisionKind.WRITE_OFF
    assert decision.reason.startswith("fraud confirmed, but owed 24.99 USD < write-off floor")


# --- the decision: what stops it --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"dispute_open": True}, "dispute"),
        ({"merchant_hold": True}, "holds"),
        ({"not_theirs": True}, "says they did not place it"),
        ({"case_open": False}, "nothing is owed"),
        ({"owed": None}, "nothing is owed"),
    ],
)
def test_disputes_holds_and_closed_cases_stop_everything(
    changes: dict[str, Any], words: str
) -> None:
    for owed, extra in ((200_000, {}), (1_000, {}), (200_000, {"fraud_confirmed": True})):
        decision = decide(_facts(owed, **(extra | changes)), _policy(), AFTER_WAIT)
        assert decision.kind is DecisionKind.NONE
        assert words in decision.reason


def test_unreachable_customers_are_still_referred_with_a_note() -> None:
    facts = _facts(10_000, email_reachable=False, sms_reachable=False)
    decision = decide(facts, _policy(), AFTER_WAIT)
    assert decision.kind is DecisionKind.AGENCY
    assert any("could not be delivered" in note for note in decision.notes)
    reachable = decide(_facts(10_000, sms_reachable=False), _policy(), AFTER_WAIT)
    assert reachable.notes == ()


def test_no_hand_over_configured_means_no_referral() -> None:
    decision = decide(_facts(10_000), _policy(agency_hand_over=None), AFTER_WAIT)
    assert decision.kind is DecisionKind.NONE
    assert "no agency hand-over" in decision.reason
    # A write-off needs no hand-over.
    assert decide(_facts(100), default_referral_policy(), AFTER_WAIT).kind is DecisionKind.WRITE_OFF


def test_referral_is_idempotent_while_one_is_in_progress() -> None:
    referral = start_referral(
        ReferralKind.AGENCY,
        at=AFTER_WAIT,
        reason="owed",
        owed=Money("USD", 10_000),
        hand_over=AGENCY,
    )
    again = decide(_facts(10_000, last_referral=referral), _policy(), AFTER_WAIT)
    assert again.kind is DecisionKind.NONE
    assert "already referred to agency" in again.reason
    accepted = transition(referral, ReferralStatus.ACCEPTED, AFTER_WAIT)
    assert decide(_facts(10_000, last_referral=accepted), _policy(), AFTER_WAIT).kind is (
        DecisionKind.NONE
    )


def test_an_agency_returning_the_account_unpaid_leads_to_legal() -> None:
    referral = start_referral(
        ReferralKind.AGENCY, at=SPENT, reason="owed", owed=Money("USD", 10_000), hand_over=AGENCY
    )
    returned = transition(referral, "returned_unpaid", SPENT + timedelta(days=60))
    decision = decide(_facts(10_000, last_referral=returned), _policy(), AFTER_WAIT)
    assert decision.kind is DecisionKind.LEGAL
    assert decision.reason == "the agency returned the account unpaid"
    withdrawn = transition(referral, "withdrawn", SPENT + timedelta(days=1))
    assert decide(_facts(10_000, last_referral=withdrawn), _policy(), AFTER_WAIT).kind is (
        DecisionKind.NONE
    )


def test_facts_refuse_mixed_currencies_and_naive_times() -> None:
    with pytest.raises(ValueError, match="paid must be in USD"):
        _facts(10_000, paid=Money("EUR", 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        _facts(10_000, sequence_spent_at=datetime(2026, 11, 20))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(_facts(10_000), _policy(), datetime(2026, 12, 20))  # noqa: DTZ001
