"""A referral to a collection agency or to legal, and its lifecycle.

referred -> accepted -> paid_partial (repeatable) -> paid; from any of those, returned_unpaid
or withdrawn. paid, returned_unpaid and withdrawn end it. `transition` applies a reported or
manual move and refuses any other with `ReferralTransitionError`; `start_referral` refuses a
second referral while one is in progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from recoup.domain.fields import show
from recoup.domain.money import Money
from recoup.domain.referral.policy import HandOver, HandOverChannel, ReferralKind, format_amount

MAX_NOTE_CHARS = 1000


class ReferralTransitionError(ValueError):
    """A referral cannot make this move (or a new referral cannot start now)."""


class ReferralStatus(StrEnum):
    REFERRED = "referred"
    ACCEPTED = "accepted"
    PAID_PARTIAL = "paid_partial"
    PAID = "paid"  # closes the case
    RETURNED_UNPAID = "returned_unpaid"  # from an agency: legal may follow
    WITHDRAWN = "withdrawn"  # by the merchant (or the agency gave it back unworked)


_PAYMENTS = frozenset({ReferralStatus.PAID_PARTIAL, ReferralStatus.PAID})
_ENDINGS = (ReferralStatus.PAID, ReferralStatus.RETURNED_UNPAID, ReferralStatus.WITHDRAWN)
_MOVES: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    ReferralStatus.REFERRED: (ReferralStatus.ACCEPTED, ReferralStatus.PAID_PARTIAL, *_ENDINGS),
    ReferralStatus.ACCEPTED: (ReferralStatus.PAID_PARTIAL, *_ENDINGS),
    ReferralStatus.PAID_PARTIAL: (ReferralStatus.PAID_PARTIAL, *_ENDINGS),
    ReferralStatus.PAID: (),
    ReferralStatus.RETURNED_UNPAID: (),
    ReferralStatus.WITHDRAWN: (),
}


class NotificationStatus(StrEnum):
    PENDING = "pending"  # recorded with the referral; the first attempt is due
    RETRYING = "retrying"  # a delivery failed; another attempt is due at `due_at`
    OUTCOME_UNKNOWN = "outcome_unknown"  # no answer in time; retried with the same key
    DELIVERED = "delivered"
    FAILED = "failed"  # attempts spent: out of the due index, an alarm fires, an operator acts


_OPEN_NOTIFICATIONS = frozenset(
    {NotificationStatus.PENDING, NotificationStatus.RETRYING, NotificationStatus.OUTCOME_UNKNOWN}
)


@dataclass(frozen=True, slots=True)
class Notification:
    """How the agency or lawyer is told: the channel, where to, the name of the secret that
    signs the webhook and verifies the report-backs on this referral (never the secret), and
    progress. While it is open, `due_at` is when the next attempt is due: the case's due
    index entry, which is the hand-over's outbox."""

    channel: HandOverChannel
    target: str  # the email address or the webhook URL
    status: NotificationStatus = NotificationStatus.PENDING
    attempts: int = 0
    due_at: datetime | None = None
    secret_ref: str | None = None

    @property
    def open(self) -> bool:
        """Not yet delivered nor given up: an attempt is due at `due_at`."""
        return self.status in _OPEN_NOTIFICATIONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": str(self.channel),
            "target": self.target,
            "status": str(self.status),
            "attempts": self.attempts,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "secret_ref": self.secret_ref,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        due_at, secret_ref = data.get("due_at"), data.get("secret_ref")
        return cls(
            channel=HandOverChannel(data["channel"]),
            target=str(data["target"]),
            status=NotificationStatus(data["status"]),
            attempts=int(data["attempts"]),
            due_at=datetime.fromisoformat(due_at) if due_at else None,
            secret_ref=str(secret_ref) if secret_ref else None,
        )


@dataclass(frozen=True, slots=True)
class CaseFileKeys:
    """Object keys of the case file set in the case-files bucket."""

    json: str
    html: str
    pdf: str
    letter: str | None = None  # the demand letter (legal referrals)

    def to_dict(self) -> dict[str, str | None]:
        return {"json": self.json, "html": self.html, "pdf": self.pdf, "letter": self.letter}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseFileKeys:
        return cls(str(data["json"]), str(data["html"]), str(data["pdf"]), data.get("letter"))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: ReferralStatus
    at: datetime
    note: str
    amount: Money | None = None  # a payment the agency or lawyer reported

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "at": self.at.isoformat(),
            "note": self.note,
            "amount": self.amount.to_dict() if self.amount else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        amount = data.get("amount")
        return cls(
            status=ReferralStatus(data["status"]),
            at=datetime.fromisoformat(data["at"]),
            note=str(data["note"]),
            amount=Money.from_dict(amount) if amount else None,
        )


