"""Render reminder emails and SMS from the shipped templates or a shop's own overrides.

A template sees a fixed set of variables built from `MessageContext` (`template_variables`),
with money and dates already formatted for the customer's locale. The shipped defaults live
in `templates/email/` and `templates/sms/` and are trusted. A shop's overrides are untrusted:
they are checked and rendered in a sandbox (`recoup.channels.sandbox`); one that is refused,
fails or breaks a rule of its channel is replaced by the default, and the result says why in
`override_error`, so a bad override never stops a reminder.

The shipped templates speak the customer's language (`recoup.channels.i18n`: gettext
catalogs of the `messages` domain, the language from `ctx.locale`) and word the reminder for
the case's payment situation (`ctx.situation`, `recoup.domain.payment_situation`). Shop
overrides are rendered as written, in whatever language the shop wrote them.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from babel.core import get_locale_identifier
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency, format_decimal
from email_validator import EmailNotValidError, validate_email
from markupsafe import escape

from recoup.channels import i18n, sms_segments
from recoup.channels.sandbox import (
    OVERRIDE_KINDS,
    ItemsView,
    ItemView,
    OverrideKind,
    PlanView,
    RenderBudget,
    TemplateRejected,
    TemplateTooSlow,
    compile_override,
    render_override,
)
from recoup.channels.templates import templates_dir
from recoup.domain.events import OrderSnapshot
from recoup.domain.money import Money, currency_exponent
from recoup.domain.payment_situation import SITUATIONS, Situation
from recoup.errors import RecoupError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from recoup.channels.compose import PlanNotice

__all__ = [
    "MAX_FINAL_NOTICE_SMS_SEGMENTS",
    "MAX_SAMPLE_ITEMS",
    "MAX_SMS_SEGMENTS",
    "MAX_SUBJECT_CHARS",
    "TONES",
    "AmountSummary",
    "DraftRender",
    "EmailOverride",
    "ItemLine",
    "MessageContext",
    "MessageTooLong",
    "PartRefused",
    "RenderedEmail",
    "RenderedSms",
    "TemplateRejected",
    "Tone",
    "amount_summary",
    "check_draft",
    "order_figures",
    "render_draft",
    "render_email",
    "render_sms",
    "template_variables",
    "templates_dir",
    "terms_fields",
    "validate_override",
    "validate_overrides",
]

Tone = Literal["friendly", "firm", "final_notice"]
TONES: tuple[Tone, ...] = get_args(Tone)

REFERRAL_KINDS = ("agency", "legal", None)  # what a final notice may announce
# An SMS is billed and delivered by segments (`sms_segments`): two hold 306 GSM-7
# characters, or 134 UCS-2 ones (any character outside GSM-7, such as Japanese or "ó").
MAX_SMS_SEGMENTS = 2
# A final notice must state its date and what follows; in a UCS-2 language with a long link
# that can take a third segment, and only then does it get one.
MAX_FINAL_NOTICE_SMS_SEGMENTS = 3
MAX_SUBJECT_CHARS = 200
# The most line items the save check renders a template with (titles of 255 characters, as
# long as Shopify allows): a template must fit its budget for an order this large.
MAX_SAMPLE_ITEMS = 250
SMS_OPT_OUT = "STOP"
DEFAULT_BRAND_COLOR = "#1a1a1a"
FALLBACK_LOCALE = "en"

_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
# The situations whose message offers no way to pay: the order is being cancelled.
_NO_PAY_LINK = frozenset({str(Situation.ORDER_CANCELLED)})
# Characters babel uses that an SMS (GSM-7) cannot carry: spaces and marks become ASCII.
_PLAIN_TRANSLATION = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2019": "'",
        "\u200e": None,
        "\u200f": None,
        "\u061c": None,
    }
)


class MessageTooLong(RecoupError, ValueError):
    """The default SMS cannot fit its segments even in its shortest form with the shop name
    cut (the link alone is too long)."""


# --- the context -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemLine:
    """One line of the order as the reminder lists it."""

    title: str
    quantity: int
    unit_price: Money | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.title, str):
            raise ValueError("item title must be text")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"item quantity must be an integer, got {self.quantity!r}")
        if self.quantity < 1:
            raise ValueError(f"item quantity must be at least 1, got {self.quantity}")
        if self.unit_price is not None and not isinstance(self.unit_price, Money):
            raise ValueError("item unit price must be Money")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    """Everything a reminder may say: the only source of a template's variables."""

    shop_name: str
    order_name: str
    amount_owed: Money
    unsubscribe_url: str
    tone: str  # one of TONES
    shop_email: str | None = None
    shop_url: str | None = None
    brand_color: str = DEFAULT_BRAND_COLOR
    logo_url: str | None = None
    customer_first_name: str | None = None
    # The family name: a Japanese reminder greets by it ("佐藤様"), a German one by both.
    customer_last_name: str | None = None
    locale: str = FALLBACK_LOCALE
    items: tuple[ItemLine, ...] = ()
    order_total: Money | None = None
    pay_url: str | None = None
    help_url: str | None = None
    step_number: int = 1
    referral_date: datetime.date | None = None
    # What a final notice announces for that date: "agency", "legal", or None (neither: the
    # shop's referral policy would not refer the case; the notice then names no referral).
    referral_to: str | None = None
    # Why the money has not arrived (a payment_situation.Situation value): picks the copy.
    situation: str = "payment_failed"
    # The customer's own page for the case (see, pay, promise, choose how to be contacted).
    page_url: str | None = None
    # What the order charges besides its lines, as the platform stated them (None: unknown):
    # the subtotal after discounts, the discounts, shipping and taxes (`taxes_included`: the
    # prices already include them).
    subtotal: Money | None = None
    discounts: Money | None = None
    shipping: Money | None = None
    taxes: Money | None = None
    taxes_included: bool = False
    # The missed instalment a notice worded `instalment_missed` states (None: it is said
    # without the plan's figures, as every other message is).
    plan: PlanNotice | None = None
    # The order's payment terms: their name ("Net 30") and the customer's local date they
    # are due on (None: the order has no terms, or they have no date yet); what a courtesy
    # reminder (`payment_due_soon`) and an overdue one (`terms_overdue`) state.
    payment_terms: str | None = None
    due_date: datetime.date | None = None

    def __post_init__(self) -> None:
        _check_words(self)
        _check_links(self)
        _check_money(self)
        _check_step(self)
        _check_plan(self)
        _check_terms(self)


