"""A merchant's decisions on one case: approve after review, confirm fraud, hold, resume,
refer (to an agency or legal), write off, and reopen a write-off or an ended referral.

Each action is one version-conditioned write of the case's reminders and screening with an
audit entry naming who decided and why, retried when another writer got there first. An
action that does not fit the case's state is refused with the reason, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from recoup.domain.audit import AuditEntry
from recoup.domain.case import CaseStatus
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fraud.screening import Decision, Gate, Screening
from recoup.domain.referral import ReferralKind, Referrals, ReferralStatus, WriteOff
from recoup.errors import RecoupError
from recoup.observability import logger, metrics
from recoup.services import referrals as referrals_service
from recoup.services.reminders import gate_reminders
from recoup.services.tagging import flag_customer
from recoup.store import cases as store

MAX_ATTEMPTS = 5
MAX_NOTE = 1000


class UnknownCase(RecoupError):
    """No such case in this shop."""


class ActionRefused(RecoupError):
    """The action does not fit the case's state; the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
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
        self, stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
    ) -> Change: ...


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
    `kind` is for `refer`: "agency" or "legal"."""
    plan = ACTIONS.get(action)
    if plan is None:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(sorted(ACTIONS))}")
    if action == "refer" and kind not in ("agency", "legal"):
        raise ValueError(f"kind must be agency or legal to refer, got {kind!r}")
    note = (note or "").strip()[:MAX_NOTE]
    for _ in range(MAX_ATTEMPTS):
        stored = store.load(shop, case_id)
        if stored is None or stored.case.merged_into is not None or not stored.case.opened:
            raise UnknownCase(f"no case {case_id} in this shop")
        change = plan(stored, by, note, now, kind)
        summary = f"{change.summary} by {by}" + (f": {note}" if note else "")
        entry = _entry(stored, action, summary, now)
        write = store.CaseWrite(
            stored.case, stored, entry, change.dunning, change.screening, change.referrals
        )
        if change.referred is not None:
            referrals_service.write_files(stored, change.referred, now)
        try:
            store.save_all([write], now=now)
        except store.ConcurrentUpdate:
            continue
        metrics.add_metric(name="MerchantAction", unit="Count", value=1)
        logger.info("Merchant action", extra={"case_id": case_id, "action": action})
        if change.tag:
            flag_customer(stored.case, "fraud", summary)
        if change.referred is not None:
            referrals_service.after_write(shop, stored, change.referred)
        return _state(write, summary)
    raise store.ConcurrentUpdate(f"case {case_id}: could not {action} after {MAX_ATTEMPTS} tries")


def _approve(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
    screening = _open_screening(stored)
    if screening.gate is Gate.FLAG:
        raise ActionRefused(f"case is flagged as fraud ({screening.why()}); it cannot be approved")
    if screening.gate is Gate.RUN:
        raise ActionRefused("case is not held for review")
    decided = screening.decide(Decision.APPROVED, now, by, note)
    return Change("approved after review", _gated(stored, decided, now), decided)


def _confirm_fraud(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
    screening = _open_screening(stored)
    if screening.decision is Decision.CONFIRMED_FRAUD:
        raise ActionRefused("case is already confirmed as fraud")
    decided = screening.decide(Decision.CONFIRMED_FRAUD, now, by, note)
    dunning = stored.dunning
    # Confirmed fraud is a legal referral candidate: the referral check runs now.
    flagged = dunning.flag(f"no reminders: {decided.why()}").escalate(now) if dunning else None
    return Change("confirmed as fraud", flagged, decided, tag=True)


def _hold(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is not None and dunning.held_by == "merchant":
        raise ActionRefused("case is already held by the merchant")
    if dunning is None or dunning.status in (DunningStatus.STOPPED, DunningStatus.NOT_CHASED):
        raise ActionRefused("case has no reminder sequence to hold")
    return Change("held", dunning.hold("merchant", f"held by {by}"))


def _resume(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
    _require_open(stored)
    dunning = stored.dunning
    if dunning is None or dunning.held_by != "merchant":
        raise ActionRefused("case is not held by the merchant")
    resumed = dunning.resume(now, f"resumed by {by}")
    if stored.screening is not None:
        # The merchant's hold is lifted; the fraud check's own hold or flag still applies.
        resumed = gate_reminders(resumed, stored.screening, now) or resumed
    return Change("resumed", resumed)


def _refer(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
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
    return Change(
        prepared.summary, prepared.dunning, referrals=prepared.referrals, referred=prepared
    )


def _write_off(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
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
    return Change("written off", dunning, referrals=referrals.write_off(WriteOff(now, reason, by)))


def _reopen(
    stored: store.StoredCase, by: str, note: str, now: datetime, kind: str | None = None
) -> Change:
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
    return Change("reopened", dunning, referrals=referrals.write_off(None))


def available(stored: store.StoredCase, now: datetime) -> list[str]:
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


def _require_open(stored: store.StoredCase) -> None:
    if stored.case.status is not CaseStatus.OPEN:
        raise ActionRefused(f"case is {stored.case.status}")


def _require_free(stored: store.StoredCase) -> None:
    """Open disputes and a merchant's hold stop everything, referrals included."""
    if stored.case.dispute_open:
        raise ActionRefused("a dispute is open on the case: nothing is referred while it lasts")
    if stored.dunning is not None and stored.dunning.held_by == "merchant":
        raise ActionRefused("case is held by the merchant: resume it first")


def _open_screening(stored: store.StoredCase) -> Screening:
    _require_open(stored)
    if stored.screening is None:
        raise ActionRefused("case has not been screened for fraud")
    return stored.screening


def _gated(stored: store.StoredCase, screening: Screening, now: datetime) -> Dunning | None:
    if stored.dunning is None:
        return None
    return gate_reminders(stored.dunning, screening, now)


def _entry(stored: store.StoredCase, action: str, summary: str, now: datetime) -> AuditEntry:
    return store.recoup_entry(
        stored,
        source="merchant",
        kind=f"merchant.{action}",
        event_id=f"merchant:{action}:{stored.case.case_id}:{now.isoformat()}",
        summary=summary,
        effect=summary,
        now=now,
    )


def _state(write: store.CaseWrite, summary: str) -> dict[str, Any]:
    reminders = write.reminders
    screened = write.screened
    current = screened.current if screened else None
    return {
        "case_id": write.case.case_id,
        "effect": summary,
        "reminders": reminders.to_dict() if reminders else None,
        "risk": {
            "level": str(current.level) if current else None,
            "score": current.score if current else None,
            "gate": str(screened.gate) if screened else None,
            "decision": str(screened.decision) if screened and screened.decision else None,
        },
    }
