"""Velocity across a shop's cases: failed payments per email, card and IP, distinct cards per
customer, and customers sharing a shipping address, as counters per time bucket.

Failed payments: one item per identity and UTC hour, in the identity's own partition,
    pk `VEL#<shop>#<dim>#<hash>` (dim: email, card, ip), sk `H#<yyyy-mm-ddThh>`,
holding the hour's failures per 5 minutes (top-level numbers q00..q11, so one UpdateItem
ADDs to them), the hour's `total`, and for an email the cards tried with it (`cards`, a set
of card hashes, capped at CARDS_CAP per hour). TTL two days.

Shipping addresses: one item per address and ISO week (Monday to Sunday, UTC),
    pk `ADDR#<shop>#<address hash>`, sk `W#<the week's Monday, yyyy-mm-dd>`,
holding the emails (hashes) seen there that week, capped at EMAILS_CAP. TTL 90 days after
the week's end.

Both carry the shop index's attributes (`shop_part`, `shop_sort` = `V#<pk>#<sk>`) so that
shop/redact finds them. Keys hold keyed hashes (`recoup.store.identity`), never the
address, email, card or IP.

Writes are UpdateItems (atomic ADD) in the case's transaction (`counters`); a redelivered
event finds its attempts already in the stored case, so it adds nothing twice. Several
failures of one event in the same bucket are one update with a larger increment; an event
names at most MAX_UPDATES buckets (the newest; a transaction holds 100 items).

Reading is one Query per identity over its partition's bucket range: at most 25 hourly items
for an email, card or IP (the 24 h window), at most 15 weekly items for an address (the 90
days): a constant number of items however many failures an attacker makes. Precision:
- failed payments in 1 h and in 24 h are exact to the 5 minutes: a window's oldest
  5-minute slot is counted whole, so each window reaches back at most 5 minutes further
  (1 h: the last 60 to 65 minutes; 24 h: the last 24 h to 24 h 5 min);
- distinct cards in 24 h are counted by the hour: the oldest hour is counted whole (24 to
  25 h), and at most CARDS_CAP cards are kept per email and hour;
- customers at an address are counted by the week: the oldest week is counted whole (90 to
  97 days), and at most EMAILS_CAP emails are kept per address and week.
Both caps are above the thresholds of the default rules (3 cards, 2 other customers): a
count at or above its cap means "at least that many".

Failures of the event being screened are not written yet: they are counted in memory,
exactly once, from the same buckets `counters` will write.

Before the counters, each failed payment left marks in the shop's partition
(`SHOP#<shop>`, sk `VEL#<dim>#<hash>#<time>#<id>` and `ADDR#<address hash>#<email hash>`):
`migrate_marks` turns a shop's marks into counters and deletes them.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from recoup import clock
from recoup.domain.case import Case
from recoup.domain.events import PaymentAttempt
from recoup.store import identity
from recoup.store.bind import bind, connection
from recoup.store.models import (
    VELOCITY,
    AddressBucketItem,
    VelocityBucketItem,
    VelocityItem,
    shop_part,
    shop_pk,
)

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
SLOT = timedelta(minutes=5)
WEEK = timedelta(days=7)
COUNTER_RETENTION = timedelta(days=2)  # after the hour's end
ADDRESS_WINDOW = timedelta(days=90)
DIMS = ("email", "card", "ip")
# Cards kept per email and hour, emails per address and week: a bit above the thresholds of
# the default rules (recoup.domain.fraud.defaults: card_testing at 3 distinct cards,
# shared_shipping_address at 2 other customers), so each count is exact up to there.
CARDS_CAP = 8
EMAILS_CAP = 8
# Counter updates one event may add to its case's transaction (which holds at most 100
# items, with the cases, their audit entries and cross references): the newest buckets.
MAX_UPDATES = 24
_HOUR = "%Y-%m-%dT%H"
_MARK_TIME = "%Y-%m-%dT%H:%M:%SZ"

Updates = list[tuple[Model, list[Any]]]
Key = tuple[str, str]


def _folded(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def identity_hash(value: str) -> str:
    return identity.keyed(_folded(value))[:32]


def unkeyed_identity_hash(value: str) -> str:
    """The hash earlier versions keyed marks by: only to find them for erasure."""
    return identity.unkeyed(_folded(value))[:32]


# ---------------------------------------------------------------- keys
def counter_pk(shop: str, dim: str, value: str) -> str:
    return f"VEL#{shop}#{dim}#{value}"


def address_pk(shop: str, address: str) -> str:
    return f"ADDR#{shop}#{address}"


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_sk(at: datetime) -> str:
    return "H#" + at.astimezone(UTC).strftime(_HOUR)


def _hour_of(sk: str) -> datetime:
    return datetime.strptime(sk.removeprefix("H#"), _HOUR).replace(tzinfo=UTC)


def _slot(at: datetime) -> int:
    return at.astimezone(UTC).minute // 5


def _week(at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def week_sk(at: datetime) -> str:
    return "W#" + _week(at).strftime("%Y-%m-%d")


def _shop_index(shop: str, pk: str, sk: str) -> list[Any]:
    return [
        VelocityBucketItem.shop_part.set(shop_part(shop, pk)),
        VelocityBucketItem.shop_sort.set(f"{VELOCITY}{pk}#{sk}"),
    ]


# ---------------------------------------------------------------- who and what
@dataclass(frozen=True, slots=True)
class Identities:
    """Who a case's payments name, hashed; None where unknown."""

    email: str | None = None
    card: str | None = None  # the newest failed attempt's card
    ip: str | None = None
    address: str | None = None

    @classmethod
    def of(cls, case: Case, digest: Callable[[str], str] = identity_hash) -> Identities:
        customer = case.snapshot.customer if case.snapshot else None
        signals = case.signal_values()
        ip = signals.get("browser_ip")
        cards = [a.card_fingerprint for a in case.attempts if a.card_fingerprint]
        address = None
        if customer is not None and customer.address1 and customer.country:
            address = "|".join((customer.country, customer.zip or "", customer.address1))
        return cls(
            email=digest(customer.email) if customer and customer.email else None,
            card=digest(cards[-1]) if cards else None,
            ip=digest(ip) if isinstance(ip, str) and ip else None,
            address=digest(address) if address else None,
        )

    def of_attempt(self, attempt: PaymentAttempt) -> dict[str, str]:
        """The identities one failed attempt counts under: its own card, else the case's."""
        card = identity_hash(attempt.card_fingerprint) if attempt.card_fingerprint else self.card
        found = {"email": self.email, "card": card, "ip": self.ip}
        return {dim: value for dim, value in found.items() if value}


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed payment still to count: when, the identities (dim, hash) it counts under,
    and the card hash to add to the email's cards."""

    at: datetime
    under: tuple[tuple[str, str], ...]
    card: str | None = None


