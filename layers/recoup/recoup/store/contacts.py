"""Contacts' opt-outs and suppression, and the message log behind the frequency cap.

Contacts are keyed by a keyed hash of the normalised address (`recoup.store.identity`), so
the keys themselves hold no address and cannot be reversed by guessing. SMS opt-outs (STOP)
are kept under GLOBAL: a STOP answers the sending number, which every shop shares. Records
written before the hash was keyed are still read (an opt-out stays honoured) and erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from recoup.store import identity
from recoup.store.bind import bind
from recoup.store.models import ContactItem, MessageItem, shop_pk

GLOBAL = "GLOBAL"
MESSAGE_RETENTION = timedelta(days=8)  # the cap looks back 7 days


def _normalised(address: str) -> str:
    return address.strip().lower()


def contact_hash(address: str) -> str:
    """What new records of this address are keyed by."""
    return identity.keyed(_normalised(address))[:40]


def contact_hashes(address: str) -> tuple[str, str]:
    """Every hash a record of this address may be keyed by: the keyed one, then the unkeyed
    one of records written before the hash was keyed."""
    return contact_hash(address), identity.unkeyed(_normalised(address))[:40]


def contact_sk(address: str) -> str:
    return f"CONTACT#{contact_hash(address)}"


def contact_sks(address: str) -> tuple[str, ...]:
    return tuple(f"CONTACT#{h}" for h in contact_hashes(address))


@dataclass(frozen=True, slots=True)
class Reachability:
    email_opted_out: bool = False
    email_suppressed: bool = False
    sms_opted_out: bool = False
    email_undeliverable: str | None = None  # why, when the address cannot be delivered to
    sms_undeliverable: str | None = None  # why, when the number cannot be texted


def reachability(shop: str, email: str | None, phone: str | None) -> Reachability:
    """One BatchGetItem: the shop's records of the email and the phone, and the phone's STOP,
    under both hashes (a flag set under either counts)."""
    bind()
    mail_keys = [(shop_pk(shop), sk) for sk in contact_sks(email)] if email else []
    phone_keys = (
        [(pk, sk) for pk in (shop_pk(shop), GLOBAL) for sk in contact_sks(phone)] if phone else []
    )
    keys = mail_keys + phone_keys
    found = {(i.pk, i.sk): i for i in ContactItem.batch_get(keys)} if keys else {}
    mail = [found[k] for k in mail_keys if k in found]
    phone_items = [found[k] for k in phone_keys if k in found]
    shop_phone = [i for i in phone_items if i.pk == shop_pk(shop)]
    return Reachability(
        email_opted_out=any(i.email_opt_out for i in mail),
        email_suppressed=any(i.suppressed for i in mail),
        sms_opted_out=any(i.sms_opt_out for i in phone_items),
        email_undeliverable=next(
            (i.email_undeliverable for i in mail if i.email_undeliverable), None
        ),
        sms_undeliverable=next(
            (i.sms_undeliverable for i in shop_phone if i.sms_undeliverable), None
        ),
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


def update_address(
    pk: str,
    address: str,
    *,
    now: datetime,
    reason: str,
    email_opt_out: bool | None = None,
    sms_opt_out: bool | None = None,
    suppressed: bool | None = None,
) -> None:
    """`update` of the address's record. A flag turned off (START after a STOP) is turned off
    in a record under the unkeyed hash too, if there is one, since readers honour either."""
    update(
        pk,
        contact_sk(address),
        now=now,
        reason=reason,
        email_opt_out=email_opt_out,
        sms_opt_out=sms_opt_out,
        suppressed=suppressed,
    )
    cleared = [
        flag
        for flag, value in (
            (ContactItem.email_opt_out, email_opt_out),
            (ContactItem.sms_opt_out, sms_opt_out),
            (ContactItem.suppressed, suppressed),
        )
        if value is False
    ]
    if not cleared:
        return
    legacy = ContactItem(pk, contact_sks(address)[1])
    try:
        legacy.update(
            actions=[flag.set(False) for flag in cleared],
            condition=ContactItem.pk.exists(),  # never create a record under the old hash
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


def last_shop_for_phone(phone: str) -> str | None:
    bind()
    found = {i.sk: i for i in ContactItem.batch_get([(GLOBAL, sk) for sk in contact_sks(phone)])}
    for sk in contact_sks(phone):
        if sk in found and found[sk].last_shop:
            return str(found[sk].last_shop)
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
    """When this customer was messaged by the shop in the last 7 days (any case, channel).
    Entries under the unkeyed hash count too until they expire (8 days after they were
    written), so the cap holds across the change of hash."""
    bind()
    since = (now - timedelta(days=7)).isoformat()
    sent = []
    for digest in contact_hashes(customer):
        prefix = f"MSG#{digest}#"
        sent += [
            datetime.fromisoformat(str(item.sk)[len(prefix) :])
            for item in MessageItem.query(
                shop_pk(shop), MessageItem.sk.between(prefix + since, prefix + "~")
            )
        ]
    return sorted(sent)
