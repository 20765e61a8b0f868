"""The admin API's JSON shapes: settings, cases as rows and as a timeline, money, figures.

Amounts carry minor units, the currency and the decimal amount as text, so the page formats
them in the staff member's locale without floating point. Personal data is what a merchant
needs to recognise the order and its customer, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recoup.admin.requests import encode_cursor
from recoup.domain import cadence
from recoup.domain.money import Money
from recoup.domain.referral import referral_policy_to_dict
from recoup.services.shop_settings import Sender, Template, Versioned
from recoup.services.shops import TEMPLATE_PARTS

# Types only: the case pages' routes load the cases' modules with their service.
if TYPE_CHECKING:
    from recoup.domain.aggregate import StoredCase
    from recoup.domain.case import Case
    from recoup.domain.dunning import Dunning
    from recoup.domain.fraud import ShopFraudSettings
    from recoup.domain.fraud.screening import Screening
    from recoup.domain.referral import ReferralPolicy, Referrals
    from recoup.services.case_views import ActionOutcome, CaseDetail, CasePage
    from recoup.services.figures import Figures
    from recoup.services.step_samples import StepPreview


def money(amount: Money | None) -> dict[str, Any] | None:
    if amount is None:
        return None
    return {"currency": amount.currency, "minor": amount.minor, "amount": f"{amount.decimal:f}"}


def amounts(values: Iterable[Money]) -> list[dict[str, Any]]:
    return [{"currency": m.currency, "minor": m.minor, "amount": f"{m.decimal:f}"} for m in values]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def customer_name(case: Case) -> str:
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return "Unknown customer"
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part).strip()
    return name or customer.email or "Unknown customer"


def order_name(case: Case) -> str:
    if case.snapshot and case.snapshot.order_name:
        return case.snapshot.order_name
    return f"Order {case.case_id}" if case.linked else f"Stripe payment {case.case_id}"


def reminders(dunning: Dunning | None) -> dict[str, Any] | None:
    if dunning is None:
        return None
    return {
        "status": str(dunning.status),
        "next_step": dunning.next_step + 1 if dunning.due else None,
        "next_at": _iso(dunning.next_at) if dunning.due else None,
        "sent": len(dunning.sent),
        "reason": dunning.reason,
        "held_by": dunning.held_by or None,
    }


def risk(screening: Screening | None) -> dict[str, Any] | None:
    if screening is None:
        return None
    current = screening.current
    return {
        "level": str(current.level) if current else None,
        "score": current.score if current else None,
        "gate": str(screening.gate),
        "decision": str(screening.decision) if screening.decision else None,
        "summary": screening.why(),
    }


def referral(referrals: Referrals | None) -> dict[str, Any] | None:
    """Where the case stands with an agency or legal: the latest referral, or a write-off."""
    if referrals is None:
        return None
    if referrals.written_off is not None:
        return {"kind": None, "status": "written_off"}
    latest = referrals.latest
    return {"kind": str(latest.kind), "status": str(latest.status)} if latest else None


def case_row(stored: StoredCase) -> dict[str, Any]:
    case = stored.case
    return {
        "id": case.case_id,
        "order_name": order_name(case),
        "customer": customer_name(case),
        "amount_owed": money(case.amount_owed),
        "status": str(case.status),
        "reminders": reminders(stored.dunning),
        "risk": risk(stored.screening),
        "referral": referral(stored.referrals),
        "opened_at": _iso(case.opened_at),
    }


def case_detail(found: CaseDetail) -> dict[str, Any]:
    """The case with its whole story: platform events and Recoup's own actions (the audit
    trail, oldest first), the reminders sent, the fraud screening history, the referral,
    and the actions its state allows."""
    stored, trail = found.stored, found.trail
    case = stored.case
    snapshot = case.snapshot
    customer = snapshot.customer if snapshot else None
    screening = stored.screening
    referrals = stored.referrals
    return {
        **case_row(stored),
        "order_total": money(snapshot.order_total if snapshot else None),
        "recovered": money(case.recovered),
        "closed_at": _iso(case.closed_at),
        "customer_contact": {
            "email": customer.email if customer else None,
            "country": customer.country if customer else None,
        },
        "items": [
            {"title": item.title, "quantity": item.quantity, "unit_price": money(item.unit_price)}
            for item in (snapshot.line_items if snapshot else ())
        ],
        "flags": {"dispute_open": case.dispute_open, "fraud_warning": case.fraud_warning},
        "timeline": [
            {
                "seq": entry.seq,
                "at": entry.body.get("occurred_at"),
                "source": entry.body.get("source"),
                "kind": entry.body.get("kind"),
                "summary": entry.body.get("summary"),
                "effect": entry.body.get("effect"),
            }
            for entry in trail
        ],
        "reminders_sent": [
            {
                "step": message.step + 1,
                "channel": message.channel,
                "at": message.at.isoformat(),
                "template": message.template,
                "amount": money(Money(message.currency, message.amount_minor))
                if message.currency
                else None,
            }
            for message in (stored.dunning.sent if stored.dunning else ())
        ],
        "screening": {
            "history": [entry.to_dict() for entry in screening.history],
            "decision": str(screening.decision) if screening.decision else None,
            "decided_by": screening.decided_by,
            "decided_at": _iso(screening.decided_at),
            "note": screening.note,
        }
        if screening
        else None,
        "referrals": [
            {
                "id": referral_id,
                "kind": str(item.kind),
                "status": str(item.status),
                "referred_at": item.referred_at.isoformat(),
                "reason": item.reason,
                "owed": money(item.owed),
                "recovered": money(item.recovered),
            }
            for referral_id, item in (referrals.entries if referrals else ())
        ],
        "written_off": referrals.written_off.to_dict()
        if referrals and referrals.written_off
        else None,
        "actions": found.actions,
    }


def case_page(page: CasePage) -> dict[str, Any]:
    after = page.resume_after
    return {
        "cases": [case_row(stored) for stored in page.cases],
        "next_cursor": encode_cursor(after) if after else None,
    }


def action(outcome: ActionOutcome) -> dict[str, Any]:
    return {"result": outcome.result, "case": case_detail(outcome.case)}


def figures(result: Figures, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    return {
        "from": _iso(start),
        "to": _iso(end),
        "cases": result.cases,
        "outstanding": amounts(result.outstanding),
        "recovered": amounts(result.recovered),
        "by_state": result.by_state,
        "by_reminders": result.by_reminders,
        "weeks": [
            {
                "week": week.monday.isoformat(),
                "opened": week.opened,
                "recovered": week.recovered,
                "rate": week.rate,
            }
            for week in result.weeks
        ],
        "by_step": [
            {
                "step": outcome.step,
                "channel": outcome.channel,
                "cases": outcome.cases,
                "recovered": amounts(outcome.recovered),
            }
            for outcome in result.by_step
        ],
    }


def default_rules() -> list[dict[str, Any]]:
    """The rules every shop starts with, for the settings page: what each checks, its
    weight, the reason it gives, and whether the shop may switch it off."""
    # The fraud settings' routes only (the rules are parsed by then): no other page reads them.
    from recoup.domain.fraud.defaults import DEFAULT_RULES, LOCKED_RULES

    return [
        {
            "name": rule.name,
            "description": rule.description,
            "weight": rule.weight,
            "reason": rule.reason,
            "forces": str(rule.forces) if rule.forces else None,
            "locked": rule.name in LOCKED_RULES,
        }
        for rule in DEFAULT_RULES
    ]


# ---------------------------------------------------------------- settings
# A policy's version travels beside its document: it is what a PUT edits.


def reminder_settings(saved: Versioned[cadence.ReminderPolicy]) -> dict[str, Any]:
    doc = cadence.policy_to_dict(saved.value)
    doc.pop("version")
    return {
        "version": saved.version,
        "policy": doc,
        "choices": {
            "channel": [str(c) for c in cadence.Channel],
            "tone": [str(t) for t in cadence.Tone],
            "anchor": [str(a) for a in cadence.Anchor],
            "timezone_rule": [str(r) for r in cadence.TimezoneRule],
        },
        "limits": {
            "steps": [cadence.MIN_STEPS, cadence.MAX_STEPS],
            "delay": [
                cadence.format_delay(cadence.MIN_DELAY),
                cadence.format_delay(cadence.MAX_DELAY),
            ],
            "weekly_cap": [cadence.MIN_WEEKLY_CAP, cadence.MAX_WEEKLY_CAP],
        },
    }


def fraud_settings(saved: Versioned[ShopFraudSettings]) -> dict[str, Any]:
    from recoup.domain.fraud import settings_to_dict
    from recoup.domain.fraud.defaults import HIGH_AT, MIN_CONFIDENCE, REVIEW_AT

    return {
        "version": saved.version,
        "settings": settings_to_dict(saved.value),
        "rules": default_rules(),
        "defaults": {"review": REVIEW_AT, "high": HIGH_AT, "min_confidence": MIN_CONFIDENCE},
    }


def referral_settings(saved: Versioned[ReferralPolicy]) -> dict[str, Any]:
    doc = referral_policy_to_dict(saved.value)
    doc.pop("version")
    return {"version": saved.version, "policy": doc}


def template(found: Template) -> dict[str, Any]:
    return {"name": found.name, "parts": dict(found.parts), "kinds": list(TEMPLATE_PARTS)}


def sender(found: Sender) -> dict[str, Any]:
    return {
        "shop_name": found.shop_name,
        "contact_email": found.contact_email,
        "reply_to": found.reply_to,
        "replies_go_to": found.replies_go_to,
        "sender_address": found.sender_address,
        "timezone": found.timezone,
        "currency": found.currency,
    }


def stripe(account: str | None) -> dict[str, Any]:
    return {"connected": account is not None, "account": account}


def preview(shown: StepPreview) -> dict[str, Any]:
    email, sms = shown.email, shown.sms
    return {
        "channel": str(shown.channel),
        "email": {
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            "template": email.template,
            "override_error": email.override_error,
        }
        if email
        else None,
        "sms": {"body": sms.body, "template": sms.template, "override_error": sms.override_error}
        if sms
        else None,
    }
