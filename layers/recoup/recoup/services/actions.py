"""A merchant's decisions on one case: approve after review, confirm fraud, hold, resume,
refer (to an agency or legal), write off, and reopen a write-off or an ended referral.

Each action is one change of the case (`store.cases.change`): a version-conditioned write of
its reminders, screening and referrals with an audit entry naming who decided and why,
decided again on a fresh read when another writer got there first. An action that does not
fit the case's state is refused with the reason, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import AuditEntry
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Decision, Gate, Screening
from recoup.domain.referral import ReferralKind, Referrals, ReferralStatus, WriteOff
from recoup.errors import Conflict, InvalidInput, NotFound
from recoup.observability import logger, metrics
from recoup.services import referrals as referrals_service
from recoup.services.reminder_plan import gate_reminders
from recoup.services.tagging import flag_customer
from recoup.store import cases as store

MAX_NOTE = 1000


class UnknownCase(NotFound):
    """No such case in this shop."""


class ActionRefused(Conflict):
    """The action does not fit the case's state; the message says why."""

    code = "action_refused"


class InvalidAction(InvalidInput, ValueError):
    """The action, its note or its kind cannot be used; `field` says which. A ValueError
    too, for callers that are not HTTP routes."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What an action does to a case: new reminders and screening (None: unchanged)."""

    summary: str
    dunning: Dunning | None = None
    screening: Screening | None = None
    tag: bool = False  # tag the customer as fraud once stored
    referrals: Referrals | None = None
    referred: referrals_service.Prepared | None = None  # hand over and tag once stored


class Plan(Protocol):
    """What an action does to a stored case; it writes nothing, so the admin API can try
    it to tell which actions a case allows."""

    def __call__(
        self, stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
    ) -> Effect: ...


def perform(
    shop: str,
    case_id: str,
    action: str,
    *,
    by: str,
    note: str,
    now: datetime,
    kind: str | None = None,
) -> dict[str, Any]:
    """Apply one merchant action; returns the case's new reminder and screening state.
    `kind` is for `refer`: "agency" or "legal". Raises InvalidAction before reading the case
    when the request cannot be used."""
    plan = _checked(action, note, kind)
    note = note.strip()

    def decide(stored: StoredCase | None) -> store.Change[dict[str, Any]]:
        if stored is None or stored.case.merged_into is not None or not stored.case.opened:
            raise UnknownCase(f"no case {case_id} in this shop")
        effect = plan(stored, by, note, now, kind)
        summary = f"{effect.summary} by {by}" + (f": {note}" if note else "")
        if effect.referred is not None:
            referrals_service.write_files(stored, effect.referred, now)
        return store.Change(
            stored.case,
            _entry(stored, action, summary, now),
            _state(stored, effect, summary),
            dunning=effect.dunning,
            screening=effect.screening,
            referrals=effect.referrals,
            after=lambda: _after(stored, action, effect, summary),
        )

    return store.change(shop, case_id, decide, now=now)


def _after(stored: StoredCase, action: str, effect: Effect, summary: str) -> None:
    """What follows a stored action: the customer tagged, the referral handed over."""
    metrics.add_metric(name="MerchantAction", unit="Count", value=1)
    logger.info("Merchant action", extra={"case_id": stored.case.case_id, "action": action})
    if effect.tag:
        flag_customer(stored.case, "fraud", summary)
    if effect.referred is not None:
        referrals_service.after_write(stored.case.shop, stored, effect.referred)


def _checked(action: str, note: str, kind: str | None) -> Plan:
    plan = ACTIONS.get(action)
    if plan is None:
        choices = ", ".join(sorted(ACTIONS))
        raise InvalidAction(f"unknown action {action!r}; one of {choices}", field="action")
    if len(note) > MAX_NOTE:
        raise InvalidAction(f"must be a text of at most {MAX_NOTE} characters", field="note")
    if kind is not None and kind not in ("agency", "legal"):
        raise InvalidAction("must be agency or legal", field="kind")
    if action == "refer" and kind is None:
        raise InvalidAction("is required to refer: agency or legal", field="kind")
    return plan


