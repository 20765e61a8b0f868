"""The shop's referral policy: per-currency thresholds, the wait after the last reminder,
where each kind of referral is handed over, and the Shopify tags.

A store admin configures it; the admin API and the table hold it as JSON
(`parse_referral_policy`, `referral_policy_to_dict`). Construction validates everything, like
`cadence.ReminderPolicy`, so a `ReferralPolicy` in hand is always a valid one; errors name the
JSON path ("thresholds.USD.legal_minimum", "agency.hand_over.url").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

from recoup.domain.cadence import ReminderPolicy, Tone
from recoup.domain.fields import FieldError, check_keys, is_int, object_at, show
from recoup.domain.money import Money, MoneyError, currency_exponent, normalise_currency

# A final notice promises the customer this long before referral (services.sending uses
# the same period for the date it prints): no referral may come earlier.
FINAL_NOTICE_PERIOD = timedelta(days=14)
DEFAULT_AFTER_LAST_STEP_DAYS = 14
MAX_AFTER_LAST_STEP_DAYS = 365
MAX_TAG_CHARS = 40  # Shopify's limit for one customer tag
DEFAULT_AGENCY_TAG = "recoup:agency"
DEFAULT_LEGAL_TAG = "recoup:legal"
DEFAULT_LINK_EXPIRY_HOURS = 72
MAX_LINK_EXPIRY_HOURS = 168  # a SigV4 pre-signed S3 URL lasts at most seven days
MAX_URL_CHARS = 2048

# Secret names are looked up under the shop's own prefix, so they are relative paths of
# plain segments: no leading "/", no "..", nothing that could reach another tenant's secret.
_SECRET_REF = re.compile(r"[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,3}")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# (agency minimum, legal minimum, write-off floor) in each currency's minor units.
_DEFAULT_THRESHOLDS: dict[str, tuple[int, int, int]] = {
    "USD": (5_000, 100_000, 2_500),
    "EUR": (5_000, 100_000, 2_500),
    "GBP": (4_000, 80_000, 2_000),
    "CAD": (7_000, 130_000, 3_500),
    "AUD": (8_000, 150_000, 4_000),
    "JPY": (7_000, 150_000, 3_000),
}


class ReferralPolicyError(FieldError):
    """An invalid referral policy; `field` is a path into its JSON ("tags.agency")."""


class ReferralKind(StrEnum):
    AGENCY = "agency"
    LEGAL = "legal"


class HandOverChannel(StrEnum):
    EMAIL = "email"  # SES, with a pre-signed link to the case file
    WEBHOOK = "webhook"  # HTTPS POST signed with the shop's secret (domain.handover)


_E = TypeVar("_E", bound=StrEnum)


def format_amount(money: Money) -> str:
    """'1,899.00 USD', '129,800 JPY': how reasons and case files state an amount."""
    return f"{money.decimal:,.{currency_exponent(money.currency)}f} {money.currency}"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """One currency's limits. Refer to an agency at or above `agency_minimum`, to legal at or
    above `legal_minimum`; write off below `write_off_below`."""

    agency_minimum: Money
    legal_minimum: Money
    write_off_below: Money

    def __post_init__(self) -> None:
        names = ("agency_minimum", "legal_minimum", "write_off_below")
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, Money):
                raise ReferralPolicyError(name, f"must be Money, got {show(value)}")
            if value.minor < 0:
                raise ReferralPolicyError(name, f"must not be negative, got {value.minor}")
            if value.currency != self.agency_minimum.currency:
                raise ReferralPolicyError(name, "must be in the currency of agency_minimum")
        if self.legal_minimum < self.agency_minimum:
            raise ReferralPolicyError(
                "legal_minimum",
                f"must be at least agency_minimum ({format_amount(self.agency_minimum)}), "
                f"got {format_amount(self.legal_minimum)}",
            )
        if self.write_off_below > self.agency_minimum:
            raise ReferralPolicyError(
                "write_off_below",
                f"must not exceed agency_minimum ({format_amount(self.agency_minimum)}), "
                f"got {format_amount(self.write_off_below)}",
            )

    @property
    def currency(self) -> str:
        return self.agency_minimum.currency


@dataclass(frozen=True, slots=True)
class EmailHandOver:
    """Email the agency or lawyer (SES) a pre-signed link to the file, valid this long.
    `secret_ref` optionally names the secret its report-backs are signed with (without one,
    only the merchant moves referrals handed over by email)."""

    address: str
    link_expiry_hours: int = DEFAULT_LINK_EXPIRY_HOURS
    secret_ref: str | None = None

    def __post_init__(self) -> None:
        if self.secret_ref is not None:
            _check_secret_ref(self.secret_ref)
        if not isinstance(self.address, str):
            raise ReferralPolicyError(
                "address", f"must be an email address, got {show(self.address)}"
            )
        # Only an email hand-over reads the validator (its import compiles large patterns):
        # reading a case's referrals or a webhook hand-over never does.
        from email_validator import EmailNotValidError, validate_email

        try:
            info = validate_email(self.address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ReferralPolicyError("address", f"is not a valid email address: {exc}") from None
        object.__setattr__(self, "address", info.normalized)
        hours = self.link_expiry_hours
        if not is_int(hours) or not 1 <= hours <= MAX_LINK_EXPIRY_HOURS:
            raise ReferralPolicyError(
                "link_expiry_hours",
                f"must be a whole number of hours from 1 to {MAX_LINK_EXPIRY_HOURS}, "
                f"got {show(hours)}",
            )

    @property
    def channel(self) -> HandOverChannel:
        return HandOverChannel.EMAIL

    @property
    def target(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True)
class WebhookHandOver:
    """POST the hand-over to `url`, signed with the shop's secret named `secret_ref` (a name
    under the shop's own prefix in the secret store; the secret itself is never in a policy).

    `url` must be https. Plain http is accepted only to a loopback host and only when
    `allow_loopback_http` is set, which the local stack does (its receivers run on 127.0.0.1).
    """

    url: str
    secret_ref: str
    allow_loopback_http: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _check_webhook_url(self.url, self.allow_loopback_http)
        _check_secret_ref(self.secret_ref)

    @property
    def channel(self) -> HandOverChannel:
        return HandOverChannel.WEBHOOK

    @property
    def target(self) -> str:
        return self.url


HandOver: TypeAlias = EmailHandOver | WebhookHandOver


def _check_secret_ref(secret_ref: object) -> None:
    if not isinstance(secret_ref, str) or not _SECRET_REF.fullmatch(secret_ref):
        raise ReferralPolicyError(
            "secret_ref",
            "must be the name of a secret (1 to 4 segments of A-Z, a-z, 0-9, '_' or '-' "
            f"joined by '/'), never the secret itself; got {show(secret_ref)}",
        )


def _check_webhook_url(url: object, allow_loopback_http: bool) -> None:
    if not isinstance(url, str) or not url:
        raise ReferralPolicyError("url", f"must be an https:// URL, got {show(url)}")
    if len(url) > MAX_URL_CHARS:
        raise ReferralPolicyError("url", f"must be at most {MAX_URL_CHARS} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ReferralPolicyError(
            "url", "must be ASCII without spaces or control characters (percent-encode them)"
        )
    parts = urlsplit(url)
    try:
        host, _port = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError as exc:
        raise ReferralPolicyError("url", f"has an invalid port: {exc}") from None
    if not host:
        raise ReferralPolicyError("url", f"must be an absolute https:// URL, got {show(url)}")
    if parts.username is not None or parts.password is not None:
        raise ReferralPolicyError(
            "url", "must not carry credentials: the hand-over is signed with secret_ref instead"
        )
    loopback = _is_loopback(host)
    scheme = parts.scheme.lower()
    if scheme == "http" and loopback and allow_loopback_http:
        return
    if scheme != "https":
        raise ReferralPolicyError("url", f"must be an https:// URL, got {show(url)}")
    if loopback or _is_private_address(host):
        raise ReferralPolicyError(
            "url", f"must name a public host, not {host!r} (a loopback or private address)"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_private_address(host: str) -> bool:
    """An IP literal Recoup must never post to (private, link-local, reserved...). Names are
    not resolved here: this is a pure check of what the merchant typed."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global or address.is_multicast


