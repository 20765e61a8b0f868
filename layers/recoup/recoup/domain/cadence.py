"""The shop's reminder policy: which messages go out, when, on which channel, in what tone.

A store admin configures it; the admin API and the table hold it as JSON (`parse_policy`,
`policy_to_dict`); the sender reads it before every reminder (`step_due_at`, `chasable`, and
`recoup.domain.guardrails`). Construction validates everything, so a `ReminderPolicy` in hand
is always a valid one, whether it was parsed or built in code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recoup.domain import instalments, retries, settlement
from recoup.domain.fields import FieldError, check_keys, is_int, join_path, object_at, show
from recoup.domain.instalments import InstalmentTerms
from recoup.domain.money import Money, normalise_currency
from recoup.domain.retries import RetryPolicy
from recoup.domain.settlement import SettlementTerms

if TYPE_CHECKING:
    from recoup.domain.strategies import Strategy

MIN_STEPS = 1
MAX_STEPS = 12
MIN_DELAY = timedelta(hours=1)
MAX_DELAY = timedelta(days=60)
MIN_WEEKLY_CAP = 1
MAX_WEEKLY_CAP = 21
DEFAULT_WEEKLY_CAP = 7
# How far ahead a customer may promise to pay, in days from their today (0: no promises).
MIN_PROMISE_DAYS = 0
MAX_PROMISE_DAYS = 60
DEFAULT_PROMISE_DAYS = 14
# Quiet hours must leave this much of the day for messages: with less, a clock change can
# swallow the whole window and every deferred reminder would pile into a few minutes.
MIN_ALLOWED_PER_DAY = timedelta(hours=1)
WEEK = timedelta(days=7)

_TEMPLATE = re.compile(r"[a-z0-9_-]{1,40}")
_DELAY = re.compile(r"(\d+)([hd])")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# IANA keys: "UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5".
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


class PolicyError(FieldError):
    """An invalid policy. `field` is a path into the policy's data ("steps[2].delay")."""


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    EMAIL_THEN_SMS = "email_then_sms"  # email, or SMS when there is no usable email


class Tone(StrEnum):
    FRIENDLY = "friendly"
    FIRM = "firm"
    FINAL_NOTICE = "final_notice"


class Anchor(StrEnum):
    OPENED = "opened"  # the delay counts from the case opening
    PREVIOUS = "previous"  # the delay counts from the previous step's send


class TimezoneRule(StrEnum):
    CUSTOMER = "customer"  # the customer's zone (address, else phone), else the shop's
    SHOP = "shop"  # always the shop's zone


class AfterLastStep(StrEnum):
    ESCALATE = "escalate"  # the case waits for escalation (another module's job)


