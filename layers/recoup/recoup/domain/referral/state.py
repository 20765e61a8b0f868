"""A case's referrals, oldest first, each with its id, and its write-off if it has one.

Pure; stored as the case item's `referral` attribute (`to_dict`, `from_dict`). A referral's
id is its kind and ordinal ("agency-1", "legal-2"): deterministic, so a redelivered
escalation job names the same referral, and the same case-file keys, as the first one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recoup.domain.referral.lifecycle import Referral
from recoup.domain.referral.policy import ReferralKind


@dataclass(frozen=True, slots=True)
class WriteOff:
    """The case was written off: not worth pursuing, or the merchant said so."""

    at: datetime
    reason: str
    by: str  # "recoup" (the referral policy's floor) or who decided

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "reason": self.reason, "by": self.by}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WriteOff:
        return cls(datetime.fromisoformat(data["at"]), str(data["reason"]), str(data["by"]))


@dataclass(frozen=True, slots=True)
class Referrals:
    entries: tuple[tuple[str, Referral], ...] = ()  # (id, referral), oldest first
    written_off: WriteOff | None = None

    @property
    def latest(self) -> Referral | None:
        return self.entries[-1][1] if self.entries else None

    @property
    def latest_id(self) -> str | None:
        return self.entries[-1][0] if self.entries else None

    def next_id(self, kind: ReferralKind) -> str:
        return f"{kind}-{len(self.entries) + 1}"

    def find(self, referral_id: str) -> Referral | None:
        return next((r for i, r in self.entries if i == referral_id), None)

    def added(self, referral_id: str, referral: Referral) -> Referrals:
        return replace(self, entries=(*self.entries, (referral_id, referral)))

    def updated(self, referral_id: str, referral: Referral) -> Referrals:
        """The referral `referral_id` replaced by its new state."""
        if self.find(referral_id) is None:
            raise KeyError(f"no referral {referral_id}")
        return replace(
            self,
            entries=tuple((i, referral if i == referral_id else r) for i, r in self.entries),
        )

    def write_off(self, write_off: WriteOff | None) -> Referrals:
        return replace(self, written_off=write_off)

    def to_dict(self) -> dict[str, Any]:
        return {
            "referrals": [{"id": i, **r.to_dict()} for i, r in self.entries],
            "written_off": self.written_off.to_dict() if self.written_off else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Referrals:
        written_off = data.get("written_off")
        return cls(
            entries=tuple(
                (str(e["id"]), Referral.from_dict(e)) for e in data.get("referrals") or ()
            ),
            written_off=WriteOff.from_dict(written_off) if written_off else None,
        )


__all__ = ["Referrals", "WriteOff"]