def default_thresholds() -> dict[str, Thresholds]:
    return {
        code: Thresholds(Money(code, agency), Money(code, legal), Money(code, floor))
        for code, (agency, legal, floor) in _DEFAULT_THRESHOLDS.items()
    }


@dataclass(frozen=True, slots=True)
class ReferralPolicy:
    """A shop's referral policy. Immutable; treat `thresholds` as read-only.

    A currency without thresholds is never referred nor written off automatically (the
    decision says so): amounts in it are left to the merchant rather than referred on a guess.
    No hand-over configured for a kind means Recoup does not refer to that kind by itself.
    """

    version: int
    thresholds: dict[str, Thresholds] = field(default_factory=default_thresholds, hash=False)
    after_last_step_days: int = DEFAULT_AFTER_LAST_STEP_DAYS
    agency_hand_over: HandOver | None = None
    legal_hand_over: HandOver | None = None
    agency_tag: str = DEFAULT_AGENCY_TAG
    legal_tag: str = DEFAULT_LEGAL_TAG

    def __post_init__(self) -> None:
        if not is_int(self.version) or self.version < 1:
            raise ReferralPolicyError(
                "version", f"must be a positive integer, got {show(self.version)}"
            )
        object.__setattr__(self, "thresholds", _check_thresholds(self.thresholds))
        days = self.after_last_step_days
        if not is_int(days) or not 1 <= days <= MAX_AFTER_LAST_STEP_DAYS:
            raise ReferralPolicyError(
                "agency.after_last_step_days",
                f"must be a whole number of days from 1 to {MAX_AFTER_LAST_STEP_DAYS}, "
                f"got {show(days)}",
            )
        for kind, value in (("agency", self.agency_hand_over), ("legal", self.legal_hand_over)):
            if value is not None and not isinstance(value, EmailHandOver | WebhookHandOver):
                raise ReferralPolicyError(
                    f"{kind}.hand_over", f"must be an email or webhook hand-over, got {show(value)}"
                )
        _check_tag(self.agency_tag, "tags.agency")
        _check_tag(self.legal_tag, "tags.legal")
        if self.agency_tag.casefold() == self.legal_tag.casefold():
            raise ReferralPolicyError(
                "tags.legal", "must differ from tags.agency (Shopify tags ignore case)"
            )

    @property
    def wait_after_last_step(self) -> timedelta:
        return timedelta(days=self.after_last_step_days)

    def thresholds_for(self, currency: str) -> Thresholds | None:
        return self.thresholds.get(normalise_currency(currency))

    def hand_over(self, kind: ReferralKind) -> HandOver | None:
        return self.agency_hand_over if kind is ReferralKind.AGENCY else self.legal_hand_over

    def tag(self, kind: ReferralKind) -> str:
        return self.agency_tag if kind is ReferralKind.AGENCY else self.legal_tag


