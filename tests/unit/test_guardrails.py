"""May this reminder go now: every rule of `decide`, and quiet hours across clock changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recoup.domain.cadence import (
    Anchor,
    Channel,
    PolicyError,
    QuietHours,
    Step,
    Tone,
    default_policy,
)
from recoup.domain.guardrails import (
    Defer,
    Send,
    SendCheck,
    Skip,
    decide,
    next_allowed,
    next_free,
)
from recoup.domain.money import Money
from recoup.domain.preferences import WEEKDAYS, AvoidWindow, ContactPreferences

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
NIGHT = QuietHours(time(21, 0), time(8, 0))
# Tuesday 10 November 2026, 12:00 in Los Angeles (PST, UTC-8)
NOON_LA = datetime(2026, 11, 10, 20, 0, tzinfo=UTC)


def _step(channel: Channel) -> Step:
    return Step(timedelta(days=1), Anchor.OPENED, channel, "friendly", Tone.FRIENDLY, True)


def _check(**changes: Any) -> SendCheck:
    """A check that passes every rule: an open case owing USD 1,899.00, a reachable customer."""
    fields: dict[str, Any] = {
        "case_open": True,
        "fraud_hold": False,
        "amount_owed": Money.of(189900, "USD"),
        "policy": default_policy("America/New_York"),
        "step": _step(Channel.EMAIL),
        "email": "ada@example.com",
        "phone_e164": "+15035550100",
        "email_opted_out": False,
        "sms_opted_out": False,
        "email_suppressed": False,
        "sent_at": (),
        "zone": LA,
        "now": NOON_LA,
    }
    fields.update(changes)
    return SendCheck(**fields)


def _with_policy(**changes: Any) -> Any:
    return replace(default_policy("America/New_York"), **changes)


# --- the happy path and the order of the rules ----------------------------------------------------


def test_a_reachable_customer_at_noon_gets_the_email() -> None:
    # Given an open case, a usable email, noon where the customer is / When decided
    # Then send by email
    assert decide(_check()) == Send("email")


def test_a_case_that_is_no_longer_open_is_skipped_first() -> None:
    # Given a closed case that is also on fraud hold, at night, for nothing owed
    check = _check(
        case_open=False, fraud_hold=True, amount_owed=None, now=NOON_LA + timedelta(hours=12)
    )
    # When decided / Then the first rule speaks
    assert decide(check) == Skip("case is no longer open")


def test_a_fraud_hold_is_skipped() -> None:
    # Given a case held for fraud review, with no amount known / When decided
    # Then it is skipped for the hold, before the amount is looked at
    assert decide(_check(fraud_hold=True, amount_owed=None)) == Skip("held for fraud review")


# --- the amount ---------------------------------------------------------------------------------


def test_an_unknown_amount_is_skipped() -> None:
    # Given no amount owed / When decided / Then skipped
    assert decide(_check(amount_owed=None)) == Skip("the amount owed is unknown")


def test_nothing_owed_is_skipped() -> None:
    # Given zero owed / When decided / Then skipped, with the amount
    assert decide(_check(amount_owed=Money.zero("USD"))) == Skip("owes nothing (USD 0.00)")


def test_an_amount_below_the_minimum_is_skipped_with_both_amounts() -> None:
    # Given a USD 5.00 minimum and USD 3.00 owed / When decided
    check = _check(policy=_with_policy(min_amount={"USD": 500}), amount_owed=Money.of(300, "USD"))
    # Then skipped, naming both amounts
    assert decide(check) == Skip("owes USD 3.00, below the shop's minimum of USD 5.00")


def test_minimums_are_per_currency_and_inclusive() -> None:
    # Given minimums of USD 5.00 and JPY 500
    policy = _with_policy(min_amount={"USD": 500, "JPY": 500})
    # When exactly the minimum, or another currency, is owed / Then it is sent
    assert decide(_check(policy=policy, amount_owed=Money.of(500, "USD"))) == Send("email")
    assert decide(_check(policy=policy, amount_owed=Money.of(1, "EUR"))) == Send("email")
    # and a zero-decimal currency is formatted as such
    assert decide(_check(policy=policy, amount_owed=Money.of(300, "JPY"))) == Skip(
        "owes JPY 300, below the shop's minimum of JPY 500"
    )


# --- the channel --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"email": None}, "customer has no email address"),
        ({"email": "  "}, "customer has no email address"),
        ({"email_opted_out": True}, "customer opted out of email"),
        (
            {"email_suppressed": True},
            "customer has a suppressed email address (bounce or complaint)",
        ),
        (
            {"email_undeliverable": "SES refused it (MessageRejected)"},
            "customer has an undeliverable email address (SES refused it (MessageRejected))",
        ),
    ],
)
def test_an_email_step_needs_a_usable_email(changes: dict[str, Any], reason: str) -> None:
    # Given an email step and an unusable email (a phone is there, but not asked for)
    # When decided / Then skipped, saying why
    assert decide(_check(**changes)) == Skip(reason)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"phone_e164": None}, "customer has no phone number"),
        ({"phone_e164": ""}, "customer has no phone number"),
        ({"phone_e164": "5035550100"}, "customer has no valid phone number"),
        ({"sms_opted_out": True}, "customer opted out of SMS"),
        (
            {"sms_undeliverable": "SNS refused it (InvalidParameter)"},
            "customer has an undeliverable phone number (SNS refused it (InvalidParameter))",
        ),
    ],
)
def test_an_sms_step_needs_a_usable_phone(changes: dict[str, Any], reason: str) -> None:
    # Given an SMS step and an unusable phone / When decided / Then skipped, saying why
    assert decide(_check(step=_step(Channel.SMS), **changes)) == Skip(reason)


def test_an_sms_step_with_a_phone_sends_sms() -> None:
    # Given an SMS step and a usable phone / When decided / Then send by SMS
    assert decide(_check(step=_step(Channel.SMS))) == Send("sms")


@pytest.mark.parametrize(
    ("changes", "decision"),
    [
        ({}, Send("email")),
        ({"email_opted_out": True}, Send("sms")),
        ({"email_suppressed": True}, Send("sms")),
        ({"email": None}, Send("sms")),
        ({"sms_opted_out": True}, Send("email")),
        ({"email_undeliverable": "not a valid email address"}, Send("sms")),
        ({"sms_undeliverable": "SNS refused it (InvalidParameter)"}, Send("email")),
        (
            {"email_undeliverable": "SES refused it (BadRequestException)", "phone_e164": None},
            Skip(
                "customer has an undeliverable email address (SES refused it "
                "(BadRequestException)) and has no phone number"
            ),
        ),
        (
            {"email_opted_out": True, "phone_e164": None},
            Skip("customer opted out of email and has no phone number"),
        ),
        (
            {"email": None, "sms_opted_out": True},
            Skip("customer has no email address and opted out of SMS"),
        ),
    ],
)
def test_email_then_sms_prefers_email_and_falls_back_to_sms(
    changes: dict[str, Any], decision: Any
) -> None:
    # Given an email-then-SMS step / When decided / Then email if usable, else SMS, else skip
    assert decide(_check(step=_step(Channel.EMAIL_THEN_SMS), **changes)) == decision


# --- the weekly cap -----------------------------------------------------------------------------


def test_the_weekly_cap_defers_until_the_oldest_message_is_a_week_old() -> None:
    # Given a cap of 3, and 3 messages in the last week, the oldest 6 days ago at 13:00 local
    policy = _with_policy(weekly_cap=3)
    sent = [NOON_LA - timedelta(days=6) + timedelta(hours=1), NOON_LA - timedelta(days=2), NOON_LA]

    # When decided at noon / Then deferred to a week after the oldest: tomorrow 13:00 local
    decision = decide(_check(policy=policy, sent_at=sent))
    assert decision == Defer(
        datetime(2026, 11, 11, 21, 0, tzinfo=UTC),
        "weekly cap of 3 messages reached (3 in the last 7 days); "
        "next possible at 2026-11-11 13:00 America/Los_Angeles",
    )


def test_a_cap_deferral_landing_at_night_moves_to_the_morning() -> None:
    # Given a cap of 2, the oldest message sent 6 days ago at 23:30 local (someone else's
    # shop hours do not matter: only this customer's night)
    policy = _with_policy(weekly_cap=2)
    oldest = datetime(2026, 11, 5, 7, 30, tzinfo=UTC)  # 23:30 PST on 4 November
    # When decided / Then the week is up at 23:30 tonight, which is quiet: 08:00 tomorrow
    decision = decide(_check(policy=policy, sent_at=[oldest, NOON_LA - timedelta(hours=2)]))
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 12, 16, 0, tzinfo=UTC)  # 08:00 PST


def test_messages_a_week_old_or_older_do_not_count() -> None:
    # Given a cap of 2, one message exactly 7 days ago and one 8 days ago, one yesterday
    policy = _with_policy(weekly_cap=2)
    sent = [NOON_LA - timedelta(days=7), NOON_LA - timedelta(days=8), NOON_LA - timedelta(days=1)]
    # When decided / Then only one counts: send
    assert decide(_check(policy=policy, sent_at=sent)) == Send("email")


def test_over_the_cap_waits_until_enough_messages_age_out() -> None:
    # Given a cap lowered to 2 while 4 messages went out this week (6, 5, 4, 3 days ago)
    policy = _with_policy(weekly_cap=2)
    sent = [NOON_LA - timedelta(days=d) for d in (6, 5, 4, 3)]
    # When decided / Then it waits until only one is left in the window: the third oldest
    # (4 days ago) turns a week old in 3 days
    decision = decide(_check(policy=policy, sent_at=sent))
    assert isinstance(decision, Defer)
    assert decision.until == NOON_LA + timedelta(days=3)


def test_the_cap_counts_every_channel_and_takes_precedence_over_quiet_hours() -> None:
    # Given the cap reached, at 22:00 local / When decided / Then the cap is the reason
    policy = _with_policy(weekly_cap=1)
    late = NOON_LA + timedelta(hours=10)
    decision = decide(_check(policy=policy, sent_at=[late - timedelta(hours=3)], now=late))
    assert isinstance(decision, Defer)
    assert decision.reason.startswith("weekly cap of 1 message reached (1 in the last 7 days)")


# --- quiet hours --------------------------------------------------------------------------------


def test_at_night_in_the_customer_zone_the_message_waits_for_the_morning() -> None:
    # Given 22:00 in Los Angeles (06:00 UTC the next day) / When decided
    now = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)
    # Then deferred to 08:00 local (16:00 UTC), saying so in local terms
    assert decide(_check(now=now)) == Defer(
        datetime(2026, 11, 11, 16, 0, tzinfo=UTC),
        "quiet hours in America/Los_Angeles until 08:00",
    )


def test_quiet_hours_follow_the_customer_not_the_shop() -> None:
    # Given 22:00 in Los Angeles, which is 07:00 the next morning in Berlin (the shop)
    now = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)
    # When decided for a customer in Berlin / Then it is quiet there too, until 08:00 CET
    decision = decide(_check(now=now, zone=ZoneInfo("Europe/Berlin")))
    assert decision == Defer(
        datetime(2026, 11, 11, 7, 0, tzinfo=UTC), "quiet hours in Europe/Berlin until 08:00"
    )
    # and for a customer in New York (01:00) until 08:00 EST
    assert decide(_check(now=now, zone=NY)) == Defer(
        datetime(2026, 11, 11, 13, 0, tzinfo=UTC), "quiet hours in America/New_York until 08:00"
    )


def test_no_quiet_hours_means_send_at_any_hour() -> None:
    # Given a policy without quiet hours, at 03:00 local / When decided / Then send
    policy = _with_policy(quiet_hours=QuietHours.none())
    assert decide(_check(policy=policy, now=datetime(2026, 11, 10, 11, 0, tzinfo=UTC))) == Send(
        "email"
    )


def test_times_must_be_timezone_aware() -> None:
    # Given a naive "now" or send time / Then the check refuses it
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        _check(now=datetime(2026, 11, 10, 12, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="sent_at must be a timezone-aware datetime"):
        _check(sent_at=[datetime(2026, 11, 10, 12, 0)])  # noqa: DTZ001


# --- next_allowed -------------------------------------------------------------------------------


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "quiet", "allowed"),
    [
        # outside quiet hours: now itself
        (_utc(2026, 11, 10, 20, 0), NIGHT, _utc(2026, 11, 10, 20, 0)),
        # 20:59 local: not yet quiet
        (_utc(2026, 11, 11, 4, 59), NIGHT, _utc(2026, 11, 11, 4, 59)),
        # 21:00 local: quiet until 08:00 the next day
        (_utc(2026, 11, 11, 5, 0), NIGHT, _utc(2026, 11, 11, 16, 0)),
        # 03:00 local, after midnight: until 08:00 the same day
        (_utc(2026, 11, 11, 11, 0), NIGHT, _utc(2026, 11, 11, 16, 0)),
        # 08:00 local exactly: allowed
        (_utc(2026, 11, 11, 16, 0), NIGHT, _utc(2026, 11, 11, 16, 0)),
        # not wrapping: a 12:00-13:30 break, at 12:10 local
        (
            _utc(2026, 11, 10, 20, 10),
            QuietHours(time(12), time(13, 30)),
            _utc(2026, 11, 10, 21, 30),
        ),
        # not wrapping, outside it
        (_utc(2026, 11, 10, 19, 0), QuietHours(time(12), time(13, 30)), _utc(2026, 11, 10, 19, 0)),
        # no quiet hours
        (_utc(2026, 11, 11, 11, 0), QuietHours.none(), _utc(2026, 11, 11, 11, 0)),
    ],
)
def test_next_allowed_in_los_angeles(now: datetime, quiet: QuietHours, allowed: datetime) -> None:
    # Given a moment and quiet hours in Los Angeles (PST) / When the next allowed time is
    # asked for / Then it is exactly this instant
    assert next_allowed(now, LA, quiet) == allowed


@pytest.mark.parametrize(
    ("zone", "now", "quiet", "allowed"),
    [
        # New York springs forward at 02:00 EST on Sunday 8 March 2026: the night is an hour
        # shorter. 22:00 EST Saturday -> 08:00 EDT = 12:00 UTC (not 13:00).
        (NY, _utc(2026, 3, 8, 3, 0), NIGHT, _utc(2026, 3, 8, 12, 0)),
        # New York falls back at 02:00 EDT on Sunday 1 November 2026: an hour longer.
        # 22:00 EDT Saturday -> 08:00 EST = 13:00 UTC (not 12:00).
        (NY, _utc(2026, 11, 1, 2, 0), NIGHT, _utc(2026, 11, 1, 13, 0)),
        # and inside the repeated hour (01:30 EST, the second time round)
        (NY, _utc(2026, 11, 1, 6, 30), NIGHT, _utc(2026, 11, 1, 13, 0)),
        # London springs forward at 01:00 GMT on 29 March 2026.
        # 23:30 GMT Saturday -> 08:00 BST = 07:00 UTC.
        (LONDON, _utc(2026, 3, 28, 23, 30), NIGHT, _utc(2026, 3, 29, 7, 0)),
        # London falls back at 02:00 BST on 25 October 2026.
        # 21:00 BST Saturday -> 08:00 GMT = 08:00 UTC.
        (LONDON, _utc(2026, 10, 24, 20, 0), NIGHT, _utc(2026, 10, 25, 8, 0)),
        # Quiet hours ending at 02:30, a time New York skips on 8 March 2026: the first
        # instant after the gap, 03:00 EDT = 07:00 UTC.
        (NY, _utc(2026, 3, 8, 4, 0), QuietHours(time(22), time(2, 30)), _utc(2026, 3, 8, 7, 0)),
        # London skips 01:00-02:00 on 29 March 2026: an end at 01:30 -> 02:00 BST = 01:00 UTC
        (
            LONDON,
            _utc(2026, 3, 28, 23, 0),
            QuietHours(time(23), time(1, 30)),
            _utc(2026, 3, 29, 1, 0),
        ),
        # Quiet hours ending at 01:30, a time New York has twice on 1 November 2026: from
        # 23:00 EDT the first 01:30 (EDT, 05:30 UTC) ends them ...
        (NY, _utc(2026, 11, 1, 3, 0), QuietHours(time(22), time(1, 30)), _utc(2026, 11, 1, 5, 30)),
        # ... and at 01:10 EST, the second time round, the second 01:30 (EST, 06:30 UTC)
        (NY, _utc(2026, 11, 1, 6, 10), QuietHours(time(22), time(1, 30)), _utc(2026, 11, 1, 6, 30)),
    ],
)
def test_next_allowed_across_clock_changes(
    zone: ZoneInfo, now: datetime, quiet: QuietHours, allowed: datetime
) -> None:
    # Given a night on which the clocks change / When the next allowed time is asked for
    # Then it is the exact UTC instant the local clock reaches the end of quiet hours
    assert next_allowed(now, zone, quiet) == allowed


def test_a_day_whose_allowed_window_is_skipped_moves_to_the_next_day() -> None:
    # Given quiet hours 03:00 -> 02:00 (allowed 02:00-03:00 only), the very hour New York
    # skips on 8 March 2026
    quiet = QuietHours(time(3, 0), time(2, 0))
    now = _utc(2026, 3, 8, 4, 0)  # 23:00 EST on 7 March
    # When the next allowed time is asked for / Then it is 02:00 EDT on 9 March
    assert next_allowed(now, NY, quiet) == _utc(2026, 3, 9, 6, 0)


def test_falling_back_out_of_quiet_hours_ends_them_at_the_clock_change() -> None:
    # Given quiet hours 01:30 -> 00:00 (allowed only 00:00-01:30) and 01:53 EDT on the night
    # New York falls back: at 02:00 EDT (06:00 UTC) the clock reads 01:00 EST again
    quiet = QuietHours(time(1, 30), time(0, 0))
    now = _utc(2026, 11, 1, 5, 53)
    # When the next allowed time is asked for / Then it is the clock change, not midnight
    assert next_allowed(now, NY, quiet) == _utc(2026, 11, 1, 6, 0)


def test_the_day_samoa_skipped_is_handled() -> None:
    # Given Samoa, which skipped 30 December 2011 entirely, and 22:00 on 29 December
    apia = ZoneInfo("Pacific/Apia")
    now = datetime(2011, 12, 29, 22, 0, tzinfo=apia)
    # When the next allowed time is asked for / Then 08:00 on the 31st, local
    allowed = next_allowed(now, apia, NIGHT)
    assert allowed.astimezone(apia).replace(tzinfo=None) == datetime(2011, 12, 31, 8, 0)  # noqa: DTZ001


ZONES = [
    "America/New_York",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Lord_Howe",  # half-hour DST
    "Australia/Sydney",
    "America/Santiago",
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Asia/Kathmandu",
    "Antarctica/Troll",  # two-hour DST
    "Pacific/Apia",  # skipped a day in 2011
    "Europe/Dublin",  # negative DST in the tz database
    "UTC",
]


@st.composite
def quiet_hours(draw: st.DrawFn) -> QuietHours:
    start = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    end = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    try:
        return QuietHours(start, end)
    except PolicyError:
        assume(False)
        raise


@given(
    now=st.datetimes(
        min_value=datetime(1995, 1, 1),  # noqa: DTZ001
        max_value=datetime(2040, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    quiet=quiet_hours(),
)
def test_next_allowed_is_never_in_quiet_hours_nor_before_now(
    now: datetime, zone: ZoneInfo, quiet: QuietHours
) -> None:
    # Given any moment, zone and quiet hours / When the next allowed time is asked for
    allowed = next_allowed(now, zone, quiet)

    # Then it is a UTC instant, not before now, outside quiet hours, within two days
    assert allowed.tzinfo is UTC
    assert allowed >= now
    assert not quiet.contains(allowed.astimezone(zone).time())
    assert allowed - now <= timedelta(days=2)
    # and it is now itself exactly when now is outside quiet hours
    assert (allowed == now) is (not quiet.contains(now.astimezone(zone).time()))
    # and it is the first such moment: every whole minute before it is quiet
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < allowed:
        assert quiet.contains(minute.astimezone(zone).time()), minute
        minute += timedelta(minutes=1)


@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    quiet=quiet_hours(),
    cap=st.integers(1, 21),
    ages=st.lists(st.integers(0, 10 * 24 * 60), max_size=25),
)
def test_a_send_is_never_at_night_nor_over_the_cap(
    now: datetime, zone: ZoneInfo, quiet: QuietHours, cap: int, ages: list[int]
) -> None:
    # Given any moment, zone, quiet hours, cap and send history
    sent = [now - timedelta(minutes=age) for age in ages]
    check = _check(
        policy=_with_policy(quiet_hours=quiet, weekly_cap=cap), zone=zone, now=now, sent_at=sent
    )
    # When decided
    decision = decide(check)
    in_week = sum(1 for at in sent if at > now - timedelta(days=7))
    if isinstance(decision, Send):
        # Then a send is outside quiet hours and under the cap
        assert not quiet.contains(now.astimezone(zone).time())
        assert in_week < cap
    else:
        # and a deferral is to a later moment outside quiet hours, when the cap has room
        assert isinstance(decision, Defer)
        assert decision.until > now
        assert not quiet.contains(decision.until.astimezone(zone).time())
        assert sum(1 for at in sent if at > decision.until - timedelta(days=7)) < cap


# --- the customer's contact preferences ------------------------------------------------------

WEEKDAY_HOURS = AvoidWindow(WEEKDAYS, time(9, 0), time(17, 0))


def _prefs(**changes: Any) -> ContactPreferences:
    return ContactPreferences(**changes)


@pytest.mark.parametrize(
    ("channel", "prefs", "decision"),
    [
        # a channel turned off is an opt-out of it: an email-then-SMS step falls back
        (Channel.EMAIL_THEN_SMS, _prefs(email=False), Send("sms")),
        (Channel.EMAIL_THEN_SMS, _prefs(sms=False), Send("email")),
        # a single-channel step whose channel is off is skipped, naming the preference
        (
            Channel.EMAIL,
            _prefs(email=False),
            Skip("customer turned email off in their contact preferences"),
        ),
        (
            Channel.SMS,
            _prefs(sms=False),
            Skip("customer turned SMS off in their contact preferences"),
        ),
        (Channel.EMAIL, _prefs(sms=False), Send("email")),
    ],
)
def test_a_channel_turned_off_counts_as_an_opt_out_of_it(
    channel: Channel, prefs: ContactPreferences, decision: Any
) -> None:
    # Given a reachable customer with one channel off / When decided / Then as an opt-out
    assert decide(_check(step=_step(channel), preferences=prefs)) == decision


def test_a_channel_off_and_the_other_unusable_names_both() -> None:
    # Given SMS off and no email address, on an email-then-SMS step / When decided
    check = _check(step=_step(Channel.EMAIL_THEN_SMS), email=None, preferences=_prefs(sms=False))
    # Then skipped, naming both reasons, counted as the email's problem
    decision = decide(check)
    assert decision == Skip(
        "customer has no email address and turned SMS off in their contact preferences"
    )
    assert isinstance(decision, Skip) and decision.code == "no_address"


@pytest.mark.parametrize("channel", list(Channel))
def test_both_channels_off_means_no_messages_on_any_step(channel: Channel) -> None:
    # Given both channels off / When any step is decided / Then skipped as "no messages"
    decision = decide(_check(step=_step(channel), preferences=_prefs(email=False, sms=False)))
    assert decision == Skip(
        "customer asked for no messages (email and SMS off in their contact preferences)"
    )
    assert isinstance(decision, Skip) and decision.code == "opted_out"


@pytest.mark.parametrize(
    ("changes", "decision"),
    [
        ({}, Send("sms")),
        ({"sms_opted_out": True}, Send("email")),
        ({"phone_e164": None}, Send("email")),
        (
            {"sms_opted_out": True, "email": None},
            Skip("customer opted out of SMS and has no email address"),
        ),
    ],
)
def test_the_preferred_channel_goes_first_when_the_step_allows_either(
    changes: dict[str, Any], decision: Any
) -> None:
    # Given a customer preferring SMS on an email-then-SMS step / When decided
    # Then SMS first, email as the fallback, and the reason leads with the preferred one
    prefs = _prefs(preferred="sms")
    step = _step(Channel.EMAIL_THEN_SMS)
    assert decide(_check(step=step, preferences=prefs, **changes)) == decision


def test_a_preferred_channel_does_not_override_a_single_channel_step() -> None:
    # Given a customer preferring SMS, on an email-only step / When decided / Then email
    assert decide(_check(preferences=_prefs(preferred="sms"))) == Send("email")


def test_an_avoided_window_defers_to_its_end_in_the_customers_zone() -> None:
    # Given a customer avoiding weekdays 09:00-17:00, at noon on a Tuesday in Los Angeles
    check = _check(preferences=_prefs(avoid=(WEEKDAY_HOURS,)))
    # When decided / Then deferred to 17:00 PST that day, saying which preference
    decision = decide(check)
    assert decision == Defer(
        datetime(2026, 11, 11, 1, 0, tzinfo=UTC),
        "the customer asked not to be contacted weekdays 09:00\u201317:00 "
        "(America/Los_Angeles); next possible at 2026-11-10 17:00",
    )
    assert isinstance(decision, Defer) and decision.channel == "email"
    assert decision.code == "quiet_hours"


def test_outside_the_avoided_window_the_message_goes() -> None:
    # Given the same window, on a Saturday at noon, or a weekday at 17:00 sharp / Then send
    prefs = _prefs(avoid=(WEEKDAY_HOURS,))
    saturday = NOON_LA + timedelta(days=4)
    assert decide(_check(preferences=prefs, now=saturday)) == Send("email")
    five_pm = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
    assert decide(_check(preferences=prefs, now=five_pm)) == Send("email")


def test_an_avoided_window_ending_in_quiet_hours_waits_for_the_morning() -> None:
    # Given a window every day 17:00-22:00 and the shop's quiet hours 21:00-08:00, at 18:00
    evenings = AvoidWindow(frozenset(range(7)), time(17, 0), time(22, 0))
    now = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 18:00 PST on Tuesday
    decision = decide(_check(preferences=_prefs(avoid=(evenings,)), now=now))
    # Then the later of both: 08:00 the next morning
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
    assert "every day 17:00\u201322:00" in decision.reason


def test_quiet_hours_ending_in_an_avoided_window_wait_for_the_window_too() -> None:
    # Given a window on weekdays 08:00-09:30 and quiet hours until 08:00, at 03:00 Wednesday
    mornings = AvoidWindow(WEEKDAYS, time(8, 0), time(9, 30))
    now = datetime(2026, 11, 11, 11, 0, tzinfo=UTC)  # 03:00 PST
    decision = decide(_check(preferences=_prefs(avoid=(mornings,)), now=now))
    # Then 09:30 local, and the reason says quiet hours came first
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 11, 17, 30, tzinfo=UTC)
    assert decision.reason.startswith(
        "quiet hours, then the customer asked not to be contacted weekdays 08:00\u201309:30"
    )


def test_an_overnight_window_ends_the_next_morning() -> None:
    # Given a window Friday 20:00 -> 10:00 (overnight into Saturday), no shop quiet hours
    friday_night = AvoidWindow(frozenset({4}), time(20, 0), time(10, 0))
    policy = _with_policy(quiet_hours=QuietHours.none())
    prefs = _prefs(avoid=(friday_night,))
    # When decided at 02:00 on Saturday 14 November (10:00 UTC) and at 23:00 on Friday
    for now in (_utc(2026, 11, 14, 10, 0), _utc(2026, 11, 14, 7, 0)):
        decision = decide(_check(policy=policy, preferences=prefs, now=now))
        # Then both wait until Saturday 10:00 PST
        assert isinstance(decision, Defer)
        assert decision.until == _utc(2026, 11, 14, 18, 0)
    # and on Saturday night (the window belongs to Friday) it goes
    saturday_night = _utc(2026, 11, 15, 6, 0)  # 22:00 PST Saturday
    assert decide(_check(policy=policy, preferences=prefs, now=saturday_night)) == Send("email")


def test_an_avoided_window_across_a_clock_change_ends_on_the_new_local_time() -> None:
    # Given a Sunday window 00:00 -> 09:00 in New York on 8 March 2026 (clocks spring forward
    # at 02:00), no shop quiet hours, at 00:30 EST (05:30 UTC)
    sunday = AvoidWindow(frozenset({6}), time(0, 0), time(9, 0))
    policy = _with_policy(quiet_hours=QuietHours.none())
    decision = decide(
        _check(
            policy=policy, zone=NY, preferences=_prefs(avoid=(sunday,)), now=_utc(2026, 3, 8, 5, 30)
        )
    )
    # Then it ends at 09:00 EDT = 13:00 UTC (not 14:00)
    assert isinstance(decision, Defer)
    assert decision.until == _utc(2026, 3, 8, 13, 0)
    # and on the fall-back Sunday, 1 November 2026, at 09:00 EST = 14:00 UTC
    decision = decide(
        _check(
            policy=policy, zone=NY, preferences=_prefs(avoid=(sunday,)), now=_utc(2026, 11, 1, 5, 0)
        )
    )
    assert isinstance(decision, Defer)
    assert decision.until == _utc(2026, 11, 1, 14, 0)


def test_a_window_ending_at_a_skipped_time_ends_after_the_gap() -> None:
    # Given a Sunday window 01:00 -> 02:30 in New York, which skips 02:00-03:00 on 8 March
    window = AvoidWindow(frozenset({6}), time(1, 0), time(2, 30))
    policy = _with_policy(quiet_hours=QuietHours.none())
    now = _utc(2026, 3, 8, 6, 30)  # 01:30 EST
    decision = decide(_check(policy=policy, zone=NY, preferences=_prefs(avoid=(window,)), now=now))
    # Then it ends at the clock change: 03:00 EDT = 07:00 UTC
    assert isinstance(decision, Defer)
    assert decision.until == _utc(2026, 3, 8, 7, 0)


def test_the_cap_deferral_also_keeps_out_of_the_avoided_window() -> None:
    # Given the cap reached, freeing at 13:00 tomorrow (Wednesday) inside weekday 09:00-17:00
    policy = _with_policy(weekly_cap=1)
    sent = [NOON_LA - timedelta(days=6) + timedelta(hours=1)]
    decision = decide(
        _check(policy=policy, sent_at=sent, preferences=_prefs(avoid=(WEEKDAY_HOURS,)))
    )
    # Then it waits until 17:00 on Wednesday
    assert isinstance(decision, Defer)
    assert decision.code == "weekly_cap"
    assert decision.until == datetime(2026, 11, 12, 1, 0, tzinfo=UTC)


def test_windows_that_leave_no_time_with_quiet_hours_skip_the_step() -> None:
    # Given a window 08:00-21:00 every day, and quiet hours 21:00-08:00 / When decided
    days = AvoidWindow(frozenset(range(7)), time(8, 0), time(21, 0))
    decision = decide(_check(preferences=_prefs(avoid=(days,))))
    # Then there is never a time to send: skipped, saying why
    assert isinstance(decision, Skip)
    assert "leave no time to send" in decision.reason
    assert "every day 08:00\u201321:00" in decision.reason


@st.composite
def avoid_windows(draw: st.DrawFn) -> AvoidWindow:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30, 45))))
    end = time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30, 45))))
    assume(start != end)
    return AvoidWindow(days, start, end)


@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    quiet=quiet_hours(),
    windows=st.lists(avoid_windows(), min_size=1, max_size=3),
)
def test_next_free_is_outside_quiet_hours_and_every_window(
    now: datetime, zone: ZoneInfo, quiet: QuietHours, windows: list[AvoidWindow]
) -> None:
    # Given any moment, zone, quiet hours and avoided windows / When the next free time is
    # asked for
    found = next_free(now, zone, quiet, windows)
    if found is None:
        return  # nothing free within the horizon (possible: windows and quiet hours overlap)
    free, _ = found

    def blocked(at: datetime) -> bool:
        local = at.astimezone(zone)
        return quiet.contains(local.time()) or any(w.contains(local) for w in windows)

    # Then it is not before now, not blocked, and every whole minute before it is blocked
    assert free >= now
    assert not blocked(free)
    assert (free == now) is (not blocked(now))
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < free:
        assert blocked(minute), minute
        minute += timedelta(minutes=1)
