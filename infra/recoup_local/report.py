"""Print cases for a person (a table and timelines) or for a program (JSON)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry, verify_chain
from recoup.domain.case import Case, CaseStatus
from recoup.domain.money import Money
from recoup.store import cases as cases_store


def case_label(case: Case) -> str:
    name = case.snapshot.order_name if case.snapshot and case.snapshot.order_name else None
    if name:
        return f"{name} (order {case.case_id})"
    return f"Stripe payment {case.case_id}" if not case.linked else f"order {case.case_id}"


def case_headline(case: Case) -> str:
    parts = [f"{case_label(case)}: {case.status.value.upper()}"]
    if case.amount_owed is not None:
        parts.append(f"{case.amount_owed} owed")
    if case.recovered is not None:
        parts.append(f"{case.recovered} recovered")
    failures = sum(1 for a in case.attempts if not a.succeeded)
    if failures:
        parts.append(f"{failures} failed payment attempt{'s' * (failures > 1)}")
    flags = [
        name
        for name, on in (
            ("dispute open", case.dispute_open),
            ("early fraud warning", case.fraud_warning),
        )
        if on
    ]
    parts.extend(flags)
    return " · ".join(parts)


def timeline_lines(entries: Iterable[AuditEntry]) -> list[str]:
    lines = []
    for entry in entries:
        body = entry.body
        at = str(body.get("occurred_at", ""))[:16].replace("T", " ")
        lines.append(
            f"  {at} UTC  {body.get('source', ''):<7} {body.get('kind', ''):<38} "
            f"{body.get('summary', '')}  ->  {body.get('effect', '')}"
        )
    return lines


def totals(cases: Iterable[Case]) -> dict[str, Any]:
    by_status: dict[str, int] = defaultdict(int)
    owed: dict[str, Money] = {}
    recovered: dict[str, Money] = {}
    for case in cases:
        by_status[case.status.value] += 1
        for bucket, amount in ((owed, case.amount_owed), (recovered, case.recovered)):
            if amount is not None:
                current = bucket.get(amount.currency)
                bucket[amount.currency] = amount if current is None else current + amount
    return {"by_status": dict(by_status), "owed": owed, "recovered": recovered}


def amounts(bucket: dict[str, Money]) -> str:
    return ", ".join(str(m) for _, m in sorted(bucket.items())) or "nothing"


def case_json(case: Case, entries: list[AuditEntry]) -> dict[str, Any]:
    chain = verify_chain(entries)
    return {
        "case_id": case.case_id,
        "order_name": case.snapshot.order_name if case.snapshot else None,
        "status": case.status.value,
        "linked_to_shopify_order": case.linked,
        "amount_owed": case.amount_owed.to_dict() if case.amount_owed else None,
        "recovered": case.recovered.to_dict() if case.recovered else None,
        "opened_at": case.opened_at.isoformat() if case.opened_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "payment_attempts": len(case.attempts),
        "failed_attempts": sum(1 for a in case.attempts if not a.succeeded),
        "dispute_open": case.dispute_open,
        "fraud_warning": case.fraud_warning,
        "audit": {"entries": chain.entries, "head": chain.head, "verified": chain.ok},
        "timeline": [
            {k: e.body.get(k) for k in ("occurred_at", "source", "kind", "summary", "effect")}
            for e in entries
        ],
    }


_NEXT_KINDS = {
    cases_store.ESCALATION_CHECK: "referral check",
    cases_store.HANDOVER_DELIVERY: "hand-over delivery",
    cases_store.PROMISE_NUDGE: "promise reminder",
    cases_store.PROMISE_CHECK: "promise check",
    cases_store.PLAN_DUE: "instalment plan",
    cases_store.PLAN_NOTICE: "missed instalment notice",
    cases_store.COURTESY: "courtesy reminder before the due date",
    cases_store.RETRY_CHARGE: "retry of the failed card payment",
    cases_store.CANCEL_NOTICE: "last message before the order's cancellation",
    cases_store.CANCEL_ORDER: "the order's cancellation in Shopify",
}


def stored_json(stored: StoredCase, entries: list[AuditEntry]) -> dict[str, Any]:
    """`case_json`, with the strategy that took the case and what it does next."""
    dunning = stored.dunning
    due = cases_store.next_due(stored)
    strategy = None
    if dunning is not None and dunning.strategy:
        strategy = {"id": dunning.strategy, "why": dunning.strategy_why, "arm": dunning.arm or None}
    elif dunning is not None and stored.case.opened:
        strategy = {"id": "default", "why": "opened before strategies", "arm": None}
    next_kind = None
    if due is not None:
        step = due[1]
        next_kind = f"reminder step {step + 1}" if step >= 0 else _NEXT_KINDS.get(step, str(step))
    return {
        **case_json(stored.case, entries),
        "strategy": strategy["id"] if strategy else None,
        "strategy_why": strategy["why"] if strategy else None,
        "experiment_arm": strategy["arm"] if strategy else None,
        "reminders": str(dunning.status) if dunning else None,
        "next_step": next_kind,
        "next_step_at": due[0].isoformat() if due else None,
    }


def status_order(case: Case) -> tuple[int, str]:
    order = {
        CaseStatus.OPEN: 0,
        CaseStatus.PAID: 1,
        CaseStatus.CANCELLED: 2,
        CaseStatus.UNTRACKED: 3,
    }
    return order[case.status], case.opened_at.isoformat() if case.opened_at else ""