def _check_words(ctx: MessageContext) -> None:
    if not isinstance(ctx.shop_name, str) or not ctx.shop_name.strip():
        raise ValueError("shop_name must not be empty")
    if not isinstance(ctx.order_name, str) or not ctx.order_name.strip():
        raise ValueError("order_name must not be empty")
    if ctx.tone not in TONES:
        raise ValueError(f"tone must be one of {', '.join(TONES)}, got {ctx.tone!r}")
    if ctx.situation not in SITUATIONS:
        raise ValueError(f"situation must be one of {', '.join(SITUATIONS)}, got {ctx.situation!r}")
    if not isinstance(ctx.brand_color, str) or not _HEX_COLOR.fullmatch(ctx.brand_color):
        raise ValueError(f"brand_color must be '#RRGGBB', got {ctx.brand_color!r}")
    if not isinstance(ctx.locale, str):
        raise ValueError("locale must be a BCP 47 tag such as 'en-US'")


def _check_links(ctx: MessageContext) -> None:
    _check_url("unsubscribe_url", ctx.unsubscribe_url, https_only=False)
    for name in ("shop_url", "pay_url", "help_url", "page_url"):
        value = getattr(ctx, name)
        if value is not None:
            _check_url(name, value, https_only=False)
    if ctx.logo_url is not None:
        _check_url("logo_url", ctx.logo_url, https_only=True)
    if ctx.shop_email is not None:
        try:
            validate_email(ctx.shop_email, check_deliverability=False)
        except EmailNotValidError as error:
            raise ValueError(f"shop_email is not a valid address: {error}") from None


def _check_money(ctx: MessageContext) -> None:
    """Every amount in the currency of what is owed (the items kept as a tuple)."""
    if not isinstance(ctx.amount_owed, Money) or ctx.amount_owed.minor <= 0:
        raise ValueError("amount_owed must be a positive Money amount")
    currency = ctx.amount_owed.currency
    object.__setattr__(ctx, "items", tuple(ctx.items))
    for item in ctx.items:
        if not isinstance(item, ItemLine):
            raise ValueError("items must be ItemLine values")
        if item.unit_price is not None and item.unit_price.currency != currency:
            raise ValueError(f"item {item.title!r} is priced in another currency")
    for name in ("order_total", "subtotal", "discounts", "shipping", "taxes"):
        value = getattr(ctx, name)
        if value is not None and (not isinstance(value, Money) or value.currency != currency):
            raise ValueError(f"{name} must be Money in the currency of amount_owed")


def _check_step(ctx: MessageContext) -> None:
    if isinstance(ctx.step_number, bool) or not isinstance(ctx.step_number, int):
        raise ValueError("step_number must be an integer")
    if ctx.step_number < 1:
        raise ValueError("step_number starts at 1")
    if ctx.referral_date is not None and not isinstance(ctx.referral_date, datetime.date):
        raise ValueError("referral_date must be a date")
    if ctx.tone == "final_notice" and ctx.referral_date is None:
        raise ValueError("a final notice must state its referral_date")
    if ctx.referral_to not in REFERRAL_KINDS:
        raise ValueError(f"referral_to must be 'agency', 'legal' or None, got {ctx.referral_to!r}")


