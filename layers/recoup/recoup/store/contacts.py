"""Contacts' opt-outs and suppression, and the message log behind the frequency cap.

Contacts are keyed by a keyed hash of the normalised address (`recoup.store.identity`), so
the keys themselves hold no address and cannot be reversed by guessing. SMS opt-outs (STOP)
are kept under GLOBAL: a STOP answers the sending number, which every shop shares. Records
written before the hash was keyed are still read (an opt-out stays honoured) and erased.

The message log is one item per shop and customer (`MSG#<shop>#<hash>` / `LOG`), a partition
of its own, so a shop's sends spread over its customers; the sender reads it in the same
BatchGetItem as the contact records.

A customer's contact preferences (`recoup.domain.preferences`) are kept on the shop's records
of their email and of their phone (`prefs`, JSON, with `prefs_version` and
`prefs_updated_at`), both written in one transaction, so the sender's read before a send
already holds them; the newer of the two counts. Being the shop's contact records, they go
with them on customers/redact and shop/redact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Action

from recoup.domain.preferences import ContactPreferences
from recoup.store import identity
from recoup.store.batch import Key, get_many
from recoup.store.bind import bind
from recoup.store.models import (
    MESSAGE_LOG,
    ContactItem,
    MessageLogItem,
    shop_part,
    shop_pk,
)

GLOBAL = "GLOBAL"
MESSAGE_RETENTION = timedelta(days=8)  # the cap looks back 7 days
LOG_SK = "LOG"
_SEP = "|"  # between a log entry's time, channel and case id (none of them holds one)
# Days past the retention whose sets a write removes: a log written to at least once in that
# many days never keeps a set the cap no longer reads (and TTL removes an idle log whole).
_PRUNED_DAYS = 30
# The contact record's attributes beyond ContactItem's own (read from raw items, written by
# path): the customer's preferences, and how an SMS opt-out was said.
PREFS = "prefs"
PREFS_VERSION = "prefs_version"
PREFS_UPDATED_AT = "prefs_updated_at"
SMS_OPT_OUT_KIND = "sms_opt_out_kind"
OptOutKind = Literal["keyword", "free_text"]


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
    preferences: ContactPreferences = field(default_factory=ContactPreferences)


@dataclass(frozen=True, slots=True)
class StoredPreferences:
    """A customer's preferences as one contact record holds them."""

    preferences: ContactPreferences
    version: int
    updated_at: datetime


def stored_preferences(raw: dict[str, Any]) -> StoredPreferences | None:
    """The preferences on one raw contact item, if it holds any."""
    if PREFS not in raw:
        return None
    return StoredPreferences(
        ContactPreferences.from_dict(json.loads(raw[PREFS]["S"])),
        int(raw.get(PREFS_VERSION, {}).get("N", "0")),
        datetime.fromisoformat(raw[PREFS_UPDATED_AT]["S"]),
    )


def _newest(raws: Iterable[dict[str, Any]]) -> StoredPreferences | None:
    found = [p for p in map(stored_preferences, raws) if p is not None]
    return max(found, key=lambda p: (p.updated_at, p.version), default=None)


def preferences(shop: str, email: str | None, phone: str | None) -> StoredPreferences | None:
    """The customer's preferences: the newer of those on the shop's records of their email
    and phone (one consistent BatchGetItem); None when neither holds any."""
    bind()
    pk = shop_pk(shop)
    keys = [(pk, contact_sk(a)) for a in (email, phone) if a]
    return _newest(get_many(keys).values())


def preferences_updates(
    shop: str, addresses: Iterable[str], prefs: ContactPreferences, *, now: datetime
) -> list[tuple[ContactItem, list[Any]]]:
    """The updates that put `prefs` on the shop's record of each address (created if there
    is none), for one transaction: the version counts the changes."""
    document = json.dumps(prefs.to_dict(), sort_keys=True, separators=(",", ":"))
    return [
        (
            ContactItem(shop_pk(shop), sk),
            [
                ContactItem.updated_at.set(now),
                Path([PREFS]).set(Value(document, attribute=UnicodeAttribute())),
                Path([PREFS_UPDATED_AT]).set(
                    Value(now.astimezone(UTC).isoformat(), attribute=UnicodeAttribute())
                ),
                Path([PREFS_VERSION]).add(Value(1, attribute=NumberAttribute())),
            ],
        )
        for sk in dict.fromkeys(contact_sk(a) for a in addresses)
    ]


