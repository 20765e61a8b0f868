"""Automatic off-session retries of a declined card payment: which declines may be retried,
and when, within the card networks' rules. Pure: the caller supplies the tries and the time.

A retry suits the decline (`DeclineCategory`, from Stripe's decline or error code and the
advice code that came with it) and keeps to these rules:

- Visa (Visa Core Rules, "excessive reattempts", fees assessed from April 2021): a Category 1
  decline, "issuer will never approve" (pick up, lost, stolen, closed, not permitted, stop
  payment, revoked: our HARD), is never reattempted. Category 2, "issuer cannot approve at
  this time" (our SOFT), and Category 3, "data quality" (our EXPIRED_OR_INCORRECT), allow at
  most 15 reattempts per card and merchant in 30 days; the original is not a reattempt.
  Category 3 reattempted with the same card data is declined again: no automatic retry
  follows it, the card's data must change first.
- Mastercard (Merchant Advice Code program; excessive authorization attempts): MAC 03 "do
  not try again" and 21 "payment cancellation" are never retried; at most 10 attempts per
  card in 24 hours and 35 in 30 days; MAC 02 "try again later" waits 72 hours, and MAC 24
  to 30 ("retry after 1 hour" to "after 10 days") as long as they say.
- Other networks (American Express, Discover, unknown): Visa's 15 reattempts in 30 days.
  (Should a network raise a limit, the lower one kept here still keeps within it.)
- Whatever the network: never after a hard decline, never after authentication was asked
  for (only the customer can authenticate; an off-session charge cannot), and at most the
  shop's `max_retries` per case.

The windows roll and are counted cautiously over every try of the card at the shop: for the
reattempt limits each try that follows a declined one counts (a new order's first charge
too), for Mastercard's every try. A retry a window refuses moves to when the oldest try it
counts leaves it, unless that is later than planned by more than the schedule's longest
delay: then there is no retry, and the reminders carry on without one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from recoup.domain.fields import FieldError, check_keys, is_int, object_at, show

MAX_RETRIES = 8
MIN_DELAY = timedelta(hours=1)
MAX_DELAY = timedelta(days=30)
DEFAULT_DELAYS = (timedelta(days=1), timedelta(days=3), timedelta(days=5), timedelta(days=7))
_DELAY = re.compile(r"([1-9][0-9]{0,3})([hd])")


class DeclineCategory(StrEnum):
    HARD = "hard"  # the issuer will never approve the card (Visa Category 1; MAC 03, 21)
    SOFT = "soft"  # the issuer cannot approve now; later may work (Visa Category 2; MAC 02)
    EXPIRED_OR_INCORRECT = "expired_or_incorrect"  # the card's data must change (Category 3)
    AUTHENTICATION = "authentication_required"  # 3-D Secure or a PIN: the customer's to do
    UNKNOWN = "unknown"  # no code, or one not known to be temporary: never retried


_HARD, _SOFT = DeclineCategory.HARD, DeclineCategory.SOFT
_DATA, _AUTH = DeclineCategory.EXPIRED_OR_INCORRECT, DeclineCategory.AUTHENTICATION

# Stripe's decline codes and card error codes (docs.stripe.com/declines/codes) by category,
# with the Visa response codes (and so Visa's decline categories) they stand for.
# Visa Category 1: 04/07 pick up, 41 lost, 43 stolen, 46 closed (invalid_account), 57 not
# permitted, R0 stop payment, R1/R3 revoked; and the codes Stripe says not to retry or that
# stand for a lost or stolen card, or for a card or currency that cannot pay this merchant.
_HARD_CODES = (
    "stolen_card", "lost_card", "pickup_card", "pick_up_card", "restricted_card", "fraudulent",
    "do_not_try_again", "revocation_of_authorization", "revocation_of_authorizations",
    "revocation_of_all_authorizations", "stop_payment_order", "security_violation",
    "merchant_blacklist", "invalid_account", "card_not_supported", "currency_not_supported",
    "transaction_not_allowed", "not_permitted", "service_not_allowed",
)  # fmt: skip
# Visa Category 2: 51 insufficient funds, 61/65 limits, 91 issuer unavailable, 96 system
# error, 19 re-enter, 75 PIN tries, 05 do not honour (hard when the shop says so); and the
# unexplained declines Stripe says may be tried again.
_SOFT_CODES = (
    "insufficient_funds", "processing_error", "try_again_later", "issuer_not_available",
    "reenter_transaction", "card_velocity_exceeded", "withdrawal_count_limit_exceeded",
    "pin_try_exceeded", "generic_decline", "card_declined", "do_not_honor", "no_action_taken",
    "approve_with_id", "call_issuer",
)  # fmt: skip
# Visa Category 3 (54 expired, N7 CVV2, 55 PIN; 14, a number that does not exist, is
# Category 1: never retried with that number either) and MAC 01's new account details.
_DATA_CODES = (
    "expired_card", "incorrect_cvc", "invalid_cvc", "incorrect_number", "invalid_number",
    "incorrect_zip", "incorrect_address", "invalid_expiry_month", "invalid_expiry_year",
    "invalid_expiry_date", "incorrect_pin", "invalid_pin", "new_account_information_available",
)  # fmt: skip
# 3-D Secure, or a PIN: only the customer can give them.
_AUTH_CODES = (
    "authentication_required", "payment_intent_authentication_failure", "offline_pin_required",
    "online_or_offline_pin_required",
)  # fmt: skip
_BY_CODE: dict[str, DeclineCategory] = {
    **dict.fromkeys(_HARD_CODES, _HARD),
    **dict.fromkeys(_SOFT_CODES, _SOFT),
    **dict.fromkeys(_DATA_CODES, _DATA),
    **dict.fromkeys(_AUTH_CODES, _AUTH),
}
# Stripe's `advice_code` (docs.stripe.com/declines/card#retrying-issuer-declines).
_BY_ADVICE = {"do_not_try_again": _HARD, "try_again_later": _SOFT, "confirm_card_data": _DATA}
# Merchant Advice Codes as Stripe's `network_advice_code` gives them: 01 to 03 mean the same
# for Visa and Mastercard; 04 (token requirements not met), 21 and 24 to 30 are Mastercard's.
_BY_MAC = {"01": _DATA, "02": _SOFT, "03": _HARD}
_MASTERCARD_MAC = {
    "04": _SOFT,
    "21": _HARD,
    **dict.fromkeys(("24", "25", "26", "27", "28", "29", "30"), _SOFT),
}
# How long Mastercard asks to wait after these codes before trying again.
_MAC_WAIT = {
    "02": timedelta(hours=72), "24": timedelta(hours=1), "25": timedelta(hours=24),
    "26": timedelta(days=2), "27": timedelta(days=4), "28": timedelta(days=6),
    "29": timedelta(days=8), "30": timedelta(days=10),
}  # fmt: skip
_NETWORK_ALIASES = {"americanexpress": "amex", "unknown": ""}


def category_names() -> tuple[str, ...]:
    """The categories' names, in order: the choices the admin shows."""
    return tuple(str(category) for category in DeclineCategory)


