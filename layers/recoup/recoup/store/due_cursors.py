"""Where the scheduler stopped in each shard of the due index: one item, written after every
page of jobs it queued, conditioned on the version it read (a second run at the same time
fails instead of queueing the same steps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from recoup.store.bind import bind
from recoup.store.models import DueCursorItem

_PK = "SCHEDULER"
_SK = "CURSOR#DUE"


class CursorMoved(Exception):
    """Another scheduler run wrote the cursors since this one read them."""


@dataclass(frozen=True, slots=True)
class ShardCursor:
    """One shard's positions, as due keys (`store.cases.due_key`)."""

    after: str | None = None  # the last entry the forward pass queued (None: none yet)
    sweep_after: str | None = None  # the last entry the current sweep pass looked at
    sweep_upper: str | None = None  # where the current sweep pass ends (None: no pass)
    next_sweep_upper: str | None = None  # `after` when this pass began: the next one's end
    sweep_started_at: datetime | None = None  # when the current (or last) pass began

    def to_dict(self) -> dict[str, Any]:
        return {
            "after": self.after,
            "sweep_after": self.sweep_after,
            "sweep_upper": self.sweep_upper,
            "next_sweep_upper": self.next_sweep_upper,
            "sweep_started_at": self.sweep_started_at.isoformat()
            if self.sweep_started_at
            else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardCursor:
        started = data.get("sweep_started_at")
        return cls(
            after=data.get("after"),
            sweep_after=data.get("sweep_after"),
            sweep_upper=data.get("sweep_upper"),
            next_sweep_upper=data.get("next_sweep_upper"),
            sweep_started_at=datetime.fromisoformat(started) if started else None,
        )


@dataclass(frozen=True, slots=True)
class Cursors:
    shards: dict[int, ShardCursor]
    version: int | None  # None: never written

    def of(self, shard: int) -> ShardCursor:
        return self.shards.get(shard, ShardCursor())


def load() -> Cursors:
    bind()
    try:
        item = DueCursorItem.get(_PK, _SK, consistent_read=True)
    except DoesNotExist:
        return Cursors({}, None)
    shards = {int(k): ShardCursor.from_dict(v) for k, v in dict(item.shards).items()}
    return Cursors(shards, int(item.version) if item.version is not None else None)


def save(cursors: Cursors, now: datetime) -> Cursors:
    """Write the positions, conditioned on the version read; returns them with the new one."""
    bind()
    item = DueCursorItem(
        _PK,
        _SK,
        shards={str(k): v.to_dict() for k, v in sorted(cursors.shards.items())},
        updated_at=now,
    )
    if cursors.version is not None:
        item.version = cursors.version
    try:
        # PynamoDB conditions the put on `version` (absent for the first) and increments it.
        item.save()
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise CursorMoved("the scheduler's cursors changed during this run") from exc
        raise
    return Cursors(dict(cursors.shards), int(item.version or 0))
