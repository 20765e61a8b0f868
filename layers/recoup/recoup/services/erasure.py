"""customers/redact and shop/redact: erase a customer's personal data from one shop, or
everything of a shop.

customers/redact keeps each case (ids, amounts, attempts, refunds, statuses, the audit trail)
without its customer (`domain.erasure`) or the notes, IP addresses and user agents of the
requests they made on their page (`Dunning.requests`), stops its reminders, and deletes
what exists only because of the customer: the shop's contact records of their addresses
(opt-outs and the contact preferences kept on them), the message log, velocity marks, the
links from their identities to their cases, data-request exports, case files, and the queue
bodies kept of its cases (oversized events, quarantined messages). The SMS opt-out kept for
every shop (`GLOBAL`, keyed by a hash of the number) stays, so a STOP keeps being honoured;
it loses its pointer to this shop, and a record of that number without an opt-out is
deleted.

Everything around the cases is deleted first and the cases are erased last: a retry after
a failure still finds, in the cases, the identities whose items remain.
"""

from __future__ import annotations

from datetime import datetime

from recoup.domain import erasure
from recoup.domain.aggregate import StoredCase
from recoup.domain.case import Case
from recoup.domain.dunning import DunningStatus
from recoup.domain.erasure import Identifiers
from recoup.domain.fraud.screening import Screening
from recoup.integrations import case_files, queue_bodies
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.observability import logger
from recoup.services import page_links
from recoup.store import cases as case_store
from recoup.store import contacts, customer_data, customer_links, data_requests, keys, shops
from recoup.store.models import CASE_SK, shop_parts, shop_pk
from recoup.store.velocity import (
    Identities,
    cards_tried_with,
    counter_pk,
    identity_hash,
    remove_emails_at_address,
    unkeyed_identity_hash,
)

ERASED_NOTE = "customer data erased (customers/redact)"


def redact_customer(job: PrivacyJob, *, now: datetime) -> str:
    shop, subject = job.shop, job.subject
    cases = [held.case for held in customer_data.cases_about(shop, subject)]
    who = Identifiers.of(subject, cases)
    removed = (
        _forget_velocity(shop, cases, who)
        + keys.delete(
            (shop_pk(shop), sk) for a in who.emails | who.phones for sk in contacts.contact_sks(a)
        )
        + keys.delete(key for k in who.all for key in contacts.message_log_keys(shop, k))
        # The earlier layout's entries in the shop's partition, until `migrate-keys` moved them
        + sum(
            keys.delete_prefix(shop_pk(shop), f"MSG#{digest}#")
            for k in who.all
            for digest in contacts.contact_hashes(k)
        )
        + _forget_exports(shop, who)
    )
    _release_sms_records(shop, who)
    files = sum(case_files.delete_prefix(case_files.case_prefix(shop, c.case_id)) for c in cases)
    files += _forget_queue_bodies(shop, {c.case_id for c in cases} | set(job.order_ids))
    # The customer's page would show a case that no longer names them: its link closes.
    for case in cases:
        page_links.revoke(shop, case.case_id, now=now)
    erased = sum(_erase_case(shop, case.case_id, job.webhook_id, now) for case in cases)
    # Last: until the cases are erased, a retry finds them through these links.
    removed += keys.delete(customer_links.keys_of(shop, _identities(job.subject, cases)))
    logger.info(
        "Customer data erased",
        extra={"shop": shop, "cases": erased, "items": removed, "files": files},
    )
    return f"{erased} of {len(cases)} case(s) erased; {removed} item(s) and {files} file(s) deleted"


def _identities(subject: erasure.Subject, cases: list[Case]) -> frozenset[str]:
    """Every identity the customer's cases are linked by, and the request's own."""
    found = set(subject.identities())
    for case in cases:
        found |= erasure.case_identities(case)
    return frozenset(found)


def redact_shop(job: PrivacyJob) -> str:
    """Delete every item and object of the shop: the Stripe mapping first (only the shop's
    installation names it), then the files, then what the shop index lists (cases with
    their trails, cross references, velocity buckets), then the shop's partition."""
    shop = job.shop
    shops.forget(shop)
    item = shops.get(shop)
    if item is not None and item.stripe_account:
        shops.remove_stripe_account_mapping(shop, item.stripe_account)
    files = sum(case_files.delete_prefix(prefix) for prefix in case_files.shop_prefixes(shop))
    files += sum(queue_bodies.delete_prefix(prefix) for prefix in queue_bodies.shop_prefixes(shop))
    items = sum(_delete_indexed(part) for part in shop_parts(shop))
    items += keys.delete(keys.list_keys(shop_pk(shop)))
    shops.forget(shop)
    logger.info("Shop data erased", extra={"shop": shop, "items": items, "files": files})
    return f"{items} item(s) and {files} file(s) deleted"


def _delete_indexed(part: str) -> int:
    """Every item of one shard of the shop index: a case with its partition (the audit
    entries before the case item, so an interrupted run finds the case again), a cross
    reference or a velocity bucket by its key."""
    deleted = 0
    for pk, sk in keys.list_index_keys("shop", "shop_part", part):
        if sk == CASE_SK:
            trail = [key for key in keys.list_keys(pk) if key[1] != CASE_SK]
            deleted += keys.delete(trail) + keys.delete([(pk, sk)])
        else:
            deleted += keys.delete([(pk, sk)])
    return deleted


