"""What the customer's page shows, and its HTML: a view model built from the stored case,
the shop, the customer's options (services.customer_requests) and contact preferences
(services.preferences) and how the customer can be reached (`store.contacts.reachability`,
read by the caller), rendered from `templates/customer/` in the customer's language through
the `pages` catalog (`channels.i18n`), money and dates in their full locale. No table is read
here.

What the page offers follows what the sender would do: the next reminder is shown on the
channel the sender would pick (the step's, the customer's preferred one first, never one
they opted out of, turned off, or that bounced) at the first moment outside the shop's quiet
hours and the customer's avoided times (`guardrails.next_free`). A case the customer said is
not theirs, or that is held or flagged for fraud, offers neither paying nor a promise; a
shop that uninstalled the app shows the order as closed.

Besides paying in full, an open case the customer can pay may offer an instalment plan (the
shop's choices, and the exact schedule of the one they pick, from
services.instalment_plans) and a settlement offer (a discount for paying the rest by a
date); a plan agreed shows its schedule, what is paid and what is left, and what the
customer can do next.

The order's amounts reconcile: the items, discounts, shipping and taxes the platform stated,
and "other charges" for whatever difference remains, so the rows always add up to the total.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case, CaseStatus
from recoup.domain.dunning import DunningStatus
from recoup.domain.events import OrderSnapshot
from recoup.domain.guardrails import next_free
from recoup.domain.money import Money
from recoup.domain.timezones import normalise_phone, zone_of_customer

if TYPE_CHECKING:
    from recoup.domain.cadence import ReminderPolicy
    from recoup.domain.customer_requests import CustomerOptions
    from recoup.domain.instalments import Instalment, Plan, PlanChoices, Scheduled
    from recoup.domain.preferences import ContactPreferences
    from recoup.domain.settlement import Offer
    from recoup.store.contacts import Reachability
    from recoup.store.models import ShopItem

DOMAIN = "pages"
LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ja": "日本語",
}
DEFAULT_BRAND_COLOR = "#1f5fa8"
NOTE_MAX = 1000
DAYS = tuple(range(7))  # 0 = Monday, as the preferences form sends them


@dataclass(frozen=True, slots=True)
class Line:
    title: str
    quantity: int
    amount: str | None  # the line's total; None when the platform gave no price


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the order's sums: `kind` names its label in the template."""

    kind: str  # items | discounts | shipping | taxes | other | total | taxes_included
    amount: str


@dataclass(frozen=True, slots=True)
class NextReminder:
    channel: str  # email | sms
    day: str
    time: str


@dataclass(frozen=True, slots=True)
class Prefill:
    """What the forms show: the posted values after an error, the stored ones otherwise."""

    promise_pay_by: str = ""
    promise_note: str = ""
    report_kind: str = ""
    report_note: str = ""
    email_on: bool = True
    sms_on: bool = True
    preferred: str = ""
    avoid_days: frozenset[str] = frozenset()
    avoid_from: str = ""
    avoid_until: str = ""
    language: str = ""
    plan_interval: str = ""
    plan_count: str = ""
    plan_start: str = ""


@dataclass(frozen=True, slots=True)
class PlanForm:
    """The instalment plan's choices: each interval the shop allows with the most
    instalments it takes, and the first payment's date when it is not due today."""

    intervals: tuple[tuple[str, int], ...]  # (weekly | biweekly | monthly, most)
    most: int  # the most instalments of any interval
    first_due_now: bool
    earliest_start: str  # ISO, for the date input
    latest_start: str
    earliest_day: str  # the same, as the customer reads a date
    latest_day: str
    min_instalment: str | None
    max_days: int

    def most_for(self, interval: str) -> int:
        return next((most for name, most in self.intervals if name == interval), self.most)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    number: int
    day: str  # the customer's date
    amount: str
    state: str = ""  # paid | missed | due | ended (never charged); "" in a preview


@dataclass(frozen=True, slots=True)
class PlanPreview:
    """The schedule the customer would agree to, and what the form sends to agree to it."""

    count: int
    interval: str
    start: str  # the chosen first date (ISO); "" when the first is due today
    shown: str  # what the agree form carries of it (`schedule_shown`)
    rows: tuple[ScheduleRow, ...]
    total: str
    first_now: str | None  # the first instalment, paid today on the payment page
    charge_time: str
    grace_days: int


