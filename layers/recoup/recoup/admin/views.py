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
from recoup.domain import cadence, instalments, retries, settlement
from recoup.domain.money import Money
from recoup.domain.referral import referral_policy_to_dict
from recoup.services.shop_settings import AllSettings, Sender, Versioned
from recoup.services.shops import TEMPLATE_PARTS

# Types only: the case pages' routes load the cases' modules with their service.
if TYPE_CHECKING:
    from recoup.domain.aggregate import StoredCase
    from recoup.domain.case import Case, Settled
    from recoup.domain.case_facts import CaseFacts
    from recoup.domain.dunning import Dunning
    from recoup.domain.experiments import Arm
    from recoup.domain.fraud import ShopFraudSettings
    from recoup.domain.fraud.screening import Screening
    from recoup.domain.notices import NotificationSettings
    from recoup.domain.referral import ReferralPolicy, Referrals
    from recoup.domain.strategies import Strategy
    from recoup.services.case_list import CasePage
    from recoup.services.case_views import ActionOutcome, CaseDetail
    from recoup.services.figures import Figures, Segment
    from recoup.services.message_templates import Catalogue, DraftPreview, Version
    from recoup.services.step_samples import StepPreview
    from recoup.services.strategy_tester import CaseReasons, Followed, TesterAnswer


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


def order_name(case: Case) -> str | None:
    """The Shopify order's name; None for a Stripe payment no order is known for."""
    if case.snapshot and case.snapshot.order_name:
        return case.snapshot.order_name
    return f"Order {case.case_id}" if case.linked else None


def case_title(case: Case) -> str:
    """The order's name, or for a Stripe payment with no order what it is for: never the
    payment's Stripe id, which tells a merchant nothing."""
    name = order_name(case)
    if name is not None:
        return name
    amount = case.amount_owed or (case.snapshot.order_total if case.snapshot else None)
    return f"Stripe payment of {amount}" if amount else "Stripe payment"


def customer_email(case: Case) -> str | None:
    customer = case.snapshot.customer if case.snapshot else None
    return customer.email if customer else None


def reminders(dunning: Dunning | None) -> dict[str, Any] | None:
    if dunning is None:
        return None
    promised = dunning.promise_in_force
    return {
        "status": str(dunning.status),
        "next_step": dunning.next_step + 1 if dunning.due else None,
        "next_at": _iso(dunning.next_at) if dunning.due else None,
        "sent": len(dunning.sent),
        "reason": dunning.reason,
        "held_by": dunning.held_by or None,
        "promised_by": promised.pay_by.isoformat() if promised else None,
        "customer_report": dunning.report or None,
    }


_RUNNING_PLAN = (instalments.PlanStatus.AWAITING_CARD, instalments.PlanStatus.ACTIVE)


def plan(dunning: Dunning | None) -> dict[str, Any] | None:
    """The customer's instalment plan, kept once it ended: its course, each instalment
    (paid, missed, scheduled, or not charged once the plan ended), the next charge while it
    runs, the instalment missed with the end of its grace days, and why it ended."""
    found = dunning.plan if dunning else None
    if dunning is None or found is None:
        return None
    running = found.status in _RUNNING_PLAN
    return {
        "id": found.id,
        "status": str(found.status),
        "interval": str(found.interval),
        "count": len(found.instalments),
        "total": money(found.total),
        "paid": money(found.paid),
        "remaining": money(found.total - found.paid),
        "made_at": found.made_at.isoformat(),
        "card_by": _iso(found.card_by)
        if found.status is instalments.PlanStatus.AWAITING_CARD
        else None,
        "next_charge": _next_charge(found),
        "missed": _missed(found, dunning.plan_grace_days) if running else None,
        "ended_at": _iso(found.ended_at),
        "end_reason": found.end_reason or None,
        "instalments": [_instalment(found, item, running) for item in found.instalments],
    }


