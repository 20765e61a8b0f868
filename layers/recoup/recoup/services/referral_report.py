"""An agency's or lawyer's report on a referral: `POST /referrals/report`, signed.

The body is the report (`domain.handover.parse_report`) plus `"shop"`: the shop tells whose
secrets verify `Recoup-Signature` (the secrets of the shop's webhook hand-overs, the same
that sign what Recoup sends). Answers: 200 with the referral's new status; 401 for a
missing or bad signature (or a shop with no hand-over secret); 400 naming the invalid
field; 404 for a case without a referral; 409 for a move the referral cannot make. The move
is one version-conditioned write with an audit entry. `paid` ends the case's pursuit as
recovered by the agency (reminders stay stopped); `returned_unpaid` from an agency schedules
a referral check now, which refers the case to legal when the policy allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fields import FieldError
from recoup.domain.handover import SignatureError, parse_report, verify
from recoup.domain.referral import (
    ReferralKind,
    ReferralStatus,
    ReferralTransitionError,
    WebhookHandOver,
    format_amount,
    transition,
)
from recoup.errors import ConfigurationError
from recoup.integrations.shopify_oauth import SHOP_DOMAIN
from recoup.observability import logger, metrics
from recoup.services import referrals as making
from recoup.settings import get_settings
from recoup.store import cases as store

MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"error": code, "message": message})


def receive(body: bytes, headers: Mapping[str, str], *, now: datetime) -> Answer:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "malformed_report", "body: must be a JSON object")
    if not isinstance(data, dict):
        return _error(400, "malformed_report", "body: must be a JSON object")
    shop = data.pop("shop", None)
    if not isinstance(shop, str) or not SHOP_DOMAIN.fullmatch(shop):
        return _error(400, "malformed_report", "shop: must be the shop's *.myshopify.com domain")
    secrets = _secrets(shop)
    header = {k.lower(): v for k, v in headers.items()}.get("recoup-signature")
    try:
        verify(body, header, secrets, now)
    except SignatureError as exc:
        metrics.add_metric(name="ReferralReportRejected", unit="Count", value=1)
        return _error(401, "invalid_signature", str(exc))
    try:
        report = parse_report(data, now)
    except FieldError as exc:
        return _error(400, "malformed_report", str(exc))
    for _ in range(MAX_ATTEMPTS):
        stored = store.load(shop, report.case_id)
        referrals = stored.referrals if stored else None
        if stored is None or referrals is None or referrals.latest is None:
            return _error(404, "unknown_case", f"case_id: no referred case {report.case_id}")
        referral_id, referral = referrals.latest_id, referrals.latest
        assert referral_id is not None
        try:
            moved = transition(
                referral, report.status, report.reported_at, report.note, report.amount
            )
        except ReferralTransitionError as exc:
            return _error(409, "illegal_transition", str(exc))
        if moved == referral:
            return Answer(200, {"status": str(moved.status), "changed": False})
        summary = f"{referral.kind} reported {report.status} on {referral_id}"
        if report.amount is not None:
            summary += f": {format_amount(report.amount)} paid"
        if report.note:
            summary += f" ({report.note})"
        entry = store.recoup_entry(
            stored,
            source="agency",
            kind=f"referral.{report.status}",
            event_id=f"agency:{referral_id}:{report.status}:{report.reported_at.isoformat()}",
            summary=summary,
            effect=_effect(moved.status, referral.kind),
            now=now,
        )
        write = store.CaseWrite(
            stored.case,
            stored,
            entry,
            _dunning(stored.dunning, moved.status, referral.kind, now),
            referrals=referrals.updated(referral_id, moved),
        )
        try:
            store.save_all([write], now=now)
        except store.ConcurrentUpdate:
            continue
        metrics.add_metric(name="ReferralReported", unit="Count", value=1)
        logger.info(
            "Referral report", extra={"case_id": report.case_id, "status": str(moved.status)}
        )
        recovered = moved.recovered.to_dict() if moved.recovered else None
        return Answer(200, {"status": str(moved.status), "changed": True, "recovered": recovered})
    raise store.ConcurrentUpdate(f"case {report.case_id}: could not apply the report")


def _secrets(shop: str) -> tuple[str, ...]:
    """The secrets of the shop's webhook hand-overs; none when it has none configured."""
    try:
        policy = making.referral_policy(shop)
    except FieldError:
        return ()
    found: list[str] = []
    for kind in ReferralKind:
        hand_over = policy.hand_over(kind)
        if isinstance(hand_over, WebhookHandOver):
            try:
                found += get_settings().handover_secrets(shop, hand_over.secret_ref)
            except ConfigurationError:
                logger.warning("Hand-over secret missing", extra={"shop": shop, "kind": str(kind)})
    return tuple(dict.fromkeys(found))


def _returned_to_legal(status: ReferralStatus, kind: ReferralKind) -> bool:
    return status is ReferralStatus.RETURNED_UNPAID and kind is ReferralKind.AGENCY


def _effect(status: ReferralStatus, kind: ReferralKind) -> str:
    if status is ReferralStatus.PAID:
        return f"recovered by the {kind}: the case is settled"
    if _returned_to_legal(status, kind):
        return "returned unpaid by the agency: a legal referral is checked now"
    return f"referral {status}"


def _dunning(
    dunning: Dunning | None, status: ReferralStatus, kind: ReferralKind, now: datetime
) -> Dunning | None:
    if dunning is None:
        return None
    if status is ReferralStatus.PAID:
        return dunning.finish(DunningStatus.STOPPED, f"recovered by the {kind}")
    if _returned_to_legal(status, kind):
        reason = "returned unpaid by the agency: waiting for escalation"
        return dunning.finish(DunningStatus.AWAITING_ESCALATION, reason).escalate(now)
    return None


__all__ = ["Answer", "receive"]