@dataclass(frozen=True, slots=True)
class PlanShown:
    """A plan the customer agreed to: its schedule and where it stands."""

    status: str  # awaiting_card | active | completed | broken | lapsed
    running: bool  # awaiting its card or active: no promise, no other plan
    rows: tuple[ScheduleRow, ...]
    total: str
    paid: str
    remaining: str
    charge_time: str
    next_day: str | None  # the next instalment charged, when one is ahead
    next_amount: str | None
    missed_number: int | None
    missed_amount: str | None
    until_day: str | None  # when the card must be saved, or the missed instalment paid
    until_time: str | None
    action: str | None  # card (continue to payment) | missed (pay it now) | None


@dataclass(frozen=True, slots=True)
class OfferShown:
    """A settlement offer open now: pay less, in full, by a date."""

    pay: str
    owed: str
    saved: str
    day: str
    time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PageView:
    language: str
    token: str
    form_token: str
    shop_name: str
    logo_url: str | None
    brand_color: str
    brand_text: str
    order_name: str
    lines: tuple[Line, ...]
    rows: tuple[Row, ...]
    paid_so_far: str | None
    owed_now: str | None
    state: str  # open | paid | cancelled | closed
    paused: str | None  # why reminders are paused (English key text, translated in the page)
    under_review: bool  # "not mine", or held or flagged for fraud: nothing to pay here now
    next_reminder: NextReminder | None
    pay_url: str | None
    promise_min: str | None
    promise_latest: str | None
    promise_in_force: str | None
    reports: tuple[str, ...]
    plan_form: PlanForm | None
    plan_preview: PlanPreview | None
    plan: PlanShown | None
    offer: OfferShown | None
    has_address: bool
    status: str | None
    errors: Mapping[str, str]
    prefill: Prefill
    prefill_form: str | None  # the form posted, when the page shows its errors


@dataclass(frozen=True, slots=True, kw_only=True)
class PageInput:
    """Everything the page of one case is made from."""

    stored: StoredCase
    shop_item: ShopItem | None
    policy: ReminderPolicy
    options: CustomerOptions | None
    prefs: ContactPreferences
    language: str
    token: str
    form_token: str
    pay_url: str | None
    now: datetime
    reach: Reachability | None = None  # None: the case has no address to read
    installed: bool = True  # False: the shop uninstalled the app (the page is closed)
    locale: str | None = None  # the full tag money and dates are formatted in (else language)
    status: str | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    posted: tuple[str, Mapping[str, Sequence[str]]] | None = None  # (form, fields) on error
    plan_choices: PlanChoices | None = None  # None: no instalment plan offered
    plan_preview: tuple[Scheduled, ...] | None = None  # the schedule the customer asked for
    offer: Offer | None = None  # the settlement offer open now


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    nonce: str  # the CSP nonce of the page's one <style>


# ------------------------------------------------------------------------------ the view


def view(given: PageInput) -> PageView:
    case = given.stored.case
    snapshot = case.snapshot
    locale = given.locale or given.language
    owed = case.amount_owed if case.status is CaseStatus.OPEN else None
    state = _state(given.stored, owed)
    if state == "open" and not given.installed:
        state = "closed"
    zone = _zone(case, given.policy)
    return PageView(
        language=given.language,
        token=given.token,
        form_token=given.form_token,
        **_shop_fields(case, given.shop_item),
        order_name=(snapshot.order_name if snapshot and snapshot.order_name else case.case_id),
        lines=_lines(snapshot, locale),
        rows=reconcile(snapshot, locale),
        paid_so_far=_paid(snapshot, owed, locale),
        owed_now=_money(owed, locale) if owed else None,
        state=state,
        **(_choices(given, zone, locale) if state == "open" else _NO_CHOICES),
        plan=_plan_shown(given, state, zone, locale),
        has_address=any(_addresses(case)),
        status=given.status,
        errors=dict(given.errors),
        prefill=_prefill(given.prefs, given.posted),
        prefill_form=given.posted[0] if given.posted else None,
    )