def _instalment(
    found: instalments.Plan, item: instalments.Instalment, running: bool
) -> dict[str, Any]:
    if item.paid:
        state = "paid"
    elif item.failed_at is not None:
        state = "missed"
    else:
        state = "scheduled" if running else "not_charged"
    return {
        "number": item.number,
        "due_on": item.due_on.isoformat(),
        "due_at": item.due_at.isoformat(),
        "amount": money(Money.of(item.amount_minor, found.currency)),
        "status": state,
        "paid_at": _iso(item.paid_at),
        "failed_at": _iso(item.failed_at),
        "failures": item.failures,
        "code": item.code,
    }


def _next_charge(found: instalments.Plan) -> dict[str, Any] | None:
    """The instalment charged next to the saved card: none while one is missed (the
    customer pays it from their page) or before the card is saved."""
    upcoming = found.next_unpaid
    if found.status is not instalments.PlanStatus.ACTIVE or found.missed or upcoming is None:
        return None
    return {
        "number": upcoming.number,
        "due_on": upcoming.due_on.isoformat(),
        "at": upcoming.due_at.isoformat(),
        "amount": money(Money.of(upcoming.amount_minor, found.currency)),
    }


def _missed(found: instalments.Plan, grace_days: int) -> dict[str, Any] | None:
    missed = found.missed
    if missed is None:
        return None
    return {
        "number": missed.number,
        "amount": money(Money.of(missed.amount_minor, found.currency)),
        "failed_at": _iso(missed.failed_at),
        "code": missed.code,
        "grace_ends": _iso(found.grace_ends(grace_days)),
    }


