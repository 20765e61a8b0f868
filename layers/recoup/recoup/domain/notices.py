"""What Recoup tells the merchant: which cases wait for them, the settings of those notices,
when the daily digest is due, and the words of a digest or an immediate notice.

Pure. A case waits for the merchant when Recoup will not move it on its own:

- `review`: the fraud check holds it (a "review" or "unscored" result) until the merchant
  approves it or confirms fraud;
- `fraud`: the check scored it "high" and no one has confirmed it as fraud yet;
- `escalation`: its reminders are spent, the referral check decided not to refer, and no
  referral is active: the merchant decides (refer by hand, write off);
- `customer_says_paid`, `dispute`, `not_mine`: the customer reported it from their page
  (reminders paused; "not mine" also sends it to fraud review) until the merchant resumes
  or approves it;

and a referral made is worth telling once (`new_referrals`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fields import FieldError
from recoup.domain.fraud.screening import Gate, Screening
from recoup.domain.referral import Referral, Referrals

MAX_ADDRESS = 254  # RFC 5321's longest forward path


class WaitReason(StrEnum):
    REVIEW = "review"
    FRAUD = "fraud"
    ESCALATION = "escalation"
    CUSTOMER_SAYS_PAID = "customer_says_paid"
    DISPUTE = "dispute"
    NOT_MINE = "not_mine"

    @property
    def words(self) -> str:
        return _WORDS[self]

    @property
    def immediate(self) -> bool:
        """Worth an email of its own when the merchant asked for immediate notices: a
        possible fraud, including a customer saying the order is not theirs."""
        return self in (WaitReason.FRAUD, WaitReason.NOT_MINE)


_WORDS = {
    WaitReason.REVIEW: "held for fraud review: approve it or confirm fraud",
    WaitReason.FRAUD: "scored high risk: confirm fraud or approve it",
    WaitReason.ESCALATION: "reminders spent, not referred: refer it or write it off",
    WaitReason.CUSTOMER_SAYS_PAID: (
        "the customer says they already paid: check the payment, then resume the reminders "
        "or write it off"
    ),
    WaitReason.DISPUTE: (
        "the customer disputes what is owed: look into it, then resume the reminders or "
        "write it off"
    ),
    WaitReason.NOT_MINE: (
        "the customer says they did not place this order: held for fraud review, approve "
        "it or confirm fraud"
    ),
}
# The customer's reports (domain.customer_requests.REPORT_KINDS) as reasons to wait.
REPORT_REASONS = {
    "already_paid": WaitReason.CUSTOMER_SAYS_PAID,
    "dispute": WaitReason.DISPUTE,
    "not_mine": WaitReason.NOT_MINE,
}


def waiting_reason(
    case: Case,
    dunning: Dunning | None,
    screening: Screening | None,
    referrals: Referrals | None,
) -> WaitReason | None:
    """Why the case waits for the merchant, or None when it does not."""
    if case.status is not CaseStatus.OPEN or not case.opened or case.merged_into is not None:
        return None
    if referrals is not None and referrals.written_off is not None:
        return None
    reported = _reported(dunning, referrals)
    if reported is not None:
        return reported
    if screening is not None and screening.decision is None:
        gate = screening.gate
        if gate is Gate.FLAG:
            return WaitReason.FRAUD
        if gate is Gate.HOLD:
            return WaitReason.REVIEW
    if screening is None and dunning is not None and dunning.held_by == "fraud":
        return WaitReason.REVIEW
    latest = referrals.latest if referrals else None
    if (
        dunning is not None
        and dunning.status is DunningStatus.AWAITING_ESCALATION
        and dunning.escalate_at is None
        and (latest is None or not latest.active)
    ):
        return WaitReason.ESCALATION
    return None


def _reported(dunning: Dunning | None, referrals: Referrals | None) -> WaitReason | None:
    """The customer's report the merchant has not settled, unless a referral took the case."""
    if dunning is None or not dunning.report:
        return None
    latest = referrals.latest if referrals else None
    if latest is not None and latest.active:
        return None
    return REPORT_REASONS.get(dunning.report)


def new_referrals(before: Referrals | None, after: Referrals | None) -> list[tuple[str, Referral]]:
    """The referrals `after` holds that `before` did not: made by this write."""
    known = {i for i, _ in before.entries} if before else set()
    return [(i, r) for i, r in (after.entries if after else ()) if i not in known]


# ---------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    email: str | None = None  # None: nowhere to send until the merchant sets it
    daily_digest: bool = True
    immediate: bool = False
    hour: int = 8  # local hour of the shop's time zone

    def to_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "daily_digest": self.daily_digest,
            "immediate": self.immediate,
            "hour": self.hour,
        }