_NO_CHOICES: dict[str, Any] = {
    "paused": None,
    "under_review": False,
    "next_reminder": None,
    "pay_url": None,
    "promise_min": None,
    "promise_latest": None,
    "promise_in_force": None,
    "reports": (),
    "plan_form": None,
    "plan_preview": None,
    "offer": None,
}


def _shop_fields(case: Case, shop_item: ShopItem | None) -> dict[str, Any]:
    brand = _brand(shop_item)
    return {
        "shop_name": (shop_item.shop_name if shop_item else None) or case.shop,
        "logo_url": shop_item.logo_url if shop_item and _https(shop_item.logo_url) else None,
        "brand_color": brand,
        "brand_text": _text_color_on(brand),
    }


def _choices(given: PageInput, zone: ZoneInfo, locale: str) -> dict[str, Any]:
    """What an open case offers: paying (in full, in instalments, or under a settlement
    offer), a promise, reports; and what comes next. Under review (the customer said it is
    not theirs, or it is held or flagged for fraud) it asks for no payment and takes no
    promise: the shop is looking into it. Paused by the customer's report, it offers
    neither a plan nor a settlement."""
    options = given.options
    paused = _paused(given.stored, options)
    review = under_review(given.stored)
    latest = options.promise_latest if options and not review else None
    promised = options.promise if options else None
    today = given.now.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    return {
        "paused": paused,
        "under_review": review,
        "next_reminder": None if paused else _next(given, zone, locale),
        "pay_url": None if review else given.pay_url,
        # A promise names a day from the customer's tomorrow on (customer_requests).
        "promise_min": tomorrow.isoformat() if latest else None,
        "promise_latest": latest.isoformat() if latest else None,
        "promise_in_force": _date(promised.pay_by, locale) if promised else None,
        "reports": tuple(options.reports) if options else (),
        **_payments(given, today, zone, locale),
    }


def _payments(given: PageInput, today: date, zone: ZoneInfo, locale: str) -> dict[str, Any]:
    """Paying otherwise than in full now: the instalment plan's choices (with the schedule
    asked for) and the settlement offer open; neither under review or paused by the
    customer's report."""
    if under_review(given.stored) or _paused(given.stored, given.options):
        return {"plan_form": None, "plan_preview": None, "offer": None}
    form = _plan_form(given.plan_choices, locale)
    return {
        "plan_form": form,
        "plan_preview": _preview(given, today, locale) if form else None,
        "offer": _offer(given.offer, zone, locale),
    }


def _state(stored: StoredCase, owed: Money | None) -> str:
    case = stored.case
    if case.status is CaseStatus.PAID:
        return "paid"
    if case.status is CaseStatus.CANCELLED:
        return "cancelled"
    referrals = stored.referrals
    handed_over = referrals is not None and (
        referrals.written_off is not None
        or (referrals.latest is not None and referrals.latest.active)
    )
    if handed_over or case.merged_into or owed is None or owed.minor <= 0:
        return "closed"
    return "open"


def under_review(stored: StoredCase) -> bool:
    """The customer said the order is not theirs, or it is held or flagged for fraud."""
    dunning = stored.dunning
    if dunning is None:
        return False
    return dunning.report == "not_mine" or dunning.status in (
        DunningStatus.HELD,
        DunningStatus.FLAGGED,
    )


def _paused(stored: StoredCase, options: CustomerOptions | None) -> str | None:
    if options is not None and options.paused_reason:
        return options.paused_reason
    dunning = stored.dunning
    if dunning is not None and dunning.status in (DunningStatus.HELD, DunningStatus.FLAGGED):
        return "held"  # the page says the shop is looking into it
    return None


def _brand(shop_item: ShopItem | None) -> str:
    color = (shop_item.brand_color if shop_item else None) or DEFAULT_BRAND_COLOR
    valid = (
        len(color) == 7
        and color[0] == "#"
        and all(c in "0123456789abcdefABCDEF" for c in color[1:])
    )
    return color if valid else DEFAULT_BRAND_COLOR


def _text_color_on(background: str) -> str:
    from recoup.channels.render import text_color_on

    return text_color_on(background)


def _https(url: str | None) -> bool:
    return bool(url) and str(url).startswith("https://") and '"' not in str(url)


