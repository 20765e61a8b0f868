"""Which cases a privacy request is about, and a case without its customer's personal data.

Pure. A case keeps what the merchant's books and the audit trail need (ids, amounts,
attempts with their codes, refunds, statuses, flags, the event ids) and loses who the
customer is: the customer record (name, email, phone, address parts), the fraud signals
that describe the person (names, postcodes, IP address, email, Shopify's free-text risk
facts), the cards' fingerprints, and the pay link (the order status page shows the address).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from recoup.domain.case import Case
from recoup.domain.events import Customer
from recoup.domain.timezones import normalise_phone

ERASED = "[erased]"
# Fraud signals that describe the person rather than the payment. Risk facts are Shopify's
# sentences, which may quote an address or an IP.
PERSONAL_SIGNALS = frozenset(
    {
        "billing_name",
        "shipping_name",
        "billing_postcode",
        "shipping_postcode",
        "browser_ip",
        "email",
        "shopify_risk_facts",
    }
)
# Shorter values (a two-letter name) would match unrelated text when scrubbing free text.
_MIN_SCRUB_LENGTH = 3


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a request is about: Shopify's customer id, email and phone, and the orders it
    names (ids as exact strings)."""

    customer_id: str | None
    email: str | None
    phone: str | None
    order_ids: frozenset[str] = frozenset()

    def identities(self) -> frozenset[str]:
        """The identities (`case_identities`' forms) a case of this customer is linked by."""
        found: set[str] = set()
        if self.customer_id:
            found.add(f"customer:{self.customer_id}")
        if self.email:
            found.add(f"email:{_fold(self.email)}")
        if self.phone:
            found.add(f"phone:{_fold(self.phone)}")
            e164 = normalise_phone(self.phone, None)
            if e164:
                found.add(f"phone:{e164}")
        return frozenset(found)

    def matches(self, case: Case) -> bool:
        """The case is one of the named orders, or its customer is this customer."""
        if case.case_id in self.order_ids:
            return True
        customer = _customer(case)
        emails = {_fold(e) for e in (customer.email, case.signal_values().get("email")) if e}
        if self.email and _fold(self.email) in emails:
            return True
        if self.customer_id and customer.customer_id == self.customer_id:
            return True
        return bool(
            self.phone
            and customer.phone
            and _same_phone(self.phone, customer.phone, customer.country)
        )


@dataclass(frozen=True, slots=True)
class Identifiers:
    """Every form under which the customer may key an item: Shopify customer ids, emails
    (trimmed, lower case) and phone numbers (as written, and as E.164)."""

    customer_ids: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]

    @property
    def all(self) -> frozenset[str]:
        return self.customer_ids | self.emails | self.phones

    @classmethod
    def of(cls, subject: Subject, cases: Iterable[Case]) -> Identifiers:
        ids, emails = {subject.customer_id}, {subject.email}
        phones = {subject.phone, normalise_phone(subject.phone, None)}
        for case in cases:
            customer = _customer(case)
            ids.add(customer.customer_id)
            emails |= {customer.email, case.signal_values().get("email")}
            phones |= {
                customer.phone,
                normalise_phone(customer.phone, customer.country),
                normalise_phone(subject.phone, customer.country),
            }
        return cls(
            customer_ids=frozenset(i for i in ids if i),
            emails=frozenset(e.strip().lower() for e in emails if isinstance(e, str) and e),
            phones=frozenset(p.strip() for p in phones if p and p.strip()),
        )


def holds_personal_data(case: Case) -> bool:
    snapshot = case.snapshot
    return bool(
        (snapshot is not None and (snapshot.customer is not None or snapshot.pay_url))
        or any(name in PERSONAL_SIGNALS for name, _, _ in case.signals)
        or any(attempt.card_fingerprint for attempt in case.attempts)
        or any(p.payment_method or p.customer for p in case.plan_payments)
    )


def erase_customer(case: Case) -> Case:
    """The case without its customer's personal data; everything else unchanged."""
    snapshot = case.snapshot
    return replace(
        case,
        snapshot=replace(snapshot, customer=None, pay_url=None) if snapshot else None,
        signals=tuple(entry for entry in case.signals if entry[0] not in PERSONAL_SIGNALS),
        attempts=tuple(replace(a, card_fingerprint=None) for a in case.attempts),
        # The saved card and the Stripe customer an instalment plan charged: ids that lead
        # to the person at Stripe.
        plan_payments=frozenset(
            replace(p, payment_method=None, customer=None) for p in case.plan_payments
        ),
    )


def personal_values(case: Case) -> frozenset[str]:
    """The case's personal data as text: what must not be found anywhere after erasure."""
    customer = _customer(case)
    values: list[Any] = [
        customer.email,
        customer.phone,
        customer.first_name,
        customer.last_name,
        customer.zip,
        customer.address1,
        customer.city,
    ]
    if customer.first_name and customer.last_name:
        values.append(f"{customer.first_name} {customer.last_name}")
    signals = case.signal_values()
    for name in PERSONAL_SIGNALS:
        value = signals.get(name)
        values.extend(value if isinstance(value, list | tuple) else [value])
    return frozenset(v.strip() for v in values if isinstance(v, str) and v.strip())


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """A JSON value with every string that contains one of `secrets` (case-insensitive)
    replaced by ERASED; for free text whose shape is not ours to know (fraud notes)."""
    folded = [_fold(s) for s in secrets if len(s.strip()) >= _MIN_SCRUB_LENGTH]
    return _scrub(value, folded)


def _scrub(value: Any, folded: list[str]) -> Any:
    if isinstance(value, str):
        text = _fold(value)
        return ERASED if any(secret in text for secret in folded) else value
    if isinstance(value, dict):
        return {key: _scrub(item, folded) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, folded) for item in value]
    return value


def case_identities(case: Case) -> frozenset[str]:
    """Whom a case names, in the forms a privacy request is matched by (Subject.matches):
    the customer id, the emails (folded), the phone as written and as E.164 in the
    customer's country. The store links the case under a keyed hash of each, so a request
    reads only its customer's cases."""
    customer = _customer(case)
    found: set[str] = set()
    if customer.customer_id:
        found.add(f"customer:{customer.customer_id}")
    for email in (customer.email, case.signal_values().get("email")):
        if isinstance(email, str) and email:
            found.add(f"email:{_fold(email)}")
    if customer.phone:
        found.add(f"phone:{_fold(customer.phone)}")
        e164 = normalise_phone(customer.phone, customer.country)
        if e164:
            found.add(f"phone:{e164}")
    return frozenset(found)


def _customer(case: Case) -> Customer:
    snapshot = case.snapshot
    return snapshot.customer if snapshot and snapshot.customer else Customer()


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _same_phone(a: str, b: str, country: str | None) -> bool:
    """Equal as E.164 numbers (read in the customer's country when written without a
    country code), or equal as written."""
    e164 = normalise_phone(a, country)
    return (e164 is not None and e164 == normalise_phone(b, country)) or _fold(a) == _fold(b)