def _check_plan(ctx: MessageContext) -> None:
    """A plan's figures only in its notice: instalment `number` of `count`, an amount of
    the currency owed and no more than it, a date, and an aware time to pay by."""
    plan = ctx.plan
    if plan is None:
        return
    if ctx.situation != "instalment_missed":
        raise ValueError("plan is stated only by a message worded instalment_missed")
    numbers = (plan.number, plan.count)
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        raise ValueError("plan number and count must be integers")
    if not 1 <= plan.number <= plan.count:
        raise ValueError(f"plan instalment {plan.number} of {plan.count} does not exist")
    _check_plan_amount(plan.amount, ctx.amount_owed)
    if not isinstance(plan.due_on, datetime.date):
        raise ValueError("plan due_on must be a date")
    if not isinstance(plan.pay_by, datetime.datetime) or plan.pay_by.utcoffset() is None:
        raise ValueError("plan pay_by must be a timezone-aware datetime")


def _check_terms(ctx: MessageContext) -> None:
    """The terms' name is one line of text; their due date a calendar date (already the
    customer's: a time would leave the zone to guess)."""
    terms = ctx.payment_terms
    if terms is not None and (
        not isinstance(terms, str) or not terms.strip() or any(ord(c) < 32 for c in terms)
    ):
        raise ValueError("payment_terms must be a name on one line, such as 'Net 30'")
    due = ctx.due_date
    if due is not None and (
        not isinstance(due, datetime.date) or isinstance(due, datetime.datetime)
    ):
        raise ValueError("due_date must be a date (the customer's), not a time")


def _check_plan_amount(amount: Money, owed: Money) -> None:
    if not isinstance(amount, Money) or amount.currency != owed.currency:
        raise ValueError("plan amount must be Money in the currency of amount_owed")
    if not 0 < amount.minor <= owed.minor:
        raise ValueError("plan amount must be positive and no more than amount_owed")


def _check_url(name: str, value: str, *, https_only: bool) -> None:
    schemes = ("https",) if https_only else ("https", "http")
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError(f"{name} must be a URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes or not parts.netloc:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{name} must be an absolute {allowed} URL, got {value!r}")


# --- formatting for the customer's locale ----------------------------------------------------


