"""The JSON record of a referral's case file: everything an agency or a lawyer needs, in one
document, from plain inputs.

The record is the file's single source: the HTML and PDF are rendered from it, and
`recoup verify-chain` checks the audit trail it quotes. Amounts appear as exact minor units
and currency, and formatted ("1,899.00 USD"). Building is deterministic: the same inputs give
the same record and, through `record_json`, the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recoup.domain.audit import GENESIS, AuditEntry, verify_chain
from recoup.domain.case import Case
from recoup.domain.dunning import Dunning, SentMessage
from recoup.domain.events import LineItem, PaymentAttempt
from recoup.domain.money import Money
from recoup.domain.referral import Referral, case_money, format_amount

SCHEMA = "recoup.casefile/1"
VERIFY_COMMAND = "recoup verify-chain <file>"
CHAIN_ALGORITHM = (
    "hash = sha256(prev_hash + '\\n' + canonical_json({'seq': seq, **body})) in hex; "
    "canonical_json: keys sorted, separators ',' and ':', UTF-8 with non-ASCII kept; "
    f"the first entry's prev_hash is {GENESIS[:8]}... (64 zeros); the last hash is the head"
)
DELIVERED = "delivered"  # the outcome a delivery report gives a message that arrived


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
    delivery_outcomes: Mapping[str, str] = field(default_factory=dict)  # provider id -> outcome
    referral: Referral
    generated_at: datetime


def build_record(inputs: CaseFileInputs) -> dict[str, Any]:
    """The case file as JSON-safe data (see `record_json` for its bytes)."""
    case = inputs.case
    messages = _messages(inputs.dunning, inputs.delivery_outcomes)
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
        "messages": messages,
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
    money = case_money(case)
    if money is None:
        return {"currency": None, "owed": None, "paid": None, "refunded": None}
    return {
        "currency": money.paid.currency,
        "owed": amount(money.owed),
        "paid": amount(money.paid),
        "refunded": amount(money.refunded),
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


def _messages(dunning: Dunning | None, outcomes: Mapping[str, str]) -> list[dict[str, Any]]:
    return [_message(m, outcomes) for m in (dunning.sent if dunning else ())]


def _message(message: SentMessage, outcomes: Mapping[str, str]) -> dict[str, Any]:
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
        "amount": amount(Money(message.currency, message.amount_minor)),
        "outcome": outcome,
    }


def _reachability(contact: ContactState, messages: list[dict[str, Any]]) -> dict[str, Any]:
    delivered = sum(1 for m in messages if m["outcome"] == DELIVERED)
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
    "SCHEMA",
    "VERIFY_COMMAND",
    "CaseFileInputs",
    "ContactState",
    "ShopInfo",
    "amount",
    "build_record",
    "record_json",
]
