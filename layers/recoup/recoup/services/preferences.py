"""A customer's contact preferences, as their page reads and saves them.

They belong to the customer of the shop, not to one case: they are kept on the shop's
contact records of the case's email and phone (`store.contacts`), where the sender's read
before a send finds them. A save writes both records and the case's audit entry ("Customer
changed contact preferences: SMS off, avoid weekdays 09:00-17:00", never an address) in one
transaction, through the case's unit of work (`store.cases.change`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case
from recoup.domain.preferences import ContactPreferences
from recoup.domain.timezones import normalise_phone
from recoup.errors import Conflict, NotFound
from recoup.store import cases as store
from recoup.store import contacts

if TYPE_CHECKING:
    from recoup.domain.customer_requests import RequestMeta

CHANGED = "customer.preferences"


def for_case(shop: str, case: Case) -> ContactPreferences:
    """The preferences of the case's customer (the defaults when they set none)."""
    email, phone = addresses(case)
    if not email and not phone:
        return ContactPreferences()
    found = contacts.preferences(shop, email, phone)
    return found.preferences if found else ContactPreferences()


def save(
    shop: str,
    case: Case,
    prefs: ContactPreferences,
    *,
    meta: RequestMeta,
    now: datetime,
) -> ContactPreferences:
    """Keep `prefs` for the case's customer and say so on the case's trail, in one
    transaction; saving what is already kept writes nothing. `meta` (the request's IP and
    user agent) is not stored: preferences need neither. Raises NotFound for a case that is
    not there, Conflict when the order has no address to keep them for."""
    del meta  # deliberately kept nowhere (personal data the preferences do not need)
    email, phone = addresses(case)
    if not email and not phone:
        raise Conflict("this order has no email address or phone number to keep preferences for")
    current = for_case(shop, case)

    def decide(prior: StoredCase | None) -> ContactPreferences | store.Change[ContactPreferences]:
        if prior is None:
            raise NotFound("no such case")
        if prefs == current:
            return prefs
        entry = store.recoup_entry(
            prior,
            source="customer",
            kind=CHANGED,
            event_id=f"customer:preferences:{case.case_id}:{now.isoformat()}",
            summary=f"Customer changed contact preferences: {prefs.consent()}",
            effect=_effect(prefs),
            now=now,
        )
        updates = contacts.preferences_updates(
            shop, [a for a in (email, phone) if a], prefs, now=now
        )
        return store.Change(prior.case, entry, prefs, updates=updates)

    return store.change(shop, case.case_id, decide, now=now)


def addresses(case: Case) -> tuple[str | None, str | None]:
    """The case's email and phone (E.164) as the sender addresses them."""
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return None, None
    phone = normalise_phone(customer.phone, customer.country)
    return customer.email or None, phone


def _effect(prefs: ContactPreferences) -> str:
    if prefs.no_messages:
        return "no reminders are sent while email and SMS are both off"
    if not prefs.email:
        return "reminders go by SMS only"
    if not prefs.sms:
        return "reminders go by email only"
    return ""


__all__ = ["addresses", "for_case", "save"]