def reachability(shop: str, email: str | None, phone: str | None) -> Reachability:
    """One BatchGetItem: the shop's records of the email and the phone, and the phone's STOP,
    under both hashes (a flag set under either counts)."""
    bind()
    keys = _ContactKeys.of(shop, email, phone)
    return keys.reachability(get_many(keys.all, consistent=False))


def before_send(
    shop: str, email: str | None, phone: str | None, customer: str | None, *, now: datetime
) -> tuple[Reachability, list[datetime]]:
    """What the sender checks before a message, in one consistent BatchGetItem: the
    reachability of the email and the phone, and when the shop messaged the customer in the
    last 7 days (`recent_messages`)."""
    bind()
    keys = _ContactKeys.of(shop, email, phone)
    log_keys = message_log_keys(shop, customer) if customer else []
    found = get_many(keys.all + log_keys)
    return keys.reachability(found), _sent_since([found[k] for k in log_keys if k in found], now)


@dataclass(frozen=True, slots=True)
class _ContactKeys:
    """The records that say whether an email and a phone can be reached, under both hashes."""

    shop_pk: str
    mail: list[Key]
    phone: list[Key]

    @classmethod
    def of(cls, shop: str, email: str | None, phone: str | None) -> _ContactKeys:
        pk = shop_pk(shop)
        return cls(
            pk,
            [(pk, sk) for sk in contact_sks(email)] if email else [],
            [(p, sk) for p in (pk, GLOBAL) for sk in contact_sks(phone)] if phone else [],
        )

    @property
    def all(self) -> list[Key]:
        return self.mail + self.phone

    def reachability(self, found: dict[Key, dict[str, Any]]) -> Reachability:
        mail = [ContactItem.from_raw_data(found[k]) for k in self.mail if k in found]
        texts = [ContactItem.from_raw_data(found[k]) for k in self.phone if k in found]
        shop_texts = [i for i in texts if i.pk == self.shop_pk]
        return Reachability(
            email_opted_out=any(i.email_opt_out for i in mail),
            email_suppressed=any(i.suppressed for i in mail),
            sms_opted_out=any(i.sms_opt_out for i in texts),
            email_undeliverable=next(
                (i.email_undeliverable for i in mail if i.email_undeliverable), None
            ),
            sms_undeliverable=next(
                (i.sms_undeliverable for i in shop_texts if i.sms_undeliverable), None
            ),
            preferences=self.preferences(found),
        )

    def preferences(self, found: dict[Key, dict[str, Any]]) -> ContactPreferences:
        """The newer preferences on the shop's records of the email and the phone (only
        under the keyed hash: they were never written under the other)."""
        keyed = [keys[0] for keys in (self.mail, self.phone) if keys]
        stored = _newest(found[k] for k in keyed if k in found)
        return stored.preferences if stored else ContactPreferences()


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
    opt_out_kind: OptOutKind | None = None,
) -> None:
    """Set some flags of one contact, `key` being contact_sk(address) (an upsert that leaves
    the other flags as they were); `opt_out_kind` records how an SMS opt-out was said (a
    keyword or free text), never the words."""
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
    if opt_out_kind is not None:
        actions.append(
            Path([SMS_OPT_OUT_KIND]).set(Value(opt_out_kind, attribute=UnicodeAttribute()))
        )
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
    opt_out_kind: OptOutKind | None = None,
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
        opt_out_kind=opt_out_kind,
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


