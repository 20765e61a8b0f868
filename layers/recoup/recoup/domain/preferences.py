"""A customer's contact preferences: which channels they get reminders on, which one they
prefer, when not to contact them (in their own wall time) and their language.

Pure: the customer's page form is read here (`parse_form`), the stored form is
`to_dict`/`from_dict`, and `describe` is the wording of the trail ("SMS off, avoid weekdays
09:00-17:00"), which holds no address. The guardrails apply them (`domain/guardrails.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal, TypeAlias

from recoup.errors import InvalidInput

PreferredChannel: TypeAlias = Literal["email", "sms"]
# The languages messages are written in (the same list as recoup.channels.i18n's
# SUPPORTED_LANGUAGES; domain/ cannot import channels/, a test holds the two together).
LANGUAGES = ("en", "de", "fr", "es", "ja")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
EVERY_DAY = frozenset(range(7))
# The form's quiet time is one window; stored preferences may hold a few (kept small: the
# guardrails look at each on every send).
MAX_WINDOWS = 7

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::00)?")
_CHECKED = "1"


@dataclass(frozen=True, slots=True)
class AvoidWindow:
    """Do not contact the customer from `start` to `end` (their local wall time) on `days`
    (0 = Monday). An `end` before `start` runs overnight into the next day: the window of
    Friday 22:00-07:00 ends on Saturday at 07:00. `end` is the first minute allowed again."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days:
            raise ValueError("an avoided window needs at least one day")
        if not days <= EVERY_DAY:
            raise ValueError(f"days are 0 (Monday) to 6 (Sunday), got {sorted(days)}")
        object.__setattr__(self, "days", days)
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name} must be a local wall time, got {value!r}")
            if value.second or value.microsecond:
                raise ValueError(f"{name} must be a whole minute, got {value.isoformat()}")
            object.__setattr__(self, name, value.replace(fold=0))
        if self.start == self.end:
            raise ValueError("an avoided window must end at another time than it starts")

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def contains(self, local: datetime) -> bool:
        """Whether a local wall-clock moment (in the customer's zone) falls in the window:
        in [start, end) of one of its days, an overnight window's early hours counting for
        the day before."""
        wall = local.time().replace(tzinfo=None, fold=0)
        weekday = local.weekday()
        if not self.overnight:
            return weekday in self.days and self.start <= wall < self.end
        if weekday in self.days and wall >= self.start:
            return True
        return (weekday - 1) % 7 in self.days and wall < self.end

    def describe(self) -> str:
        """E.g. "weekdays 09:00-17:00", "Sat, Sun 22:00-07:00"."""
        return f"{_days_text(self.days)} {_hhmm(self.start)}\u2013{_hhmm(self.end)}"

    def to_dict(self) -> dict[str, Any]:
        return {"days": sorted(self.days), "start": _hhmm(self.start), "end": _hhmm(self.end)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AvoidWindow:
        return cls(
            frozenset(int(d) for d in data["days"]),
            time.fromisoformat(str(data["start"])),
            time.fromisoformat(str(data["end"])),
        )


@dataclass(frozen=True, slots=True)
class ContactPreferences:
    """What the customer asked for. Both channels off is allowed: it means no messages at
    all (the steps are skipped, saying so), not an error."""

    email: bool = True
    sms: bool = True
    preferred: PreferredChannel | None = None
    avoid: tuple[AvoidWindow, ...] = ()
    language: str | None = None

    def __post_init__(self) -> None:
        if self.preferred not in (None, "email", "sms"):
            raise ValueError(f"preferred must be email or sms, got {self.preferred!r}")
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if len(self.avoid) > MAX_WINDOWS:
            raise ValueError(f"at most {MAX_WINDOWS} avoided windows")
        object.__setattr__(self, "avoid", tuple(self.avoid))

    @property
    def no_messages(self) -> bool:
        return not self.email and not self.sms

    def allows(self, channel: str) -> bool:
        return self.email if channel == "email" else self.sms

    def avoided_at(self, local: datetime) -> AvoidWindow | None:
        """The first window the local moment falls in, if any."""
        return next((w for w in self.avoid if w.contains(local)), None)

    def consent(self) -> str:
        """What the trail keeps of them: the channels the customer consents to and prefers
        (the evidence a revocation needs), not when they are busy nor their language, which
        live on the contact records that erasure deletes."""
        parts = self._consent_parts()
        if self.avoid or self.language is not None:
            parts.append("times to avoid or language set")
        return ", ".join(parts) or "email and SMS on"

    def _consent_parts(self) -> list[str]:
        parts: list[str] = []
        if self.no_messages:
            parts.append("no messages (email and SMS off)")
        elif not self.email:
            parts.append("email off")
        elif not self.sms:
            parts.append("SMS off")
        if self.preferred is not None and not self.no_messages:
            parts.append(f"prefers {'SMS' if self.preferred == 'sms' else 'email'}")
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "sms": self.sms,
            "preferred": self.preferred,
            "avoid": [w.to_dict() for w in self.avoid],
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContactPreferences:
        preferred = data.get("preferred")
        return cls(
            email=bool(data.get("email", True)),
            sms=bool(data.get("sms", True)),
            preferred="sms" if preferred == "sms" else "email" if preferred == "email" else None,
            avoid=tuple(AvoidWindow.from_dict(w) for w in data.get("avoid") or ()),
            language=data.get("language") or None,
        )


def parse_form(form: Mapping[str, Sequence[str]]) -> ContactPreferences:
    """The customer page's form (every field a list of the values sent, as a parsed query
    string gives them) as preferences; fields it does not name are ignored. Raises
    InvalidInput naming the form field that cannot be used."""
    email = _checkbox(form, "email_on")
    sms = _checkbox(form, "sms_on")
    preferred = _one(form, "preferred")
    if preferred not in ("", "email", "sms"):
        raise InvalidInput("preferred must be email, sms or empty", field="preferred")
    if preferred and not (email if preferred == "email" else sms):
        raise InvalidInput(
            f"preferred must be a channel you get messages on: "
            f"{'email' if preferred == 'email' else 'SMS'} is off",
            field="preferred",
        )
    language = _one(form, "language")
    if language and language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return ContactPreferences(
        email=email,
        sms=sms,
        preferred="email" if preferred == "email" else "sms" if preferred == "sms" else None,
        avoid=_window(form),
        language=language or None,
    )


def _window(form: Mapping[str, Sequence[str]]) -> tuple[AvoidWindow, ...]:
    days = _days(form)
    start = _time(form, "avoid_from")
    end = _time(form, "avoid_until")
    if not days and start is None and end is None:
        return ()
    if start is None:
        raise InvalidInput("avoid_from must be a time such as 18:30", field="avoid_from")
    if end is None:
        raise InvalidInput("avoid_until must be a time such as 08:00", field="avoid_until")
    if not days:
        raise InvalidInput(
            "avoid_days must name at least one day for the time not to contact you",
            field="avoid_days",
        )
    if start == end:
        raise InvalidInput("avoid_until must be another time than avoid_from", field="avoid_until")
    return (AvoidWindow(days, start, end),)


def _days(form: Mapping[str, Sequence[str]]) -> frozenset[int]:
    days: set[int] = set()
    for value in form.get("avoid_days") or ():
        text = value.strip()
        if len(text) != 1 or text not in "0123456":
            raise InvalidInput(
                "avoid_days must be days from 0 (Monday) to 6 (Sunday)", field="avoid_days"
            )
        days.add(int(text))
    return frozenset(days)


def _time(form: Mapping[str, Sequence[str]], name: str) -> time | None:
    text = _one(form, name)
    if not text:
        return None
    match = _HHMM.fullmatch(text)
    if match is None:
        example = "18:30" if name == "avoid_from" else "08:00"
        raise InvalidInput(f"{name} must be a time such as {example}", field=name)
    return time(int(match.group(1)), int(match.group(2)))


def _checkbox(form: Mapping[str, Sequence[str]], name: str) -> bool:
    value = _one(form, name)
    if value not in ("", _CHECKED):
        raise InvalidInput(f"{name} must be 1 when checked, or left out", field=name)
    return value == _CHECKED


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    """A single-valued field's value ("" when absent); a field sent twice with different
    values is refused rather than guessed."""
    values = form.get(name) or ()
    if isinstance(values, str):
        values = (values,)
    distinct = {v.strip() for v in values}
    if len(distinct) > 1:
        raise InvalidInput(f"{name} was sent more than once", field=name)
    return distinct.pop() if distinct else ""


def _days_text(days: frozenset[int]) -> str:
    if days == EVERY_DAY:
        return "every day"
    if days == WEEKDAYS:
        return "weekdays"
    if days == WEEKEND:
        return "weekends"
    return ", ".join(DAY_NAMES[d] for d in sorted(days))


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


__all__ = [
    "LANGUAGES",
    "AvoidWindow",
    "ContactPreferences",
    "PreferredChannel",
    "parse_form",
]
