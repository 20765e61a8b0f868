"""What a fraud check concluded, as a case keeps it: the level, the score with its reasons,
and the history of results. Reading a stored screening needs only this, never the rules or
the defaults (parsing those is the scorer's and the settings page's work).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_HISTORY = 50


class FraudLevel(StrEnum):
    LOW = "low"  # reminders run
    REVIEW = "review"  # reminders held until a merchant decides
    HIGH = "high"  # no reminders; flagged as fraud
    UNSCORED = "unscored"  # the check could not run (or knew too little): held for review


# --- the result -------------------------------------------------------------------------------


class FraudAction(StrEnum):
    REMIND = "remind"  # low: reminders run
    HOLD = "hold"  # review or unscored: held until the merchant decides
    FLAG = "flag"  # high: no reminders, flagged as fraud


_ACTIONS = {
    FraudLevel.LOW: FraudAction.REMIND,
    FraudLevel.REVIEW: FraudAction.HOLD,
    FraudLevel.UNSCORED: FraudAction.HOLD,
    FraudLevel.HIGH: FraudAction.FLAG,
}


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    weight: int
    text: str
    forces: FraudLevel | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "weight": self.weight, "text": self.text}
        if self.forces is not None:
            out["forces"] = str(self.forces)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        forces = data.get("forces")
        return cls(
            rule=str(data["rule"]),
            weight=int(data["weight"]),
            text=str(data["text"]),
            forces=FraudLevel(forces) if forces else None,
        )


@dataclass(frozen=True, slots=True)
class FraudResult:
    score: int  # 0..100
    level: FraudLevel
    reasons: tuple[Reason, ...]  # the rules that fired, heaviest first
    confidence: float  # 0..1: share of the rules' inputs that were known
    notes: tuple[str, ...] = ()  # data quality, and why a case is unscored
    ruleset: str = ""  # digest of the settings that produced it (for the score history)

    @property
    def action(self) -> FraudAction:
        return _ACTIONS[self.level]

    @property
    def flagged(self) -> bool:
        """Flagged as fraud: no reminders at all."""
        return self.level is FraudLevel.HIGH

    @property
    def held(self) -> bool:
        """Reminders may not run (review, unscored or high)."""
        return self.level is not FraudLevel.LOW

    def summary(self) -> str:
        """One line for a merchant: "review (score 45): reason; reason"."""
        head = f"{self.level} (score {self.score})"
        if not self.reasons:
            return head
        return f"{head}: " + "; ".join(reason.text for reason in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": str(self.level),
            "reasons": [reason.to_dict() for reason in self.reasons],
            "confidence": self.confidence,
            "notes": list(self.notes),
            "ruleset": self.ruleset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FraudResult:
        return cls(
            score=int(data["score"]),
            level=FraudLevel(data["level"]),
            reasons=tuple(Reason.from_dict(r) for r in data.get("reasons") or ()),
            confidence=float(data["confidence"]),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            ruleset=str(data.get("ruleset", "")),
        )


def unscored(note: str, ruleset: str = "") -> FraudResult:
    """The result of a check that could not run: held for review."""
    return FraudResult(
        score=0,
        level=FraudLevel.UNSCORED,
        reasons=(),
        confidence=0.0,
        notes=(note,),
        ruleset=ruleset,
    )


# --- history ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredAt:
    """One entry of a case's score history: a result and when it was computed (the worker's
    clock; the scorer itself reads no clock)."""

    at: datetime
    result: FraudResult

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), **self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoredAt:
        return cls(at=datetime.fromisoformat(data["at"]), result=FraudResult.from_dict(data))


def record_score(
    history: tuple[ScoredAt, ...], entry: ScoredAt, limit: int = MAX_HISTORY
) -> tuple[ScoredAt, ...]:
    """The history with `entry` appended, unless it says exactly what the last entry said
    (same score, level, reasons, notes and rules). Keeps the first entry and the newest ones
    when it grows past `limit` (at least 2)."""
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    if history and history[-1].result == entry.result:
        return history
    grown = (*history, entry)
    if len(grown) <= limit:
        return grown
    return (grown[0], *grown[len(grown) - limit + 1 :])


__all__ = [
    "MAX_HISTORY",
    "FraudAction",
    "FraudLevel",
    "FraudResult",
    "Reason",
    "ScoredAt",
    "record_score",
    "unscored",
]