def _zone(case: Case, policy: ReminderPolicy) -> ZoneInfo:
    return zone_of_customer(case.snapshot.customer if case.snapshot else None, policy)


def _addresses(case: Case) -> tuple[str | None, str | None]:
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return None, None
    return customer.email or None, normalise_phone(customer.phone, customer.country)


def _next(given: PageInput, zone: ZoneInfo, locale: str) -> NextReminder | None:
    """The next message the customer will otherwise receive, in their zone and language:
    on the channel the sender would pick, at the first moment the shop's quiet hours and the
    customer's avoided times leave free."""
    stored, policy, prefs = given.stored, given.policy, given.prefs
    dunning = stored.dunning
    if dunning is None or not dunning.due or dunning.next_at is None:
        return None
    if dunning.next_step >= len(policy.steps) or prefs.no_messages:
        return None
    planned = str(policy.steps[dunning.next_step].channel)
    usable = reachable_channels(stored.case, given.reach, prefs)
    if planned in usable:
        channel = planned
    elif planned == "email_then_sms" and usable:
        channel = usable[0]
    else:
        return None
    free = next_free(max(dunning.next_at, given.now), zone, policy.quiet_hours, prefs.avoid)
    if free is None:
        return None
    local = free[0].astimezone(zone)
    return NextReminder(channel, _date(local.date(), locale), _time(local, locale))


def reachable_channels(
    case: Case, reach: Reachability | None, prefs: ContactPreferences
) -> tuple[str, ...]:
    """The channels a message to the case's customer may go by, the one they prefer first
    (else email first): an address on file, allowed by their preferences, not opted out
    (unsubscribe, STOP), not suppressed (bounce, complaint) and not undeliverable."""
    email, phone = _addresses(case)
    mail_ok = bool(email) and prefs.email
    text_ok = bool(phone) and prefs.sms
    if reach is not None:
        mail_ok = mail_ok and not (
            reach.email_opted_out or reach.email_suppressed or reach.email_undeliverable
        )
        text_ok = text_ok and not (reach.sms_opted_out or reach.sms_undeliverable)
    usable = [c for c, ok in (("email", mail_ok), ("sms", text_ok)) if ok]
    if prefs.preferred == "sms":
        usable.reverse()
    return tuple(usable)


# ------------------------------------------------------------------------------ plans


def _plan_form(choices: PlanChoices | None, locale: str) -> PlanForm | None:
    if choices is None or not choices.counts:
        return None
    intervals = tuple((str(interval), most) for interval, most in choices.counts.items())
    minimum = choices.min_instalment
    return PlanForm(
        intervals=intervals,
        most=max(most for _, most in intervals),
        first_due_now=choices.first_due_now,
        earliest_start=choices.earliest_start.isoformat(),
        latest_start=choices.latest_start.isoformat(),
        earliest_day=_date(choices.earliest_start, locale),
        latest_day=_date(choices.latest_start, locale),
        min_instalment=_money(minimum, locale) if minimum else None,
        max_days=choices.max_days,
    )


def _preview(given: PageInput, today: date, locale: str) -> PlanPreview | None:
    """The schedule asked for: each instalment's date and amount (the remainder on the
    first), the total, and what agreeing to it means."""
    schedule = given.plan_preview
    if not schedule or given.posted is None or given.posted[0] != "plan":
        return None
    fields = given.posted[1]
    first = schedule[0]
    currency = first.amount.currency
    total = Money.of(sum(s.amount.minor for s in schedule), currency)
    return PlanPreview(
        count=len(schedule),
        interval=str((fields.get("interval") or [""])[0]),
        start="" if first.due_on <= today else first.due_on.isoformat(),
        shown=schedule_shown(schedule),
        rows=tuple(
            ScheduleRow(s.number, _date(s.due_on, locale, "medium"), _money(s.amount, locale))
            for s in schedule
        ),
        total=_money(total, locale),
        first_now=_money(first.amount, locale) if first.due_on <= today else None,
        charge_time=_clock(_charge_time(), locale),
        grace_days=given.policy.instalments.grace_days,
    )


def schedule_shown(schedule: Sequence[Scheduled]) -> str:
    """What the agree form carries of the schedule the customer saw: its first date and its
    total, so a schedule that changed before they agreed is shown again first."""
    total = sum(s.amount.minor for s in schedule)
    return f"{schedule[0].due_on.isoformat()}/{total}"


