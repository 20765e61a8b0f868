"""The admin's reads of a shop's cases: one case with its timeline and the actions its state
allows, and a merchant's action with the case read back (the list: services/case_list.py).

A case is the shop's when it is tracked there: an id of another shop, one merged into another
case, or one never opened is unknown (404) alike, so ids tell nothing about other shops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.cadence import ReminderPolicy
from recoup.domain.case import Case
from recoup.domain.timezones import customer_zone, normalise_phone
from recoup.errors import HttpProblem, NotFound
from recoup.services import actions
from recoup.services import cases as case_service
from recoup.services.reminder_plan import reminder_policy
from recoup.services.staff import Actor
from recoup.store import cases as case_store
from recoup.store import shops

CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class NextStep:
    """The reminder step due next, as the shop's policy has it now."""

    step: int  # 0-based
    at: datetime | None
    channel: str
    template: str


@dataclass(frozen=True, slots=True)
class CaseDetail:
    stored: StoredCase
    trail: list[AuditEntry]  # the audit trail, oldest first
    actions: list[str]  # what the case's state allows now
    # The customer's zone as the sender's quiet hours resolve it (None: not resolved).
    zone: str | None = None
    next_step: NextStep | None = None
    phone: str | None = None  # the customer's number as the sender would text it (E.164)
    local_time: datetime | None = None  # now, in the customer's zone


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """A merchant's decision as sent; `actions.perform` checks it."""

    action: str
    note: str = ""
    kind: str | None = None
    mode: str | None = None


MAX_BULK = 50
BULK_ACTIONS = ("hold", "resume", "approve")


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """One action on several cases, each its own change."""

    action: str
    case_ids: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    result: dict[str, Any]
    case: CaseDetail


def case_detail(shop: str, case_id: str, *, now: datetime) -> CaseDetail:
    stored = _existing(shop, case_id)
    trail = case_service.timeline(shop, case_id)
    allowed = actions.available(stored, now)
    policy = reminder_policy(shop, shops.get(shop), stored.dunning)
    zone, phone = _contact(stored.case, policy)
    local = now.astimezone(ZoneInfo(zone)) if zone else None
    return CaseDetail(stored, trail, allowed, zone, _upcoming(stored, policy), phone, local)


def _contact(case: Case, policy: ReminderPolicy) -> tuple[str | None, str | None]:
    """The customer's zone as the sender's quiet hours resolve it, and their number as
    the sender would text it."""
    customer = case.snapshot.customer if case.snapshot else None
    if customer is None:
        return None, None
    phone = normalise_phone(customer.phone, customer.country)
    zone, _ = customer_zone(
        country=customer.country,
        province=customer.province,
        phone=phone,
        shop_timezone=policy.shop_timezone,
        rule=policy.timezone_rule,
    )
    return zone.key, phone


def _upcoming(stored: StoredCase, policy: ReminderPolicy) -> NextStep | None:
    dunning = stored.dunning
    if dunning is None or not dunning.due or dunning.next_step >= len(policy.steps):
        return None
    planned = policy.steps[dunning.next_step]
    return NextStep(dunning.next_step, dunning.next_at, str(planned.channel), planned.template)


def perform_action(
    shop: str, case_id: str, request: ActionRequest, *, by: Actor, now: datetime
) -> ActionOutcome:
    """Apply the action (an unknown case is refused before the request is looked at), and
    the case as it is now."""
    _existing(shop, case_id)
    result = actions.perform(
        shop,
        case_id,
        request.action,
        by=by,
        note=request.note,
        now=now,
        kind=request.kind,
        mode=request.mode,
    )
    return ActionOutcome(result, case_detail(shop, case_id, now=now))


def perform_bulk(
    shop: str, request: BulkRequest, *, by: Actor, now: datetime
) -> list[dict[str, Any]]:
    """The action on each case in turn, each its own change: one refused (not this shop's,
    or its state does not allow it) does not stop or undo the others."""
    results: list[dict[str, Any]] = []
    for case_id in request.case_ids:
        try:
            _existing(shop, case_id)
            actions.perform(shop, case_id, request.action, by=by, note=request.note, now=now)
        except HttpProblem as refused:
            results.append(
                {"id": case_id, "ok": False, "error": refused.code, "message": refused.message}
            )
            continue
        results.append({"id": case_id, "ok": True})
    return results


def _existing(shop: str, case_id: str) -> StoredCase:
    if not CASE_ID.fullmatch(case_id):
        raise NotFound("no such case in this shop")
    stored = case_store.load(shop, case_id)
    if stored is None or not stored.case.opened or stored.case.merged_into is not None:
        raise NotFound(f"no case {case_id} in this shop")
    return stored