def default_referral_policy() -> ReferralPolicy:
    """Thresholds for USD, EUR, GBP, CAD, AUD and JPY; wait 14 days after the last reminder;
    no hand-over configured, so nothing is referred until the shop says where to."""
    return ReferralPolicy(version=1)


def check_with_reminders(policy: ReferralPolicy, reminders: ReminderPolicy) -> None:
    """Refuse a referral policy that would refer before the date a final notice promises:
    with a final notice as the last reminder, the wait must be at least 14 days."""
    minimum = FINAL_NOTICE_PERIOD.days
    ends_with_notice = reminders.steps[-1].tone is Tone.FINAL_NOTICE
    if ends_with_notice and policy.after_last_step_days < minimum:
        raise ReferralPolicyError(
            "agency.after_last_step_days",
            f"must be at least {minimum} while the reminders end with a final notice (it "
            f"promises the customer {minimum} days before referral), "
            f"got {policy.after_last_step_days}",
        )


def _check_thresholds(value: object) -> dict[str, Thresholds]:
    if not isinstance(value, Mapping):
        raise ReferralPolicyError("thresholds", f"must be an object, got {show(value)}")
    checked: dict[str, Thresholds] = {}
    for key, limits in value.items():
        path = f"thresholds.{key}"
        if not isinstance(limits, Thresholds):
            raise ReferralPolicyError(path, f"must be Thresholds, got {show(limits)}")
        try:
            code = normalise_currency(key)
        except MoneyError as exc:
            raise ReferralPolicyError(path, str(exc)) from None
        if code in checked:
            raise ReferralPolicyError(path, f"{code} is given twice")
        if limits.currency != code:
            raise ReferralPolicyError(path, f"amounts must be in {code}, got {limits.currency}")
        checked[code] = limits
    return checked


