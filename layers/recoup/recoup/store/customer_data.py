"""What the table holds about one customer of one shop, read for a privacy request: their
cases (with reminders and fraud screening), contact records (with the contact preferences the
customer set) and message log.

Cases are found by key: the orders the request names, and the cases linked to the
customer's id, emails and phone (store/customer_links.py); the cost follows the customer's
cases, not the shop's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recoup.domain.case import Case
from recoup.domain.erasure import Identifiers, Subject
from recoup.store import cases as case_store
from recoup.store import contacts, customer_links
from recoup.store.batch import MAX_KEYS, Key, get_many
from recoup.store.bind import bind
from recoup.store.models import ContactItem, shop_pk


@dataclass(frozen=True, slots=True)
class HeldCase:
    case: Case
    reminders: dict[str, Any] | None  # the stored reminder progress (messages sent)
    screening: dict[str, Any] | None  # the stored fraud screening


def cases_about(shop: str, subject: Subject) -> list[HeldCase]:
    """The shop's cases the subject matches, and the cases merged into or from them: the
    cases linked to the subject's identities and the orders it names, read by key."""
    ids = customer_links.case_ids(shop, subject.identities()) | set(subject.order_ids)
    found = case_store.load_many(shop, ids)
    matched = {i: s for i, s in found.items() if subject.matches(s.case)}
    # The orders the matched cases were merged into, then every payment case merged into
    # one of those (a merged case's id is among its order's Stripe references).
    targets = {s.case.merged_into for s in matched.values() if s.case.merged_into}
    matched |= case_store.load_many(shop, targets - set(matched))
    refs = {ref for s in matched.values() for ref in s.case.stripe_refs} - set(matched)
    for case_id, stored in case_store.load_many(shop, refs).items():
        if stored.case.merged_into in matched:
            matched[case_id] = stored
    return [
        HeldCase(s.case, _dict(s.dunning), _dict(s.screening)) for _, s in sorted(matched.items())
    ]


def _dict(part: Any) -> dict[str, Any] | None:
    return None if part is None else part.to_dict()


def contact_records(shop: str, who: Identifiers) -> list[dict[str, Any]]:
    """The shop's opt-out and suppression records of these addresses, with the contact
    preferences kept on them, and the numbers' SMS opt-outs (kept for every shop)."""
    bind()
    wanted: dict[tuple[str, str], tuple[str, str, str]] = {}
    # Under both hashes: records written before the hash was keyed are still held.
    for email in who.emails:
        for sk in contacts.contact_sks(email):
            wanted[(shop_pk(shop), sk)] = ("email", email, "this shop")
    for phone in who.phones:
        for sk in contacts.contact_sks(phone):
            wanted[(shop_pk(shop), sk)] = ("sms", phone, "this shop")
            wanted[(contacts.GLOBAL, sk)] = ("sms", phone, "every shop")
    records = []
    for key, raw in _raw_items(list(wanted)).items():
        channel, address, scope = wanted[key]
        item = ContactItem.from_raw_data(raw)
        prefs = contacts.stored_preferences(raw)
        records.append(
            {
                "channel": channel,
                "address": address,
                "applies_to": scope,
                "email_opt_out": bool(item.email_opt_out),
                "sms_opt_out": bool(item.sms_opt_out),
                "sms_opt_out_said_as": raw.get(contacts.SMS_OPT_OUT_KIND, {}).get("S"),
                "suppressed": bool(item.suppressed),
                "reason": item.reason,
                "updated_at": item.updated_at.isoformat() if item.updated_at else None,
                "preferences": prefs.preferences.to_dict() if prefs else None,
                "preferences_updated_at": prefs.updated_at.isoformat() if prefs else None,
            }
        )
    return sorted(records, key=lambda r: (r["channel"], r["address"], r["applies_to"]))


def _raw_items(keys: list[Key]) -> dict[Key, dict[str, Any]]:
    """The raw items (attributes ContactItem does not declare included), BatchGetItem's
    limit at a time."""
    found: dict[Key, dict[str, Any]] = {}
    for start in range(0, len(keys), MAX_KEYS):
        found |= get_many(keys[start : start + MAX_KEYS])
    return found


def message_log(shop: str, who: Identifiers) -> list[dict[str, Any]]:
    """The log of messages sent to the customer (kept 8 days, for the weekly cap)."""
    entries = [
        {"at": m.at.isoformat(), "case_id": m.case_id, "channel": m.channel}
        for key in who.all
        for m in contacts.message_logs(shop, key)
    ]
    return sorted(entries, key=lambda e: (e["at"], e["case_id"]))
