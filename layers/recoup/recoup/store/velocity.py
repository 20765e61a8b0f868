"""Velocity across a shop's cases: failed payments per email, card and IP, distinct cards per
customer, and customers sharing a shipping address.

Each failed payment leaves one mark per identity it names (`VEL#<dim>#<hash>#<time>#<id>`),
written in the same transaction as the case; each customer seen at a shipping address
leaves `ADDR#<address hash>#<email hash>`. Keys hold keyed hashes (`recoup.store.identity`),
never the address, email, card or IP; marks under the unkeyed hash of earlier versions are
not counted (they expire within two days, address marks within 90) but are erased.
Counting is one Query per identity over its 24-hour key range, so the reads per case stay
constant however long the shop's history grows (TTL removes old marks).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from recoup.domain.case import Case
from recoup.domain.events import PaymentAttempt
from recoup.store import identity
from recoup.store.bind import bind
from recoup.store.models import VelocityItem, shop_pk

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
MARK_RETENTION = timedelta(days=2)
ADDRESS_RETENTION = timedelta(days=90)
_TIME = "%Y-%m-%dT%H:%M:%SZ"


def _folded(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def identity_hash(value: str) -> str:
    return identity.keyed(_folded(value))[:32]


def unkeyed_identity_hash(value: str) -> str:
    """The hash earlier versions keyed marks by: only to find them for erasure."""
    return identity.unkeyed(_folded(value))[:32]


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


def marks(
    shop: str, case: Case, new_failures: list[PaymentAttempt], now: datetime
) -> list[VelocityItem]:
    """The items to write with the case: one mark per new failed attempt and identity, and
    the customer's presence at the shipping address. Idempotent: same keys each time."""
    who = Identities.of(case)
    items: list[VelocityItem] = []
    for attempt in new_failures:
        card = identity_hash(attempt.card_fingerprint) if attempt.card_fingerprint else who.card
        at = attempt.at.astimezone(UTC)
        suffix = f"{at.strftime(_TIME)}#{identity_hash(attempt.attempt_id)[:16]}"
        for dim, value in (("email", who.email), ("card", card), ("ip", who.ip)):
            if value:
                items.append(
                    VelocityItem(
                        shop_pk(shop),
                        f"VEL#{dim}#{value}#{suffix}",
                        card=card,
                        expires_at=at + MARK_RETENTION,
                    )
                )
    if who.address and who.email:
        items.append(
            VelocityItem(
                shop_pk(shop),
                f"ADDR#{who.address}#{who.email}",
                expires_at=now + ADDRESS_RETENTION,
            )
        )
    return items


def counts(
    shop: str, case: Case, new_failures: list[PaymentAttempt], now: datetime
) -> dict[str, int]:
    """The velocity signals for this case: at most four Queries. Failures not yet written
    (this event's) are counted in memory, each exactly once."""
    bind()
    who = Identities.of(case)
    pending = {m.sk: m for m in marks(shop, case, new_failures, now) if m.sk.startswith("VEL#")}
    out: dict[str, int] = {}
    for dim, value in (("email", who.email), ("card", who.card), ("ip", who.ip)):
        if not value:
            continue
        found = {item.sk: item for item in _window(shop, f"VEL#{dim}#{value}#", now)}
        found.update(
            (sk, item) for sk, item in pending.items() if sk.startswith(f"VEL#{dim}#{value}#")
        )
        times = [_time_of(sk) for sk in found]
        out[f"failed_payments_{dim}_24h"] = sum(1 for t in times if t > now - DAY)
        out[f"failed_payments_{dim}_1h"] = sum(1 for t in times if t > now - HOUR)
        if dim == "email":
            cards = {item.card for item in found.values() if item.card}
            out["distinct_cards_24h"] = len(cards)
    if who.address:
        prefix = f"ADDR#{who.address}#"
        emails = {
            item.sk[len(prefix) :]
            for item in VelocityItem.query(
                shop_pk(shop), VelocityItem.sk.startswith(prefix), consistent_read=True
            )
            if item.expires_at is None or item.expires_at > now  # TTL deletes lazily
        }
        emails.discard(who.email or "")
        out["accounts_sharing_shipping_address"] = len(emails)
    return out


def _window(shop: str, prefix: str, now: datetime) -> list[VelocityItem]:
    since = (now - DAY).astimezone(UTC).strftime(_TIME)
    return list(
        VelocityItem.query(
            shop_pk(shop),
            VelocityItem.sk.between(prefix + since, prefix + "~"),
            consistent_read=True,
        )
    )


def _time_of(sk: str) -> datetime:
    stamp = sk.rsplit("#", 2)[-2]
    return datetime.strptime(stamp, _TIME).replace(tzinfo=UTC)