def _charge_time() -> time:
    from recoup.domain.instalments import CHARGE_TIME

    return CHARGE_TIME


def _plan_shown(given: PageInput, state: str, zone: ZoneInfo, locale: str) -> PlanShown | None:
    """The plan the customer agreed to, while the case is open (and a plan paid in full on
    the paid order's page)."""
    from recoup.domain.instalments import PlanStatus

    dunning = given.stored.dunning
    plan = _plan_to_show(given.stored, state)
    if dunning is None or plan is None:
        return None
    running = plan.status in (PlanStatus.AWAITING_CARD, PlanStatus.ACTIVE)
    missed = plan.missed if plan.status is PlanStatus.ACTIVE else None
    until = _plan_deadline(plan, dunning.plan_grace_days, missed is not None)
    return PlanShown(
        status=str(plan.status),
        running=running,
        rows=_plan_rows(plan, running, locale),
        total=_money(plan.total, locale),
        paid=_money(plan.paid, locale),
        remaining=_money(plan.total - plan.paid, locale),
        charge_time=_clock(_charge_time(), locale),
        **_plan_next(plan, missed, locale),
        **_until(until, zone, locale),
        action=_plan_action(given, plan, state, missed is not None),
    )


def _plan_to_show(stored: StoredCase, state: str) -> Plan | None:
    from recoup.domain.instalments import PlanStatus

    plan = stored.dunning.plan if stored.dunning else None
    if plan is None or plan.status is PlanStatus.ENDED:
        return None
    if state == "open" or (state == "paid" and plan.status is PlanStatus.COMPLETED):
        return plan
    return None


def _plan_next(plan: Plan, missed: Instalment | None, locale: str) -> dict[str, Any]:
    """The instalment missed, else the next one a running plan charges."""
    from recoup.domain.instalments import PlanStatus

    upcoming = plan.next_unpaid if plan.status is PlanStatus.ACTIVE and not missed else None
    return {
        "next_day": _date(upcoming.due_on, locale) if upcoming else None,
        "next_amount": _plan_money(plan, upcoming, locale),
        "missed_number": missed.number if missed else None,
        "missed_amount": _plan_money(plan, missed, locale),
    }


def _plan_rows(plan: Plan, running: bool, locale: str) -> tuple[ScheduleRow, ...]:
    return tuple(
        ScheduleRow(
            i.number,
            _date(i.due_on, locale, "medium"),
            _money(Money.of(i.amount_minor, plan.currency), locale),
            _instalment_state(i.paid, i.failed_at is not None, running),
        )
        for i in plan.instalments
    )


def _until(until: datetime | None, zone: ZoneInfo, locale: str) -> dict[str, Any]:
    """A deadline's date and time as the customer reads them, in their zone."""
    if until is None:
        return {"until_day": None, "until_time": None}
    local = until.astimezone(zone)
    return {"until_day": _date(local.date(), locale), "until_time": _time(local, locale)}


def _plan_deadline(plan: Plan, grace_days: int, missed: bool) -> datetime | None:
    """When the card must be saved (a plan awaiting it), or the missed instalment paid."""
    from recoup.domain.instalments import PlanStatus

    if plan.status is PlanStatus.AWAITING_CARD:
        return plan.card_by
    return plan.grace_ends(grace_days) if missed else None


def _instalment_state(paid: bool, failed: bool, running: bool) -> str:
    if paid:
        return "paid"
    if failed:
        return "missed"
    return "due" if running else "ended"


def _plan_money(plan: Plan, instalment: Instalment | None, locale: str) -> str | None:
    if instalment is None:
        return None
    return _money(Money.of(instalment.amount_minor, plan.currency), locale)


def _plan_action(given: PageInput, plan: Plan, state: str, missed: bool) -> str | None:
    """What the customer can do for the plan on the page: save the card (and pay the first
    instalment) for a plan awaiting it, or pay a missed instalment; nothing under review,
    paused by their report, or once the order is no longer open."""
    from recoup.domain.instalments import PlanStatus

    if state != "open" or under_review(given.stored) or _paused(given.stored, given.options):
        return None
    if plan.status is PlanStatus.AWAITING_CARD:
        return "card"
    return "missed" if missed else None


