"""A customer's contact preferences: the page's form read into them (errors naming the
field), the windows they avoid, their words on the trail and their stored form."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoup.domain.preferences import (
    LANGUAGES,
    WEEKDAYS,
    AvoidWindow,
    ContactPreferences,
    parse_form,
)
from recoup.errors import InvalidInput

FULL_FORM: dict[str, list[str]] = {
    "email_on": ["1"],
    "preferred": ["email"],
    "avoid_days": ["0", "1", "2", "3", "4"],
    "avoid_from": ["09:00"],
    "avoid_until": ["17:00"],
    "language": ["de"],
}


def _form(**changes: Any) -> dict[str, list[str]]:
    form = dict(FULL_FORM)
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value if isinstance(value, list) else [value]
    return form


# --- the form -----------------------------------------------------------------------------


def test_the_full_form_is_read() -> None:
    # Given email on, SMS unchecked, email preferred, weekdays 09:00-17:00, German
    prefs = parse_form(FULL_FORM)
    # Then every field is taken as meant
    assert prefs == ContactPreferences(
        email=True,
        sms=False,
        preferred="email",
        avoid=(AvoidWindow(WEEKDAYS, time(9), time(17)),),
        language="de",
    )


def test_an_empty_form_turns_both_channels_off_and_means_no_messages() -> None:
    # Given both boxes unchecked and nothing else (allowed) / When read
    prefs = parse_form({})
    # Then no channel, which the trail words as "no messages"
    assert prefs == ContactPreferences(email=False, sms=False)
    assert prefs.no_messages
    assert prefs.consent() == "no messages (email and SMS off)"


def test_fields_the_form_does_not_name_are_ignored_and_blanks_mean_none() -> None:
    form = {"email_on": ["1"], "sms_on": ["1"], "preferred": [""], "language": [""], "x": ["y"]}
    assert parse_form(form) == ContactPreferences()


def test_an_overnight_window_is_read() -> None:
    form = _form(avoid_days=["4"], avoid_from="22:00", avoid_until="07:30")
    window = parse_form(form).avoid[0]
    assert (window.days, window.start, window.end, window.overnight) == (
        frozenset({4}),
        time(22),
        time(7, 30),
        True,
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"avoid_from": "6pm"}, "avoid_from", "avoid_from must be a time such as 18:30"),
        ({"avoid_from": "24:00"}, "avoid_from", "avoid_from must be a time such as 18:30"),
        ({"avoid_from": None}, "avoid_from", "avoid_from must be a time such as 18:30"),
        ({"avoid_until": "7"}, "avoid_until", "avoid_until must be a time such as 08:00"),
        ({"avoid_until": None}, "avoid_until", "avoid_until must be a time such as 08:00"),
        (
            {"avoid_days": None},
            "avoid_days",
            "avoid_days must name at least one day for the time not to contact you",
        ),
        (
            {"avoid_days": ["7"]},
            "avoid_days",
            "avoid_days must be days from 0 (Monday) to 6 (Sunday)",
        ),
        ({"avoid_days": ["mon"]}, "avoid_days", None),
        (
            {"avoid_until": "09:00"},
            "avoid_until",
            "avoid_until must be another time than avoid_from",
        ),
        ({"preferred": "fax"}, "preferred", "preferred must be email, sms or empty"),
        (
            {"preferred": "sms"},
            "preferred",
            "preferred must be a channel you get messages on: SMS is off",
        ),
        ({"language": "it"}, "language", "language must be one of en, de, fr, es, ja"),
        ({"email_on": "yes"}, "email_on", "email_on must be 1 when checked, or left out"),
        ({"language": ["de", "fr"]}, "language", "language was sent more than once"),
    ],
)
def test_a_field_that_cannot_be_used_is_named(
    changes: dict[str, Any], field: str, message: str | None
) -> None:
    # Given a form with one unusable field / When read / Then InvalidInput names it
    with pytest.raises(InvalidInput) as raised:
        parse_form(_form(**changes))
    assert raised.value.field == field
    if message is not None:
        assert raised.value.message == message


def test_a_form_without_a_window_has_none() -> None:
    form = _form(avoid_days=None, avoid_from=None, avoid_until=None)
    assert parse_form(form).avoid == ()


def test_an_html_time_with_seconds_is_read() -> None:
    assert parse_form(_form(avoid_from="09:00:00")).avoid[0].start == time(9)


# --- the windows --------------------------------------------------------------------------

# Monday 9 November 2026 is a Monday.
MONDAY = datetime(2026, 11, 9)  # noqa: DTZ001 (a local wall time)


@pytest.mark.parametrize(
    ("window", "local", "inside"),
    [
        (AvoidWindow(WEEKDAYS, time(9), time(17)), MONDAY.replace(hour=9), True),
        (AvoidWindow(WEEKDAYS, time(9), time(17)), MONDAY.replace(hour=16, minute=59), True),
        (AvoidWindow(WEEKDAYS, time(9), time(17)), MONDAY.replace(hour=17), False),
        (AvoidWindow(WEEKDAYS, time(9), time(17)), MONDAY.replace(day=14, hour=12), False),
        # Friday 22:00 -> 07:00 belongs to Friday: Saturday's early hours are in it ...
        (AvoidWindow(frozenset({4}), time(22), time(7)), MONDAY.replace(day=13, hour=23), True),
        (AvoidWindow(frozenset({4}), time(22), time(7)), MONDAY.replace(day=14, hour=6), True),
        (AvoidWindow(frozenset({4}), time(22), time(7)), MONDAY.replace(day=14, hour=7), False),
        # ... but not Friday's early hours (Thursday is not in it), nor Saturday night
        (AvoidWindow(frozenset({4}), time(22), time(7)), MONDAY.replace(day=13, hour=3), False),
        (AvoidWindow(frozenset({4}), time(22), time(7)), MONDAY.replace(day=14, hour=23), False),
        # Sunday night runs into Monday morning
        (AvoidWindow(frozenset({6}), time(21), time(8)), MONDAY.replace(hour=7), True),
    ],
)
def test_a_window_holds_its_days_and_hours(
    window: AvoidWindow, local: datetime, inside: bool
) -> None:
    assert window.contains(local) is inside


@pytest.mark.parametrize(
    ("days", "start", "end", "problem"),
    [
        (frozenset(), time(9), time(17), "at least one day"),
        (frozenset({7}), time(9), time(17), "0 (Monday) to 6"),
        (WEEKDAYS, time(9), time(9), "another time"),
        (WEEKDAYS, time(9, 0, 30), time(17), "whole minute"),
    ],
)
def test_a_window_must_make_sense(
    days: frozenset[int], start: time, end: time, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        AvoidWindow(days, start, end)


# --- their words and stored form ------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefs", "words"),
    [
        (ContactPreferences(), "email and SMS on"),
        (
            ContactPreferences(sms=False, avoid=(AvoidWindow(WEEKDAYS, time(9), time(17)),)),
            "SMS off, times to avoid or language set",
        ),
        (ContactPreferences(email=False), "email off"),
        (
            ContactPreferences(preferred="sms", language="ja"),
            "prefers SMS, times to avoid or language set",
        ),
    ],
)
def test_the_trail_keeps_the_consent_not_the_customers_hours_or_language(
    prefs: ContactPreferences, words: str
) -> None:
    assert prefs.consent() == words


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (AvoidWindow(frozenset({5, 6}), time(22), time(7)), "weekends 22:00\u201307:00"),
        (AvoidWindow(frozenset({0, 2}), time(8), time(9)), "Mon, Wed 08:00\u201309:00"),
        (AvoidWindow(WEEKDAYS, time(9), time(17)), "weekdays 09:00\u201317:00"),
    ],
)
def test_a_window_reads_as_days_and_hours(window: AvoidWindow, words: str) -> None:
    assert window.describe() == words


@given(
    email=st.booleans(),
    sms=st.booleans(),
    preferred=st.sampled_from([None, "email", "sms"]),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 24 * 60 - 1),
    length=st.integers(1, 24 * 60 - 1),
    language=st.sampled_from([None, *LANGUAGES]),
)
def test_the_stored_form_reads_back_the_same(
    email: bool,
    sms: bool,
    preferred: Any,
    days: frozenset[int],
    start: int,
    length: int,
    language: str | None,
) -> None:
    end = (start + length) % (24 * 60)
    window = AvoidWindow(days, time(*divmod(start, 60)), time(*divmod(end, 60)))
    prefs = ContactPreferences(email, sms, preferred, (window,), language)
    assert ContactPreferences.from_dict(prefs.to_dict()) == prefs


def test_the_languages_are_the_ones_messages_are_written_in() -> None:
    # The domain keeps its own list (it may not import channels/): the same as i18n's
    from recoup.channels.i18n import SUPPORTED_LANGUAGES

    assert LANGUAGES == SUPPORTED_LANGUAGES