_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Step:
    """One reminder: sent `delay` after the case opened or after the previous step was sent."""

    delay: timedelta
    anchor: Anchor
    channel: Channel
    template: str
    tone: Tone
    pay_link: bool

    def __post_init__(self) -> None:
        if not isinstance(self.delay, timedelta):
            raise PolicyError("delay", f"must be a timedelta, got {_show(self.delay)}")
        if self.delay % timedelta(hours=1):
            raise PolicyError(
                "delay", f"must be a whole number of hours, got {format_delay(self.delay)!r}"
            )
        _check_delay_range(self.delay, format_delay(self.delay))
        object.__setattr__(self, "anchor", _enum(Anchor, self.anchor, "anchor"))
        object.__setattr__(self, "channel", _enum(Channel, self.channel, "channel"))
        if not isinstance(self.template, str) or not _TEMPLATE.fullmatch(self.template):
            raise PolicyError(
                "template",
                f"must be 1 to 40 characters of a-z, 0-9, '_' or '-', got {_show(self.template)}",
            )
        object.__setattr__(self, "tone", _enum(Tone, self.tone, "tone"))
        if not isinstance(self.pay_link, bool):
            raise PolicyError("pay_link", f"must be true or false, got {_show(self.pay_link)}")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No messages from `start` to `end`, local time; wraps midnight when end < start
    (21:00 -> 08:00). The end is the first minute messages are allowed again. start == end
    means no quiet hours."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise PolicyError(name, f"must be a time of day, got {_show(value)}")
            if value.tzinfo is not None:
                raise PolicyError(name, "must be a local wall time, without a time zone")
            if value.second or value.microsecond:
                raise PolicyError(name, f"must be a whole minute, got {value.isoformat()!r}")
            object.__setattr__(self, name, value.replace(fold=0))  # fold means nothing here
        if self.span and timedelta(days=1) - self.span < MIN_ALLOWED_PER_DAY:
            raise PolicyError(
                "",
                "must leave at least 1 hour a day for messages, "
                f"got {_hhmm(self.start)}-{_hhmm(self.end)}",
            )

    @classmethod
    def none(cls) -> QuietHours:
        return cls(time(0, 0), time(0, 0))

    @property
    def span(self) -> timedelta:
        """How long the quiet period lasts (zero when there are no quiet hours)."""
        minutes = (_minutes(self.end) - _minutes(self.start)) % (24 * 60)
        return timedelta(minutes=minutes)

    def contains(self, local: time) -> bool:
        """Whether a local wall time falls in the quiet period [start, end)."""
        t = local.replace(tzinfo=None, fold=0)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """A shop's reminder policy. Immutable; treat `min_amount` as read-only."""

    version: int
    steps: tuple[Step, ...]
    quiet_hours: QuietHours
    timezone_rule: TimezoneRule
    shop_timezone: str
    weekly_cap: int = DEFAULT_WEEKLY_CAP
    # ISO currency -> minor units; a case owing less is not chased. {} = no minimum.
    min_amount: dict[str, int] = field(default_factory=dict, hash=False)
    after_last_step: AfterLastStep = AfterLastStep.ESCALATE
    promise_max_days: int = DEFAULT_PROMISE_DAYS
    # What the customer's page may offer besides paying in full (domain/instalments.py,
    # domain/settlement.py); both off by default.
    instalments: InstalmentTerms = field(default_factory=InstalmentTerms, hash=False)
    settlement: SettlementTerms = field(default_factory=SettlementTerms, hash=False)
    # The shop's strategies, in the order they are tried (domain/strategies.py); these steps
    # are the default strategy's, taken when none matches. None: never set, so the shipped
    # strategies apply (`strategies.shipped`).
    strategies: tuple[Strategy, ...] | None = field(default=None, hash=False)
    # Retrying a failed card payment while the customer is away (domain/retries.py); off
    # by default.
    retries: RetryPolicy = field(default_factory=RetryPolicy, hash=False)

    def __post_init__(self) -> None:
        if not _is_int(self.version) or self.version < 1:
            raise PolicyError("version", f"must be a positive integer, got {_show(self.version)}")
        object.__setattr__(self, "steps", check_steps(self.steps))
        if not isinstance(self.quiet_hours, QuietHours):
            raise PolicyError("quiet_hours", f"must be QuietHours, got {_show(self.quiet_hours)}")
        object.__setattr__(
            self, "timezone_rule", _enum(TimezoneRule, self.timezone_rule, "timezone_rule")
        )
        if zone_from_name(self.shop_timezone) is None:
            raise PolicyError(
                "shop_timezone",
                "must be an IANA time zone such as 'Europe/Berlin', "
                f"got {_show(self.shop_timezone)}",
            )
        if not _is_int(self.weekly_cap) or not MIN_WEEKLY_CAP <= self.weekly_cap <= MAX_WEEKLY_CAP:
            raise PolicyError(
                "weekly_cap",
                f"must be an integer between {MIN_WEEKLY_CAP} and {MAX_WEEKLY_CAP}, "
                f"got {_show(self.weekly_cap)}",
            )
        object.__setattr__(self, "min_amount", _min_amounts(self.min_amount))
        object.__setattr__(
            self, "after_last_step", _enum(AfterLastStep, self.after_last_step, "after_last_step")
        )
        days = self.promise_max_days
        if not _is_int(days) or not MIN_PROMISE_DAYS <= days <= MAX_PROMISE_DAYS:
            raise PolicyError(
                "promise_max_days",
                f"must be an integer between {MIN_PROMISE_DAYS} and {MAX_PROMISE_DAYS} "
                f"(0: no promises to pay), got {_show(days)}",
            )
        if self.strategies is not None:
            from recoup.domain.strategies import check_strategies

            object.__setattr__(self, "strategies", check_strategies(self.strategies))

    @property
    def shop_zone(self) -> ZoneInfo:
        zone = zone_from_name(self.shop_timezone)
        assert zone is not None  # validated on construction
        return zone

    def minimum(self, currency: str) -> Money:
        """The smallest amount of `currency` worth chasing (zero when none is set)."""
        code = normalise_currency(currency)
        return Money(code, self.min_amount.get(code, 0))