def _approve(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    screening = _open_screening(stored)
    if screening.gate is Gate.FLAG:
        raise ActionRefused(f"case is flagged as fraud ({screening.why()}); it cannot be approved")
    if screening.gate is Gate.RUN:
        raise ActionRefused("case is not held for review")
    decided = screening.decide(Decision.APPROVED, now, by, note)
    return Effect("approved after review", _gated(stored, decided, now), decided)


def _confirm_fraud(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    screening = _open_screening(stored)
    if screening.decision is Decision.CONFIRMED_FRAUD:
        raise ActionRefused("case is already confirmed as fraud")
    decided = screening.decide(Decision.CONFIRMED_FRAUD, now, by, note)
    dunning = stored.dunning
    # Confirmed fraud is a legal referral candidate: the referral check runs now.
    flagged = dunning.flag(f"no reminders: {decided.why()}").escalate(now) if dunning else None
    return Effect("confirmed as fraud", flagged, decided, tag=True)


def _hold(stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None) -> Effect:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is not None and dunning.held_by == "merchant":
        raise ActionRefused("case is already held by the merchant")
    if dunning is None or dunning.status in (DunningStatus.STOPPED, DunningStatus.NOT_CHASED):
        raise ActionRefused("case has no reminder sequence to hold")
    return Effect("held", dunning.hold("merchant", f"held by {by}"))


def _resume(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is None or dunning.held_by != "merchant":
        raise ActionRefused("case is not held by the merchant")
    resumed = dunning.resume(now, f"resumed by {by}")
    if stored.screening is not None:
        # The merchant's hold is lifted; the fraud check's own hold or flag still applies.
        resumed = gate_reminders(resumed, stored.screening, now) or resumed
    return Effect("resumed", resumed)


def _refer(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    """Refer to `kind` by hand; without a kind (the admin API asking which actions a case
    allows), the first kind that could be referred."""
    _require_open(stored)
    _require_free(stored)
    kinds = [ReferralKind(kind)] if kind in ("agency", "legal") else list(ReferralKind)
    policy = referrals_service.referral_policy(stored.case.shop)
    reason = f"referred by hand by {by}" + (f": {note}" if note else "")
    refused: list[str] = []
    for referral_kind in kinds:
        try:
            prepared = referrals_service.prepare(stored, referral_kind, reason, policy, now)
        except ValueError as exc:  # ReferralTransitionError included
            refused.append(str(exc))
            continue
        break
    else:
        raise ActionRefused("; ".join(refused))
    return Effect(
        prepared.summary, prepared.dunning, referrals=prepared.referrals, referred=prepared
    )


def _write_off(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    _require_open(stored)
    _require_free(stored)
    referrals = stored.referrals or Referrals()
    if referrals.written_off is not None:
        raise ActionRefused("case is already written off")
    latest = referrals.latest
    if latest is not None and latest.active:
        raise ActionRefused(f"case is referred to {latest.kind}: withdraw the referral first")
    reason = f"written off by {by}" + (f": {note}" if note else "")
    dunning = (stored.dunning or Dunning(DunningStatus.STOPPED)).finish(
        DunningStatus.STOPPED, reason
    )
    return Effect("written off", dunning, referrals=referrals.write_off(WriteOff(now, reason, by)))


def _reopen(
    stored: StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Effect:
    """Undo a write-off, or take back a case whose referral ended unpaid (returned or
    withdrawn): it awaits escalation again, and the merchant decides what next."""
    _require_open(stored)
    referrals = stored.referrals or Referrals()
    latest = referrals.latest
    ended = latest is not None and latest.status in (
        ReferralStatus.RETURNED_UNPAID,
        ReferralStatus.WITHDRAWN,
    )
    if referrals.written_off is None and not ended:
        raise ActionRefused("case is neither written off nor back from a referral")
    dunning = (stored.dunning or Dunning(DunningStatus.STOPPED)).finish(
        DunningStatus.AWAITING_ESCALATION, f"reopened by {by}: awaiting escalation"
    )
    return Effect("reopened", dunning, referrals=referrals.write_off(None))


def available(stored: StoredCase, now: datetime) -> list[str]:
    """The actions this case's state allows. Plans only decide and write nothing (files and
    the case write happen in `perform`), so trying each tells, by the rules `perform` uses."""
    allowed = []
    for name, plan in ACTIONS.items():
        try:
            plan(stored, "", "", now)
        except ActionRefused:
            continue
        allowed.append(name)
    return allowed


ACTIONS: dict[str, Plan] = {
    "approve": _approve,
    "confirm_fraud": _confirm_fraud,
    "hold": _hold,
    "resume": _resume,
    "refer": _refer,
    "write_off": _write_off,
    "reopen": _reopen,
}


def _require_open(stored: StoredCase) -> None:
    if stored.case.status is not CaseStatus.OPEN:
        raise ActionRefused(f"case is {stored.case.status}")


def _require_free(stored: StoredCase) -> None:
    """Open disputes and a merchant's hold stop everything, referrals included."""
    if stored.case.dispute_open:
        raise ActionRefused("a dispute is open on the case: nothing is referred while it lasts")
    if stored.dunning is not None and stored.dunning.held_by == "merchant":
        raise ActionRefused("case is held by the merchant: resume it first")


def _open_screening(stored: StoredCase) -> Screening:
    _require_open(stored)
    if stored.screening is None:
        raise ActionRefused("case has not been screened for fraud")
    return stored.screening


def _gated(stored: StoredCase, screening: Screening, now: datetime) -> Dunning | None:
    if stored.dunning is None:
        return None
    return gate_reminders(stored.dunning, screening, now)


def _entry(stored: StoredCase, action: str, summary: str, now: datetime) -> AuditEntry:
    return store.recoup_entry(
        stored,
        source="merchant",
        kind=f"merchant.{action}",
        event_id=f"merchant:{action}:{stored.case.case_id}:{now.isoformat()}",
        summary=summary,
        effect=summary,
        now=now,
    )


def _state(stored: StoredCase, effect: Effect, summary: str) -> dict[str, Any]:
    reminders = effect.dunning if effect.dunning is not None else stored.dunning
    screened = effect.screening if effect.screening is not None else stored.screening
    current = screened.current if screened else None
    return {
        "case_id": stored.case.case_id,
        "effect": summary,
        "reminders": reminders.to_dict() if reminders else None,
        "risk": {
            "level": str(current.level) if current else None,
            "score": current.score if current else None,
            "gate": str(screened.gate) if screened else None,
            "decision": str(screened.decision) if screened and screened.decision else None,
        },
    }
