"""The shop's reminder policy: defaults, validation, JSON round trip, schedule, threshold."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoup.domain.cadence import (
    BUILTIN_TEMPLATES,
    AfterLastStep,
    Anchor,
    Channel,
    PolicyError,
    QuietHours,
    ReminderPolicy,
    Step,
    TimezoneRule,
    Tone,
    chasable,
    check_templates,
    default_policy,
    format_delay,
    new_step,
    parse_policy,
    policy_to_dict,
    step_due_at,
)
from recoup.domain.money import Money

OPENED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _data() -> dict[str, Any]:
    """A valid policy as the admin API sends it."""
    return {
        "version": 3,
        "steps": [
            {
                "delay": "1d",
                "anchor": "opened",
                "channel": "email",
                "template": "friendly",
                "tone": "friendly",
                "pay_link": True,
            },
            {
                "delay": "12h",
                "anchor": "previous",
                "channel": "email_then_sms",
                "template": "firm",
                "tone": "firm",
                "pay_link": True,
            },
            {
                "delay": "7d",
                "anchor": "previous",
                "channel": "sms",
                "template": "final-sms_2",
                "tone": "final_notice",
                "pay_link": False,
            },
        ],
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "timezone_rule": "customer",
        "shop_timezone": "Europe/Berlin",
        "weekly_cap": 7,
        "min_amount": {"USD": 500},
        "after_last_step": "escalate",
        "promise_max_days": 14,
        "instalments": {
            "enabled": True,
            "min_amount": {"USD": 10000},
            "min_instalment": {"USD": 2500},
            "max_count": 6,
            "intervals": ["weekly", "monthly"],
            "max_days": 120,
            "first_due_now": False,
            "grace_days": 5,
            "on_broken": "escalate",
        },
        "settlement": {
            "enabled": True,
            "percent": 15,
            "max_discount": {"USD": 5000},
            "pay_within_days": 10,
            "from_step": 2,
        },
        "retries": {
            "enabled": True,
            "max_retries": 3,
            "soft_delays": ["12h", "2d"],
            "do_not_honor_hard": False,
        },
    }


def _step(**changes: Any) -> dict[str, Any]:
    step = {
        "delay": "2d",
        "anchor": "previous",
        "channel": "email",
        "template": "firm",
        "tone": "firm",
        "pay_link": True,
    }
    step.update(changes)
    return step


# --- the default policy -------------------------------------------------------------------------


def test_default_policy_is_the_documented_sequence() -> None:
    # Given a shop in New York / When it takes the default policy
    policy = default_policy("America/New_York")

    # Then it is four steps: friendly email, firm email-then-SMS, firm SMS, final email
    assert [(s.delay, s.anchor, s.channel, s.tone, s.pay_link) for s in policy.steps] == [
        (timedelta(days=1), Anchor.OPENED, Channel.EMAIL, Tone.FRIENDLY, True),
        (timedelta(days=3), Anchor.PREVIOUS, Channel.EMAIL_THEN_SMS, Tone.FIRM, True),
        (timedelta(days=4), Anchor.PREVIOUS, Channel.SMS, Tone.FIRM, True),
        (timedelta(days=7), Anchor.PREVIOUS, Channel.EMAIL, Tone.FINAL_NOTICE, True),
    ]
    assert policy.quiet_hours == QuietHours(time(21, 0), time(8, 0))
    assert policy.timezone_rule is TimezoneRule.CUSTOMER
    assert policy.shop_timezone == "America/New_York"
    assert policy.shop_zone == ZoneInfo("America/New_York")
    assert policy.weekly_cap == 7
    assert policy.min_amount == {}
    assert policy.after_last_step is AfterLastStep.ESCALATE


def test_default_policy_refuses_an_unknown_shop_zone() -> None:
    # Given a zone that does not exist / When the default policy is built / Then it is refused
    with pytest.raises(PolicyError) as caught:
        default_policy("Mars/Base")
    assert caught.value.field == "shop_timezone"


def test_default_policy_round_trips_through_json() -> None:
    # Given the default policy / When it is stored as JSON and read back
    policy = default_policy("Europe/London")
    stored = json.dumps(policy_to_dict(policy))
    read = parse_policy(json.loads(stored))

    # Then it is the same policy, and its data is canonical
    assert read == policy
    assert policy_to_dict(read) == json.loads(stored)
    assert json.loads(stored)["steps"][1] == {
        "delay": "3d",
        "anchor": "previous",
        "channel": "email_then_sms",
        "template": "firm",
        "tone": "firm",
        "pay_link": True,
    }


# --- parsing ----------------------------------------------------------------------------------


def test_parses_the_documented_format() -> None:
    # Given a policy as the admin API sends it / When parsed
    policy = parse_policy(_data())

    # Then every field is typed
    assert policy.version == 3
    assert policy.steps[1] == Step(
        timedelta(hours=12), Anchor.PREVIOUS, Channel.EMAIL_THEN_SMS, "firm", Tone.FIRM, True
    )
    assert policy.steps[2].template == "final-sms_2"
    assert policy.quiet_hours == QuietHours(time(21, 0), time(8, 0))
    assert policy.timezone_rule is TimezoneRule.CUSTOMER
    assert policy.shop_timezone == "Europe/Berlin"
    assert policy.min_amount == {"USD": 500}
    assert policy_to_dict(policy) == _data()


def test_optional_keys_take_the_defaults() -> None:
    # Given a policy without weekly_cap, min_amount or after_last_step
    data = _data()
    for key in ("weekly_cap", "min_amount", "after_last_step"):
        del data[key]

    # When parsed / Then the defaults apply
    policy = parse_policy(data)
    assert (policy.weekly_cap, policy.min_amount, policy.after_last_step) == (7, {}, "escalate")


def test_currency_codes_are_normalised() -> None:
    # Given a lower-case currency code / When parsed / Then it is stored upper case
    data = _data()
    data["min_amount"] = {"eur": 1000, "JPY": 0}
    policy = parse_policy(data)
    assert policy.min_amount == {"EUR": 1000, "JPY": 0}
    assert policy_to_dict(policy)["min_amount"] == {"EUR": 1000, "JPY": 0}


def test_delays_in_hours_and_days_are_the_same_delay() -> None:
    # Given "48h" and "2d" / When parsed / Then both mean two days, written back as "2d"
    a, b = _data(), _data()
    a["steps"][1]["delay"] = "48h"
    b["steps"][1]["delay"] = "2d"
    assert parse_policy(a) == parse_policy(b)
    assert policy_to_dict(parse_policy(a))["steps"][1]["delay"] == "2d"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the valid data: set the value at a dotted path ("steps.0.delay")."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return mutate


INVALID = [
    # (mutation, field, message)
    (_set("version", 0), "version", "must be a positive integer, got 0"),
    (_set("version", True), "version", "must be a positive integer, got True"),
    (_set("version", "3"), "version", "must be a positive integer, got '3'"),
    (_set("version", 3.0), "version", "must be a positive integer, got 3.0"),
    (_set("steps", []), "steps", "must have between 1 and 12 steps, got 0"),
    (_set("steps", [_step()] * 13), "steps", "must have between 1 and 12 steps, got 13"),
    (_set("steps", "1d"), "steps", "must be a list of steps, got '1d'"),
    (_set("steps.1", "firm"), "steps[1]", "must be an object, got 'firm'"),
    (_set("steps.0.delay", "0h"), "steps[0].delay", "must be between 1h and 60d, got '0h'"),
    (_set("steps.2.delay", "61d"), "steps[2].delay", "must be between 1h and 60d, got '61d'"),
    (_set("steps.2.delay", "1441h"), "steps[2].delay", "must be between 1h and 60d, got '1441h'"),
    (
        _set("steps.2.delay", "9" * 5000 + "d"),
        "steps[2].delay",
        "must be between 1h and 60d, got " + repr("9" * 56)[:57] + "...",
    ),
    (
        _set("steps.1.delay", "1.5d"),
        "steps[1].delay",
        "must be a whole number of hours or days such as '12h' or '3d', got '1.5d'",
    ),
    (
        _set("steps.1.delay", 24),
        "steps[1].delay",
        "must be a whole number of hours or days such as '12h' or '3d', got 24",
    ),
    (
        _set("steps.1.delay", "90m"),
        "steps[1].delay",
        "must be a whole number of hours or days such as '12h' or '3d', got '90m'",
    ),
    (
        _set("steps.0.anchor", "previous"),
        "steps[0].anchor",
        "the first step must count from 'opened' (it has no previous step), got 'previous'",
    ),
    (
        _set("steps.1.anchor", "later"),
        "steps[1].anchor",
        "must be one of 'opened', 'previous'; got 'later'",
    ),
    (
        _set("steps.0.channel", "fax"),
        "steps[0].channel",
        "must be one of 'email', 'sms', 'email_then_sms'; got 'fax'",
    ),
    (
        _set("steps.0.tone", "angry"),
        "steps[0].tone",
        "must be one of 'friendly', 'firm', 'final_notice'; got 'angry'",
    ),
    (
        _set("steps.1.tone", "final_notice"),
        "steps[1].tone",
        "'final_notice' is allowed only on the last step (Step 3)",
    ),
    (
        _set("steps.0.pay_link", "yes"),
        "steps[0].pay_link",
        "must be true or false, got 'yes'",
    ),
    (
        _set("steps.0.template", "Friendly"),
        "steps[0].template",
        "must be 1 to 40 characters of a-z, 0-9, '_' or '-', got 'Friendly'",
    ),
    (_set("steps.0.template", ""), "steps[0].template", None),
    (_set("steps.0.template", "a" * 41), "steps[0].template", None),
    (_set("steps.0.template", "../secret"), "steps[0].template", None),
    (_set("steps.0.template", "ok\n"), "steps[0].template", None),
    (_set("steps.1.colour", "red"), "steps[1].colour", None),
    (_delete("steps.1.pay_link"), "steps[1].pay_link", "is required"),
    (_set("colour", "red"), "colour", None),
    (_delete("shop_timezone"), "shop_timezone", "is required"),
    (_delete("quiet_hours"), "quiet_hours", "is required"),
    (_set("quiet_hours", "21:00-08:00"), "quiet_hours", "must be an object, got '21:00-08:00'"),
    (
        _set("quiet_hours.start", "9pm"),
        "quiet_hours.start",
        "must be a time as HH:MM (24-hour), got '9pm'",
    ),
    (_set("quiet_hours.start", "24:00"), "quiet_hours.start", None),
    (_set("quiet_hours.start", "8:00"), "quiet_hours.start", None),
    (_set("quiet_hours.start", "21:00:00"), "quiet_hours.start", None),
    (_set("quiet_hours.end", 8), "quiet_hours.end", None),
    (_delete("quiet_hours.end"), "quiet_hours.end", "is required"),
    (_set("quiet_hours.zone", "UTC"), "quiet_hours.zone", None),
    (
        _set("quiet_hours", {"start": "00:00", "end": "23:30"}),
        "quiet_hours",
        "must leave at least 1 hour a day for messages, got 00:00-23:30",
    ),
    (
        _set("timezone_rule", "mine"),
        "timezone_rule",
        "must be one of 'customer', 'shop'; got 'mine'",
    ),
    (
        _set("shop_timezone", "Mars/Base"),
        "shop_timezone",
        "must be an IANA time zone such as 'Europe/Berlin', got 'Mars/Base'",
    ),
    (_set("shop_timezone", ""), "shop_timezone", None),
    (_set("shop_timezone", "Europe"), "shop_timezone", None),
    (_set("shop_timezone", "europe/berlin"), "shop_timezone", None),
    (_set("shop_timezone", "../../etc/passwd"), "shop_timezone", None),
    (_set("shop_timezone", "zone.tab"), "shop_timezone", None),
    (_set("shop_timezone", 1), "shop_timezone", None),
    (_set("weekly_cap", 0), "weekly_cap", "must be an integer between 1 and 21, got 0"),
    (_set("weekly_cap", 22), "weekly_cap", "must be an integer between 1 and 21, got 22"),
    (_set("weekly_cap", True), "weekly_cap", None),
    (_set("weekly_cap", 7.0), "weekly_cap", None),
    (_set("min_amount", [500]), "min_amount", None),
    (_set("min_amount", {"usd": -1}), "min_amount.usd", None),
    (_set("min_amount", {"USD": 5.0}), "min_amount.USD", None),
    (_set("min_amount", {"USD": True}), "min_amount.USD", None),
    (_set("min_amount", {"USD": "500"}), "min_amount.USD", None),
    (_set("min_amount", {"XYZ": 500}), "min_amount.XYZ", "unknown currency 'XYZ'"),
    (_set("min_amount", {"dollars": 500}), "min_amount.dollars", None),
    (
        _set("min_amount", {"usd": 1, "USD": 2}),
        "min_amount.USD",
        "USD is given twice (as 'usd' and 'USD')",
    ),
    (
        _set("after_last_step", "refund"),
        "after_last_step",
        "must be one of 'escalate'; got 'refund'",
    ),
]


@pytest.mark.parametrize(("mutate", "field", "message"), INVALID)
def test_invalid_policy_names_the_field(
    mutate: Callable[[dict[str, Any]], None], field: str, message: str | None
) -> None:
    # Given a valid policy with one thing wrong
    data = copy.deepcopy(_data())
    mutate(data)

    # When parsed
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)

    # Then the error names exactly that field (and says precisely what is wrong), a step's
    # error naming the step as the admin numbers them, from 1
    assert caught.value.field == field
    assert str(caught.value) == f"{field}: {caught.value.message}"
    step = re.match(r"steps\[(\d+)\]", field)
    if step:
        assert caught.value.message.startswith(f"Step {int(step[1]) + 1}: ")
    if message is not None:
        assert caught.value.message == (f"Step {int(step[1]) + 1}: {message}" if step else message)


def test_unknown_keys_are_named_with_the_allowed_ones() -> None:
    # Given two unknown keys in a step
    data = _data()
    data["steps"][0].update({"zz": 1, "colour": "red"})

    # When parsed / Then the first is the field, the other is named, the allowed keys listed
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert str(caught.value) == (
        "steps[0].colour: Step 1: unknown key (also unknown: zz); "
        "allowed keys are anchor, channel, delay, pay_link, template, tone"
    )


def test_a_step_counting_from_opening_must_come_after_the_one_before() -> None:
    # Given a second step anchored on opening that would fall due before the first
    data = _data()
    data["steps"][0]["delay"] = "3d"
    data["steps"][1].update(anchor="opened", delay="2d")

    # When parsed / Then it is refused at the later step's delay
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert caught.value.field == "steps[1].delay"
    assert caught.value.message.startswith("Step 2: the step would be due 2d")
    assert "not after Step 1 (3d)" in caught.value.message


def test_a_policy_that_is_not_an_object_is_refused() -> None:
    # Given a list where a policy should be / When parsed / Then the root is named
    with pytest.raises(PolicyError) as caught:
        parse_policy([1, 2])  # type: ignore[arg-type]
    assert str(caught.value) == "policy: must be an object, got [1, 2]"


def test_building_in_code_validates_too() -> None:
    # Given values that the JSON could not even express / When built directly
    # Then the same rules refuse them
    with pytest.raises(PolicyError) as caught:
        Step(timedelta(minutes=90), Anchor.OPENED, Channel.EMAIL, "x", Tone.FIRM, True)
    assert str(caught.value) == "delay: must be a whole number of hours, got '1:30:00'"
    with pytest.raises(PolicyError) as caught:
        QuietHours(time(21, 0, 30), time(8, 0))
    assert caught.value.field == "start"
    with pytest.raises(PolicyError) as caught:
        QuietHours(time(21, 0, tzinfo=UTC), time(8, 0))
    assert caught.value.field == "start"
    with pytest.raises(PolicyError) as caught:
        ReminderPolicy(1, (), QuietHours.none(), TimezoneRule.SHOP, "UTC")
    assert caught.value.field == "steps"


def test_policy_values_are_coerced_from_plain_strings() -> None:
    # Given enum values as plain strings / When a policy is built / Then they are the enums
    step = Step(timedelta(days=1), "opened", "sms", "t", "firm", False)  # type: ignore[arg-type]
    policy = ReminderPolicy(1, (step,), QuietHours.none(), "shop", "UTC")  # type: ignore[arg-type]
    assert step.anchor is Anchor.OPENED and step.channel is Channel.SMS
    assert policy.timezone_rule is TimezoneRule.SHOP


def test_policies_are_hashable_despite_the_min_amount_mapping() -> None:
    # Given two equal policies / When hashed / Then they hash alike
    assert hash(default_policy("UTC")) == hash(default_policy("UTC"))


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "at", "quiet"),
    [
        # wrapping midnight: 21:00 -> 08:00
        (time(21), time(8), time(20, 59), False),
        (time(21), time(8), time(21, 0), True),
        (time(21), time(8), time(23, 59), True),
        (time(21), time(8), time(0, 0), True),
        (time(21), time(8), time(7, 59), True),
        (time(21), time(8), time(8, 0), False),
        (time(21), time(8), time(12, 0), False),
        # not wrapping: a lunch break 12:00 -> 13:30
        (time(12), time(13, 30), time(11, 59), False),
        (time(12), time(13, 30), time(12, 0), True),
        (time(12), time(13, 30), time(13, 29), True),
        (time(12), time(13, 30), time(13, 30), False),
        (time(12), time(13, 30), time(23, 0), False),
        # start == end: no quiet hours
        (time(0), time(0), time(0, 0), False),
        (time(9), time(9), time(9, 0), False),
    ],
)
def test_quiet_hours_cover_start_up_to_end(start: time, end: time, at: time, quiet: bool) -> None:
    # Given quiet hours / When a local time is checked / Then [start, end) is quiet
    assert QuietHours(start, end).contains(at) is quiet


def test_quiet_hours_span() -> None:
    # Given wrapping, plain and empty quiet hours / Then their lengths are exact
    assert QuietHours(time(21), time(8)).span == timedelta(hours=11)
    assert QuietHours(time(12), time(13, 30)).span == timedelta(minutes=90)
    assert QuietHours.none().span == timedelta(0)


# --- schedule ---------------------------------------------------------------------------------


def test_a_step_anchored_on_opening_counts_from_the_opening() -> None:
    # Given the default policy / When step 0 is scheduled / Then it is due a day after opening
    policy = default_policy()
    assert step_due_at(policy, 0, OPENED, None) == datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    # and a send time of a previous step does not move it
    assert step_due_at(policy, 0, OPENED, OPENED + timedelta(days=9)) == OPENED + timedelta(1)


def test_a_step_anchored_on_the_previous_send_counts_from_that_send() -> None:
    # Given step 1 (3 days after the previous send) and step 0 sent late, at 09:30 the next day
    policy = default_policy()
    sent = datetime(2026, 11, 4, 9, 30, tzinfo=UTC)

    # When step 1 is scheduled / Then it is due 3 days after that send
    assert step_due_at(policy, 1, OPENED, sent) == datetime(2026, 11, 7, 9, 30, tzinfo=UTC)


def test_without_a_previous_send_the_planned_schedule_applies() -> None:
    # Given no record of the previous send / When steps 1..3 are scheduled
    policy = default_policy()

    # Then each is due at opening plus the sum of the delays so far (1d, +3d, +4d, +7d)
    assert [step_due_at(policy, i, OPENED, None) for i in range(4)] == [
        OPENED + timedelta(days=1),
        OPENED + timedelta(days=4),
        OPENED + timedelta(days=8),
        OPENED + timedelta(days=15),
    ]


def test_the_planned_schedule_restarts_at_a_step_anchored_on_opening() -> None:
    # Given steps: 1d from opening, 5d from opening, 2d after the previous
    data = _data()
    data["steps"][1].update(anchor="opened", delay="5d")
    data["steps"][2]["delay"] = "2d"
    policy = parse_policy(data)

    # When step 2 is scheduled without a previous send / Then it is 5d + 2d after opening
    assert step_due_at(policy, 2, OPENED, None) == OPENED + timedelta(days=7)


def test_due_times_are_utc_whatever_zone_they_came_in() -> None:
    # Given an opening time in New York / When scheduled / Then the answer is the UTC instant
    opened = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    due = step_due_at(default_policy(), 0, opened, None)
    assert due == datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_schedule_refuses_naive_times_and_unknown_steps() -> None:
    # Given a naive time or a step the policy does not have / Then it is a programming error
    policy = default_policy()
    with pytest.raises(ValueError, match="opened_at must be a timezone-aware datetime"):
        step_due_at(policy, 0, datetime(2026, 11, 2, 15, 0), None)  # noqa: DTZ001
    with pytest.raises(ValueError, match=r"step_index must be 0\.\.3"):
        step_due_at(policy, 4, OPENED, None)
    with pytest.raises(ValueError, match="step_index"):
        step_due_at(policy, -1, OPENED, None)


# --- threshold --------------------------------------------------------------------------------


def test_a_case_below_the_currency_minimum_is_not_chased() -> None:
    # Given a USD 5.00 minimum
    policy = parse_policy(_data())

    # Then USD 4.99 is not chased, USD 5.00 is, and other currencies have no minimum
    assert chasable(policy, Money.of(499, "USD")) is False
    assert chasable(policy, Money.of(500, "USD")) is True
    assert chasable(policy, Money.of(1, "EUR")) is True
    assert policy.minimum("usd") == Money.of(500, "USD")
    assert policy.minimum("EUR") == Money.of(0, "EUR")


def test_nothing_owed_is_never_chased() -> None:
    # Given no minimum / Then a zero or negative amount is still not chased
    policy = default_policy()
    assert chasable(policy, Money.zero("USD")) is False
    assert chasable(policy, Money.of(-100, "USD")) is False


def test_format_delay() -> None:
    # Given delays / When formatted / Then whole days as "d", other hours as "h"
    assert format_delay(timedelta(days=2)) == "2d"
    assert format_delay(timedelta(hours=36)) == "36h"
    assert format_delay(timedelta(0)) == "0h"


# --- round trip of random valid policies -------------------------------------------------------

TEMPLATE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]


@st.composite
def policies(draw: st.DrawFn) -> ReminderPolicy:
    count = draw(st.integers(1, 12))
    steps: list[Step] = []
    planned = timedelta(0)
    for i in range(count):
        anchor = Anchor.OPENED if i == 0 else draw(st.sampled_from(Anchor))
        low = 1 if anchor is Anchor.PREVIOUS or i == 0 else planned // timedelta(hours=1) + 1
        if low > 60 * 24:
            anchor, low = Anchor.PREVIOUS, 1
        hours = draw(st.integers(low, 60 * 24))
        planned = (planned if anchor is Anchor.PREVIOUS else timedelta(0)) + timedelta(hours=hours)
        tones = list(Tone) if i == count - 1 else [Tone.FRIENDLY, Tone.FIRM]
        steps.append(
            Step(
                delay=timedelta(hours=hours),
                anchor=anchor,
                channel=draw(st.sampled_from(Channel)),
                template=draw(st.text(TEMPLATE_CHARS, min_size=1, max_size=40)),
                tone=draw(st.sampled_from(tones)),
                pay_link=draw(st.booleans()),
            )
        )
    start = draw(st.times().map(lambda t: t.replace(second=0, microsecond=0)))
    span = draw(st.integers(0, 23 * 60))
    end = (datetime.combine(OPENED.date(), start) + timedelta(minutes=span)).time()
    currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY", "KWD", "CAD"])
    return ReminderPolicy(
        version=draw(st.integers(1, 10**6)),
        steps=tuple(steps),
        quiet_hours=QuietHours(start, end),
        timezone_rule=draw(st.sampled_from(TimezoneRule)),
        shop_timezone=draw(st.sampled_from(ZONES)),
        weekly_cap=draw(st.integers(1, 21)),
        min_amount=draw(st.dictionaries(currencies, st.integers(0, 10**9), max_size=4)),
    )


@given(policies())
def test_any_valid_policy_round_trips_exactly(policy: ReminderPolicy) -> None:
    # Given any valid policy / When written as JSON and read back
    data = json.loads(json.dumps(policy_to_dict(policy)))
    read = parse_policy(data)

    # Then it is the same policy, and writing it again gives the same data
    assert read == policy
    assert policy_to_dict(read) == data


# --- templates and the step to add -----------------------------------------------------------


def test_a_step_must_use_a_template_the_shop_has_for_its_channel() -> None:
    # Given the built-in templates and a shop's own SMS-only "holiday"
    available = {**BUILTIN_TEMPLATES, "holiday": ("sms",)}
    policy = default_policy()
    check_templates(policy, available)  # the default sequence uses built-in ones only

    # When the second step names a template nobody has
    data = policy_to_dict(policy)
    data["steps"][1]["template"] = "nonexistent_tpl"
    with pytest.raises(PolicyError) as caught:
        check_templates(parse_policy(data), available)
    # Then the field is its JSON path, the message numbers the step from 1 and lists choices
    assert caught.value.field == "steps[1].template"
    assert caught.value.message == (
        "Step 2: no template named 'nonexistent_tpl'; choose one of final_notice, firm, friendly"
    )

    # When an email step names the SMS-only template / Then its missing version is named
    data["steps"][1].update(template="holiday", channel="email")
    with pytest.raises(PolicyError) as caught:
        check_templates(parse_policy(data), available)
    assert caught.value.message == (
        "Step 2: the template 'holiday' has no email version; "
        "choose one of final_notice, firm, friendly"
    )
    # And an SMS step may use it
    data["steps"][1]["channel"] = "sms"
    check_templates(parse_policy(data), available)


def test_the_new_step_goes_before_the_final_notice_and_is_never_one() -> None:
    # Given the default sequence (its fourth step is the final notice)
    policy = default_policy()
    # When a step is added / Then it is a firm email 3 days after step 3, at index 3
    at, step = new_step(policy)
    assert at == 3
    assert step == Step(timedelta(days=3), Anchor.PREVIOUS, Channel.EMAIL, "firm", Tone.FIRM, True)
    # And inserted there, the policy is still valid and its template is a built-in email one
    steps = (*policy.steps[:at], step, *policy.steps[at:])
    grown = ReminderPolicy(1, steps, policy.quiet_hours, policy.timezone_rule, "UTC")
    check_templates(grown, BUILTIN_TEMPLATES)
    assert grown.steps[-1].tone is Tone.FINAL_NOTICE

    # Given a single friendly step (no final notice) / Then the new one follows it, friendly
    single = ReminderPolicy(1, policy.steps[:1], policy.quiet_hours, policy.timezone_rule, "UTC")
    at, step = new_step(single)
    assert (at, step.tone, step.template, step.anchor) == (
        1,
        Tone.FRIENDLY,
        "friendly",
        Anchor.PREVIOUS,
    )
    # Given only a final notice / Then the new step comes first, counted from the opening
    notice = Step(
        timedelta(days=7), Anchor.OPENED, Channel.EMAIL, "final_notice", Tone.FINAL_NOTICE, True
    )
    at, step = new_step(
        ReminderPolicy(1, (notice,), policy.quiet_hours, policy.timezone_rule, "UTC")
    )
    assert (at, step.anchor, step.tone) == (0, Anchor.OPENED, Tone.FRIENDLY)