def check_steps(steps: object) -> tuple[Step, ...]:
    """A sequence's steps, checked: 1 to 12 `Step`s, the first counting from the opening, a
    final notice only last, each due after the one before. Errors name `steps[i]...`."""
    if isinstance(steps, list):
        steps = tuple(steps)
    if not isinstance(steps, tuple):
        raise PolicyError("steps", f"must be a list of steps, got {_show(steps)}")
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise PolicyError(
            "steps", f"must have between {MIN_STEPS} and {MAX_STEPS} steps, got {len(steps)}"
        )
    for i, step in enumerate(steps):
        if not isinstance(step, Step):
            raise PolicyError(f"steps[{i}]", f"must be a Step, got {_show(step)}")
    if steps[0].anchor is not Anchor.OPENED:
        raise PolicyError(
            "steps[0].anchor",
            "Step 1: the first step must count from 'opened' (it has no previous step), "
            f"got {str(steps[0].anchor)!r}",
        )
    last = len(steps)
    for i, step in enumerate(steps[:-1]):
        if step.tone is Tone.FINAL_NOTICE:
            raise PolicyError(
                f"steps[{i}].tone",
                f"Step {i + 1}: 'final_notice' is allowed only on the last step (Step {last})",
            )
    planned = _planned_offsets(steps)
    for i in range(1, len(steps)):
        if planned[i] <= planned[i - 1]:
            raise PolicyError(
                f"steps[{i}].delay",
                f"Step {i + 1}: the step would be due {format_delay(planned[i])} after the "
                f"case opens, not after Step {i} ({format_delay(planned[i - 1])}); "
                "steps must come in order",
            )
    return steps


# --- the default ------------------------------------------------------------------------------


def default_policy(shop_timezone: str = "UTC") -> ReminderPolicy:
    """A sequence suited to unpaid electronics orders: a friendly nudge the next day, firmer
    reminders over the following week, a final notice about two weeks in. Quiet 21:00-08:00
    (the US TCPA's 8am-9pm calling window), in the customer's own zone."""
    return ReminderPolicy(
        version=1,
        steps=(
            Step(timedelta(days=1), Anchor.OPENED, Channel.EMAIL, "friendly", Tone.FRIENDLY, True),
            Step(
                timedelta(days=3), Anchor.PREVIOUS, Channel.EMAIL_THEN_SMS, "firm", Tone.FIRM, True
            ),
            # An SMS without the link would be a dead end for a customer without email.
            Step(timedelta(days=4), Anchor.PREVIOUS, Channel.SMS, "firm_sms", Tone.FIRM, True),
            Step(
                timedelta(days=7),
                Anchor.PREVIOUS,
                Channel.EMAIL,
                "final_notice",
                Tone.FINAL_NOTICE,
                True,
            ),
        ),
        quiet_hours=QuietHours(time(21, 0), time(8, 0)),
        timezone_rule=TimezoneRule.CUSTOMER,
        shop_timezone=shop_timezone,
        weekly_cap=DEFAULT_WEEKLY_CAP,
    )


# --- templates ----------------------------------------------------------------------------------

# The templates every shop has, by name, and the channels each has a version for. A step's
# words come from the shipped set of its tone (templates/email/<tone>, templates/sms/<tone>);
# its template's name picks the shop's own version (an override) when there is one.
BUILTIN_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "friendly": ("email", "sms"),
    "firm": ("email", "sms"),
    "firm_sms": ("sms",),
    "final_notice": ("email", "sms"),
}
# What a step on each channel needs its template to have.
NEEDED_CHANNELS: Mapping[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("email",),
    Channel.SMS: ("sms",),
    Channel.EMAIL_THEN_SMS: ("email", "sms"),
}


def step_message(index: int, message: str) -> str:
    """An error about step `index` (from 0) as the admin numbers steps (from 1)."""
    prefix = f"Step {index + 1}: "
    return message if message.startswith(prefix) else prefix + message


