"""The JSON record of a referral's case file: everything an agency or a lawyer needs, in one
document, from plain inputs.

The record is the file's single source: the HTML and PDF are rendered from it. Every
statement in it is covered by one SHA-256 digest of its canonical JSON, signed with the
stack's asymmetric key (`casefile.signing`); `recoup verify-chain` checks the audit trail it
quotes, the digest, the signature and that the amounts reconcile. Amounts appear as exact
minor units and currency, and formatted ("1,899.00 USD"). Building is deterministic: the same
inputs give the same record and, through `record_json`, the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recoup.domain.audit import DELIVERY_REPORT, GENESIS, AuditEntry, verify_chain
from recoup.domain.case import Case
from recoup.domain.charges import OrderCharges
from recoup.domain.dunning import Dunning, SentMessage
from recoup.domain.events import LineItem, PaymentAttempt
from recoup.domain.money import Money
from recoup.domain.referral import Referral, case_money, format_amount

SCHEMA = "recoup.casefile/2"
VERIFY_COMMAND = "recoup verify-chain <file> --public-key <pem>"
CHAIN_ALGORITHM = (
    "hash = sha256(prev_hash + '\\n' + canonical_json({'seq': seq, **body})) in hex; "
    "canonical_json: keys sorted, separators ',' and ':', UTF-8 with non-ASCII kept; "
    f"the first entry's prev_hash is {GENESIS[:8]}... (64 zeros); the last hash is the head"
)
DELIVERED = "delivered"  # the outcome a delivery report gives a message that arrived
REPORT_SEPARATOR = "; "  # between a message's reports, in the order they came
RECONCILIATION = "owed = order_total - paid + refunded"


@dataclass(frozen=True, slots=True)
class ShopInfo:
    domain: str
    name: str
    contact_email: str | None = None


@dataclass(frozen=True, slots=True)
class ContactState:
    """The customer's opt-outs and suppression at the time of the file."""

    email_opted_out: bool = False
    sms_opted_out: bool = False
    email_suppressed: bool = False  # a permanent bounce or a complaint
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageText:
    """A message's words, re-rendered for the file (see `casefile.messages`)."""

    body: str  # the SMS, or the email's plain-text part
    subject: str | None = None  # email only
    source: str = ""  # how it was obtained, and what may differ from what was sent


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseFileInputs:
    """Everything the file states, gathered by the caller; nothing here is looked up."""

    shop: ShopInfo
    case: Case
    dunning: Dunning | None
    # recoup's screening as a dict: {"history": [{"at", "score", "level", "reasons":
    # [{"rule", "weight", "text"}], "confidence", "notes", "ruleset"}], "decision",
    # "decided_at", "decided_by", "note"}; None when the case was never screened.
    screening: Mapping[str, Any] | None
    audit: Sequence[AuditEntry]  # the case's whole trail, oldest first
    audit_head: str | None  # the head the case item records (None: the last entry's hash)
    contact: ContactState
    message_texts: Mapping[int, MessageText] = field(default_factory=dict)  # by step (0-based)
    referral: Referral
    generated_at: datetime