def opt_out_phone(phone: str, *, now: datetime, reason: str, kind: OptOutKind) -> bool:
    """Opt the number out of SMS for every shop; whether that changed anything (False when
    it was already opted out, by a keyword or free text, under either hash). The write is
    conditional on the number not being opted out, so the first opt-out's record (when, how
    it was said) stays, and of two deliveries of one message (or a write SDK-retried after
    its answer was lost) only one is told it was new: the caller's confirmation goes at
    most once."""
    bind()
    keyed, legacy = contact_sks(phone)
    not_opted_out = ContactItem.sms_opt_out.does_not_exist() | (
        ContactItem.sms_opt_out == False  # noqa: E712 (a DynamoDB condition, not a test)
    )
    try:
        ContactItem(GLOBAL, keyed).update(
            actions=[
                ContactItem.updated_at.set(now),
                ContactItem.reason.set(reason),
                ContactItem.sms_opt_out.set(True),
                Path([SMS_OPT_OUT_KIND]).set(Value(kind, attribute=UnicodeAttribute())),
            ],
            condition=not_opted_out,
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        return False
    if legacy == keyed:
        return True
    # A STOP kept under the unkeyed hash is honoured by every reader: the number was out.
    found = get_many([(GLOBAL, legacy)])
    return not any(ContactItem.from_raw_data(raw).sms_opt_out for raw in found.values())


def last_shop_for_phone(phone: str) -> str | None:
    bind()
    found = {i.sk: i for i in ContactItem.batch_get([(GLOBAL, sk) for sk in contact_sks(phone)])}
    for sk in contact_sks(phone):
        if sk in found and found[sk].last_shop:
            return str(found[sk].last_shop)
    return None


def release_phone_from_shop(shop: str, phone: str) -> None:
    """The number's records kept for every shop, under either hash: delete one that names
    this shop and holds no opt-out; from one that holds an opt-out, remove only the pointer
    to this shop, so a STOP keeps being honoured. A record naming another shop is left."""
    bind()
    names_shop = ContactItem.last_shop == shop
    no_opt_out = ContactItem.sms_opt_out.does_not_exist() | (
        ContactItem.sms_opt_out == False  # noqa: E712 (a DynamoDB condition, not a test)
    )
    for sk in contact_sks(phone):
        item = ContactItem(GLOBAL, sk)
        try:
            item.delete(condition=names_shop & no_opt_out)
            continue
        except DeleteError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        try:
            item.update(actions=[ContactItem.last_shop.remove()], condition=names_shop)
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise


def message_log_pk(shop: str, digest: str) -> str:
    return f"MSG#{shop}#{digest}"


def message_log_keys(shop: str, customer: str) -> list[Key]:
    """The customer's log under the keyed hash, then under the unkeyed one (entries moved
    there from before the hash was keyed, kept until they expire)."""
    return [(message_log_pk(shop, digest), LOG_SK) for digest in contact_hashes(customer)]


def _day_attribute(day: date) -> str:
    return f"d{day.isoformat()}"


def message_logged(
    shop: str, customer: str, at: datetime, case_id: str, channel: str
) -> tuple[MessageLogItem, list[Any]]:
    """The update that logs one message sent, applied in the sender's transaction: the
    entry added to its day's set, the days the cap no longer looks at removed (removing an
    absent attribute is no change), the log's expiry moved to 8 days after this message."""
    return log_update(shop, contact_hash(customer), at, case_id, channel)


def log_update(
    shop: str, digest: str, at: datetime, case_id: str, channel: str, *, expiry: bool = True
) -> tuple[MessageLogItem, list[Any]]:
    """`message_logged` under a given hash (`expiry` False: leave the expiry as it is)."""
    pk = message_log_pk(shop, digest)
    day = at.astimezone(UTC).date()
    entry = f"{at.astimezone(UTC).isoformat()}{_SEP}{channel}{_SEP}{case_id}"
    actions: list[Any] = [
        Path([_day_attribute(day)]).add(Value({entry}, attribute=UnicodeSetAttribute())),
        *(
            Path([_day_attribute(day - timedelta(days=back))]).remove()
            for back in range(MESSAGE_RETENTION.days, MESSAGE_RETENTION.days + _PRUNED_DAYS)
        ),
        MessageLogItem.shop_part.set(shop_part(shop, pk)),
        MessageLogItem.shop_sort.set(f"{MESSAGE_LOG}{pk}"),
    ]
    if expiry:
        actions.append(MessageLogItem.expires_at.set(at + MESSAGE_RETENTION))
    return MessageLogItem(pk, LOG_SK), actions


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    at: datetime
    channel: str
    case_id: str


def log_entries(raw: dict[str, Any]) -> list[LoggedMessage]:
    """Every message in one raw log item, oldest first."""
    entries = []
    for name, value in raw.items():
        if name.startswith("d") and "SS" in value:
            for text in value["SS"]:
                at, channel, case_id = text.split(_SEP, 2)
                entries.append(LoggedMessage(datetime.fromisoformat(at), channel, case_id))
    return sorted(entries, key=lambda m: (m.at, m.case_id))


def message_logs(shop: str, customer: str) -> list[LoggedMessage]:
    """The customer's log, under both hashes (data requests)."""
    bind()
    found = get_many(message_log_keys(shop, customer))
    return sorted(
        (m for raw in found.values() for m in log_entries(raw)), key=lambda m: (m.at, m.case_id)
    )


def recent_messages(shop: str, customer: str, *, now: datetime) -> list[datetime]:
    """When this customer was messaged by the shop in the last 7 days (any case, channel)."""
    bind()
    found = get_many(message_log_keys(shop, customer))
    return _sent_since(list(found.values()), now)


def _sent_since(logs: list[dict[str, Any]], now: datetime) -> list[datetime]:
    since = now - timedelta(days=7)
    return sorted(m.at for raw in logs for m in log_entries(raw) if m.at >= since)