def settled(found: Settled | None) -> dict[str, Any] | None:
    """A payment under a settlement offer: what was paid, for what, and the discount that
    is written off (never counted as recovered)."""
    if found is None:
        return None
    return {
        "offer_id": found.offer_id,
        "paid": money(found.paid),
        "settles": money(found.settles),
        "discount": money(found.discount),
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
    from recoup.domain.listing import case_currency, display_state

    case, dunning = stored.case, stored.dunning
    return {
        "id": case.case_id,
        "title": case_title(case),
        "order_name": order_name(case),
        "customer": customer_name(case),
        "customer_email": customer_email(case),
        "amount_owed": money(case.amount_owed),
        "currency": case_currency(case),
        "state": display_state(stored),
        "status": str(case.status),
        "reminders": reminders(dunning),
        "risk": risk(stored.screening),
        "referral": referral(stored.referrals),
        "opened_at": _iso(case.opened_at),
        "next_at": _iso(dunning.next_at) if dunning and dunning.due else None,
    }


def case_detail(found: CaseDetail, reasons: CaseReasons | None = None) -> dict[str, Any]:
    """The case with its whole story: platform events and Recoup's own actions (the audit
    trail, oldest first), the reminders sent, the fraud screening history, the referral,
    the actions its state allows, and (`reasons`) why it gets the reminders it gets."""
    stored, trail = found.stored, found.trail
    case = stored.case
    snapshot = case.snapshot
    screening = stored.screening
    referrals = stored.referrals
    # The customer's notes are kept beside the trail (erasable), keyed by their request.
    notes = {r.id: r.note for r in (stored.dunning.requests if stored.dunning else ()) if r.note}
    return {
        **case_row(stored),
        "order_total": money(snapshot.order_total if snapshot else None),
        "recovered": money(case.recovered),
        "settled_discount": money(case.settled_discount),
        "settlement": settled(case.settlement),
        "closed_at": _iso(case.closed_at),
        "customer_contact": customer_contact(found),
        "links": shopify_links(case),
        "next_step": next_step(found),
        "items": [
            {"title": item.title, "quantity": item.quantity, "unit_price": money(item.unit_price)}
            for item in (snapshot.line_items if snapshot else ())
        ],
        "flags": {"dispute_open": case.dispute_open, "fraud_warning": case.fraud_warning},
        "plan": plan(stored.dunning),
        "timeline": [timeline_entry(entry.seq, entry.body, notes) for entry in trail],
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
        "strategy": case_strategy(reasons) if reasons else None,
    }


def customer_contact(found: CaseDetail) -> dict[str, Any]:
    """How to reach the customer, and the time where they are (as quiet hours reckon it)."""
    snapshot = found.stored.case.snapshot
    customer = snapshot.customer if snapshot else None
    return {
        "email": customer.email if customer else None,
        "phone": found.phone or (customer.phone if customer else None),
        "country": customer.country if customer else None,
        "timezone": found.zone,
        "local_time": _iso(found.local_time),
    }


def next_step(found: CaseDetail) -> dict[str, Any] | None:
    upcoming = found.next_step
    if upcoming is None:
        return None
    return {
        "step": upcoming.step + 1,
        "at": _iso(upcoming.at),
        "channel": upcoming.channel,
        "template": upcoming.template,
    }


def timeline_entry(
    seq: int, body: dict[str, Any], notes: dict[str, str] | None = None
) -> dict[str, Any]:
    """One entry of the trail; a customer's request with the note they wrote (`notes`, by
    request id: kept off the trail so that erasure can remove it)."""
    entry = {
        "seq": seq,
        "at": body.get("occurred_at"),
        "source": body.get("source"),
        "kind": body.get("kind"),
        "summary": body.get("summary"),
        "effect": body.get("effect"),
        "actor": actor(body),
    }
    note = (notes or {}).get(str(body.get("request_id") or ""))
    if note:
        entry["note"] = note
    return entry


def shopify_links(case: Case) -> dict[str, str | None]:
    """The order and the customer in the Shopify admin (App Bridge's `shopify://admin`
    links), when the case knows their Shopify ids."""
    customer = case.snapshot.customer if case.snapshot else None
    customer_id = customer.customer_id if customer else None
    order = case.linked and case.case_id.isdigit()
    return {
        "order": f"shopify://admin/orders/{case.case_id}" if order else None,
        "customer": f"shopify://admin/customers/{customer_id}"
        if customer_id and customer_id.isdigit()
        else None,
    }


# Who each source of the trail is, for entries that do not name their actor.
_SOURCE_ACTORS = {
    "merchant": "staff",
    "shopify": "shopify",
    "stripe": "stripe",
    "customer": "customer",
}


def actor(body: dict[str, Any]) -> dict[str, Any]:
    """Who made an audit entry: as it names itself (the admin's actions, since they name
    the staff member), else by its source (Recoup for its own, SES's and SNS's reports and
    an agency's report-backs, which Recoup records)."""
    named = body.get("actor")
    if isinstance(named, dict):
        return {"kind": named.get("kind"), "id": named.get("id"), "name": named.get("name")}
    kind = _SOURCE_ACTORS.get(str(body.get("source")), "recoup")
    return {"kind": kind, "id": None, "name": None}


def case_page(page: CasePage) -> dict[str, Any]:
    after = page.resume_after
    return {
        "cases": [case_row(stored) for stored in page.cases],
        "next_cursor": encode_cursor(after, page.sort) if after else None,
    }


CSV_COLUMNS = (
    *("id", "order", "customer", "email", "state", "currency", "amount_owed", "opened_at"),
    *("next_reminder_at", "risk", "referral"),
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cases_csv(page: CasePage) -> str:
    """The selection as CSV, one row per case, amounts as decimal text; a last line says
    when it was cut short."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for stored in page.cases:
        writer.writerow([_cell(value) for value in _csv_row(stored)])
    if page.resume_after is not None:
        out.write(f"# truncated at {len(page.cases)} rows; narrow the filters\r\n")
    return out.getvalue()


def _csv_row(stored: StoredCase) -> list[str]:
    row = case_row(stored)
    owed, level, referred = row["amount_owed"], row["risk"], row["referral"]
    return [
        row["id"],
        row["order_name"] or "",
        row["customer"],
        row["customer_email"] or "",
        row["state"],
        row["currency"] or "",
        owed["amount"] if owed else "",
        row["opened_at"] or "",
        row["next_at"] or "",
        (level["level"] or "") if level else "",
        ":".join(v for v in (referred["kind"], referred["status"]) if v) if referred else "",
    ]


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def action(outcome: ActionOutcome, reasons: CaseReasons | None = None) -> dict[str, Any]:
    return {"result": outcome.result, "case": case_detail(outcome.case, reasons)}


def figures(result: Figures, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    from recoup.domain.rollup import CONVERSION_WINDOW
    from recoup.services.figures import DEFINITIONS

    def amount(minor: int) -> dict[str, Any] | None:
        return money(result.money(minor))

    found: dict[str, Any] = {
        "from": _iso(start),
        "to": _iso(end),
        "currency": result.currency,
        "currencies": list(result.currencies),
        "cases": result.cases,
    }
    totals = ("outstanding", "fraud_flagged", "unlinked_stripe", "written_off")
    for name in (*totals, "recovered", "self_cured", "settled_discount"):
        total = getattr(result, name)
        found[name], found[f"{name}_cases"] = amount(total.minor), total.cases
    return found | {
        "contacted_cases": result.contacted_cases,
        "recovery_rate": result.recovery_rate,
        "by_state": result.by_state,
        "conversion_window_days": CONVERSION_WINDOW.days,
        "conversion": [
            {
                "step": c.step,
                "channel": c.channel,
                "template": c.template,
                "sent": c.sent,
                "paid_within": c.paid_within,
                "rate": c.rate,
            }
            for c in result.conversion
        ],
        "recovered_over_time": [
            {"day": p.day.isoformat(), "amount": amount(p.minor), "cases": p.cases}
            for p in result.recovered_over_time
        ],
        "opened_over_time": [
            {"day": p.day.isoformat(), "cases": p.cases, "amount": amount(p.minor)}
            for p in result.opened_over_time
        ],
        "cohorts": [
            {
                "month": c.month.isoformat()[:7],
                "opened": c.opened,
                "recovered": c.recovered,
                "self_cured": c.self_cured,
                "rate": c.rate,
            }
            for c in result.cohorts
        ],
        "by_strategy": segments(result, result.by_strategy),
        "by_decline": segments(result, result.by_decline),
        "by_method": segments(result, result.by_method),
        "definitions": DEFINITIONS,
    }


def segments(result: Figures, found: Iterable[Segment]) -> list[dict[str, Any]]:
    """One breakdown of the cases opened (by strategy, decline category or payment method):
    per value, the cases, those recovered, what they paid, and recovered / opened."""
    return [
        {
            "value": s.value,
            "cases": s.cases,
            "recovered_cases": s.recovered.cases,
            "recovered": money(result.money(s.recovered.minor)),
            "rate": s.rate,
        }
        for s in found
    ]


def experiments(found: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The shop's experiments as `services/experiment_results.figures` gives them, each
    arm's recovered amounts as money (with their decimal text, as every amount here)."""
    return {
        "experiments": [
            {**experiment, "arms": [_arm_figures(arm) for arm in experiment["arms"]]}
            for experiment in found
        ]
    }


def _arm_figures(arm: dict[str, Any]) -> dict[str, Any]:
    recovered = (Money(r["currency"], r["minor"]) for r in arm["recovered"])
    return {**arm, "recovered": amounts(recovered)}


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


# ---------------------------------------------------------------- strategies


def case_facts(facts: CaseFacts) -> dict[str, Any]:
    """A case's facts as the strategies' conditions read them: how it was to be paid, the
    newest decline (its code and category), what is owed, the customer's country, a first or
    returning customer (null: not known), the fraud risk, the payment terms and their date."""
    from recoup.domain.case_facts import NO_DECLINE

    customer = None if facts.returning is None else "returning" if facts.returning else "first"
    return {
        "method": str(facts.method),
        "decline": None
        if facts.decline == NO_DECLINE
        else {"code": facts.decline_code, "category": facts.decline},
        "owed": money(facts.owed),
        "country": facts.country,
        "customer": customer,
        "risk": facts.risk,
        "payment_terms": {"name": facts.payment_terms, "due_at": _iso(facts.due_at)}
        if facts.payment_terms is not None
        else None,
    }


def strategy_brief(strategy: Strategy) -> dict[str, Any]:
    """A strategy named as the page shows it; its experiment's arms when it runs one."""
    from recoup.domain.strategies import DEFAULT_ID

    experiment = strategy.experiment
    return {
        "id": strategy.id,
        "name": strategy.name,
        "default": strategy.id == DEFAULT_ID,
        "experiment": {
            "id": experiment.id,
            "arms": [arm_view(a) for a in experiment.arms],
        }
        if experiment
        else None,
    }


def arm_view(arm: Arm) -> dict[str, Any]:
    return {"id": arm.id, "weight": arm.weight, "holdout": arm.holdout}


def followed(found: Followed) -> dict[str, Any]:
    """The strategy a case follows: as recorded when it was chosen, named as the policy
    names it now (`name` null and `in_policy` false once the shop removed it)."""
    arm = found.arm
    return {
        **(strategy_brief(found.strategy) if found.strategy else {"id": found.strategy_id}),
        "name": found.strategy.name if found.strategy else None,
        "in_policy": found.strategy is not None,
        "why": found.why or None,
        "arm": arm_view(arm)
        if arm
        else {"id": found.arm_id, "weight": None, "holdout": None}
        if found.arm_id
        else None,
        "anchor_at": _iso(found.anchor_at),
    }


def case_strategy(reasons: CaseReasons) -> dict[str, Any]:
    """Why the case gets the reminders it gets: its strategy (null: none chosen, as for a
    case not chased) and the facts the strategy was chosen by."""
    return {
        "follows": followed(reasons.follows) if reasons.follows else None,
        "facts": case_facts(reasons.facts),
    }


def strategy_test(answer: TesterAnswer) -> dict[str, Any]:
    """The tester's answer: each strategy tried in order (the last one took the case), why
    it took it, the arm (for a case), the facts as read, and what the case follows now."""
    choice = answer.choice
    arm = choice.arm
    return {
        "case_id": answer.case_id,
        "facts": case_facts(answer.facts),
        "tried": [
            {**strategy_brief(t.strategy), "matched": t.failure is None, "failure": t.failure}
            for t in answer.tried
        ],
        "taken": {
            **strategy_brief(choice.strategy),
            "why": choice.why,
            "arm": arm_view(arm) if arm else None,
            "steps": cadence.steps_to_list(choice.steps),
        },
        "follows": followed(answer.follows) if answer.follows else None,
    }


def strategy_settings() -> dict[str, Any]:
    """What the strategies' editor offers: the choices of each condition, the limits, and
    the shipped strategies (a shop that never set its own follows these)."""
    from recoup.domain import experiments, retries, strategies
    from recoup.domain.case_facts import MANUAL_METHODS, NO_DECLINE, RISKS, CustomerKind, Method

    return {
        "choices": {
            "methods": [str(m) for m in Method],
            "declines": [*retries.category_names(), NO_DECLINE],
            "risks": list(RISKS),
            "customer": [str(k) for k in CustomerKind],
            # the methods a strategy that cancels unpaid orders may be limited to
            "manual_methods": [str(m) for m in Method if m in MANUAL_METHODS],
        },
        "limits": {
            "count": strategies.MAX_STRATEGIES,
            "courtesy_days": [0, strategies.MAX_COURTESY_DAYS],
            "cancel_after_days": [0, strategies.MAX_CANCEL_DAYS],
            "arms": [experiments.MIN_ARMS, experiments.MAX_ARMS],
            "max_holdout_percent": experiments.DEFAULT_MAX_HOLDOUT_PERCENT,
        },
        "shipped": [strategies.strategy_to_dict(s) for s in strategies.shipped()],
    }


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
            "interval": [str(i) for i in instalments.Interval],
            "on_broken": [str(o) for o in instalments.OnBroken],
        },
        "limits": {
            "steps": [cadence.MIN_STEPS, cadence.MAX_STEPS],
            "delay": [
                cadence.format_delay(cadence.MIN_DELAY),
                cadence.format_delay(cadence.MAX_DELAY),
            ],
            "weekly_cap": [cadence.MIN_WEEKLY_CAP, cadence.MAX_WEEKLY_CAP],
            "promise_max_days": [cadence.MIN_PROMISE_DAYS, cadence.MAX_PROMISE_DAYS],
            "instalments": {
                "max_count": [instalments.MIN_COUNT, instalments.MAX_COUNT_LIMIT],
                "max_days": [instalments.MIN_DAYS_LIMIT, instalments.MAX_DAYS_LIMIT],
                "grace_days": [instalments.MIN_GRACE_DAYS, instalments.MAX_GRACE_DAYS],
                "start_days": instalments.START_DAYS,
            },
            "settlement": {
                "percent": [settlement.MIN_PERCENT, settlement.MAX_PERCENT],
                "pay_within_days": [settlement.MIN_DAYS, settlement.MAX_DAYS],
                "final_notice": settlement.FINAL_NOTICE,
            },
            "retries": {
                "max_retries": [0, retries.MAX_RETRIES],
                "delays": [1, retries.MAX_RETRIES],
                "delay": [
                    cadence.format_delay(retries.MIN_DELAY),
                    cadence.format_delay(retries.MAX_DELAY),
                ],
            },
        },
        "strategies": strategy_settings(),
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


def notification_settings(saved: Versioned[NotificationSettings]) -> dict[str, Any]:
    return {"version": saved.version, "notifications": saved.value.to_dict()}


def template(found: Version) -> dict[str, Any]:
    """One template in one language: the shop's parts in it, the shipped text in it to start
    from, and every language the shop has its own version in."""
    from recoup.services.message_templates import variables

    return {
        "name": found.name,
        "language": found.language,
        "languages": list(found.languages),
        "parts": dict(found.parts),
        "builtin_parts": dict(found.builtin_parts) if found.builtin_parts is not None else None,
        "kinds": list(TEMPLATE_PARTS),
        "variables": template_variables(variables()),
    }


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
        "sms": {
            "body": sms.body,
            "template": sms.template,
            "override_error": sms.override_error,
            **sms_size(sms.body),
        }
        if sms
        else None,
    }


