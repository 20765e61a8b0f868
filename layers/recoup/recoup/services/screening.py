"""Screen a case for fraud: when it opens, and again whenever what it reports changes.

The scorer is pure (`recoup.domain.fraud`); this module gathers its inputs (the shop's
settings, the velocity counts) and turns the result into the case's screening and the
velocity counter updates to write with it (store.velocity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from recoup import observability
from recoup.domain.case import Case, CaseStatus
from recoup.domain.fraud.result import FraudResult, unscored
from recoup.domain.fraud.screening import (
    Screening,
    case_inputs,
    inputs_digest,
    signals_for_case,
)
from recoup.observability import logger
from recoup.store import policies, velocity
from recoup.store.cases import StoredCase
from recoup.store.velocity import Failure, Seen, Updates

if TYPE_CHECKING:
    from recoup.domain.fraud.score import ShopFraudSettings


@dataclass(frozen=True, slots=True)
class Screened:
    screening: Screening | None  # None: unchanged
    counters: Updates = field(default_factory=list)  # velocity ADDs to write with the case
    effect: str = ""  # what changed, for the audit entry ("" when the result is the same)


def fraud_settings(shop: str) -> ShopFraudSettings:
    # The rules and the scorer load when a case is scored: a function that imports this
    # module through the case service only to read cases (the admin's timeline) never is.
    from recoup.domain.fraud.score import DEFAULT_SETTINGS, parse_settings

    stored = policies.load_doc(shop, policies.FRAUD)
    return DEFAULT_SETTINGS if stored is None else parse_settings(stored[1])


def screen(
    prior: StoredCase | None,
    case: Case,
    now: datetime,
    absorbed: Sequence[StoredCase] = (),
) -> Screened:
    """Score `case` if it is open and its inputs changed since it was last scored; with the
    velocity counters of its failed payments not yet counted (`absorbed`: the cases a merge
    folds into it, as stored, whose failures were counted already)."""
    before = prior.case if prior else None
    failures = velocity.failures(case, before, now, (held.case for held in absorbed))
    present = bool(failures) or velocity.newly_seen(case, before)
    current = prior.screening if prior else None

    def done(screening: Screening | None, seen: Seen | None = None, effect: str = "") -> Screened:
        updates = velocity.counters(
            case.shop, case, failures, now, seen=seen, present=present or seen is not None
        )
        return Screened(screening, updates, effect)

    if case.status is not CaseStatus.OPEN or case.merged_into is not None:
        return done(None)
    raw = case_inputs(case)
    digest = inputs_digest(raw, case)
    if current is not None and current.inputs_digest == digest:
        return done(None)
    result, digest, seen = _score(case, raw, digest, failures, now)
    screening = (current or Screening()).scored(now, result, digest)
    observability.case_screened(str(result.level))
    previous = current.current if current else None
    if previous is not None and (previous.level, previous.score) == (result.level, result.score):
        return done(screening, seen)
    return done(screening, seen, f"fraud check: {result.summary()}")


def _score(
    case: Case,
    raw: dict[str, object],
    digest: str,
    failures: list[Failure],
    now: datetime,
) -> tuple[FraudResult, str, Seen | None]:
    from recoup.domain.fraud.rules import FraudSettingsError
    from recoup.domain.fraud.score import score

    try:
        settings = fraud_settings(case.shop)
    except FraudSettingsError as exc:
        # Stored settings that no longer parse: hold, and say which field.
        logger.error("Fraud settings unreadable", extra={"shop": case.shop, "field": exc.field})
        return unscored(f"the shop's fraud settings are invalid: {exc}"), digest, None
    try:
        tally = velocity.tally(case.shop, case, failures, now)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run holds the case
        logger.exception("Velocity counts unavailable", extra={"case_id": case.case_id})
        # An empty digest makes the next event about the case try again.
        note = f"velocity counts unavailable ({type(exc).__name__}): held for review"
        return unscored(note, settings.ruleset), "", None
    signals = signals_for_case(case, tally.signals, settings.high_value, raw)
    return score(signals, settings), digest, tally.seen