def _forget_velocity(shop: str, cases: list[Case], who: Identifiers) -> int:
    """The velocity counters of the customer's email and IP and of the cards their cases
    and their email's counters name (whole partitions), their email in the address buckets
    of their cases' shipping addresses, and the marks earlier versions wrote in the shop's
    partition for the same identities: a cost that follows the customer's cases, not the
    shop's history."""
    named, addresses = _velocity_identities(cases, who)
    emails = {value for dim, value in named if dim == "email"}
    named |= {("card", card) for card in cards_tried_with(shop, emails)}
    removed = keys.delete(
        key for dim, value in sorted(named) for key in keys.list_keys(counter_pk(shop, dim, value))
    )
    removed += sum(
        keys.delete_prefix(shop_pk(shop), f"VEL#{dim}#{value}#") for dim, value in sorted(named)
    )
    for address in sorted(addresses):
        removed += _forget_address_emails(shop, address, emails)
    return removed


def _velocity_identities(
    cases: list[Case], who: Identifiers
) -> tuple[set[tuple[str, str]], set[str]]:
    """The (dimension, hash) of the customer's emails and of their cases' IPs and cards, and
    the hashes of their cases' shipping addresses: under the keyed hash, and the unkeyed one
    of items written before it."""
    named: set[tuple[str, str]] = set()
    addresses: set[str] = set()
    for digest in (identity_hash, unkeyed_identity_hash):
        named |= {("email", digest(email)) for email in who.emails}
        for case in cases:
            identities = Identities.of(case, digest)
            named |= {(dim, v) for dim in ("email", "ip") if (v := getattr(identities, dim))}
            named |= {
                ("card", digest(a.card_fingerprint)) for a in case.attempts if a.card_fingerprint
            }
            if identities.address:
                addresses.add(identities.address)
    return named, addresses


def _forget_address_emails(shop: str, address: str, emails: set[str]) -> int:
    """The customer's emails out of one shipping address's weekly buckets, and the marks
    earlier versions wrote for them in the shop's partition."""
    return remove_emails_at_address(shop, address, emails) + keys.delete(
        key
        for key in keys.list_keys(shop_pk(shop), f"ADDR#{address}#")
        if key[1].rsplit("#", 1)[-1] in emails
    )


def _forget_queue_bodies(shop: str, case_ids: set[str]) -> int:
    """Oversized events and quarantined messages about the customer's cases, and about the
    orders the request names (an event moved aside before it ever opened a case)."""
    return sum(
        queue_bodies.delete_prefix(prefix)
        for case_id in sorted(case_ids)
        for prefix in queue_bodies.case_prefixes(shop, case_id)
    )


def _forget_exports(shop: str, who: Identifiers) -> int:
    removed = 0
    for customer_id in who.customer_ids:
        for marker in (
            m for h in contacts.contact_hashes(customer_id) for m in data_requests.about(shop, h)
        ):
            case_files.delete(marker.export_key)
            removed += keys.delete([(shop_pk(shop), data_requests.marker_sk(marker.request_id))])
    return removed


def _release_sms_records(shop: str, who: Identifiers) -> None:
    """The SMS records kept for every shop: delete one that names this shop and holds no
    opt-out; from one that holds an opt-out, remove only the pointer to this shop."""
    for phone in who.phones:
        contacts.release_phone_from_shop(shop, phone)


def _erase_case(shop: str, case_id: str, webhook_id: str, now: datetime) -> bool:
    """Erase one case, conditioned on the version read (re-read on a concurrent write);
    False when there was nothing left to erase (a redelivery)."""

    def decide(prior: StoredCase | None) -> bool | case_store.Change[bool]:
        if prior is None:
            return False
        case = erasure.erase_customer(prior.case)
        screening = _scrubbed(prior.screening, erasure.personal_values(prior.case))
        # The customer's requests from their page keep what they asked, not their note,
        # IP address or user agent (the trail holds only a digest of those).
        redacted = prior.dunning.without_personal_data(erasure.ERASED) if prior.dunning else None
        running = redacted
        if running is not None and running.status is DunningStatus.STOPPED:
            running = None
        unchanged = redacted == prior.dunning
        if case == prior.case and screening == prior.screening and running is None and unchanged:
            return False
        dunning = running.finish(DunningStatus.STOPPED, ERASED_NOTE) if running else redacted
        effect = "personal data removed" + ("; reminders stopped" if running else "")
        # The entry holds no personal data: the trail outlives the erasure.
        entry = case_store.recoup_entry(
            prior,
            source="shopify",
            kind="customers/redact",
            event_id=webhook_id,
            summary=ERASED_NOTE,
            effect=effect,
            now=now,
        )
        return case_store.Change(case, entry, True, dunning=dunning, screening=screening)

    return case_store.change(shop, case_id, decide, now=now)


def _scrubbed(screening: Screening | None, secrets: frozenset[str]) -> Screening | None:
    """The fraud screening without any text quoting the customer (notes can quote values)."""
    if screening is None:
        return None
    return Screening.from_dict(erasure.scrub(screening.to_dict(), secrets))