def _check_tag(tag: object, path: str) -> None:
    if not isinstance(tag, str) or not tag or tag != tag.strip():
        raise ReferralPolicyError(
            path, f"must be a non-empty tag without surrounding spaces, got {show(tag)}"
        )
    if len(tag) > MAX_TAG_CHARS:
        raise ReferralPolicyError(
            path, f"must be at most {MAX_TAG_CHARS} characters (Shopify's limit), got {len(tag)}"
        )
    if "," in tag or any(ord(c) < 32 or ord(c) == 127 for c in tag):
        raise ReferralPolicyError(
            path, f"must not contain commas or control characters, got {show(tag)}"
        )


# --- JSON ------------------------------------------------------------------------------------

_ROOT_OPTIONAL = ("thresholds", "agency", "legal", "tags")
_THRESHOLD_KEYS = ("agency_minimum", "legal_minimum", "write_off_below")


def parse_referral_policy(
    data: Mapping[str, Any], *, allow_loopback_http: bool = False
) -> ReferralPolicy:
    """Read a policy as the admin API and the table hold it; omitted keys take the defaults
    (`thresholds`, when given, replaces the default table whole). Raises
    `ReferralPolicyError` naming the first problem found. `allow_loopback_http` is for the
    local stack only (see `WebhookHandOver`)."""
    root = _object(data, "")
    check_keys(root, "", ("version",), _ROOT_OPTIONAL, ReferralPolicyError)
    agency = _object(root.get("agency", {}), "agency")
    check_keys(agency, "agency", (), ("after_last_step_days", "hand_over"), ReferralPolicyError)
    legal = _object(root.get("legal", {}), "legal")
    check_keys(legal, "legal", (), ("hand_over",), ReferralPolicyError)
    tags = _object(root.get("tags", {}), "tags")
    check_keys(tags, "tags", (), ("agency", "legal"), ReferralPolicyError)
    thresholds = (
        _parse_thresholds(root["thresholds"]) if "thresholds" in root else default_thresholds()
    )
    return ReferralPolicy(
        version=root["version"],
        thresholds=thresholds,
        after_last_step_days=agency.get("after_last_step_days", DEFAULT_AFTER_LAST_STEP_DAYS),
        agency_hand_over=_parse_hand_over(
            agency.get("hand_over"), "agency.hand_over", allow_loopback_http
        ),
        legal_hand_over=_parse_hand_over(
            legal.get("hand_over"), "legal.hand_over", allow_loopback_http
        ),
        agency_tag=tags.get("agency", DEFAULT_AGENCY_TAG),
        legal_tag=tags.get("legal", DEFAULT_LEGAL_TAG),
    )


def referral_policy_to_dict(policy: ReferralPolicy) -> dict[str, Any]:
    """The policy as JSON-safe data; `parse_referral_policy` reads it back to an equal one."""
    return {
        "version": policy.version,
        "thresholds": {
            code: {
                "agency_minimum": limits.agency_minimum.minor,
                "legal_minimum": limits.legal_minimum.minor,
                "write_off_below": limits.write_off_below.minor,
            }
            for code, limits in sorted(policy.thresholds.items())
        },
        "agency": {
            "after_last_step_days": policy.after_last_step_days,
            "hand_over": _hand_over_to_dict(policy.agency_hand_over),
        },
        "legal": {"hand_over": _hand_over_to_dict(policy.legal_hand_over)},
        "tags": {"agency": policy.agency_tag, "legal": policy.legal_tag},
    }