def failures(
    case: Case,
    prior: Case | None,
    now: datetime,
    absorbed: Iterable[Case] = (),
) -> list[Failure]:
    """The failed attempts of `case` not yet counted: those the stored case (`prior`) does
    not hold (a redelivery adds nothing). An attempt brought in by a merge (`absorbed`: the
    cases folded into this one, as stored) was counted under that case's identities; it
    counts only under those it did not name. Attempts 24 h old or more count nowhere."""
    who = Identities.of(case)
    stored = {a.attempt_id for a in prior.attempts} if prior else set()
    counted: dict[str, set[tuple[str, str]]] = {}
    for other in absorbed:
        theirs = Identities.of(other)
        for attempt in other.attempts:
            if not attempt.succeeded:
                counted.setdefault(attempt.attempt_id, set()).update(
                    theirs.of_attempt(attempt).items()
                )
    out: list[Failure] = []
    for attempt in case.attempts:
        if attempt.succeeded or attempt.attempt_id in stored or attempt.at <= now - DAY:
            continue
        named = who.of_attempt(attempt)
        before = counted.get(attempt.attempt_id, set())
        under = tuple((dim, value) for dim, value in named.items() if (dim, value) not in before)
        if under:
            card = named.get("card") if ("email", named.get("email")) in under else None
            out.append(Failure(min(attempt.at, now), under, card))
    return out


