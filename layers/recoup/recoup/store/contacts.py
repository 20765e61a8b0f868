"""Contacts' opt-outs and suppression, and the message log behind the frequency cap.

Contacts are keyed by a hash of the normalised address, so the keys themselves hold no
address. SMS opt-outs (STOP) are kept under GLOBAL: a STOP answers the sending number,
which every shop shares.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.expressions.update import Action

from recoup.store.bind import bind
from recoup.store.models import ContactItem, MessageItem, shop_pk

GLOBAL = "GLOBAL"
MESSAGE_RETENTION = timedelta(days=8)  # the cap looks back 7 days


def contact_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:40]


def contact_sk(address: str) -> str:
    return f"CONTACT#{contact_hash(address)}"


@dataclass(frozen=True, slots=True)
class Reachability:
    email_opted_out: bool = False
    email_suppressed: bool = False
    sms_opted_out: bool = False
    email_undeliverable: str | None = None  # why, when the address cannot be delivered to
    sms_undeliverable: str | None = None  # why, when the number cannot be texted


def reachability(shop: str, email: str | None, phone: str | None) -> Reachability:
    """One BatchGetItem: the shop's record of the email and the phone, and the phone's STOP."""
    bind()
    keys: list[tuple[str, str]] = []
    if email:
        keys.append((shop_pk(shop), contact_sk(email)))
    if phone:
        keys += [(shop_pk(shop), contact_sk(phone)), (GLOBAL, contact_sk(phone))]
    found = {(i.pk, i.sk): i for i in ContactItem.batch_get(keys)} if keys else {}
    mail = found.get((shop_pk(shop), contact_sk(email))) if email else None
    phone_items = (
        [found.get((shop_pk(shop), contact_sk(phone))), found.get((GLOBAL, contact_sk(phone)))]
        if phone
        else []
    )
    shop_phone = phone_items[0] if phone_items else None
    return Reachability(
        email_opted_out=bool(mail and mail.email_opt_out),
        email_suppressed=bool(mail and mail.suppressed),
        sms_opted_out=any(i is not None and i.sms_opt_out for i in phone_items),
        email_undeliverable=(mail.email_undeliverable or None) if mail else None,
        sms_undeliverable=(shop_phone.sms_undeliverable or None) if shop_phone else None,
    )


def mark_undeliverable(
    shop: str, address: str, channel: str, reason: str, *, now: datetime
) -> None:
    """Record for the shop that `address` cannot be reached on `channel` ("email" or "sms")
    at all, and why (no address in `reason`): the guardrails then skip that channel."""
    bind()
    flag = ContactItem.email_undeliverable if channel == "email" else ContactItem.sms_undeliverable
    ContactItem(shop_pk(shop), contact_sk(address)).update(
        actions=[
            ContactItem.updated_at.set(now),
            ContactItem.reason.set(f"{channel} undeliverable: {reason}"),
            flag.set(reason),
        ]
    )


def update(
    pk: str,
    key: str,
    *,
    now: datetime,
    reason: str,
    email_opt_out: bool | None = None,
    sms_opt_out: bool | None = None,
    suppressed: bool | None = None,
    last_shop: str | None = None,
) -> None:
    """Set some flags of one contact, `key` being contact_sk(address) (an upsert that leaves
    the other flags as they were)."""
    bind()
    item = ContactItem(pk, key)
    actions: list[Action] = [ContactItem.updated_at.set(now), ContactItem.reason.set(reason)]
    for flag, value in (
        (ContactItem.email_opt_out, email_opt_out),
        (ContactItem.sms_opt_out, sms_opt_out),
        (ContactItem.suppressed, suppressed),
    ):
        if value is not None:
            actions.append(flag.set(value))
    if last_shop is not None:
        actions.append(ContactItem.last_shop.set(last_shop))
    item.update(actions=actions)


def last_shop_for_phone(phone: str) -> str | None:
    bind()
    for item in ContactItem.batch_get([(GLOBAL, contact_sk(phone))]):
        return str(item.last_shop) if item.last_shop else None
    return None


def message_item(shop: str, customer: str, at: datetime, case_id: str, channel: str) -> MessageItem:
    """The log entry for one message sent, written in the sender's transaction."""
    return MessageItem(
        shop_pk(shop),
        f"MSG#{contact_hash(customer)}#{at.isoformat()}",
        case_id=case_id,
        channel=channel,
        expires_at=at + MESSAGE_RETENTION,
    )


def recent_messages(shop: str, customer: str, *, now: datetime) -> list[datetime]:
    """When this customer was messaged by the shop in the last 7 days (any case, channel)."""
    bind()
    prefix = f"MSG#{contact_hash(customer)}#"
    since = (now - timedelta(days=7)).isoformat()
    return [
        datetime.fromisoformat(str(item.sk)[len(prefix) :])
        for item in MessageItem.query(
            shop_pk(shop), MessageItem.sk.between(prefix + since, prefix + "~")
        )
    ]
