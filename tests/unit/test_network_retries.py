"""Off-session retries of a declined card payment (recoup.domain.retries): each decline code's
category, advice codes, the shop's policy, and the card networks' reattempt limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from recoup.domain.retries import (
    ChargeTry,
    DeclineCategory,
    RetryPolicy,
    RetryPolicyError,
    category_names,
    category_of,
    next_retry,
    parse_retry_policy,
    retry_policy_to_dict,
)

HARD, SOFT = DeclineCategory.HARD, DeclineCategory.SOFT
DATA, AUTH = DeclineCategory.EXPIRED_OR_INCORRECT, DeclineCategory.AUTHENTICATION
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
ON = RetryPolicy(enabled=True)


def declined(at: datetime, code: str | None = "insufficient_funds", network: str = "visa",
             advice: str | None = None) -> ChargeTry:  # fmt: skip
    return ChargeTry(at, succeeded=False, code=code, network=network, advice_code=advice)


# Stripe's decline codes (docs.stripe.com/declines/codes) and the category each must fall in.
@pytest.mark.parametrize(
    ("codes", "category"),
    [
        (
            "stolen_card lost_card fraudulent pickup_card restricted_card do_not_try_again "
            "revocation_of_authorization revocation_of_all_authorizations stop_payment_order "
            "security_violation merchant_blacklist invalid_account card_not_supported "
            "currency_not_supported transaction_not_allowed not_permitted",
            HARD,
        ),
        (
            "insufficient_funds processing_error try_again_later issuer_not_available "
            "reenter_transaction card_velocity_exceeded withdrawal_count_limit_exceeded "
            "generic_decline card_declined do_not_honor no_action_taken approve_with_id "
            "call_issuer",
            SOFT,
        ),
        (
            "expired_card incorrect_cvc invalid_cvc incorrect_number invalid_number "
            "incorrect_zip invalid_expiry_month invalid_expiry_year incorrect_pin",
            DATA,
        ),
        ("authentication_required payment_intent_authentication_failure", AUTH),
        ("testmode_decline duplicate_transaction invalid_amount", DeclineCategory.UNKNOWN),
    ],
)
def test_each_decline_code_falls_in_its_category(codes: str, category: DeclineCategory) -> None:
    for code in codes.split():
        assert category_of(code) is category, code
        assert category_of(f" {code.upper()} ") is category, code  # as sent, any case


def test_no_code_is_unknown_and_the_names_are_the_admins_choices() -> None:
    assert category_of(None) is DeclineCategory.UNKNOWN
    assert category_of("") is DeclineCategory.UNKNOWN
    assert category_names() == (
        "hard",
        "soft",
        "expired_or_incorrect",
        "authentication_required",
        "unknown",
    )


@pytest.mark.parametrize(
    ("code", "network", "advice", "category"),
    [
        ("insufficient_funds", "mastercard", "03", HARD),  # MAC 03: do not try again
        ("generic_decline", "MasterCard", "21", HARD),  # MAC 21: payment cancelled
        ("generic_decline", "visa", "21", SOFT),  # 21 is Mastercard's alone
        ("do_not_honor", "mastercard", "01", DATA),  # MAC 01: new account information
        (None, "mastercard", "02", SOFT),  # MAC 02: try again later
        (None, None, "04", SOFT),
        ("insufficient_funds", None, "do_not_try_again", HARD),  # Stripe's advice_code
        (None, None, "try_again_later", SOFT),
        ("generic_decline", "visa", "confirm_card_data", DATA),
        ("stolen_card", "visa", "try_again_later", HARD),  # no advice softens a hard decline
        ("authentication_required", None, "try_again_later", AUTH),
        ("insufficient_funds", "visa", "99", SOFT),  # an unknown advice code changes nothing
    ],
)
def test_advice_codes_override_the_decline_code(
    code: str | None, network: str | None, advice: str, category: DeclineCategory
) -> None:
    assert category_of(code, network=network, advice_code=advice) is category


def test_do_not_honor_is_soft_unless_the_shop_marks_it_hard() -> None:
    assert category_of("do_not_honor") is SOFT
    assert category_of("do_not_honor", do_not_honor_hard=True) is HARD
    assert category_of("generic_decline", do_not_honor_hard=True) is SOFT
    tries = [declined(T0, "do_not_honor")]
    assert next_retry(ON, tries, T0).at == T0 + DAY
    strict = next_retry(RetryPolicy(enabled=True, do_not_honor_hard=True), tries, T0)
    assert strict.at is None
    assert strict.reason == "no retry: the issuer declined for good (do_not_honor)"


def test_soft_declines_follow_the_shops_delays() -> None:
    first = next_retry(ON, [declined(T0)], T0)
    assert first.at == T0 + DAY
    assert first.reason == (
        "retry 1 of 4 on 2026-11-02 10:00 UTC, 1 day after a soft decline (insufficient_funds)"
    )
    # The second retry waits the second delay, 3 days, after the first retry (Nov 2 + 3).
    second = next_retry(ON, [declined(T0), declined(T0 + DAY)], T0 + DAY)
    assert second.at == T0 + 4 * DAY
    assert second.reason == (
        "retry 2 of 4 on 2026-11-05 10:00 UTC, 3 days after a soft decline (insufficient_funds)"
    )
    # Decided late: not in the past.
    assert next_retry(ON, [declined(T0)], T0 + 5 * DAY).at == T0 + 5 * DAY


@pytest.mark.parametrize(
    ("tries", "reason"),
    [
        ([declined(T0, "stolen_card")], "no retry: the issuer declined for good (stolen_card)"),
        # A hard decline is never followed, even when a later decline is soft.
        (
            [declined(T0, None, "mastercard", "03"), declined(T0 + HOUR)],
            "no retry: the issuer declined for good (advice 03)",
        ),
        (
            [declined(T0, "authentication_required")],
            "no retry: the customer must authenticate (authentication_required)",
        ),
        ([declined(T0, "expired_card")], "no retry: the card's data must change (expired_card)"),
        (
            [declined(T0, None)],
            "no retry: the decline (no code given) is not known to be temporary",
        ),
    ],
)
def test_declines_that_are_never_retried(tries: list[ChargeTry], reason: str) -> None:
    decision = next_retry(ON, tries, T0 + DAY)
    assert decision.at is None
    assert decision.reason == reason


def test_paid_disabled_and_the_shops_maximum() -> None:
    paid = [declined(T0), ChargeTry(T0 + DAY, succeeded=True, network="visa")]
    assert next_retry(ON, paid, T0 + DAY).reason == "paid"
    assert next_retry(RetryPolicy(), [declined(T0)], T0).reason == (
        "no retry: automatic retries are off"
    )
    two = RetryPolicy(enabled=True, max_retries=2)
    # The original and one retry: the second retry is the last the shop allows.
    assert next_retry(two, [declined(T0), declined(T0 + DAY)], T0 + DAY).at == T0 + 4 * DAY
    spent = next_retry(two, [declined(T0 + n * DAY) for n in range(3)], T0 + 3 * DAY)
    assert spent == type(spent)(
        None, "no retry: the shop allows 2 automatic retries and 2 were made"
    )


DAILY = RetryPolicy(enabled=True, max_retries=8, soft_delays=(DAY,))
# Another order's tries of the same card: days 0, 2, ..., 26 (14 tries: the original and 13
# reattempts); the case's own try on day 28 makes 15 tries in 29 days and 14 reattempts.
CARD = [declined(T0 + 2 * n * DAY) for n in range(14)]


def test_the_15th_visa_reattempt_in_30_days_is_allowed() -> None:
    decision = next_retry(DAILY, [declined(T0 + 28 * DAY)], T0 + 28 * DAY, card_tries=CARD)
    # Day 29: the window (day -1, day 29] holds 14 reattempts, so this one is the 15th.
    assert decision.at == T0 + 29 * DAY
    assert "held back" not in decision.reason


@pytest.mark.parametrize(
    ("network", "who"), [("visa", "Visa allows"), ("amex", "Recoup allows other networks")]
)
def test_the_16th_reattempt_in_30_days_is_refused(network: str, who: str) -> None:
    card = [declined(t.at, network=network) for t in CARD]
    own = [declined(T0 + 28 * DAY, network=network), declined(T0 + 29 * DAY, network=network)]
    # Planned for day 30: (day 0, day 30] holds the 15 reattempts of days 2..29. The oldest,
    # day 2, leaves on day 32: two days late, more than the schedule's longest delay (1 day).
    decision = next_retry(DAILY, own, T0 + 29 * DAY, card_tries=card)
    assert decision.at is None
    assert decision.reason == f"no retry: {who} 15 reattempts in 30 days and 15 were made"
    # Had day 10's try been paid, day 12's would be a first try, not a reattempt: 14 remain.
    card[5] = ChargeTry(T0 + 10 * DAY, succeeded=True, network=network)
    assert next_retry(DAILY, own, T0 + 29 * DAY, card_tries=card).at == T0 + 30 * DAY


def test_a_refused_reattempt_moves_within_the_schedule_and_the_window_slides() -> None:
    own = [declined(T0 + 28 * DAY), declined(T0 + 29 * DAY)]
    # With a longest delay of 7 days, the retry planned for day 30 waits for day 32.
    patient = RetryPolicy(enabled=True, max_retries=8, soft_delays=(DAY, DAY, 7 * DAY))
    moved = next_retry(patient, own, T0 + 29 * DAY, card_tries=CARD)
    assert moved.at == T0 + 32 * DAY
    assert moved.reason == (
        "retry 2 of 8 on 2026-12-03 10:00 UTC, 3 days after a soft decline "
        "(insufficient_funds); held back: Visa allows 15 reattempts in 30 days"
    )
    # Decided on day 32, 30 days after the oldest reattempt: allowed at once.
    later = next_retry(DAILY, own, T0 + 32 * DAY, card_tries=CARD)
    assert later.at == T0 + 32 * DAY
    assert "held back" not in later.reason


def test_mastercard_allows_10_attempts_in_24_hours() -> None:
    # Hourly declines from 9 hours before T0, and the case's own at T0: 10 attempts.
    card = [declined(T0 - h * HOUR, network="mastercard") for h in range(1, 10)]
    own = [declined(T0, network="mastercard")]
    hourly = RetryPolicy(enabled=True, soft_delays=(HOUR,))
    assert next_retry(hourly, own, T0, card_tries=card[:8]).at == T0 + HOUR  # 9 made: allowed
    refused = next_retry(hourly, own, T0, card_tries=card)
    assert refused.reason == "no retry: Mastercard allows 10 attempts in 24 hours and 10 were made"
    # The oldest attempt (T0 - 9h) leaves the window at T0 + 15h: 14 hours after the planned
    # T0 + 1h, within a schedule whose longest delay is a day.
    patient = RetryPolicy(enabled=True, soft_delays=(HOUR, DAY))
    held = next_retry(patient, own, T0, card_tries=card)
    assert held.at == T0 + 15 * HOUR
    assert held.reason.endswith("held back: Mastercard allows 10 attempts in 24 hours")


def test_mastercard_advice_02_waits_72_hours() -> None:
    advised = next_retry(ON, [declined(T0, network="mastercard", advice="02")], T0)
    assert advised.at == T0 + 72 * HOUR  # not the shop's 1 day
    assert advised.reason == (
        "retry 1 of 4 on 2026-11-04 10:00 UTC, 3 days after a soft decline "
        "(insufficient_funds, advice 02); held back: Mastercard's advice 02 asks for 3 days"
    )
    assert next_retry(ON, [declined(T0, network="visa", advice="02")], T0).at == T0 + DAY
    late = RetryPolicy(enabled=True, soft_delays=(4 * DAY,))  # already past the 72 hours
    assert next_retry(late, [declined(T0, network="mastercard", advice="02")], T0).at == (
        T0 + 4 * DAY
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], ""),
        ({"retries": 3}, "retries"),
        ({"enabled": "yes"}, "enabled"),
        ({"do_not_honor_hard": 1}, "do_not_honor_hard"),
        ({"max_retries": 9}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"soft_delays": "1d"}, "soft_delays"),
        ({"soft_delays": []}, "soft_delays"),
        ({"soft_delays": ["1d", "3x"]}, "soft_delays[1]"),
        ({"soft_delays": ["1d", "3d", 5]}, "soft_delays[2]"),
        ({"soft_delays": ["1d", "31d"]}, "soft_delays[1]"),
    ],
)
def test_invalid_policies_name_the_field(data: object, field: str) -> None:
    with pytest.raises(RetryPolicyError) as caught:
        parse_retry_policy(data)
    assert caught.value.field == field


def test_policy_round_trip() -> None:
    assert parse_retry_policy({}) == RetryPolicy()
    policy = RetryPolicy(True, 6, (12 * HOUR, 2 * DAY, 36 * HOUR), do_not_honor_hard=True)
    data = retry_policy_to_dict(policy)
    assert data == {
        "enabled": True,
        "max_retries": 6,
        "soft_delays": ["12h", "2d", "36h"],
        "do_not_honor_hard": True,
    }
    assert parse_retry_policy(data) == policy


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_retry(ON, [declined(T0)], T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="later than now"):
        next_retry(ON, [declined(T0 + DAY)], T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        ChargeTry(T0.replace(tzinfo=None), succeeded=False)
    with pytest.raises(ValueError, match="succeeded"):
        ChargeTry(T0, succeeded="no")  # type: ignore[arg-type]
    plus_two = ChargeTry(datetime(2026, 11, 1, 12, 0, tzinfo=timezone(2 * HOUR)), False)
    assert plus_two.at == T0
    assert plus_two.at.tzinfo is UTC