def newly_seen(case: Case, prior: Case | None) -> bool:
    """Whether the case names a customer at an address that its stored version did not."""
    now_ = Identities.of(case)
    if not (now_.email and now_.address):
        return False
    if prior is None:
        return True
    then = Identities.of(prior)
    return (then.email, then.address) != (now_.email, now_.address)


@dataclass(slots=True)
class _Bucket:
    hour: datetime
    slots: Counter[int] = field(default_factory=Counter)
    cards: set[str] = field(default_factory=set)


def _pending(shop: str, found: Sequence[Failure]) -> dict[Key, _Bucket]:
    """The counter buckets these failures add to, merged by key, the newest MAX_UPDATES."""
    buckets: dict[Key, _Bucket] = {}
    for failure in sorted(found, key=lambda f: f.at, reverse=True):
        for dim, value in failure.under:
            key = (counter_pk(shop, dim, value), hour_sk(failure.at))
            bucket = buckets.get(key)
            if bucket is None:
                if len(buckets) == MAX_UPDATES:
                    continue
                bucket = buckets[key] = _Bucket(_hour(failure.at))
            bucket.slots[_slot(failure.at)] += 1
            if dim == "email" and failure.card:
                bucket.cards.add(failure.card)
    return buckets


# ---------------------------------------------------------------- counting
@dataclass(slots=True)
class Seen:
    """The sets a read found, by bucket, in the partitions it read (a bucket of such a
    partition that was not found is empty): what caps the next additions."""

    pks: set[str] = field(default_factory=set)
    sets: dict[Key, frozenset[str]] = field(default_factory=dict)

    def covers(self, keys: Iterable[Key]) -> bool:
        return all(pk in self.pks for pk, _ in keys)

    def get(self, key: Key) -> frozenset[str]:
        return self.sets.get(key, frozenset())


@dataclass(frozen=True, slots=True)
class Tally:
    signals: dict[str, int]
    seen: Seen


def tally(shop: str, case: Case, found: Sequence[Failure], now: datetime) -> Tally:
    """The velocity signals for this case, from at most four Queries of at most 25, 25, 25
    and 15 items; failures not yet written (`found`) are counted in memory, each once."""
    bind()
    who = Identities.of(case)
    pending = _pending(shop, found)
    seen = Seen()
    signals: dict[str, int] = {}
    for dim in DIMS:
        value = getattr(who, dim)
        if not value:
            continue
        pk = counter_pk(shop, dim, value)
        stored = list(
            VelocityBucketItem.query(
                pk,
                VelocityBucketItem.sk.between(hour_sk(now - DAY), hour_sk(now)),
                consistent_read=True,
            )
        )
        seen.pks.add(pk)
        buckets: dict[datetime, _Bucket] = {}
        for item in stored:
            cards = frozenset(item.cards or ())
            seen.sets[(pk, item.sk)] = cards
            bucket = buckets.setdefault(_hour_of(item.sk), _Bucket(_hour_of(item.sk)))
            for slot in range(12):
                bucket.slots[slot] += int(getattr(item, f"q{slot:02d}") or 0)
            bucket.cards |= cards
        for (key_pk, _), extra in pending.items():
            if key_pk == pk:
                bucket = buckets.setdefault(extra.hour, _Bucket(extra.hour))
                bucket.slots.update(extra.slots)
                bucket.cards |= extra.cards
        signals[f"failed_payments_{dim}_24h"] = _within(buckets.values(), now, DAY)
        signals[f"failed_payments_{dim}_1h"] = _within(buckets.values(), now, HOUR)
        if dim == "email":
            recent = (b.cards for b in buckets.values() if b.hour + HOUR > now - DAY)
            signals["distinct_cards_24h"] = len(set().union(*recent))
    if who.address:
        pk = address_pk(shop, who.address)
        emails: set[str] = set()
        for week in AddressBucketItem.query(
            pk,
            AddressBucketItem.sk.between(week_sk(now - ADDRESS_WINDOW), week_sk(now)),
            consistent_read=True,
        ):
            held = frozenset(week.emails or ())
            seen.sets[(pk, week.sk)] = held
            emails |= held
        seen.pks.add(pk)
        emails.discard(who.email or "")
        signals["accounts_sharing_shipping_address"] = len(emails)
    return Tally(signals, seen)