def _key(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _network_key(network: object) -> str:
    """'MasterCard' -> 'mastercard', 'American Express' -> 'amex'; '' when unknown."""
    key = re.sub(r"[^a-z0-9]", "", _key(network))
    return _NETWORK_ALIASES.get(key, key)


def _advice_category(advice_code: str | None, network: str) -> DeclineCategory | None:
    advice = _key(advice_code)
    found = _BY_ADVICE.get(advice) or _BY_MAC.get(advice)
    if found is None and network in ("mastercard", ""):
        found = _MASTERCARD_MAC.get(advice)
    return found


def category_of(
    code: str | None,
    *,
    network: str | None = None,
    advice_code: str | None = None,
    do_not_honor_hard: bool = False,
) -> DeclineCategory:
    """The category of a decline: Stripe's `decline_code` or `code`, overridden by the advice
    code when one is known (Stripe's `advice_code` or `network_advice_code`), except that no
    advice softens a hard decline or lifts the need to authenticate. `do_not_honor` is soft
    unless the shop marks it hard."""
    key = _key(code)
    by_code = _BY_CODE.get(key, DeclineCategory.UNKNOWN)
    if key == "do_not_honor" and do_not_honor_hard:
        by_code = _HARD
    if by_code in (_HARD, _AUTH):
        return by_code
    return _advice_category(advice_code, _network_key(network)) or by_code


# --- the shop's policy ---------------------------------------------------------------------


class RetryPolicyError(FieldError):
    """An invalid retry policy; `field` names the setting ("soft_delays[2]")."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Whether Recoup retries a soft decline off-session, how often and how far apart: retry
    n waits `soft_delays[n - 1]` after the try before it (the last delay repeats)."""

    enabled: bool = False
    max_retries: int = 4
    soft_delays: tuple[timedelta, ...] = DEFAULT_DELAYS
    do_not_honor_hard: bool = False

    def __post_init__(self) -> None:
        for name in ("enabled", "do_not_honor_hard"):
            if not isinstance(getattr(self, name), bool):
                raise RetryPolicyError(
                    name, f"must be true or false, got {show(getattr(self, name))}"
                )
        if not is_int(self.max_retries) or not 0 <= self.max_retries <= MAX_RETRIES:
            raise RetryPolicyError(
                "max_retries",
                f"must be a whole number from 0 to {MAX_RETRIES}, got {show(self.max_retries)}",
            )
        delays = self.soft_delays
        if not isinstance(delays, tuple) or not 1 <= len(delays) <= MAX_RETRIES:
            raise RetryPolicyError("soft_delays", f"must hold 1 to {MAX_RETRIES} delays")
        for index, delay in enumerate(delays):
            if not isinstance(delay, timedelta) or delay % timedelta(hours=1):
                raise RetryPolicyError(f"soft_delays[{index}]", "must be a whole number of hours")
            if not MIN_DELAY <= delay <= MAX_DELAY:
                raise RetryPolicyError(
                    f"soft_delays[{index}]",
                    f"must be from {_format_delay(MIN_DELAY)} to {_format_delay(MAX_DELAY)}, "
                    f"got {_format_delay(delay)!r}",
                )

    def delay_before(self, retry: int) -> timedelta:
        """The wait before retry `retry` (from 1) after the try before it."""
        return self.soft_delays[min(retry, len(self.soft_delays)) - 1]


_POLICY_KEYS = ("enabled", "max_retries", "soft_delays", "do_not_honor_hard")


def parse_retry_policy(data: object) -> RetryPolicy:
    """Read a policy as the admin sends and the table holds it (every key optional); raises
    `RetryPolicyError` naming the first invalid field."""
    obj = object_at(data, "", RetryPolicyError)
    check_keys(obj, "", (), _POLICY_KEYS, RetryPolicyError)
    defaults = RetryPolicy()
    raw_delays = obj.get("soft_delays")
    return RetryPolicy(
        enabled=obj.get("enabled", defaults.enabled),
        max_retries=obj.get("max_retries", defaults.max_retries),
        soft_delays=defaults.soft_delays if raw_delays is None else _parse_delays(raw_delays),
        do_not_honor_hard=obj.get("do_not_honor_hard", defaults.do_not_honor_hard),
    )


def _parse_delays(raw: object) -> tuple[timedelta, ...]:
    if not isinstance(raw, list | tuple):
        raise RetryPolicyError(
            "soft_delays", f"must be a list such as ['1d', '3d'], got {show(raw)}"
        )
    delays = []
    for index, item in enumerate(raw):
        match = _DELAY.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise RetryPolicyError(
                f"soft_delays[{index}]",
                f"must be whole hours or days such as '12h' or '3d', got {show(item)}",
            )
        hours = int(match[1]) * (24 if match[2] == "d" else 1)
        delays.append(timedelta(hours=hours))
    return tuple(delays)


def retry_policy_to_dict(policy: RetryPolicy) -> dict[str, Any]:
    """The policy as JSON-safe data; `parse_retry_policy` reads it back to an equal policy."""
    return {
        "enabled": policy.enabled,
        "max_retries": policy.max_retries,
        "soft_delays": [_format_delay(delay) for delay in policy.soft_delays],
        "do_not_honor_hard": policy.do_not_honor_hard,
    }


def _format_delay(delay: timedelta) -> str:
    hours = delay // timedelta(hours=1)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


# --- deciding the next retry -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeTry:
    """One charge of the card and what Stripe said of it: `code` (`decline_code`, else
    `code`), the card's `network`, and `advice_code` (`network_advice_code`, else
    `advice_code`). `at` is kept in UTC."""

    at: datetime
    succeeded: bool
    code: str | None = None
    network: str | None = None
    advice_code: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _utc(self.at, "at"))
        if not isinstance(self.succeeded, bool):
            raise ValueError(f"succeeded must be true or false, got {self.succeeded!r}")
        for name in ("code", "network", "advice_code"):
            if not isinstance(getattr(self, name), str | None):
                raise ValueError(f"{name} must be text or None, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    at: datetime | None  # when to charge again; None: no automatic retry
    reason: str  # for the case file and the merchant


@dataclass(frozen=True, slots=True)
class _Window:
    limit: int
    span: timedelta
    span_words: str
    reattempts_only: bool  # Visa's limit counts reattempts; Mastercard's every attempt

    @property
    def words(self) -> str:
        counted = "reattempts" if self.reattempts_only else "attempts"
        return f"{self.limit} {counted} in {self.span_words}"


_FIFTEEN_IN_30_DAYS = _Window(15, timedelta(days=30), "30 days", reattempts_only=True)
_RULES: dict[str, tuple[str, tuple[_Window, ...]]] = {
    "visa": ("Visa allows", (_FIFTEEN_IN_30_DAYS,)),
    "mastercard": (
        "Mastercard allows",
        (
            _Window(10, timedelta(hours=24), "24 hours", reattempts_only=False),
            _Window(35, timedelta(days=30), "30 days", reattempts_only=False),
        ),
    ),
}
_OTHER_RULES = ("Recoup allows other networks", (_FIFTEEN_IN_30_DAYS,))
_NO_RETRY = {
    _AUTH: "no retry: the customer must authenticate ({})",
    _DATA: "no retry: the card's data must change ({})",
    DeclineCategory.UNKNOWN: "no retry: the decline ({}) is not known to be temporary",
}


def next_retry(
    policy: RetryPolicy,
    tries: Sequence[ChargeTry],
    now: datetime,
    *,
    card_tries: Sequence[ChargeTry] = (),
) -> RetryDecision:
    """When to charge the case's card again, and why. `tries` are the case's charges of the
    card: the first is the original, every later one a retry counted against the shop's
    maximum. `card_tries` are the card's other tries at the shop (other orders, say): they
    count toward the networks' limits and their declines toward the card's category."""
    if not isinstance(policy, RetryPolicy):
        raise TypeError(f"policy must be a RetryPolicy, got {policy!r}")
    now = _utc(now, "now")
    own = _checked(tries, now, "tries")
    history = sorted(own + _checked(card_tries, now, "card_tries"), key=lambda t: t.at)
    if any(t.succeeded for t in own):
        return RetryDecision(None, "paid")
    if not policy.enabled:
        return RetryDecision(None, "no retry: automatic retries are off")
    if not own:
        return RetryDecision(None, "no retry: the card was never charged")
    refusal = _refusal(policy, history)
    if refusal is not None:
        return RetryDecision(None, refusal)
    retry = len(own)
    if retry > policy.max_retries:
        return RetryDecision(
            None,
            f"no retry: the shop allows {policy.max_retries} automatic retries "
            f"and {retry - 1} were made",
        )
    return _schedule(policy, own, history, now)


def _checked(tries: Sequence[ChargeTry], now: datetime, name: str) -> list[ChargeTry]:
    if isinstance(tries, str) or not isinstance(tries, Sequence):
        raise TypeError(f"{name} must be a sequence of ChargeTry, got {tries!r}")
    for index, charge in enumerate(tries):
        if not isinstance(charge, ChargeTry):
            raise TypeError(f"{name}[{index}] must be a ChargeTry, got {charge!r}")
        if charge.at > now:
            raise ValueError(f"{name}[{index}] is later than now ({charge.at.isoformat()})")
    return sorted(tries, key=lambda t: t.at)


def _category(charge: ChargeTry, policy: RetryPolicy) -> DeclineCategory:
    return category_of(
        charge.code,
        network=charge.network,
        advice_code=charge.advice_code,
        do_not_honor_hard=policy.do_not_honor_hard,
    )


def _refusal(policy: RetryPolicy, history: list[ChargeTry]) -> str | None:
    """Why the card's declines allow no retry at all: a hard one, ever; else the newest."""
    declines = [t for t in history if not t.succeeded]
    for charge in reversed(declines):
        if _category(charge, policy) is _HARD:
            return f"no retry: the issuer declined for good ({_cause(charge)})"
    template = _NO_RETRY.get(_category(declines[-1], policy))
    return template.format(_cause(declines[-1])) if template else None


def _schedule(
    policy: RetryPolicy, own: list[ChargeTry], history: list[ChargeTry], now: datetime
) -> RetryDecision:
    """The soft decline's retry: its delay after the case's newest try (not before `now`),
    no sooner than a Mastercard advice asks, and moved to fit the networks' windows."""
    retry = len(own)
    declined = [t for t in history if not t.succeeded][-1]
    planned = max(own[-1].at + policy.delay_before(retry), now)
    network = _network_key(next((t.network for t in reversed(history) if t.network), None))
    held: list[str] = []
    wait = _MAC_WAIT.get(_key(declined.advice_code)) if network in ("mastercard", "") else None
    if wait is not None and declined.at + wait > planned:
        planned = declined.at + wait
        held.append(f"Mastercard's advice {_key(declined.advice_code)} asks for {_span(wait)}")
    who, windows = _RULES.get(network, _OTHER_RULES)
    at, limit = _fit(planned, windows, history)
    if limit is not None:
        window, made = limit
        if at - planned > max(policy.soft_delays):
            return RetryDecision(None, f"no retry: {who} {window.words} and {made} were made")
        held.append(f"{who} {window.words}")
    reason = (
        f"retry {retry} of {policy.max_retries} on {at:%Y-%m-%d %H:%M} UTC, "
        f"{_span(at - declined.at)} after a soft decline ({_cause(declined)})"
    )
    return RetryDecision(at, reason + (f"; held back: {'; '.join(held)}" if held else ""))


def _fit(
    planned: datetime, windows: tuple[_Window, ...], history: list[ChargeTry]
) -> tuple[datetime, tuple[_Window, int] | None]:
    """The first time from `planned` at which one more try breaks no window, and the first
    window that moved it with the count it held at `planned`. A window counts the tries in
    (at - span, at], so a try leaves it exactly one span after it was made."""
    reattempt_times = [t.at for prev, t in pairwise(history) if not prev.succeeded]
    all_times = [t.at for t in history]
    at, first = planned, None
    moved = True
    while moved:  # each move passes a counted try, so this ends
        moved = False
        for window in windows:
            times = reattempt_times if window.reattempts_only else all_times
            counted = [time for time in times if at - window.span < time <= at]
            excess = len(counted) + 1 - window.limit
            if excess > 0:
                first = first or (window, len(counted))
                at, moved = counted[excess - 1] + window.span, True
    return at, first


def _cause(charge: ChargeTry) -> str:
    advice = f"advice {charge.advice_code}" if charge.advice_code else None
    return ", ".join(part for part in (charge.code, advice) if part) or "no code given"


def _span(delta: timedelta) -> str:
    """'3 days', '1 day 6 hours', '45 minutes': whole minutes, rounded down."""
    days, rest = divmod(int(delta.total_seconds()) // 60, 24 * 60)
    parts = zip((days, *divmod(rest, 60)), ("day", "hour", "minute"), strict=True)
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words) or "0 minutes"


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "DEFAULT_DELAYS",
    "MAX_RETRIES",
    "ChargeTry",
    "DeclineCategory",
    "RetryDecision",
    "RetryPolicy",
    "RetryPolicyError",
    "category_names",
    "category_of",
    "next_retry",
    "parse_retry_policy",
    "retry_policy_to_dict",
]