def template_problem(
    step: Step, index: int, available: Mapping[str, Collection[str]]
) -> PolicyError | None:
    """Why step `index` (from 0) cannot use its template, given the templates the shop has
    (name -> the channels each has a version for); None when it can."""
    needed = NEEDED_CHANNELS[step.channel]
    fits = sorted(name for name, has in available.items() if all(c in has for c in needed))
    choices = f"choose one of {', '.join(fits)}" if fits else "no template has one"
    has = available.get(step.template)
    if has is None:
        message = f"no template named {step.template!r}; {choices}"
    else:
        missing = [c for c in needed if c not in has]
        if not missing:
            return None
        message = f"the template {step.template!r} has no {' or '.join(missing)} version; {choices}"
    return PolicyError(f"steps[{index}].template", step_message(index, message))


def check_templates(policy: ReminderPolicy, available: Mapping[str, Collection[str]]) -> None:
    """Refuse the first step whose template the shop does not have for its channel: the
    default's steps, then each strategy's and each of its experiment's variants."""
    sequences: list[tuple[str, tuple[Step, ...]]] = [("", policy.steps)]
    for i, strategy in enumerate(policy.strategies or ()):
        sequences.append((f"strategies[{i}]", strategy.steps))
        sequences += [
            (f"strategies[{i}].variants.{arm}", steps) for arm, steps in strategy.variants.items()
        ]
    for path, steps in sequences:
        for index, step in enumerate(steps):
            problem = template_problem(step, index, available)
            if problem is not None:
                raise problem.under(path) if path else problem


NEW_STEP_DELAY = timedelta(days=3)


def new_step(policy: ReminderPolicy) -> tuple[int, Step]:
    """A step to add to the sequence, and where (its index, from 0): before the final notice
    when the last step is one, else at the end. An email three days after the step before it,
    friendly while it would be the first or second message, firm after that; never a final
    notice."""
    steps = policy.steps
    at = len(steps) - 1 if steps and steps[-1].tone is Tone.FINAL_NOTICE else len(steps)
    tone = Tone.FRIENDLY if at < 2 else Tone.FIRM
    anchor = Anchor.OPENED if at == 0 else Anchor.PREVIOUS
    return at, Step(NEW_STEP_DELAY, anchor, Channel.EMAIL, str(tone), tone, True)


# --- schedule and threshold ---------------------------------------------------------------------


def step_due_at(
    policy: ReminderPolicy,
    step_index: int,
    opened_at: datetime,
    previous_sent_at: datetime | None,
) -> datetime:
    """When step `step_index` (0-based) falls due, in UTC.

    Anchor "opened": `opened_at` + delay. Anchor "previous": `previous_sent_at` + delay; when
    the previous step has no send time, the previous step's planned due time + delay (for a
    chain of "previous" steps that is `opened_at` plus the sum of the delays so far).
    """
    if not _is_int(step_index) or not 0 <= step_index < len(policy.steps):
        raise ValueError(
            f"step_index must be 0..{len(policy.steps) - 1} for this policy, got {step_index!r}"
        )
    opened = _utc(opened_at, "opened_at")
    step = policy.steps[step_index]
    if step.anchor is Anchor.PREVIOUS and previous_sent_at is not None:
        return _utc(previous_sent_at, "previous_sent_at") + step.delay
    return opened + _planned_offsets(policy.steps)[step_index]


def chasable(policy: ReminderPolicy, amount_owed: Money) -> bool:
    """Whether a case owing `amount_owed` is worth chasing: something is owed, and at least
    the shop's minimum for that currency."""
    return amount_owed.minor > 0 and amount_owed.minor >= policy.minimum(amount_owed.currency).minor


def _planned_offsets(steps: tuple[Step, ...]) -> list[timedelta]:
    """Each step's planned due time, as an offset from the case opening."""
    offsets: list[timedelta] = []
    for step in steps:
        base = offsets[-1] if step.anchor is Anchor.PREVIOUS and offsets else timedelta(0)
        offsets.append(base + step.delay)
    return offsets


# --- JSON -------------------------------------------------------------------------------------

_STEP_KEYS = ("delay", "anchor", "channel", "template", "tone", "pay_link")
_POLICY_REQUIRED = ("version", "steps", "quiet_hours", "timezone_rule", "shop_timezone")
_POLICY_OPTIONAL = (
    "weekly_cap",
    "min_amount",
    "after_last_step",
    "promise_max_days",
    "instalments",
    "settlement",
    "strategies",
    "retries",
)
_QUIET_KEYS = ("start", "end")


