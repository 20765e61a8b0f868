"""The demand letter of a legal referral, in HTML and plain text, from the case-file record.

The copy is English, like the reminders; the amount and the dates are formatted for the
customer's locale (as `channels.render` formats them for reminders). The letter names the
merchant, the customer, the order, the amount still owed, the date, the deadline and how to
pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel import Locale
from babel.dates import format_date

from recoup.casefile.render import environment
from recoup.channels.render import FALLBACK_LOCALE, format_money, resolve_locale
from recoup.domain.money import Money, MoneyError

DEMAND_PERIOD = timedelta(days=14)  # the default time the customer is given to pay
HTML_TEMPLATE = "letters/demand_letter.html.j2"
TEXT_TEMPLATE = "letters/demand_letter.txt.j2"


class LetterError(ValueError):
    """The record lacks what a demand letter must state."""


@dataclass(frozen=True, slots=True)
class DemandLetter:
    html: str
    text: str


def render_demand_letter(
    record: Mapping[str, Any],
    *,
    issued_on: date,
    deadline: date | None = None,
    pay_url: str | None = None,
) -> DemandLetter:
    """The letter for a case-file record. `deadline` defaults to 14 days after `issued_on`;
    `pay_url` to the order's own payment page; without either, the customer is asked to
    contact the merchant to pay."""
    deadline = deadline or issued_on + DEMAND_PERIOD
    if deadline <= issued_on:
        raise LetterError(f"the deadline ({deadline}) must come after the letter ({issued_on})")
    variables = letter_variables(record, issued_on=issued_on, deadline=deadline, pay_url=pay_url)
    env = environment()
    return DemandLetter(
        html=env.get_template(HTML_TEMPLATE).render(variables),
        text=env.get_template(TEXT_TEMPLATE).render(variables),
    )


def letter_variables(
    record: Mapping[str, Any], *, issued_on: date, deadline: date, pay_url: str | None
) -> dict[str, Any]:
    """What the letter templates see; money and dates already formatted."""
    merchant = _section(record, "merchant")
    customer = _section(record, "customer")
    order = _section(record, "order")
    owed = _owed(record)
    locale = resolve_locale(str(customer.get("locale") or FALLBACK_LOCALE))
    items = order.get("items")
    return {
        "merchant_name": merchant.get("name"),
        "merchant_email": merchant.get("contact_email"),
        "merchant_shop": merchant.get("shop_domain"),
        "customer_name": customer.get("name"),
        "customer_email": customer.get("email"),
        "order_name": order.get("order_name") or order.get("case_id"),
        "order_date": _date(order.get("opened_at"), locale),
        "items": [
            {"title": i.get("title"), "quantity": i.get("quantity")}
            for i in (items if isinstance(items, list) else ())
            if isinstance(i, Mapping)
        ],
        "amount_owed": format_money(owed, locale),
        "issued_on": format_date(issued_on, format="long", locale=locale),
        "deadline": format_date(deadline, format="long", locale=locale),
        "pay_url": pay_url or order.get("pay_url"),
        "reference": order.get("case_id"),
    }


def _section(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    return value if isinstance(value, Mapping) else {}


def _owed(record: Mapping[str, Any]) -> Money:
    owed = _section(record, "amounts").get("owed")
    if not isinstance(owed, Mapping):
        raise LetterError("the case file states no amount owed")
    try:
        money = Money(currency=owed["currency"], minor=owed["minor"])
    except (KeyError, MoneyError) as exc:
        raise LetterError(f"the amount owed in the case file is invalid: {exc}") from None
    if money.minor <= 0:
        raise LetterError("a demand letter needs a positive amount owed")
    return money


def _date(value: object, locale: Locale) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return format_date(date.fromisoformat(value[:10]), format="long", locale=locale)
    except ValueError:
        return None


__all__ = [
    "DEMAND_PERIOD",
    "DemandLetter",
    "LetterError",
    "letter_variables",
    "render_demand_letter",
]
