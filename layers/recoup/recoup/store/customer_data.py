"""What the table holds about one customer of one shop, read for a privacy request: their
cases (with reminders and fraud screening), contact records and message log.

Cases are found by reading every case item of the shop (one paginated Query, never a Scan)
and keeping those the request is about: privacy requests are rare, and a customer's cases
are named by order id, customer id, email or phone, which no index covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from recoup.domain.case import Case
from recoup.domain.erasure import Identifiers, Subject
from recoup.store import contacts
from recoup.store.bind import bind
from recoup.store.models import CaseItem, ContactItem, MessageItem, shop_pk


@dataclass(frozen=True, slots=True)
class HeldCase:
    case: Case
    reminders: dict[str, Any] | None  # the stored reminder progress (messages sent)
    screening: dict[str, Any] | None  # the stored fraud screening


def cases_about(shop: str, subject: Subject) -> list[HeldCase]:
    """The shop's cases the subject matches, and the cases merged into or from them."""
    held = list(_all_cases(shop))
    matched = {h.case.case_id for h in held if subject.matches(h.case)}
    for h in held:
        if h.case.case_id in matched and h.case.merged_into:
            matched.add(h.case.merged_into)
    return [h for h in held if h.case.case_id in matched or h.case.merged_into in matched]


def _all_cases(shop: str) -> Iterator[HeldCase]:
    bind()
    for item in CaseItem.query(shop_pk(shop), CaseItem.sk.startswith("CASE#")):
        yield HeldCase(Case.from_dict(item.doc), item.dunning, item.screening)


def contact_records(shop: str, who: Identifiers) -> list[dict[str, Any]]:
    """The shop's opt-out and suppression records of these addresses, and the numbers'
    SMS opt-outs (kept for every shop)."""
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
    for item in ContactItem.batch_get(list(wanted)) if wanted else ():
        channel, address, scope = wanted[(item.pk, item.sk)]
        records.append(
            {
                "channel": channel,
                "address": address,
                "applies_to": scope,
                "email_opt_out": bool(item.email_opt_out),
                "sms_opt_out": bool(item.sms_opt_out),
                "suppressed": bool(item.suppressed),
                "reason": item.reason,
                "updated_at": item.updated_at.isoformat() if item.updated_at else None,
            }
        )
    return sorted(records, key=lambda r: (r["channel"], r["address"], r["applies_to"]))


def message_log(shop: str, who: Identifiers) -> list[dict[str, Any]]:
    """The log of messages sent to the customer (kept 8 days, for the weekly cap)."""
    bind()
    entries = []
    for prefix in (f"MSG#{h}#" for key in who.all for h in contacts.contact_hashes(key)):
        for item in MessageItem.query(shop_pk(shop), MessageItem.sk.startswith(prefix)):
            entries.append(
                {"at": item.sk[len(prefix) :], "case_id": item.case_id, "channel": item.channel}
            )
    return sorted(entries, key=lambda e: (e["at"], e["case_id"]))
