"""Velocity as counters per time bucket (store/velocity.py): the counts a screening reads are
those the per-failure marks gave, a card-testing run costs a screening the same reads
whatever its length, a redelivery adds nothing, erasure removes the customer's counters and
their email from address buckets, and the earlier marks migrate."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.api_log import ApiLog
from recoup.domain.case import Case, CaseStatus
from recoup.domain.erasure import Identifiers
from recoup.domain.events import Customer, Fact, OrderSnapshot, PaymentAttempt, Source
from recoup.services import erasure
from recoup.store import keys, velocity
from recoup.store.models import (
    AddressBucketItem,
    VelocityBucketItem,
    VelocityItem,
    shop_part,
    shop_pk,
)
from recoup.store.velocity import identity_hash
from tests.conftest import SHOP
from tests.integration.test_fraud_screening import GOOD, apply, order, stripe_event

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, on the hour
ADDRESS = ("1 Market St", "US", "94107")


def case_of(
    email: str, ip: str, *, attempts: tuple[PaymentAttempt, ...] = (), address: str = ADDRESS[0]
) -> Case:
    customer = Customer(email=email, country=ADDRESS[1], zip=ADDRESS[2], address1=address)
    return Case(
        SHOP,
        f"case-{email}-{ip}",
        status=CaseStatus.OPEN,
        snapshot=OrderSnapshot(amount_owed=None, customer=customer),
        signals=(("browser_ip", ip, "shopify"),),
        attempts=attempts,
    )


def failed(name: str, at: datetime, card: str) -> PaymentAttempt:
    return PaymentAttempt(name, Source.STRIPE, False, at, card_fingerprint=card)


def write(case: Case, at: datetime, *, present: bool = True) -> None:
    """What the worker's transaction does for this event (its failures, the customer's
    presence at the address), processed at `at`."""
    found = velocity.failures(case, None, at)
    for item, actions in velocity.counters(SHOP, case, found, at, present=present):
        item.update(actions=actions)


@dataclass(frozen=True)
class Fail:
    ago: timedelta
    email: str
    card: str
    ip: str


def marks_semantics(history: list[Fail], own: Fail, seen: dict[str, timedelta]) -> dict[str, int]:
    """The counts the per-failure marks gave: every failure after `now - window`."""
    every = [*history, own]

    def within(window: timedelta, **match: str) -> list[Fail]:
        return [
            f for f in every if f.ago < window and all(getattr(f, k) == v for k, v in match.items())
        ]

    out = {}
    for dim in ("email", "card", "ip"):
        value = getattr(own, dim)
        out[f"failed_payments_{dim}_24h"] = len(within(timedelta(hours=24), **{dim: value}))
        out[f"failed_payments_{dim}_1h"] = len(within(timedelta(hours=1), **{dim: value}))
    out["distinct_cards_24h"] = len({f.card for f in within(timedelta(hours=24), email=own.email)})
    out["accounts_sharing_shipping_address"] = len(
        {e for e, ago in seen.items() if ago < timedelta(days=90) and e != own.email}
    )
    return out


S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def test_counts_are_the_marks_counts_for_mixed_timings(local: Any) -> None:
    # Given failures by the customer's email, card and IP, and by others sharing one of
    # them, at times on both sides of the 1 h and 24 h edges, and others' noise
    me, ip, card = "ada@example.com", "203.0.113.9", "fp_ada"
    history = [
        Fail(10 * M, me, "fp_2", "198.51.100.1"),
        Fail(59 * M + 59 * S, me, card, ip),
        Fail(H + S, me, "fp_3", ip),
        Fail(H + 4 * M, "eve@example.com", card, "198.51.100.2"),
        Fail(3 * H, "eve@example.com", "fp_eve", ip),
        Fail(23 * H + 59 * M, me, "fp_4", ip),
        Fail(24 * H - S, "bob@example.com", card, "198.51.100.3"),
        Fail(24 * H + S, me, "fp_old", ip),
        Fail(30 * H, me, card, ip),
        Fail(20 * M, "noise@example.com", "fp_noise", "198.51.100.9"),
    ]
    for n, f in enumerate(history):
        at = NOW - f.ago
        attempt = failed(f"ch_{n}", at, f.card)
        write(case_of(f.email, f.ip, attempts=(attempt,), address="9 Elsewhere Rd"), at)
    # and customers seen at the address 1, 30, 83 and 120 days ago
    seen = {"a@x.example": D, "b@x.example": 30 * D, "c@x.example": 83 * D, "z@x.example": 120 * D}
    for email, ago in seen.items():
        write(case_of(email, "192.0.2.1"), NOW - ago)
    # When the customer's new case, with a failure 10 s ago not yet written, is counted
    own = Fail(10 * S, me, card, ip)
    case = case_of(me, ip, attempts=(failed("ch_own", NOW - own.ago, card),))
    counted = velocity.counts(SHOP, case, velocity.failures(case, None, NOW), NOW)
    # Then every count is the one the marks gave (the windows' edges fall on 5 minutes)
    assert counted == marks_semantics(history, own, seen)
    assert counted["failed_payments_ip_24h"] == 5 and counted["distinct_cards_24h"] == 4


def test_a_windows_oldest_five_minutes_count_whole() -> None:
    # Given failures 61 and 66 minutes before a time 2 minutes past a 5-minute mark
    now = NOW + 32 * M
    buckets = {}
    for ago in (61 * M, 66 * M):
        at = now - ago
        bucket = buckets.setdefault(at.hour, velocity._Bucket(velocity._hour(at)))
        bucket.slots[velocity._slot(at)] += 1
    # Then the 1 h window counts the one in the slot it starts in, not the one before
    assert velocity._within(buckets.values(), now, H) == 1


def screened_reads(log: ApiLog, label: str, case: Case) -> int:
    log.phase, log.function = label, "EventWorkerFunction"
    try:
        with log.recording():
            counted = velocity.counts(SHOP, case, velocity.failures(case, None, NOW), NOW)
    finally:
        log.phase, log.function = "harness", None
    assert counted["failed_payments_ip_1h"] > 1
    queries = [c for c in log.made(phase=label) if c.operation == "dynamodb.Query"]
    assert len(queries) == 4  # email, card, IP, address
    return sum(c.scanned or 0 for c in queries)


def card_testing(ip: str, n: int) -> None:
    """n failures from one IP in the last hour, each with its own email and card, written
    20 to an event."""
    attempts = [
        (
            f"tester-{ip}-{k}@example.net",
            failed(f"ch_{ip}_{k}", NOW - M - k * 58 * M / n, f"fp_{k}"),
        )
        for k in range(n)
    ]
    for start in range(0, n, 20):
        for email, attempt in attempts[start : start + 20]:
            case = case_of(email, ip, attempts=(attempt,))
            found = velocity.failures(case, None, NOW)
            for item, actions in velocity.counters(SHOP, case, found, NOW, present=False):
                item.update(actions=actions)


@pytest.mark.slow  # a thousand attempts through the stack
def test_a_card_testing_run_costs_a_screening_the_same_reads_at_10_and_1000(local: Any) -> None:
    # Given a card-testing run of 10 failures from one IP, and one of 1,000 from another
    card_testing("198.51.100.10", 10)
    card_testing("198.51.100.11", 1_000)
    log = ApiLog()
    # When a new case from each IP is screened
    reads = [
        screened_reads(
            log,
            ip,
            case_of("new@example.com", ip, attempts=(failed("ch_new", NOW - S, "fp_new"),)),
        )
        for ip in ("198.51.100.10", "198.51.100.11")
    ]
    # Then both read the same handful of items (the IP's hourly counters)
    assert reads[0] == reads[1] <= 3


def test_a_redelivered_failure_is_not_counted_twice(local: Any) -> None:
    # Given an order and its failed payment, delivered twice
    apply(order("3001", GOOD))
    failure = stripe_event("3001", "ch_redelivered", Fact.PAYMENT_FAILED, 1, card="fp_R")
    apply(failure, 1)
    apply(failure, 2)
    # Then the IP's and the card's counters hold one failure
    for dim, value in (("ip", GOOD["browser_ip"]), ("card", "fp_R")):
        (item,) = VelocityBucketItem.query(velocity.counter_pk(SHOP, dim, identity_hash(value)))
        assert item.total == 1
        assert item.shop_part == shop_part(SHOP, item.pk)
        assert item.shop_sort == f"V#{item.pk}#{item.sk}"


def test_one_event_adds_at_most_max_updates_buckets(local: Any) -> None:
    # Given an event bringing 100 failures, each with its own card, over the last 20 hours
    attempts = tuple(failed(f"ch_{k}", NOW - k * 12 * M, f"fp_{k}") for k in range(100))
    case = case_of("ada@example.com", "203.0.113.9", attempts=attempts)
    # Then its counter updates fit the case's transaction, and several failures of one hour
    # for the email and the IP are one update each
    updates = velocity.counters(SHOP, case, velocity.failures(case, None, NOW), NOW)
    assert len(updates) <= velocity.MAX_UPDATES + 1
    assert len({(item.pk, item.sk) for item, _ in updates}) == len(updates)


def test_erasure_removes_the_customers_counters_and_their_email_at_the_address(
    local: Any,
) -> None:
    # Given Ada's failed payments (two cards) and Bob seen at the same address
    ada = case_of(
        "ada@example.com",
        "203.0.113.9",
        attempts=(failed("ch_1", NOW - H, "fp_1"), failed("ch_2", NOW - M, "fp_2")),
    )
    write(ada, NOW)
    write(case_of("bob@example.com", "192.0.2.7"), NOW)
    # and an earlier version's marks of hers in the shop's partition
    old_vel = VelocityItem(
        shop_pk(SHOP), f"VEL#email#{identity_hash('ada@example.com')}#2026-11-02T14:00:00Z#x"
    )
    address = velocity.Identities.of(ada).address
    old_addr = VelocityItem(shop_pk(SHOP), f"ADDR#{address}#{identity_hash('ada@example.com')}")
    for item in (old_vel, old_addr):
        item.expires_at = NOW + D
        item.save()
    # When she is erased (her case no longer names the second card)
    shown = replace(ada, attempts=ada.attempts[:1])
    who = Identifiers(frozenset(), frozenset({"ada@example.com"}), frozenset())
    erasure._forget_velocity(SHOP, [shown], who)
    # Then no counter of her email, IP or either card is left, nor her marks
    for dim, value in (
        ("email", "ada@example.com"),
        ("ip", "203.0.113.9"),
        ("card", "fp_1"),
        ("card", "fp_2"),
    ):
        assert not list(keys.list_keys(velocity.counter_pk(SHOP, dim, identity_hash(value))))
    assert not list(keys.list_keys(shop_pk(SHOP), "VEL#"))
    assert not list(keys.list_keys(shop_pk(SHOP), "ADDR#"))
    # and the address's bucket names Bob only
    assert address is not None
    (bucket,) = AddressBucketItem.query(velocity.address_pk(SHOP, address))
    assert bucket.emails == {identity_hash("bob@example.com")}


def test_earlier_marks_migrate_to_counters_once(local: Any) -> None:
    # Given an earlier version's marks: two failures of one email in the last hour (two
    # cards), one 30 h ago, and a customer seen at an address 10 days ago
    email, address = identity_hash("ada@example.com"), "a" * 32
    marks = [
        VelocityItem(shop_pk(SHOP), f"VEL#email#{email}#2026-11-02T14:10:00Z#a", card="c1"),
        VelocityItem(shop_pk(SHOP), f"VEL#email#{email}#2026-11-02T14:50:00Z#b", card="c2"),
        VelocityItem(shop_pk(SHOP), f"VEL#email#{email}#2026-11-01T09:00:00Z#c", card="c3"),
        VelocityItem(shop_pk(SHOP), f"ADDR#{address}#{email}"),
    ]
    for mark in marks:
        mark.expires_at = NOW + 80 * D
        mark.save()
    # When they are migrated, twice
    assert velocity.migrate_marks(SHOP, now=NOW) == 4
    assert velocity.migrate_marks(SHOP, now=NOW) == 0
    # Then the marks are gone, the recent failures are counters, the old one is dropped
    assert not list(keys.list_keys(shop_pk(SHOP), "VEL#"))
    assert not list(keys.list_keys(shop_pk(SHOP), "ADDR#"))
    (hour,) = VelocityBucketItem.query(velocity.counter_pk(SHOP, "email", email))
    assert (hour.sk, hour.total, hour.q02, hour.q10, hour.cards) == (
        "H#2026-11-02T14",
        2,
        1,
        1,
        {"c1", "c2"},
    )
    # and the customer is in the address's bucket of the week last seen (80 - 90 days)
    (week,) = AddressBucketItem.query(velocity.address_pk(SHOP, address))
    assert (week.sk, week.emails) == (velocity.week_sk(NOW - 10 * D), {email})


@pytest.mark.parametrize("cap", [velocity.CARDS_CAP, velocity.EMAILS_CAP])
def test_the_caps_are_above_the_default_rules_thresholds(cap: int) -> None:
    from recoup.domain.fraud.defaults import DEFAULT_RULE_DATA

    def thresholds(node: Any) -> list[int]:
        if isinstance(node, dict):
            if node.get("signal") in ("distinct_cards_24h", "accounts_sharing_shipping_address"):
                return [int(node["value"])]
            return [t for v in node.values() for t in thresholds(v)]
        if isinstance(node, list | tuple):
            return [t for v in node for t in thresholds(v)]
        return []

    found = thresholds(list(DEFAULT_RULE_DATA))
    assert found and cap > max(found) + 1