def parse_policy(data: Mapping[str, Any]) -> ReminderPolicy:
    """Read a policy as the admin API and the table hold it. Raises `PolicyError` naming the
    first problem found; the policy's optional keys are exactly its defaulted fields."""
    root = _object(data, "policy")
    _check_keys(root, "", _POLICY_REQUIRED, _POLICY_OPTIONAL)
    steps = parse_steps(root["steps"])
    quiet = _object(root["quiet_hours"], "quiet_hours")
    _check_keys(quiet, "quiet_hours", _QUIET_KEYS, ())
    try:
        quiet_hours = QuietHours(
            _parse_hhmm(quiet["start"], "start"),
            _parse_hhmm(quiet["end"], "end"),
        )
    except PolicyError as exc:
        raise exc.under("quiet_hours") from None
    min_amount = root.get("min_amount", {})
    if not isinstance(min_amount, Mapping):
        raise PolicyError("min_amount", f"must be an object, got {_show(min_amount)}")
    return ReminderPolicy(
        version=root["version"],
        steps=steps,
        quiet_hours=quiet_hours,
        timezone_rule=root["timezone_rule"],
        shop_timezone=root["shop_timezone"],
        weekly_cap=root.get("weekly_cap", DEFAULT_WEEKLY_CAP),
        min_amount=dict(min_amount),
        after_last_step=root.get("after_last_step", AfterLastStep.ESCALATE),
        promise_max_days=root.get("promise_max_days", DEFAULT_PROMISE_DAYS),
        instalments=_terms("instalments", lambda: instalments.parse_terms(root["instalments"]))
        if "instalments" in root
        else InstalmentTerms(),
        settlement=_terms(
            "settlement", lambda: settlement.parse_terms(root["settlement"], len(steps))
        )
        if "settlement" in root
        else SettlementTerms(),
        strategies=_parse_strategies(root["strategies"]) if "strategies" in root else None,
        retries=_terms("retries", lambda: retries.parse_retry_policy(root["retries"]))
        if "retries" in root
        else RetryPolicy(),
    )


def parse_steps(raw_steps: object) -> tuple[Step, ...]:
    """A sequence's steps as JSON holds them; errors name `steps[i]...`."""
    if not isinstance(raw_steps, list | tuple):
        raise PolicyError("steps", f"must be a list of steps, got {_show(raw_steps)}")
    if not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        raise PolicyError(
            "steps", f"must have between {MIN_STEPS} and {MAX_STEPS} steps, got {len(raw_steps)}"
        )
    return tuple(_parse_step(raw, i) for i, raw in enumerate(raw_steps))


def steps_to_list(steps: tuple[Step, ...]) -> list[dict[str, Any]]:
    """Steps as JSON-safe data; `parse_steps` reads them back."""
    return [
        {
            "delay": format_delay(step.delay),
            "anchor": str(step.anchor),
            "channel": str(step.channel),
            "template": step.template,
            "tone": str(step.tone),
            "pay_link": step.pay_link,
        }
        for step in steps
    ]


def _parse_strategies(raw: object) -> tuple[Strategy, ...]:
    from recoup.domain.strategies import parse_strategies

    return parse_strategies(raw)


_TermsT = TypeVar("_TermsT")


def _terms(path: str, parse: Callable[[], _TermsT]) -> _TermsT:
    try:
        return parse()
    except FieldError as exc:
        raise PolicyError(join_path(path, exc.field), exc.message) from None


def policy_to_dict(policy: ReminderPolicy) -> dict[str, Any]:
    """The policy as JSON-safe data; `parse_policy` reads it back to an equal policy."""
    return {
        "version": policy.version,
        "steps": steps_to_list(policy.steps),
        "quiet_hours": {
            "start": _hhmm(policy.quiet_hours.start),
            "end": _hhmm(policy.quiet_hours.end),
        },
        "timezone_rule": str(policy.timezone_rule),
        "shop_timezone": policy.shop_timezone,
        "weekly_cap": policy.weekly_cap,
        "min_amount": dict(sorted(policy.min_amount.items())),
        "after_last_step": str(policy.after_last_step),
        "promise_max_days": policy.promise_max_days,
        "instalments": instalments.terms_to_dict(policy.instalments),
        "settlement": settlement.terms_to_dict(policy.settlement),
        "retries": retries.retry_policy_to_dict(policy.retries),
        **_strategies_dict(policy.strategies),
    }