def _offer(offer: Offer | None, zone: ZoneInfo, locale: str) -> OfferShown | None:
    if offer is None:
        return None
    ends = offer.expires_at.astimezone(zone)
    return OfferShown(
        pay=_money(offer.pay, locale),
        owed=_money(offer.owed, locale),
        saved=_money(offer.discount, locale),
        day=_date(ends.date(), locale),
        time=_time(ends, locale),
    )


# ------------------------------------------------------------------------------ amounts


def reconcile(snapshot: OrderSnapshot | None, locale: str) -> tuple[Row, ...]:
    """The order's sums, from the items to the total, adding up: what the platform stated,
    and "other" for any difference it did not explain."""
    if snapshot is None or snapshot.order_total is None:
        return ()
    total = snapshot.order_total
    parts = [(kind, amount) for kind, amount in _parts(snapshot, total.currency) if amount.minor]
    known = sum((amount.minor for _, amount in parts), 0)
    if parts and known != total.minor:
        difference = total.minor - known
        kind = "other" if difference > 0 else "other_credits"
        parts.append((kind, Money.of(difference, total.currency)))
    rows = [Row(kind, _money(amount, locale)) for kind, amount in parts]
    charges = snapshot.charges
    rows.append(Row("total", _money(total, locale)))
    if charges and charges.taxes_included and _same(charges.total_tax, total.currency):
        assert charges.total_tax is not None
        rows.append(Row("taxes_included", _money(charges.total_tax, locale)))
    return tuple(rows)


def _parts(snapshot: OrderSnapshot, currency: str) -> list[tuple[str, Money]]:
    charges = snapshot.charges
    discounts = charges.total_discounts if charges else None
    discounts = discounts if _same(discounts, currency) else None
    items = _items_total(snapshot, currency)
    if items is None and charges and _same(charges.subtotal, currency):
        assert charges.subtotal is not None
        # The subtotal is after discounts: the items before them, so the discount shows.
        items = charges.subtotal + discounts if discounts else charges.subtotal
    parts: list[tuple[str, Money]] = []
    if items is not None:
        parts.append(("items", items))
    if discounts is not None:
        parts.append(("discounts", Money.of(-discounts.minor, currency)))
    if charges and _same(charges.total_shipping, currency):
        assert charges.total_shipping is not None
        parts.append(("shipping", charges.total_shipping))
    if charges and not charges.taxes_included and _same(charges.total_tax, currency):
        assert charges.total_tax is not None
        parts.append(("taxes", charges.total_tax))
    return parts


def _items_total(snapshot: OrderSnapshot, currency: str) -> Money | None:
    lines = snapshot.line_items
    if not lines or any(not _same(i.unit_price, currency) for i in lines):
        return None
    return Money.of(
        sum(i.unit_price.minor * i.quantity for i in lines if i.unit_price is not None),
        currency,
    )


def _same(amount: Money | None, currency: str) -> bool:
    return amount is not None and amount.currency == currency


def _lines(snapshot: OrderSnapshot | None, locale: str) -> tuple[Line, ...]:
    if snapshot is None:
        return ()
    return tuple(
        Line(
            item.title,
            item.quantity,
            _money(
                Money.of(item.unit_price.minor * item.quantity, item.unit_price.currency), locale
            )
            if item.unit_price is not None
            else None,
        )
        for item in snapshot.line_items
    )


def _paid(snapshot: OrderSnapshot | None, owed: Money | None, locale: str) -> str | None:
    total = snapshot.order_total if snapshot else None
    if total is None or owed is None or total.currency != owed.currency:
        return None
    paid = total.minor - owed.minor
    return _money(Money.of(paid, total.currency), locale) if paid > 0 else None


def _money(amount: Money, locale: str) -> str:
    from recoup.channels.render import format_money, resolve_locale

    return str(format_money(amount, resolve_locale(locale)))


def _date(day: date, locale: str, form: str = "long") -> str:
    """A date as the customer reads one; "medium" (Dec 6, 2026) in a schedule's rows, where
    a phone's width holds four columns."""
    from babel.dates import format_date

    from recoup.channels.render import resolve_locale

    return str(format_date(day, format=form, locale=resolve_locale(locale)))


