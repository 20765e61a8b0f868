"""The admin's reads of a shop's cases: a filtered page of the list, one case with its
timeline and the actions its state allows, and a merchant's action with the case read back.

A case is the shop's when it is tracked there: an id of another shop, one merged into another
case, or one never opened is unknown (404) alike, so ids tell nothing about other shops.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import Case
from recoup.errors import NotFound
from recoup.services import actions
from recoup.services import cases as case_service
from recoup.store import cases as case_store

MAX_PAGE = 100
DEFAULT_PAGE = 25
# A filtered list reads at most this many cases per request, then hands back where it
# stopped: a selective filter over a large shop costs several requests, never one long one.
MAX_EXAMINED = 1000
CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A case's status, or its reminders' status.
STATES = frozenset(
    {"open", "paid", "cancelled", "scheduled", "held", "flagged", "awaiting_escalation"}
    | {"not_chased", "stopped"}
)
RISKS = frozenset({"low", "review", "high", "unscored", "none"})


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """One page of the list: at most `limit` cases after case `after`, those that match."""

    limit: int = DEFAULT_PAGE
    after: str | None = None
    state: str | None = None  # one of STATES
    risk: str | None = None  # one of RISKS
    min_amount: Decimal | None = None  # owed, in the case's currency
    max_amount: Decimal | None = None
    older_than_days: int | None = None


@dataclass(frozen=True, slots=True)
class CasePage:
    cases: list[StoredCase]
    resume_after: str | None  # the last case id read, where the next page starts; None: done


@dataclass(frozen=True, slots=True)
class CaseDetail:
    stored: StoredCase
    trail: list[AuditEntry]  # the audit trail, oldest first
    actions: list[str]  # what the case's state allows now


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """A merchant's decision as sent; `actions.perform` checks it."""

    action: str
    note: str = ""
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    result: dict[str, Any]
    case: CaseDetail


def list_cases(shop: str, query: CaseQuery, *, now: datetime) -> CasePage:
    keep = _filter(query, now)
    rows: list[StoredCase] = []
    last: str | None = None
    listed = case_store.tracked_cases(shop, after=query.after, page_size=query.limit + 1)
    for examined, stored in enumerate(listed):
        if len(rows) == query.limit or examined == MAX_EXAMINED:
            return CasePage(rows, last)
        last = stored.case.case_id
        if keep(stored):
            rows.append(stored)
    return CasePage(rows, None)


def case_detail(shop: str, case_id: str, *, now: datetime) -> CaseDetail:
    stored = _existing(shop, case_id)
    return CaseDetail(stored, case_service.timeline(shop, case_id), actions.available(stored, now))


def perform_action(
    shop: str, case_id: str, request: ActionRequest, *, by: str, now: datetime
) -> ActionOutcome:
    """Apply the action (an unknown case is refused before the request is looked at), and
    the case as it is now."""
    _existing(shop, case_id)
    result = actions.perform(
        shop, case_id, request.action, by=by, note=request.note, now=now, kind=request.kind
    )
    return ActionOutcome(result, case_detail(shop, case_id, now=now))


def _existing(shop: str, case_id: str) -> StoredCase:
    if not CASE_ID.fullmatch(case_id):
        raise NotFound("no such case in this shop")
    stored = case_store.load(shop, case_id)
    if stored is None or not stored.case.opened or stored.case.merged_into is not None:
        raise NotFound(f"no case {case_id} in this shop")
    return stored


# ---------------------------------------------------------------- the list's filter


def _filter(query: CaseQuery, now: datetime) -> Callable[[StoredCase], bool]:
    days = query.older_than_days
    opened_before = now - timedelta(days=days) if days is not None else None

    def keep(stored: StoredCase) -> bool:
        return (
            _in_state(stored, query.state)
            and _at_risk(stored, query.risk)
            and _owes_between(stored.case, query.min_amount, query.max_amount)
            and _opened_by(stored.case, opened_before)
        )

    return keep


def _in_state(stored: StoredCase, state: str | None) -> bool:
    dunning = stored.dunning
    return (
        not state
        or state == str(stored.case.status)
        or (dunning is not None and state == str(dunning.status))
    )


def _at_risk(stored: StoredCase, risk: str | None) -> bool:
    if not risk:
        return True
    current = stored.screening.current if stored.screening else None
    return (str(current.level) if current else "none") == risk


def _owes_between(case: Case, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None and high is None:
        return True
    owed = case.amount_owed
    if owed is None:
        return False
    return (low is None or owed.decimal >= low) and (high is None or owed.decimal <= high)


def _opened_by(case: Case, opened_before: datetime | None) -> bool:
    if opened_before is None:
        return True
    return case.opened_at is not None and case.opened_at <= opened_before