def sms_size(text: str) -> dict[str, Any]:
    """How an SMS travels: `text`, its `encoding` ("GSM-7" or "UCS-2"), `length` in that
    encoding's units, `segments` and what each holds (`per_segment`)."""
    from recoup.channels.sms_segments import measure

    size = measure(text)
    return {
        "text": text,
        "encoding": size.encoding,
        "length": size.length,
        "segments": size.segments,
        "per_segment": size.per_segment,
    }


def all_settings(found: AllSettings) -> dict[str, Any]:
    return {
        "reminders": reminder_settings(found.reminders),
        "fraud": fraud_settings(found.fraud),
        "referral": referral_settings(found.referral),
    }


def template_variables(found: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "description": description} for name, description in found]


def templates(found: Catalogue) -> dict[str, Any]:
    return {
        "templates": [
            {
                "name": info.name,
                "builtin": info.builtin,
                "customised": info.customised,
                "used_by_steps": list(info.used_by_steps),
                "channels": list(info.channels),
                "languages": list(info.languages),
            }
            for info in found.templates
        ],
        "variables": template_variables(found.variables),
    }


def template_preview(shown: DraftPreview) -> dict[str, Any]:
    email, sms = shown.email, shown.sms
    return {
        "ok": shown.ok,
        "errors": [
            {"part": error.part, "line": error.line, "message": error.message}
            for error in shown.errors
        ],
        "email": {"subject": email.subject, "html": email.html, "text": email.text}
        if email
        else None,
        "sms": sms_size(sms.body) if sms else None,
    }


def new_step(position: int, step: cadence.Step) -> dict[str, Any]:
    """A step to add (as the policy's JSON holds one) and where: its index, from 0."""
    return {
        "step": {
            "delay": cadence.format_delay(step.delay),
            "anchor": str(step.anchor),
            "channel": str(step.channel),
            "template": step.template,
            "tone": str(step.tone),
            "pay_link": step.pay_link,
        },
        "position": position,
    }