@dataclass(frozen=True, slots=True)
class Referral:
    """One hand-over of a case to an agency or to legal, and what became of it."""

    kind: ReferralKind
    status: ReferralStatus
    referred_at: datetime
    reason: str
    owed: Money  # owed when referred; reported payments must be in its currency
    notification: Notification
    files: CaseFileKeys | None = None
    recovered: Money | None = None
    history: tuple[HistoryEntry, ...] = ()

    @property
    def active(self) -> bool:
        """Still with the agency or lawyer: no other referral may start."""
        return bool(_MOVES[self.status])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "status": str(self.status),
            "referred_at": self.referred_at.isoformat(),
            "reason": self.reason,
            "owed": self.owed.to_dict(),
            "notification": self.notification.to_dict(),
            "files": self.files.to_dict() if self.files else None,
            "recovered": self.recovered.to_dict() if self.recovered else None,
            "history": [entry.to_dict() for entry in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Referral:
        files, recovered = data.get("files"), data.get("recovered")
        return cls(
            kind=ReferralKind(data["kind"]),
            status=ReferralStatus(data["status"]),
            referred_at=datetime.fromisoformat(data["referred_at"]),
            reason=str(data["reason"]),
            owed=Money.from_dict(data["owed"]),
            notification=Notification.from_dict(data["notification"]),
            files=CaseFileKeys.from_dict(files) if files else None,
            recovered=Money.from_dict(recovered) if recovered else None,
            history=tuple(HistoryEntry.from_dict(e) for e in data.get("history") or ()),
        )


def start_referral(
    kind: ReferralKind,
    *,
    at: datetime,
    reason: str,
    owed: Money,
    hand_over: HandOver,
    previous: Referral | None = None,
    files: CaseFileKeys | None = None,
) -> Referral:
    """A new referral, status referred. Refused while `previous` (the case's newest referral)
    is still in progress or was paid; after one returned unpaid or withdrawn, the merchant may
    refer again (`decide` itself only follows an agency's return with legal)."""
    at = as_utc(at, "at")
    kind = ReferralKind(kind)
    if previous is not None and (previous.active or previous.status is ReferralStatus.PAID):
        raise ReferralTransitionError(
            f"the case is already referred to {previous.kind} ({previous.status}): "
            "a new referral needs that one withdrawn or returned first"
        )
    if not isinstance(owed, Money) or owed.minor <= 0:
        raise ReferralTransitionError(f"a referral needs a positive amount owed, got {owed!r}")
    return Referral(
        kind=kind,
        status=ReferralStatus.REFERRED,
        referred_at=at,
        reason=reason,
        owed=owed,
        # Due now: the referral's case write is the hand-over's outbox (the due index).
        notification=Notification(
            hand_over.channel, hand_over.target, due_at=at, secret_ref=hand_over.secret_ref
        ),
        files=files,
        history=(HistoryEntry(ReferralStatus.REFERRED, at, reason),),
    )


def transition(
    referral: Referral,
    to: ReferralStatus | str,
    at: datetime,
    note: str = "",
    amount: Money | None = None,
) -> Referral:
    """The referral after a reported move. A payment (paid_partial, paid) must carry its
    amount in the referral's currency, added to `recovered`; other moves carry none. A move
    identical to the last one recorded (status, time, amount) is a repeat and changes nothing,
    so a report delivered twice is harmless."""
    target = _status(to)
    at = as_utc(at, "at")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ReferralTransitionError(f"note must be text of at most {MAX_NOTE_CHARS} characters")
    last = referral.history[-1] if referral.history else None
    if last is not None and (last.status, last.at, last.amount) == (target, at, amount):
        return referral
    allowed = _MOVES[referral.status]
    if target not in allowed:
        options = ", ".join(str(s) for s in allowed) or "nothing (it has ended)"
        raise ReferralTransitionError(
            f"a {referral.kind} referral that is {referral.status} cannot become {target}; "
            f"it can become {options}"
        )
    if at < referral.referred_at:
        raise ReferralTransitionError(
            f"{target} at {at.isoformat()} is before the referral "
            f"({referral.referred_at.isoformat()})"
        )
    recovered = referral.recovered
    if target in _PAYMENTS:
        recovered = _add_payment(referral, target, amount)
    elif amount is not None:
        raise ReferralTransitionError(f"{target} carries no amount; only payments do")
    return replace(
        referral,
        status=target,
        recovered=recovered,
        history=(*referral.history, HistoryEntry(target, at, note, amount)),
    )


def _add_payment(referral: Referral, target: ReferralStatus, amount: Money | None) -> Money:
    currency = referral.owed.currency
    if not isinstance(amount, Money):
        raise ReferralTransitionError(f"{target} needs the amount paid, in {currency}")
    if amount.currency != currency:
        raise ReferralTransitionError(
            f"the amount paid must be in {currency} (the referral's currency), "
            f"got {amount.currency}"
        )
    smallest = 1 if target is ReferralStatus.PAID_PARTIAL else 0
    if amount.minor < smallest:
        raise ReferralTransitionError(
            f"the amount of {target} must be {'positive' if smallest else 'zero or more'}, "
            f"got {format_amount(amount)}"
        )
    return (referral.recovered or Money.zero(currency)) + amount


def _status(value: ReferralStatus | str) -> ReferralStatus:
    if isinstance(value, ReferralStatus):
        return value
    try:
        return ReferralStatus(value)
    except ValueError:
        allowed = ", ".join(str(s) for s in ReferralStatus)
        raise ReferralTransitionError(
            f"unknown referral status {show(value)}; one of {allowed}"
        ) from None


def as_utc(value: datetime, name: str) -> datetime:
    """`value` in UTC; a naive datetime is refused."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


__all__ = [
    "MAX_NOTE_CHARS",
    "CaseFileKeys",
    "HistoryEntry",
    "Notification",
    "NotificationStatus",
    "Referral",
    "ReferralStatus",
    "ReferralTransitionError",
    "as_utc",
    "start_referral",
    "transition",
]