def build_record(inputs: CaseFileInputs) -> dict[str, Any]:
    """The case file as JSON-safe data (see `record_json` for its bytes)."""
    case = inputs.case
    outcomes = delivery_outcomes(inputs.audit)
    messages = _messages(inputs.dunning, outcomes, inputs.message_texts)
    return {
        "schema": SCHEMA,
        "generated_at": _iso(inputs.generated_at),
        "referral": _referral(inputs.referral),
        "merchant": {
            "shop_domain": inputs.shop.domain,
            "name": inputs.shop.name,
            "contact_email": inputs.shop.contact_email,
        },
        "customer": _customer(case),
        "order": _order(case),
        "amounts": _amounts(case),
        "payment_attempts": [_attempt(a) for a in case.attempts],
        "refunds": [
            {"refund": key, "amount": amount(money)}
            for key, money in sorted(case.refunds, key=lambda r: r[0])
        ],
        "messages": messages,
        "customer_actions": _customer_actions(case, inputs.contact),
        "reachability": _reachability(inputs.contact, messages),
        "fraud": _fraud(case, inputs.screening),
        "events": [
            {"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "body": e.body}
            for e in inputs.audit
        ],
        "chain": _chain(inputs.audit, inputs.audit_head),
    }


def record_json(record: Mapping[str, Any]) -> bytes:
    """The record's bytes: sorted keys, two-space indent, UTF-8, a final newline."""
    return (json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def amount(money: Money | None) -> dict[str, Any] | None:
    """An amount as the file holds it: exact and formatted."""
    if money is None:
        return None
    return {"minor": money.minor, "currency": money.currency, "formatted": format_amount(money)}


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _referral(referral: Referral) -> dict[str, Any]:
    return {
        "kind": str(referral.kind),
        "status": str(referral.status),
        "referred_at": _iso(referral.referred_at),
        "reason": referral.reason,
        "owed": amount(referral.owed),
        "recovered": amount(referral.recovered),
        "notification": referral.notification.to_dict(),
        "history": [
            {
                "status": str(entry.status),
                "at": _iso(entry.at),
                "note": entry.note,
                "amount": amount(entry.amount),
            }
            for entry in referral.history
        ],
    }


def _customer(case: Case) -> dict[str, Any]:
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return {"known": False}
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p) or None
    return {
        "known": True,
        "name": name,
        "customer_id": customer.customer_id,
        "email": customer.email,
        "phone": customer.phone,
        "locale": customer.locale,
        "country": customer.country,
        "province": customer.province,
        "zip": customer.zip,
        # The order's shipping address, else its billing address, as the order stated it.
        "postal_address": {
            "line1": customer.address1,
            "line2": customer.address2,
            "city": customer.city,
            "province": customer.province,
            "zip": customer.zip,
            "country": customer.country,
        },
    }


def _order(case: Case) -> dict[str, Any]:
    snapshot = case.snapshot
    return {
        "case_id": case.case_id,
        "order_name": snapshot.order_name if snapshot else None,
        "status": str(case.status),
        "opened_at": _iso(case.opened_at),
        "financial_status": snapshot.financial_status if snapshot else None,
        "pay_url": snapshot.pay_url if snapshot else None,
        "order_total": amount(snapshot.order_total if snapshot else None),
        "items": [_item(item) for item in (snapshot.line_items if snapshot else ())],
        "charges": _charges(snapshot.charges if snapshot else None),
    }


def _charges(charges: OrderCharges | None) -> dict[str, Any] | None:
    """Subtotal, taxes, shipping and discounts as the order stated them."""
    if charges is None:
        return None
    return {
        "subtotal": amount(charges.subtotal),
        "total_tax": amount(charges.total_tax),
        "total_shipping": amount(charges.total_shipping),
        "total_discounts": amount(charges.total_discounts),
        "taxes_included": charges.taxes_included,
        "lines": [
            {
                "kind": line.kind,
                "title": line.title,
                "rate": line.rate,
                "amount": amount(line.amount),
            }
            for line in charges.lines
        ],
    }


def _item(item: LineItem) -> dict[str, Any]:
    price = item.unit_price
    return {
        "title": item.title,
        "quantity": item.quantity,
        "sku": item.sku,
        "unit_price": amount(price),
        "line_total": amount(Money(price.currency, price.minor * item.quantity)) if price else None,
    }


def _amounts(case: Case) -> dict[str, Any]:
    """Owed, paid and refunded, stated so that they reconcile with the order's total:
    owed = order_total - paid + refunded. What the order says it still owes is the source of
    truth; "paid" is what the total and the refunds then imply (a partly paid Shopify order
    was paid outside any attempt Recoup saw), else the successful attempts Recoup saw."""
    money = case_money(case)
    if money is None:
        return {
            "currency": None,
            "order_total": None,
            "owed": None,
            "paid": None,
            "refunded": None,
            "paid_by_attempts": None,
            "reconciliation": None,
        }
    currency = money.paid.currency
    snapshot = case.snapshot
    total = snapshot.order_total if snapshot else None
    total = total if total is not None and total.currency == currency else None
    owed = money.owed if money.owed is not None and money.owed.currency == currency else None
    owed = owed if owed is not None else Money(currency, 0)
    refunded = money.refunded
    paid, basis = money.paid, "the successful payment attempts listed"
    if total is not None:
        implied = total.minor - owed.minor + refunded.minor
        if implied >= 0:
            paid = Money(currency, implied)
            basis = "the order's total less what it still owes, plus what was refunded"
    reconciliation = None
    if total is not None:
        reconciliation = {
            "rule": RECONCILIATION,
            "paid_from": basis,
            "reconciles": owed.minor == total.minor - paid.minor + refunded.minor,
        }
    return {
        "currency": currency,
        "order_total": amount(total),
        "owed": amount(owed),
        "paid": amount(paid),
        "refunded": amount(refunded),
        "paid_by_attempts": amount(money.paid),
        "reconciliation": reconciliation,
    }


def _attempt(attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.attempt_id,
        "provider": str(attempt.provider),
        "at": _iso(attempt.at),
        "succeeded": attempt.succeeded,
        "amount": amount(attempt.amount),
        "decline_code": attempt.code,
        "message": attempt.message,
    }


def delivery_outcomes(audit: Sequence[AuditEntry]) -> dict[str, str]:
    """What the providers reported about each message, by provider id, from the trail's
    delivery report entries in the order they were recorded ("delivered; complaint")."""
    found: dict[str, list[str]] = {}
    for entry in audit:
        body = entry.body
        provider_id = body.get("provider_message_id")
        if body.get("kind") == DELIVERY_REPORT and provider_id:
            found.setdefault(str(provider_id), []).append(str(body.get("outcome") or "reported"))
    return {provider_id: REPORT_SEPARATOR.join(words) for provider_id, words in found.items()}


def _messages(
    dunning: Dunning | None, outcomes: Mapping[str, str], texts: Mapping[int, MessageText]
) -> list[dict[str, Any]]:
    return [_message(m, outcomes, texts.get(m.step)) for m in (dunning.sent if dunning else ())]


def _message(
    message: SentMessage, outcomes: Mapping[str, str], text: MessageText | None
) -> dict[str, Any]:
    if message.channel == "unknown":
        outcome = "unknown: the sender stopped before recording the outcome"
    elif message.provider_id and message.provider_id in outcomes:
        outcome = outcomes[message.provider_id]
    else:
        outcome = "sent; no delivery report"
    return {
        "step": message.step + 1,
        "channel": message.channel,
        "at": _iso(message.at),
        "provider_message_id": message.provider_id,
        "template": message.template,
        "amount": amount(Money(message.currency, message.amount_minor))
        if message.currency
        else None,
        "outcome": outcome,
        "subject": text.subject if text else None,
        "text": text.body if text else None,
        "text_source": text.source if text else "not available",
    }


def _customer_actions(case: Case, contact: ContactState) -> list[dict[str, Any]]:
    """What the customer did, as far as Recoup knows: payment attempts, disputes, opt-outs
    (each also on the audit trail or in the sections above)."""
    actions: list[dict[str, Any]] = [
        {
            "at": _iso(a.at),
            "action": "paid" if a.succeeded else "tried to pay; the payment failed",
            "detail": a.code or a.message,
            "amount": amount(a.amount),
        }
        for a in sorted(case.attempts, key=lambda a: (a.at, a.attempt_id))
    ]
    flags = (
        (case.dispute_open, "opened a dispute with their bank"),
        (contact.email_opted_out, "opted out of email"),
        (contact.sms_opted_out, "opted out of SMS (STOP)"),
        (contact.email_suppressed, "their email address bounced or they complained"),
    )
    actions += [
        {"at": None, "action": words, "detail": None, "amount": None} for on, words in flags if on
    ]
    return actions


def _reachability(contact: ContactState, messages: list[dict[str, Any]]) -> dict[str, Any]:
    delivered = sum(1 for m in messages if DELIVERED in m["outcome"].split(REPORT_SEPARATOR))
    blocked = [
        words
        for flag, words in (
            (contact.email_opted_out, "the customer opted out of email"),
            (contact.email_suppressed, "the email address bounced or complained"),
            (contact.sms_opted_out, "the customer opted out of SMS"),
        )
        if flag
    ]
    if not messages:
        statement = "No reminder was sent: the reminders could not be delivered"
    elif delivered == 0:
        statement = (
            f"{len(messages)} reminder(s) sent; none reported delivered: the reminders "
            "may not have reached the customer"
        )
    else:
        statement = f"{len(messages)} reminder(s) sent; {delivered} reported delivered"
    if blocked:
        statement += " (" + "; ".join(blocked) + ")"
    return {
        "email_opted_out": contact.email_opted_out,
        "sms_opted_out": contact.sms_opted_out,
        "email_suppressed": contact.email_suppressed,
        "reasons": list(contact.reasons),
        "messages_sent": len(messages),
        "messages_delivered": delivered,
        "statement": statement + ".",
    }


def _fraud(case: Case, screening: Mapping[str, Any] | None) -> dict[str, Any]:
    """The case's own flags and the screening, copied field by field so that a malformed
    screening document yields empty fields rather than a failed file."""
    section: dict[str, Any] = {
        "dispute_open": case.dispute_open,
        "issuer_fraud_warning": case.fraud_warning,
        "screened": isinstance(screening, Mapping),
        "latest": None,
        "history": [],
        "decision": None,
        "decided_at": None,
        "decided_by": None,
        "note": None,
    }
    if not isinstance(screening, Mapping):
        return section
    raw_history = screening.get("history")
    history = [_score(item) for item in (raw_history if isinstance(raw_history, list) else ())]
    section.update(
        history=history,
        latest=history[-1] if history else None,
        decision=_text(screening.get("decision")),
        decided_at=_text(screening.get("decided_at")),
        decided_by=_text(screening.get("decided_by")),
        note=_text(screening.get("note")),
    )
    return section


def _score(item: object) -> dict[str, Any]:
    data = item if isinstance(item, Mapping) else {}
    reasons, notes = data.get("reasons"), data.get("notes")
    return {
        "at": _text(data.get("at")),
        "score": _number(data.get("score")),
        "level": _text(data.get("level")),
        "confidence": _number(data.get("confidence")),
        "reasons": [
            {
                "rule": _text(r.get("rule")),
                "weight": _number(r.get("weight")),
                "text": _text(r.get("text")),
            }
            for r in (reasons if isinstance(reasons, list) else ())
            if isinstance(r, Mapping)
        ],
        "notes": [n for n in (notes if isinstance(notes, list) else ()) if isinstance(n, str)],
        "ruleset": _text(data.get("ruleset")),
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _chain(entries: Sequence[AuditEntry], recorded_head: str | None) -> dict[str, Any]:
    head = (
        recorded_head if recorded_head is not None else (entries[-1].hash if entries else GENESIS)
    )
    check = verify_chain(entries, expected_head=head)
    return {
        "algorithm": CHAIN_ALGORITHM,
        "head": head,
        "entries": len(entries),
        "verify_command": VERIFY_COMMAND,
        "verified_when_generated": check.ok,
        "problem_when_generated": check.problem,
    }


__all__ = [
    "CHAIN_ALGORITHM",
    "RECONCILIATION",
    "SCHEMA",
    "VERIFY_COMMAND",
    "CaseFileInputs",
    "ContactState",
    "MessageText",
    "ShopInfo",
    "amount",
    "build_record",
    "record_json",
]