def _time(moment: datetime, locale: str) -> str:
    from babel.dates import format_time

    from recoup.channels.render import resolve_locale

    return str(format_time(moment, format="short", locale=resolve_locale(locale)))


def _clock(moment: time, locale: str) -> str:
    """A time of day as the customer reads one, in no zone (their own)."""
    from babel.dates import format_time

    from recoup.channels.render import resolve_locale

    return str(format_time(moment, format="short", locale=resolve_locale(locale)))


# ------------------------------------------------------------------------------ forms


def _prefill(
    prefs: ContactPreferences, posted: tuple[str, Mapping[str, Sequence[str]]] | None
) -> Prefill:
    window = prefs.avoid[0] if prefs.avoid else None
    stored = Prefill(
        email_on=prefs.email,
        sms_on=prefs.sms,
        preferred=prefs.preferred or "",
        avoid_days=frozenset(str(d) for d in window.days) if window else frozenset(),
        avoid_from=window.start.strftime("%H:%M") if window else "",
        avoid_until=window.end.strftime("%H:%M") if window else "",
        language=prefs.language or "",
    )
    if posted is None:
        return stored
    form, fields = posted

    def one(name: str) -> str:
        values = fields.get(name) or [""]
        return str(values[0])

    if form == "promise":
        return _replace(stored, promise_pay_by=one("pay_by"), promise_note=one("note"))
    if form == "report":
        return _replace(stored, report_kind=one("kind"), report_note=one("note"))
    if form == "plan":
        return _replace(
            stored, plan_interval=one("interval"), plan_count=one("count"), plan_start=one("start")
        )
    return Prefill(
        email_on=one("email_on") == "1",
        sms_on=one("sms_on") == "1",
        preferred=one("preferred"),
        avoid_days=frozenset(str(v) for v in fields.get("avoid_days") or ()),
        avoid_from=one("avoid_from"),
        avoid_until=one("avoid_until"),
        language=one("language"),
    )


def _replace(prefill: Prefill, **changes: Any) -> Prefill:
    from dataclasses import replace

    return replace(prefill, **changes)


# ------------------------------------------------------------------------------ rendering


def render(template: str, language: str, **context: Any) -> Rendered:
    """A page of `templates/customer/` in `language`, with a fresh CSP nonce."""
    from recoup.channels import i18n

    nonce = secrets.token_urlsafe(16)
    env = i18n.environment(DOMAIN, language)
    html = env.get_template(f"customer/{template}").render(
        language=language,
        nonce=nonce,
        note_max=NOTE_MAX,
        days=DAYS,
        languages=LANGUAGE_NAMES,
        **context,
    )
    return Rendered(html, nonce)


def render_page(given: PageInput) -> Rendered:
    shown = view(given)
    return render(
        "page.html.j2",
        shown.language,
        page=shown,
        shop_name=shown.shop_name,
        logo_url=shown.logo_url,
        brand_color=shown.brand_color,
        brand_text=shown.brand_text,
        menu_base=f"/c/{shown.token}",
    )


def render_text(template: str, language: str, **context: Any) -> str:
    """A plain-text template (the fresh link's email and SMS)."""
    from recoup.channels import i18n

    env = i18n.environment(DOMAIN, language)
    return str(env.get_template(f"customer/{template}").render(language=language, **context))


def retry_time(at: datetime, zone: ZoneInfo, language: str) -> str:
    """When to try again, as the customer reads a time (their zone, their language)."""
    return _time(at.astimezone(zone), language)


def customer_zone_of(case: Case, policy: ReminderPolicy) -> ZoneInfo:
    return _zone(case, policy)


def rounded_up_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


__all__ = [
    "LANGUAGE_NAMES",
    "OfferShown",
    "PageInput",
    "PageView",
    "PlanForm",
    "PlanPreview",
    "PlanShown",
    "Rendered",
    "ScheduleRow",
    "customer_zone_of",
    "reachable_channels",
    "reconcile",
    "render",
    "render_page",
    "render_text",
    "retry_time",
    "rounded_up_hour",
    "schedule_shown",
    "under_review",
    "view",
]