def counts(shop: str, case: Case, found: Sequence[Failure], now: datetime) -> dict[str, int]:
    return tally(shop, case, found, now).signals


def _within(buckets: Iterable[_Bucket], now: datetime, window: timedelta) -> int:
    """Failures in the 5-minute slots that end after `now - window` (and start by `now`)."""
    since = now - window
    total = 0
    for bucket in buckets:
        for slot, count in bucket.slots.items():
            start = bucket.hour + slot * SLOT
            if start + SLOT > since and start <= now:
                total += count
    return total


# ---------------------------------------------------------------- writing
def counters(
    shop: str,
    case: Case,
    found: Sequence[Failure],
    now: datetime,
    *,
    seen: Seen | None = None,
    present: bool = True,
) -> Updates:
    """The UpdateItems to put in the case's transaction: ADD the failures to their buckets
    and record the customer at the shipping address in this week's bucket (when `present`).
    The sets grow only while under their caps, as `seen` (this screening's read) found
    them; without it, one BatchGetItem reads the buckets a set would be added to."""
    who = Identities.of(case)
    pending = _pending(shop, found)
    address: Key | None = None
    if present and who.address and who.email:
        address = (address_pk(shop, who.address), week_sk(now))
    capped = [key for key, bucket in pending.items() if bucket.cards]
    if address:
        capped.append(address)
    if seen is None or not seen.covers(capped):
        seen = _read(capped)
    updates: Updates = []
    for (pk, sk), bucket in pending.items():
        actions: list[Any] = [
            VelocityBucketItem.total.add(sum(bucket.slots.values())),
            *(
                getattr(VelocityBucketItem, f"q{slot:02d}").add(count)
                for slot, count in sorted(bucket.slots.items())
            ),
            VelocityBucketItem.expires_at.set(bucket.hour + HOUR + COUNTER_RETENTION),
            *_shop_index(shop, pk, sk),
        ]
        held = seen.get((pk, sk))
        room = max(CARDS_CAP - len(held), 0)
        cards = sorted(bucket.cards - held)[:room]
        if cards:
            actions.append(VelocityBucketItem.cards.add(set(cards)))
        updates.append((VelocityBucketItem(pk, sk), actions))
    if address is not None and who.email:
        held = seen.get(address)
        if who.email not in held and len(held) < EMAILS_CAP:
            pk, sk = address
            updates.append(
                (
                    AddressBucketItem(pk, sk),
                    [
                        AddressBucketItem.emails.add({who.email}),
                        AddressBucketItem.expires_at.set(_week(now) + WEEK + ADDRESS_WINDOW),
                        *_shop_index(shop, pk, sk),
                    ],
                )
            )
    return updates


def _read(keys: list[Key]) -> Seen:
    """The sets of these buckets, in one consistent BatchGetItem (nothing when no keys)."""
    seen = Seen(pks={pk for pk, _ in keys})
    if not keys:
        return seen
    bind()
    hours = [key for key in keys if key[1].startswith("H#")]
    weeks = [key for key in keys if key[1].startswith("W#")]
    for item in VelocityBucketItem.batch_get(hours, consistent_read=True) if hours else ():
        seen.sets[(item.pk, item.sk)] = frozenset(item.cards or ())
    for week in AddressBucketItem.batch_get(weeks, consistent_read=True) if weeks else ():
        seen.sets[(week.pk, week.sk)] = frozenset(week.emails or ())
    return seen