@lru_cache(maxsize=64)
def resolve_locale(tag: str) -> Locale:
    """The babel locale of a BCP 47 tag, dropping unknown subtags; 'en' if babel knows none."""
    subtags = tag.replace("_", "-").split("-") if isinstance(tag, str) else []
    while subtags:
        try:
            return Locale.parse("-".join(subtags), sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            subtags.pop()
    return Locale.parse(FALLBACK_LOCALE)


def _locale_tag(locale: Locale) -> str:
    return get_locale_identifier(
        (locale.language, locale.territory, locale.script, locale.variant), sep="-"
    )


def format_money(money: Money, locale: Locale) -> str:
    """'$1,899.00', '2.191,46 €', '￥129,800': the locale's own pattern and symbol."""
    return format_currency(money.decimal, money.currency, locale=locale)


def format_money_plain(money: Money, locale: Locale) -> str:
    """'1,899.00 USD', '2.191,46 EUR': Latin digits, ASCII spaces, the ISO code (for SMS),
    so that an SMS stays in GSM-7. Japanese, which goes as UCS-2 anyway, writes amounts as
    Japanese text does: '129,800円', else the locale's own format ('$1,899.00')."""
    if locale.language == "ja":
        if money.currency == "JPY":
            return format_decimal(money.decimal, format="#,##0", locale=locale) + "円"
        return format_money(money, locale).translate(_PLAIN_TRANSLATION)
    digits = currency_exponent(money.currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    number = format_decimal(
        money.decimal, format=pattern, locale=locale, numbering_system="latn"
    ).translate(_PLAIN_TRANSLATION)
    return f"{number} {money.currency}"


def _relative_luminance(hex_color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def text_color_on(background: str) -> str:
    """White or near-black, whichever contrasts more with `background` (WCAG)."""
    lum = _relative_luminance(background)
    return "#ffffff" if (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) else "#111111"


# --- the amounts, reconciled -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AmountSummary:
    """The figures an email lists under the order's lines, each None when not shown. Shown
    ones always add up: subtotal - discounts + shipping + taxes + other = total, and
    total - paid = due. `included_taxes` is what the prices already include (not added);
    `other` is what the known parts leave unexplained (positive: charges; negative: credits),
    so a snapshot that lacks a part never seems to add up wrongly."""

    due: Money
    total: Money | None = None
    paid: Money | None = None
    subtotal: Money | None = None
    discounts: Money | None = None
    shipping: Money | None = None
    taxes: Money | None = None
    included_taxes: Money | None = None
    other: Money | None = None


def order_figures(snapshot: OrderSnapshot | None, owed: Money) -> dict[str, Any]:
    """The order's total and charges as `MessageContext` fields (order_total, subtotal,
    discounts, shipping, taxes, taxes_included): those the snapshot states in the currency
    owed; another currency's figure is left out, since the context refuses it."""

    def same(value: Money | None) -> Money | None:
        return value if value is not None and value.currency == owed.currency else None

    charges = snapshot.charges if snapshot else None
    if charges is None:
        return {"order_total": same(snapshot.order_total if snapshot else None)}
    return {
        "order_total": same(snapshot.order_total if snapshot else None),
        "subtotal": same(charges.subtotal),
        "discounts": same(charges.total_discounts),
        "shipping": same(charges.total_shipping),
        "taxes": same(charges.total_tax),
        "taxes_included": charges.taxes_included,
    }


def terms_fields(snapshot: OrderSnapshot | None, zone: ZoneInfo | None) -> dict[str, Any]:
    """The order's payment terms as `MessageContext` fields: `payment_terms`, their name on
    one line ("Net 30"), and `due_date`, the customer's calendar day they are due on (in
    `zone`, UTC when unknown); None for what the order does not have (no terms, or terms
    with no date yet). The sender and the case file's re-rendering give the same."""
    name = " ".join(snapshot.payment_terms.split()) if snapshot and snapshot.payment_terms else ""
    due = snapshot.payment_due_at if snapshot else None
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=datetime.UTC)  # stored as UTC
    return {
        "payment_terms": name or None,
        "due_date": due.astimezone(zone or datetime.UTC).date() if due is not None else None,
    }


def _lines_total(items: tuple[ItemLine, ...], currency: str) -> Money | None:
    """What the lines add up to, if every line has a price."""
    if not items or any(item.unit_price is None for item in items):
        return None
    return Money(currency, sum(i.unit_price.minor * i.quantity for i in items if i.unit_price))


def _positive(value: Money | None) -> Money | None:
    return value if value is not None and value.minor > 0 else None


def amount_summary(ctx: MessageContext) -> AmountSummary:
    """The reconciled figures of the reminder (see `AmountSummary`)."""
    due, total = ctx.amount_owed, ctx.order_total
    if total is None:
        return AmountSummary(due=due)
    paid = total - due if total.minor > due.minor else None
    currency = due.currency
    discounts = _positive(ctx.discounts)
    subtotal = _lines_total(ctx.items, currency)
    if subtotal is None and ctx.subtotal is not None:
        # The platform's subtotal is after discounts; shown before them, like the lines.
        subtotal = ctx.subtotal + discounts if discounts else ctx.subtotal
    if subtotal is None:
        return AmountSummary(due=due, total=total, paid=paid)
    added_taxes = ctx.taxes if ctx.taxes is not None and not ctx.taxes_included else None
    known = subtotal
    for part in (added_taxes, ctx.shipping):
        known = known + part if part is not None else known
    known = known - discounts if discounts else known
    other = total - known
    return AmountSummary(
        due=due,
        total=total,
        paid=paid,
        subtotal=subtotal,
        discounts=discounts,
        shipping=ctx.shipping,
        taxes=added_taxes,
        included_taxes=_positive(ctx.taxes) if ctx.taxes_included else None,
        other=other if other.minor else None,
    )


def _summary_variables(ctx: MessageContext, locale: Locale) -> dict[str, str | None]:
    summary = amount_summary(ctx)

    def shown(value: Money | None) -> str | None:
        return format_money(value, locale) if value is not None else None

    other = summary.other
    return {
        "subtotal": shown(summary.subtotal),
        "discounts": shown(Money(summary.discounts.currency, -summary.discounts.minor))
        if summary.discounts
        else None,
        "shipping": shown(summary.shipping),
        "taxes": shown(summary.taxes),
        "included_taxes": shown(summary.included_taxes),
        "other_charges": shown(other) if other is not None and other.minor > 0 else None,
        "other_credits": shown(other) if other is not None and other.minor < 0 else None,
        "amount_paid": shown(summary.paid),
    }


def _plan_view(plan: PlanNotice | None, owed: Money, locale: Locale) -> PlanView | None:
    """The missed instalment as the templates see it: the day to pay it by and the time on
    that day as the customer's clock reads them (`pay_by` is given in their zone), the time
    and the SMS's day ("Dec 8", "12月8日": no year, as it is days away) in characters an
    SMS can carry."""
    if plan is None:
        return None
    pay_by = plan.pay_by
    zone = pay_by.tzinfo
    return PlanView(
        number=plan.number,
        count=plan.count,
        amount=format_money(plan.amount, locale),
        amount_plain=format_money_plain(plan.amount, locale),
        due_on=format_date(plan.due_on, format="long", locale=locale),
        pay_by=format_date(pay_by.date(), format="long", locale=locale),
        pay_by_time=_plain(format_time(pay_by, format="short", tzinfo=zone, locale=locale)),
        pay_by_short=_plain(format_skeleton("MMMd", pay_by, tzinfo=zone, locale=locale)),
        remaining=format_money(owed - plan.amount, locale),
    )


def _plain(text: str) -> str:
    return text.translate(_PLAIN_TRANSLATION)


def template_variables(ctx: MessageContext, budget: RenderBudget | None = None) -> dict[str, Any]:
    """The variables every template sees: exactly `sandbox.TEMPLATE_VARIABLES`. The notice
    of an order's cancellation (`order_cancelled`) has no `pay_url`, whatever its step
    carries: no template, shipped or a shop's own, asks the customer to pay an order that is
    being cancelled."""
    locale = resolve_locale(ctx.locale)
    items = tuple(
        ItemView(
            title=item.title,
            quantity=item.quantity,
            unit_price=format_money(item.unit_price, locale) if item.unit_price else None,
            line_total=(
                format_money(
                    Money(item.unit_price.currency, item.unit_price.minor * item.quantity), locale
                )
                if item.unit_price
                else None
            ),
        )
        for item in ctx.items
    )
    return {
        "shop_name": ctx.shop_name,
        "shop_email": ctx.shop_email,
        "shop_url": ctx.shop_url,
        "brand_color": ctx.brand_color,
        "brand_text_color": text_color_on(ctx.brand_color),
        "logo_url": ctx.logo_url,
        "customer_first_name": ctx.customer_first_name,
        "customer_last_name": ctx.customer_last_name,
        "locale": _locale_tag(locale),
        "language": i18n.language_for(ctx.locale),
        "order_name": ctx.order_name,
        "items": ItemsView(items, budget),
        "amount_owed": format_money(ctx.amount_owed, locale),
        "amount_owed_plain": format_money_plain(ctx.amount_owed, locale),
        "order_total": format_money(ctx.order_total, locale) if ctx.order_total else None,
        "pay_url": None if ctx.situation in _NO_PAY_LINK else ctx.pay_url,
        "unsubscribe_url": ctx.unsubscribe_url,
        "help_url": ctx.help_url,
        "step_number": ctx.step_number,
        "tone": ctx.tone,
        "referral_date": (
            format_date(ctx.referral_date, format="long", locale=locale)
            if ctx.referral_date
            else None
        ),
        "referral_to": ctx.referral_to,
        "referral_date_short": (
            format_date(ctx.referral_date, format="medium", locale=locale)
            if ctx.referral_date
            else None
        ),
        "situation": ctx.situation,
        "page_url": ctx.page_url,
        **_summary_variables(ctx, locale),
        "plan": _plan_view(ctx.plan, ctx.amount_owed, locale),
        "payment_terms": ctx.payment_terms,
        **_due_date_variables(ctx.due_date, locale),
    }


def _due_date_variables(due: datetime.date | None, locale: Locale) -> dict[str, str | None]:
    """The payment terms' due date, long for an email ("December 14, 2026", "14. Dezember
    2026") and in the short form an SMS states dates in ("Dec 14, 2026", "14.12.2026"),
    with ASCII spaces."""
    if due is None:
        return {"due_date": None, "due_date_short": None}
    return {
        "due_date": format_date(due, format="long", locale=locale),
        "due_date_short": _plain(format_date(due, format="medium", locale=locale)),
    }


# --- the shipped templates -------------------------------------------------------------------


def _render_default(name: str, variables: dict[str, Any], locale: str) -> str:
    """A shipped template, in the language of `locale` (English when not supported)."""
    language = i18n.language_for(locale)
    return i18n.environment("messages", language).get_template(name).render(variables)


# --- the results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailOverride:
    """A shop's own templates; a part left None uses the default."""

    subject: str | None = None
    html: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    # "email/<tone>", or "email/<tone>+override:subject,html" when overrides were used.
    template: str
    # Why an override was not used ("html override refused: ..."), "; "-joined; else None.
    override_error: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedSms:
    body: str
    template: str  # "sms/<tone>" or "sms/<tone>+override"
    override_error: str | None = None


# --- normalising and checking each kind of output --------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy_text(text: str) -> str:
    """Strip line ends, keep at most one blank line in a row, end with one newline."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line and (not lines or not lines[-1]):
            continue
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _tidy_sms(text: str) -> str:
    lines = (_one_line(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _finish(kind: OverrideKind, output: str, ctx: MessageContext) -> str:
    """Normalise an override's output and enforce the rules of its channel."""
    if kind == "subject":
        subject = _one_line(output)
        if not subject:
            raise TemplateRejected("subject is empty")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise TemplateRejected(
                f"subject is {len(subject)} characters; the maximum is {MAX_SUBJECT_CHARS}"
            )
        return subject
    if kind == "html":
        if ctx.unsubscribe_url not in output and str(escape(ctx.unsubscribe_url)) not in output:
            raise TemplateRejected(
                "template must include the unsubscribe link ({{ unsubscribe_url }})"
            )
        return output
    if kind == "text":
        text = _tidy_text(output)
        if ctx.unsubscribe_url not in text:
            raise TemplateRejected(
                "template must include the unsubscribe link ({{ unsubscribe_url }})"
            )
        return text
    body = _tidy_sms(output)
    size = sms_segments.measure(body)
    if size.segments > MAX_SMS_SEGMENTS:
        raise TemplateRejected(
            f"SMS is {size.segments} segments ({size.length} {size.encoding} characters); "
            f"the maximum is {MAX_SMS_SEGMENTS} segments ({_fits_in_words()})"
        )
    if SMS_OPT_OUT not in body:
        raise TemplateRejected("SMS must tell the customer to reply STOP to opt out")
    return body


def _render_checked_override(
    kind: OverrideKind, source: str, ctx: MessageContext, budget: RenderBudget
) -> str:
    with budget.paused():
        template = compile_override(kind, source)
        variables = template_variables(ctx, budget)
    output = render_override(template, variables, budget)
    return _finish(kind, output, ctx)


def _with_override(
    kind: OverrideKind,
    source: str | None,
    ctx: MessageContext,
    default: Callable[[], str],
    used: list[str],
    errors: list[str],
    budget: RenderBudget,
    *,
    strict: bool = False,
) -> str:
    if source is not None:
        try:
            result = _render_checked_override(kind, source, ctx, budget)
        except TemplateRejected as rejected:
            if strict:
                raise _DraftRefused(PartRefused(kind, rejected.message, rejected.line)) from None
            errors.append(f"{kind} override refused: {rejected.message}")
        else:
            used.append(kind)
            return result
    return default()


# --- the public entry points -----------------------------------------------------------------


def render_email(
    ctx: MessageContext, override: EmailOverride | None = None, *, strict: bool = False
) -> RenderedEmail:
    """Subject, HTML and plain text of one reminder, each from its override or the default
    (`strict`: a refused override is raised, not replaced by the default)."""
    override = override or EmailOverride()
    variables = template_variables(ctx)
    budget = RenderBudget()  # the overrides' parts share it; an overrun falls back to the default
    base = f"email/{ctx.tone}"
    used: list[str] = []
    errors: list[str] = []
    subject = _with_override(
        "subject",
        override.subject,
        ctx,
        lambda: _one_line(_render_default(f"{base}.subject.txt.j2", variables, ctx.locale)),
        used,
        errors,
        budget,
        strict=strict,
    )
    html = _with_override(
        "html",
        override.html,
        ctx,
        lambda: _render_default(f"{base}.html.j2", variables, ctx.locale),
        used,
        errors,
        budget,
        strict=strict,
    )
    text = _with_override(
        "text",
        override.text,
        ctx,
        lambda: _tidy_text(_render_default(f"{base}.txt.j2", variables, ctx.locale)),
        used,
        errors,
        budget,
        strict=strict,
    )
    return RenderedEmail(
        subject=subject,
        html=html,
        text=text,
        template=base + (f"+override:{','.join(used)}" if used else ""),
        override_error="; ".join(errors) or None,
    )


def render_sms(
    ctx: MessageContext, override: str | None = None, *, strict: bool = False
) -> RenderedSms:
    """One reminder SMS of at most `MAX_SMS_SEGMENTS` segments, ending with the opt-out
    (`strict`: a refused override is raised, not replaced by the default)."""
    used: list[str] = []
    errors: list[str] = []
    body = _with_override(
        "sms", override, ctx, lambda: _default_sms(ctx), used, errors, RenderBudget(), strict=strict
    )
    return RenderedSms(
        body=body,
        template=f"sms/{ctx.tone}" + ("+override" if used else ""),
        override_error="; ".join(errors) or None,
    )


_ELLIPSIS = "..."  # GSM-7 has no "…"
# The compact SMS, used when a tone's own does not fit: the amount and the order (a final
# notice: its date and what follows), the link and the opt-out.
_SHORT_SMS = "sms/_short.txt.j2"
# A tone's own SMS is not cut below this much of the shop name (still recognisable); the
# short form comes first, and cuts further only if it has to.
_MIN_SHOP_NAME = 16


def _fits_in_words() -> str:
    gsm = sms_segments.CONCATENATED["GSM-7"] * MAX_SMS_SEGMENTS
    ucs = sms_segments.CONCATENATED["UCS-2"] * MAX_SMS_SEGMENTS
    return f"{gsm} GSM-7 characters, or {ucs} when any character is outside GSM-7"


def _fits(body: str, segments: int = MAX_SMS_SEGMENTS) -> bool:
    return sms_segments.measure(body).segments <= segments


def _gsm_folded(name: str) -> str:
    """`name` with the accents GSM-7 lacks dropped ("Electrónica Pérez" -> "Electronica
    Pérez": é is in GSM-7, ó is not), so that one letter does not make the whole SMS UCS-2,
    which holds less than half as much; other scripts are left as they are."""

    def fold(char: str) -> str:
        if sms_segments.encoding_of(char) == "GSM-7":
            return char
        bare = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        return bare if bare and sms_segments.encoding_of(bare) == "GSM-7" else char

    return "".join(fold(c) for c in name)


def _default_sms(ctx: MessageContext) -> str:
    """The shipped SMS (`_sms_in_segments`); one whose figures do not fit beside the link
    even in the short form (a long link in a UCS-2 language) says its situation without
    them: a missed instalment's notice that the instalment was missed, a payment terms'
    reminder without the due date. The link leads to them."""
    try:
        return _sms_in_segments(ctx)
    except MessageTooLong:
        if ctx.plan is None and ctx.due_date is None:
            raise
    return _sms_in_segments(dataclasses.replace(ctx, plan=None, due_date=None))


def _sms_in_segments(ctx: MessageContext) -> str:
    """The shipped SMS in at most `MAX_SMS_SEGMENTS` segments, the link and the opt-out
    always whole: the tone's own; else with the shop name's accents folded to GSM-7; else
    with the shop name cut to `_MIN_SHOP_NAME`; else the short form, with the shop name cut
    as far as it takes. A final notice tries its own words in `MAX_FINAL_NOTICE_SMS_SEGMENTS`
    before the short form, which leaves out the order (and a broken promise). MessageTooLong
    when even the short form does not fit (the link is too long)."""
    variables = template_variables(ctx)

    def render(name: str, shop: str) -> str:
        variables["shop_name"] = shop
        return _tidy_sms(_render_default(name, variables, ctx.locale))

    own = f"sms/{ctx.tone}.txt.j2"
    caps = [MAX_SMS_SEGMENTS]
    if ctx.tone == "final_notice":
        caps.append(MAX_FINAL_NOTICE_SMS_SEGMENTS)
    folded = _gsm_folded(ctx.shop_name)
    for name, floor in ((own, _MIN_SHOP_NAME), (_SHORT_SMS, 1)):
        for cap in caps:
            body = _fitted_sms(partial(render, name), ctx, folded, floor, cap)
            if body is not None:
                return body
    size = sms_segments.measure(render(_SHORT_SMS, _ELLIPSIS))
    raise MessageTooLong(
        f"the {ctx.tone} SMS is {size.segments} segments ({size.length} {size.encoding} "
        f"characters) even in its short form with the shop name cut; the maximum is "
        f"{caps[-1]} segments (is the link too long?)"
    )


def _fitted_sms(
    render: Callable[[str], str], ctx: MessageContext, folded: str, floor: int, cap: int
) -> str | None:
    """One template's SMS within `cap` segments: with the shop name as it is, folded to
    GSM-7, or cut (at least `floor` characters kept); None when none fits."""
    for shop in dict.fromkeys((ctx.shop_name, folded)):
        body = render(shop)
        if _fits(body, cap):
            return body
    return _with_shop_name_cut(render, folded, floor, cap)


def _with_shop_name_cut(
    render: Callable[[str], str], shop: str, floor: int, cap: int
) -> str | None:
    """The longest cut of `shop` (at least `floor` characters kept, with "...") whose SMS
    fits `cap` segments, or None. Fewer characters never need more segments, so the cut is
    searched."""
    best: str | None = None
    if len(shop) <= floor:
        return None
    low, high = floor, len(shop) - 1
    while low <= high:
        keep = (low + high) // 2
        body = render(shop[:keep].rstrip() + _ELLIPSIS)
        if _fits(body, cap):
            best, low = body, keep + 1
        else:
            high = keep - 1
    return best


@dataclass(frozen=True, slots=True)
class PartRefused:
    """Why one part of a drafted template cannot be used, and where (`line` from 1)."""

    part: OverrideKind
    message: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class DraftRender:
    """A drafted template around one sample message: what each channel would send (None
    when it was not asked for or one of its parts is refused) and every refused part."""

    email: RenderedEmail | None
    sms: RenderedSms | None
    errors: tuple[PartRefused, ...]


def check_draft(parts: Mapping[str, str]) -> tuple[PartRefused, ...]:
    """Every part that saving would refuse, each with its first problem: the checks of
    `validate_overrides`, part by part, so the answer names the part (a part rendered after
    one that spent the message's budget is the one refused, as it would be when sent)."""
    refused: dict[OverrideKind, PartRefused] = {}
    for sample in _samples():
        found, slow = _sample_refusals(parts, sample, refused)
        if slow:  # refused for time only if it overruns twice
            found, _slow = _sample_refusals(parts, sample, refused)
        refused.update(found)
    return tuple(refused[kind] for kind in OVERRIDE_KINDS if kind in refused)


def _sample_refusals(
    parts: Mapping[str, str], sample: MessageContext, refused: Mapping[OverrideKind, PartRefused]
) -> tuple[dict[OverrideKind, PartRefused], bool]:
    """The parts not yet refused that this sample refuses, on one budget, and whether one
    of them was refused for time."""
    budget = RenderBudget()
    found: dict[OverrideKind, PartRefused] = {}
    slow = False
    for kind in OVERRIDE_KINDS:
        if kind in parts and kind not in refused:
            try:
                _render_checked_override(kind, parts[kind], sample, budget)
            except TemplateRejected as rejected:
                found[kind] = PartRefused(kind, rejected.message, rejected.line)
                slow = slow or isinstance(rejected, TemplateTooSlow)
    return found, slow


def render_draft(
    ctx: MessageContext, parts: Mapping[str, str], *, email: bool, sms: bool
) -> DraftRender:
    """A template as drafted (`parts`: the overridden parts; the others are the shipped
    ones), rendered as the sender renders it (the same sandbox, one budget per message,
    the time limit included) but never falling back: a refused part is reported instead."""
    errors = list(check_draft(parts))
    failed = {error.part for error in errors}
    shown_email = shown_sms = None
    if email and not failed & {"subject", "html", "text"}:
        try:
            override = EmailOverride(parts.get("subject"), parts.get("html"), parts.get("text"))
            shown_email = render_email(ctx, override, strict=True)
        except _DraftRefused as refused:
            errors.append(refused.why)
    if sms and "sms" not in failed:
        try:
            shown_sms = render_sms(ctx, parts.get("sms"), strict=True)
        except _DraftRefused as refused:
            errors.append(refused.why)
    return DraftRender(shown_email, shown_sms, tuple(errors))


class _DraftRefused(Exception):
    def __init__(self, why: PartRefused) -> None:
        super().__init__(why.message)
        self.why = why


def validate_override(kind: Literal["subject", "html", "text", "sms"], source: str) -> None:
    """Refuse a template a shop wants to save: raise TemplateRejected naming the problem."""
    validate_overrides({kind: source})


def validate_overrides(parts: Mapping[str, str]) -> None:
    """Refuse the parts of one template a shop wants to save, together: raise TemplateRejected
    naming the problem.

    The sources are checked, then rendered against sample reminders (every optional value
    present; every optional value absent; the largest order, `MAX_SAMPLE_ITEMS` items with
    long titles; and the notice of a missed instalment, with `plan`) with the rules of their
    channel applied, the parts of one message sharing one budget as they do when sent. A
    template that only fits the budget for small orders is refused here, rather than falling
    back to the default on the large ones. A sample over the time budget alone is rendered
    once more on a fresh budget before the template is refused for it (TemplateTooSlow).
    """
    unknown = sorted(set(parts) - set(OVERRIDE_KINDS))
    if unknown:
        raise TemplateRejected(f"unknown template kind {unknown[0]!r}")
    for sample in _samples():
        try:
            _render_sample(parts, sample)
        except TemplateTooSlow:
            _render_sample(parts, sample)  # refused for time only if it overruns twice


def _render_sample(parts: Mapping[str, str], sample: MessageContext) -> None:
    """The parts of one message rendered against one sample on a budget of their own."""
    budget = RenderBudget()
    for kind in OVERRIDE_KINDS:
        if kind in parts:
            _render_checked_override(kind, parts[kind], sample, budget)


@cache
def _samples() -> tuple[MessageContext, ...]:
    full = MessageContext(
        shop_name="Sample Electronics",
        shop_email="support@sample-electronics.example",
        shop_url="https://sample-electronics.example",
        brand_color="#0a84ff",
        logo_url="https://sample-electronics.example/logo.png",
        customer_first_name="Alex",
        locale="en-US",
        order_name="#1042",
        items=(
            ItemLine("Laptop 14-inch", 1, Money("USD", 179900)),
            ItemLine("USB-C charger", 2, Money("USD", 5000)),
        ),
        amount_owed=Money("USD", 189900),
        order_total=Money("USD", 189900),
        pay_url="https://pay.sample-electronics.example/p/abc123",
        unsubscribe_url="https://recoup.example/u/abc123",
        help_url="https://sample-electronics.example/help",
        step_number=3,
        tone="final_notice",
        referral_date=datetime.date(2030, 1, 31),
        payment_terms="Net 30",
        due_date=datetime.date(2030, 1, 15),
    )
    minimal = dataclasses.replace(
        full,
        shop_email=None,
        shop_url=None,
        brand_color=DEFAULT_BRAND_COLOR,
        logo_url=None,
        customer_first_name=None,
        items=(ItemLine("Phone case", 1),),
        amount_owed=Money("USD", 1999),
        order_total=None,
        pay_url=None,
        help_url=None,
        step_number=1,
        tone="friendly",
        referral_date=None,
        payment_terms=None,
        due_date=None,
    )
    largest = dataclasses.replace(
        full,
        items=tuple(
            ItemLine(f"{i:03} " + "Extra long product title " * 10, 99, Money("USD", 9_999_999))
            for i in range(MAX_SAMPLE_ITEMS)
        ),
    )
    return (full, minimal, largest, _plan_sample(full))


def _plan_sample(full: MessageContext) -> MessageContext:
    """The notice of a missed instalment: the only message with `plan`."""
    from zoneinfo import ZoneInfo

    from recoup.channels.compose import PlanNotice

    zone = ZoneInfo("America/New_York")
    return dataclasses.replace(
        full,
        tone="friendly",
        referral_date=None,
        situation="instalment_missed",
        amount_owed=Money("USD", 126600),
        plan=PlanNotice(
            number=2,
            count=3,
            amount=Money("USD", 63300),
            due_on=datetime.date(2030, 1, 3),
            pay_by=datetime.datetime(2030, 1, 8, 10, 0, tzinfo=zone),
        ),
    )
