"""Screen a case for fraud: when it opens, and again whenever what it reports changes.

The scorer is pure (`recoup.domain.fraud`); this module gathers its inputs (the shop's
settings, the velocity counts) and turns the result into the case's screening and the
velocity marks to write with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import PaymentAttempt
from recoup.domain.fraud import (
    DEFAULT_SETTINGS,
    FraudResult,
    FraudSettingsError,
    ShopFraudSettings,
    parse_settings,
    score,
    unscored,
)
from recoup.domain.fraud.screening import (
    Screening,
    case_inputs,
    inputs_digest,
    signals_for_case,
)
from recoup.observability import logger, metrics
from recoup.store import policies, velocity
from recoup.store.cases import StoredCase
from recoup.store.models import VelocityItem


@dataclass(frozen=True, slots=True)
class Screened:
    screening: Screening | None  # None: unchanged
    marks: list[VelocityItem]  # velocity items to write with the case
    effect: str = ""  # what changed, for the audit entry ("" when the result is the same)


def fraud_settings(shop: str) -> ShopFraudSettings:
    stored = policies.load_doc(shop, policies.FRAUD)
    return DEFAULT_SETTINGS if stored is None else parse_settings(stored[1])


def screen(prior: StoredCase | None, case: Case, now: datetime) -> Screened:
    """Score `case` if it is open and its inputs changed since it was last scored."""
    before = prior.case.attempts if prior else ()
    failures = [a for a in case.attempts if not a.succeeded and a not in before]
    marks = velocity.marks(case.shop, case, failures, now)
    current = prior.screening if prior else None
    if case.status is not CaseStatus.OPEN or case.merged_into is not None:
        return Screened(None, marks)
    raw = case_inputs(case)
    digest = inputs_digest(raw, case)
    if current is not None and current.inputs_digest == digest:
        return Screened(None, marks)
    result, digest = _score(case, raw, digest, failures, now)
    screening = (current or Screening()).scored(now, result, digest)
    metrics.add_metric(name=f"FraudLevel{str(result.level).capitalize()}", unit="Count", value=1)
    previous = current.current if current else None
    if previous is not None and (previous.level, previous.score) == (result.level, result.score):
        return Screened(screening, marks)
    return Screened(screening, marks, f"fraud check: {result.summary()}")


def _score(
    case: Case,
    raw: dict[str, object],
    digest: str,
    failures: list[PaymentAttempt],
    now: datetime,
) -> tuple[FraudResult, str]:
    try:
        settings = fraud_settings(case.shop)
    except FraudSettingsError as exc:
        # Stored settings that no longer parse: hold, and say which field.
        logger.error("Fraud settings unreadable", extra={"shop": case.shop, "field": exc.field})
        return unscored(f"the shop's fraud settings are invalid: {exc}"), digest
    try:
        counts = velocity.counts(case.shop, case, failures, now)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run holds the case
        logger.exception("Velocity counts unavailable", extra={"case_id": case.case_id})
        # An empty digest makes the next event about the case try again.
        note = f"velocity counts unavailable ({type(exc).__name__}): held for review"
        return unscored(note, settings.ruleset), ""
    signals = signals_for_case(case, counts, settings.high_value, raw)
    return score(signals, settings), digest