# ---------------------------------------------------------------- erasing a customer
def cards_tried_with(shop: str, emails: Iterable[str]) -> set[str]:
    """The card hashes the emails' counters and earlier marks name: cards tried with them,
    even ones no case shows."""
    bind()
    cards: set[str] = set()
    for email in sorted(emails):
        for bucket in VelocityBucketItem.query(counter_pk(shop, "email", email)):
            cards |= set(bucket.cards or ())
        for mark in VelocityItem.query(
            shop_pk(shop), VelocityItem.sk.startswith(f"VEL#email#{email}#")
        ):
            if mark.card:
                cards.add(mark.card)
    return cards


def remove_emails_at_address(shop: str, address: str, emails: set[str]) -> int:
    """Take the emails out of the address's weekly buckets; returns how many buckets named
    any of them (a bucket TTL removed meanwhile is left removed)."""
    bind()
    removed = 0
    for week in AddressBucketItem.query(address_pk(shop, address), consistent_read=True):
        theirs = set(week.emails or ()) & emails
        if not theirs:
            continue
        try:
            week.update(
                actions=[AddressBucketItem.emails.delete(theirs)],
                condition=AddressBucketItem.pk.exists(),
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        removed += 1
    return removed


# ---------------------------------------------------------------- the earlier marks
def migrate_marks(shop: str, *, now: datetime | None = None) -> int:
    """Turn the shop's marks of earlier versions (`SHOP#<shop>`: `VEL#...`, `ADDR#...`)
    into counters and delete them; returns how many marks were handled. Re-runnable: a
    failed-payment mark is deleted in the transaction that ADDs it (conditioned on the mark
    still existing, so a second run or a concurrent one adds nothing twice); an address mark
    is added to a set (idempotent) before it is deleted. Marks no window counts any more
    (failures 24 h old or more, expired addresses) are only deleted."""
    bind()
    now = now or clock.now()
    handled = 0
    for mark in VelocityItem.query(shop_pk(shop), VelocityItem.sk.startswith("VEL#")):
        _migrate_failure(shop, mark, now)
        handled += 1
    for mark in VelocityItem.query(shop_pk(shop), VelocityItem.sk.startswith("ADDR#")):
        _migrate_address(shop, mark, now)
        handled += 1
    return handled


def _migrate_failure(shop: str, mark: VelocityItem, now: datetime) -> None:
    # VEL#<dim>#<hash>#<time>#<id>
    _, dim, value, stamp, _ = mark.sk.split("#", 4)
    at = datetime.strptime(stamp, _MARK_TIME).replace(tzinfo=UTC)
    if at <= now - DAY or dim not in DIMS:
        mark.delete()
        return
    card = mark.card if dim == "email" else None
    found = [Failure(min(at, now), ((dim, value),), card)]
    key = (counter_pk(shop, dim, value), hour_sk(found[0].at))
    (item, actions), *_ = counters(
        shop, Case(shop, "migration"), found, now, seen=_read([key]), present=False
    )
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.delete(mark, condition=VelocityItem.pk.exists())
            tx.update(item, actions=actions)
    except TransactWriteError as exc:
        reasons = getattr(exc, "cancellation_reasons", None) or []
        if not any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
            raise  # else: already migrated by another run


def _migrate_address(shop: str, mark: VelocityItem, now: datetime) -> None:
    # ADDR#<address hash>#<email hash>, kept until 90 days after the customer was last seen
    _, address, email = mark.sk.split("#", 2)
    expires = mark.expires_at
    if expires is not None and expires <= now:
        mark.delete()
        return
    at = (expires - ADDRESS_WINDOW) if expires is not None else now
    key = (address_pk(shop, address), week_sk(min(at, now)))
    held = _read([key]).get(key)
    if email not in held and len(held) < EMAILS_CAP:
        AddressBucketItem(*key).update(
            actions=[
                AddressBucketItem.emails.add({email}),
                AddressBucketItem.expires_at.set(_week(min(at, now)) + WEEK + ADDRESS_WINDOW),
                *_shop_index(shop, *key),
            ]
        )
    mark.delete()