def default_settings(contact_email: str | None) -> NotificationSettings:
    return NotificationSettings(email=contact_email or None)


def parse_settings(data: Mapping[str, Any]) -> NotificationSettings:
    """The settings as sent (every key optional but known); FieldError names the field. The
    address is checked for shape here; deliverability is SES's."""
    unknown = sorted(set(data) - {"email", "daily_digest", "immediate", "hour"})
    if unknown:
        raise FieldError(
            unknown[0], "unknown setting; allowed: email, daily_digest, immediate, hour"
        )
    email = _email(data.get("email"))
    flags = {}
    for name, default in (("daily_digest", True), ("immediate", False)):
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise FieldError(name, "must be true or false")
        flags[name] = value
    hour = data.get("hour", 8)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise FieldError("hour", "must be a whole hour from 0 to 23 (the shop's time)")
    return NotificationSettings(email, flags["daily_digest"], flags["immediate"], hour)


def _email(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError("email", "must be an email address, or null")
    address = value.strip()
    if not address:
        return None
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(address) > MAX_ADDRESS
        or any(c.isspace() or c in "<>,;\"'" for c in address)
    ):
        raise FieldError("email", "must be one email address, like orders@example.com")
    return address


# ---------------------------------------------------------------- when


def local_day(now: datetime, zone: str | None) -> tuple[date, int]:
    """The shop's local date and hour at `now` (UTC when its zone is unknown)."""
    try:
        local = now.astimezone(ZoneInfo(zone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        local = now.astimezone(ZoneInfo("UTC"))
    return local.date(), local.hour


def digest_day(
    settings: NotificationSettings, zone: str | None, now: datetime, last_day: str | None
) -> date | None:
    """The local day whose digest is due now, or None: from the chosen hour on, once per
    local day (a run missed at that hour is caught up by the next one that day)."""
    if not settings.daily_digest or settings.email is None:
        return None
    day, hour = local_day(now, zone)
    if hour < settings.hour or last_day == day.isoformat():
        return None
    return day


# ---------------------------------------------------------------- words


@dataclass(frozen=True, slots=True)
class Line:
    """One case in a notice: its order name, what is owed, why it is listed, and its link."""

    title: str
    amount: str
    why: str
    link: str
    at: datetime | None = None  # when it was referred or started waiting


@dataclass(frozen=True, slots=True)
class Notice:
    subject: str
    text: str
    html: str


def digest(
    shop_name: str, waiting: Sequence[Line], referred: Sequence[Line], settings_link: str
) -> Notice:
    """The daily digest: counts, each waiting case, the referrals made since the last one."""
    counts = f"{len(waiting)} case(s) wait for you; {len(referred)} referral(s) made"
    sections = [
        (f"Waiting for you ({len(waiting)})", waiting),
        (f"Referred since the last digest ({len(referred)})", referred),
    ]
    return _notice(
        f"Recoup: {len(waiting)} case(s) wait for you at {shop_name}",
        [f"Recoup daily summary for {shop_name}: {counts}."],
        sections,
        settings_link,
    )


def immediate(shop_name: str, lines: Sequence[Line], settings_link: str) -> Notice:
    """A notice of new fraud decisions needed and referrals made, as they happen."""
    return _notice(
        f"Recoup: {len(lines)} case(s) at {shop_name} need your attention",
        [f"New at {shop_name}:"],
        [("", lines)],
        settings_link,
    )


def _notice(
    subject: str,
    opening: list[str],
    sections: Sequence[tuple[str, Sequence[Line]]],
    settings_link: str,
) -> Notice:
    text = [*opening, ""]
    body = [f"<p>{html.escape(line)}</p>" for line in opening]
    for heading, lines in sections:
        if not lines:
            continue
        if heading:
            text += [heading, ""]
            body.append(f"<h3>{html.escape(heading)}</h3>")
        items = []
        for line in lines:
            words = _line_words(line)
            text += [f"- {words}", f"  {line.link}"]
            items.append(
                f'<li><a href="{html.escape(line.link, quote=True)}">'
                f"{html.escape(line.title)}</a>{html.escape(words[len(line.title) :])}</li>"
            )
        text.append("")
        body.append("<ul>" + "".join(items) + "</ul>")
    text += ["Change these emails: " + settings_link]
    body.append(
        f'<p><a href="{html.escape(settings_link, quote=True)}">Change these emails</a></p>'
    )
    return Notice(
        subject=subject,
        text="\n".join(text) + "\n",
        html="<!doctype html><html><body>" + "".join(body) + "</body></html>",
    )


def _line_words(line: Line) -> str:
    when = f" ({line.at:%Y-%m-%d %H:%M} UTC)" if line.at is not None else ""
    return f"{line.title}, {line.amount}: {line.why}{when}"