def _parse_thresholds(raw: object) -> dict[str, Thresholds]:
    table = _object(raw, "thresholds")
    parsed: dict[str, Thresholds] = {}
    for key, value in table.items():
        path = f"thresholds.{key}"
        try:
            code = normalise_currency(key)
        except MoneyError as exc:
            raise ReferralPolicyError(path, str(exc)) from None
        if code in parsed:
            raise ReferralPolicyError(path, f"{code} is given twice")
        limits = _object(value, path)
        check_keys(limits, path, _THRESHOLD_KEYS, (), ReferralPolicyError)
        for name in _THRESHOLD_KEYS:
            minor = limits[name]
            if not is_int(minor) or minor < 0:
                raise ReferralPolicyError(
                    f"{path}.{name}",
                    f"must be a non-negative integer of {code} minor units, got {show(minor)}",
                )
        try:
            parsed[code] = Thresholds(
                agency_minimum=Money(code, limits["agency_minimum"]),
                legal_minimum=Money(code, limits["legal_minimum"]),
                write_off_below=Money(code, limits["write_off_below"]),
            )
        except ReferralPolicyError as exc:
            raise exc.under(path) from None
    return parsed


def _parse_hand_over(raw: object, path: str, allow_loopback_http: bool) -> HandOver | None:
    if raw is None:
        return None
    obj = _object(raw, path)
    channel = _enum(HandOverChannel, obj.get("channel"), f"{path}.channel")
    if channel is HandOverChannel.EMAIL:
        check_keys(
            obj,
            path,
            ("channel", "address"),
            ("link_expiry_hours", "secret_ref"),
            ReferralPolicyError,
        )
    else:
        check_keys(obj, path, ("channel", "url", "secret_ref"), (), ReferralPolicyError)
    try:
        if channel is HandOverChannel.EMAIL:
            return EmailHandOver(
                obj["address"],
                obj.get("link_expiry_hours", DEFAULT_LINK_EXPIRY_HOURS),
                obj.get("secret_ref"),
            )
        return WebhookHandOver(obj["url"], obj["secret_ref"], allow_loopback_http)
    except ReferralPolicyError as exc:
        raise exc.under(path) from None


def _hand_over_to_dict(hand_over: HandOver | None) -> dict[str, Any] | None:
    if isinstance(hand_over, EmailHandOver):
        email: dict[str, Any] = {
            "channel": "email",
            "address": hand_over.address,
            "link_expiry_hours": hand_over.link_expiry_hours,
        }
        if hand_over.secret_ref is not None:
            email["secret_ref"] = hand_over.secret_ref
        return email
    if isinstance(hand_over, WebhookHandOver):
        return {"channel": "webhook", "url": hand_over.url, "secret_ref": hand_over.secret_ref}
    return None


def _object(value: object, path: str) -> Mapping[str, Any]:
    return object_at(value, path or "policy", ReferralPolicyError)


def _enum(kind: type[_E], value: object, path: str) -> _E:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(str(member)) for member in kind)
    raise ReferralPolicyError(path, f"must be one of {allowed}; got {show(value)}")


__all__ = [
    "DEFAULT_AFTER_LAST_STEP_DAYS",
    "FINAL_NOTICE_PERIOD",
    "EmailHandOver",
    "HandOver",
    "HandOverChannel",
    "ReferralKind",
    "ReferralPolicy",
    "ReferralPolicyError",
    "Thresholds",
    "WebhookHandOver",
    "check_with_reminders",
    "default_referral_policy",
    "default_thresholds",
    "format_amount",
    "parse_referral_policy",
    "referral_policy_to_dict",
]