def _strategies_dict(strategies: tuple[Strategy, ...] | None) -> dict[str, Any]:
    if strategies is None:
        return {}
    from recoup.domain.strategies import strategy_to_dict

    return {"strategies": [strategy_to_dict(s) for s in strategies]}


def format_delay(delay: timedelta) -> str:
    """ "3d" for whole days, "12h" for whole hours; anything else as Python shows it."""
    if delay % timedelta(hours=1):
        return str(delay)
    hours = delay // timedelta(hours=1)
    return f"{hours // 24}d" if hours and hours % 24 == 0 else f"{hours}h"


def parse_delay(raw: object, field: str = "delay") -> timedelta:
    """An integer number of hours or days: "12h", "3d"."""
    match = _DELAY.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise PolicyError(
            field,
            f"must be a whole number of hours or days such as '12h' or '3d', got {_show(raw)}",
        )
    digits, unit = match.groups()
    if len(digits) > 6:  # far beyond 60 days either way; spares int() a huge string
        _delay_out_of_range(field, str(raw))
    hours = int(digits) * (24 if unit == "d" else 1)
    delay = timedelta(hours=hours)
    _check_delay_range(delay, str(raw), field)
    return delay


def _parse_step(raw: object, index: int) -> Step:
    """Step `index` (from 0); an error names its field by path and the step by its number
    as the admin sees it (from 1)."""
    try:
        obj = _object(raw, "")
        _check_keys(obj, "", _STEP_KEYS, ())
        return Step(
            delay=parse_delay(obj["delay"]),
            anchor=obj["anchor"],
            channel=obj["channel"],
            template=obj["template"],
            tone=obj["tone"],
            pay_link=obj["pay_link"],
        )
    except PolicyError as exc:
        path = _join(f"steps[{index}]", exc.field)
        raise PolicyError(path, step_message(index, exc.message)) from None


def _parse_hhmm(raw: object, field: str) -> time:
    match = _HHMM.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise PolicyError(field, f"must be a time as HH:MM (24-hour), got {_show(raw)}")
    return time(int(match[1]), int(match[2]))


# --- helpers ----------------------------------------------------------------------------------


def zone_from_name(name: object) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is none ("", "Mars/Base", a path)."""
    if not isinstance(name, str) or len(name) > 64 or not _ZONE_KEY.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _check_delay_range(delay: timedelta, shown: str, field: str = "delay") -> None:
    if not MIN_DELAY <= delay <= MAX_DELAY:
        _delay_out_of_range(field, shown)


def _delay_out_of_range(field: str, shown: str) -> None:
    raise PolicyError(
        field,
        f"must be between {format_delay(MIN_DELAY)} and {format_delay(MAX_DELAY)}, "
        f"got {_show(shown)}",
    )


def _min_amounts(value: object) -> dict[str, int]:
    return _terms("", lambda: instalments.minor_amounts(value, "min_amount"))


def _enum(kind: type[_E], value: object, field: str) -> _E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(str(member)) for member in kind)
    raise PolicyError(field, f"must be one of {allowed}; got {_show(value)}")


def _object(value: object, path: str) -> Mapping[str, Any]:
    return object_at(value, path, PolicyError)


def _check_keys(
    obj: Mapping[str, Any], path: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    check_keys(obj, path, required, optional, PolicyError)


_join, _is_int, _show = join_path, is_int, show


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "BUILTIN_TEMPLATES",
    "AfterLastStep",
    "Anchor",
    "Channel",
    "PolicyError",
    "QuietHours",
    "ReminderPolicy",
    "Step",
    "TimezoneRule",
    "Tone",
    "chasable",
    "check_steps",
    "check_templates",
    "default_policy",
    "format_delay",
    "new_step",
    "parse_delay",
    "parse_policy",
    "parse_steps",
    "policy_to_dict",
    "step_due_at",
    "step_message",
    "steps_to_list",
    "template_problem",
    "zone_from_name",
]
