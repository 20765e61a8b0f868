"""An agency's or lawyer's report on a referral: `POST /referrals/report`, signed.

The body is the report (`domain.handover.parse_report`) plus `"shop"`. A report moves only
the referral it names the case of, and only when signed with the secret of the hand-over
that referral went to (the `secret_ref` recorded with it, so an agency's secret never moves
a legal referral, nor another agency's). Answers: 200 with the referral's new status; 401
for a missing or bad signature (no hand-over secret of the shop verifies it); 403 when it
verifies with another hand-over's secret (wrong_hand_over), or the referral's hand-over has
no report-back secret; 400 naming the invalid field; 404 for a case without a referral; 409
for a move the referral cannot make. The move
is one version-conditioned write with an audit entry. `paid` ends the case's pursuit as
recovered by the agency (reminders stay stopped); `returned_unpaid` from an agency schedules
a referral check now, which refers the case to legal when the policy allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from recoup.domain.aggregate import StoredCase
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.fields import FieldError
from recoup.domain.handover import (
    MAX_CASE_ID_CHARS,
    AgencyReport,
    SignatureError,
    parse_report,
    verify,
)
from recoup.domain.referral import (
    Referral,
    ReferralKind,
    ReferralStatus,
    ReferralTransitionError,
    format_amount,
    transition,
)
from recoup.errors import ConfigurationError
from recoup.integrations.shopify_oauth import SHOP_DOMAIN
from recoup.observability import logger, metrics
from recoup.services import referrals as making
from recoup.settings import get_settings
from recoup.store import cases as store


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"error": code, "message": message})


def receive(body: bytes, headers: Mapping[str, str], *, now: datetime) -> Answer:
    parsed = _parsed(body)
    if isinstance(parsed, Answer):
        return parsed
    shop, data = parsed
    case_id = data.get("case_id")
    stored = store.load(shop, case_id) if _plausible_id(case_id) else None
    referral_id, own = _referral_secrets(shop, stored)
    refused = _authenticate(body, headers, shop, referral_id, own, now)
    if refused is not None:
        return refused
    try:
        report = parse_report(data, now)
    except FieldError as exc:
        return _error(400, "malformed_report", str(exc))
    return store.change(
        shop,
        report.case_id,
        lambda current: _move(current, report, referral_id, now),
        now=now,
        first=stored,
    )


def _parsed(body: bytes) -> tuple[str, dict[str, Any]] | Answer:
    """The shop the report names and the rest of its body, or the answer refusing it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "malformed_report", "body: must be a JSON object")
    if not isinstance(data, dict):
        return _error(400, "malformed_report", "body: must be a JSON object")
    shop = data.pop("shop", None)
    if not isinstance(shop, str) or not SHOP_DOMAIN.fullmatch(shop):
        return _error(400, "malformed_report", "shop: must be the shop's *.myshopify.com domain")
    return shop, data


def _authenticate(
    body: bytes,
    headers: Mapping[str, str],
    shop: str,
    referral_id: str | None,
    own: tuple[str, ...],
    now: datetime,
) -> Answer | None:
    """None when the signature may move the case's latest referral; else the refusal."""
    header = {k.lower(): v for k, v in headers.items()}.get("recoup-signature")
    try:
        # Any of the shop's hand-over secrets authenticates the sender: until then, the
        # answer is the same whether or not the case exists.
        verify(body, header, tuple(dict.fromkeys((*_secrets(shop), *own))), now)
    except SignatureError as exc:
        metrics.add_metric(name="ReferralReportRejected", unit="Count", value=1)
        return _error(401, "invalid_signature", str(exc))
    if referral_id is None:
        return None
    try:
        verify(body, header, own, now)
    except SignatureError:
        metrics.add_metric(name="ReferralReportOutOfScope", unit="Count", value=1)
        return _error(
            403,
            "wrong_hand_over",
            f"case_id: referral {referral_id} is moved only by reports signed with the "
            "secret of the hand-over it went to; this one is signed with another "
            "hand-over's secret" + ("" if own else " (that hand-over has no report-back secret)"),
        )
    return None


def _move(
    stored: StoredCase | None, report: AgencyReport, referral_id: str | None, now: datetime
) -> Answer | store.Change[Answer]:
    """The referral moved as the report says, with its audit entry; or the answer saying
    why it does not move."""
    referrals = stored.referrals if stored else None
    if stored is None or referrals is None or referrals.latest is None:
        return _error(404, "unknown_case", f"case_id: no referred case {report.case_id}")
    if referrals.latest_id != referral_id:
        # Referred again since the signature was checked: check it against that one.
        return _error(409, "referral_changed", "case_id: the case was referred again; retry")
    referral = referrals.latest
    assert referral_id is not None
    try:
        moved = transition(referral, report.status, report.reported_at, report.note, report.amount)
    except ReferralTransitionError as exc:
        return _error(409, "illegal_transition", str(exc))
    if moved == referral:
        return Answer(200, {"status": str(moved.status), "changed": False})
    entry = store.recoup_entry(
        stored,
        source="agency",
        kind=f"referral.{report.status}",
        event_id=f"agency:{referral_id}:{report.status}:{report.reported_at.isoformat()}",
        summary=_summary(referral, referral_id, report),
        effect=_effect(moved.status, referral.kind),
        now=now,
    )

    def committed() -> None:
        metrics.add_metric(name="ReferralReported", unit="Count", value=1)
        logger.info(
            "Referral report", extra={"case_id": report.case_id, "status": str(moved.status)}
        )

    recovered = moved.recovered.to_dict() if moved.recovered else None
    return store.Change(
        stored.case,
        entry,
        Answer(200, {"status": str(moved.status), "changed": True, "recovered": recovered}),
        dunning=_dunning(stored.dunning, moved.status, referral.kind, now),
        referrals=referrals.updated(referral_id, moved),
        after=committed,
    )


def _summary(referral: Referral, referral_id: str, report: AgencyReport) -> str:
    summary = f"{referral.kind} reported {report.status} on {referral_id}"
    if report.amount is not None:
        summary += f": {format_amount(report.amount)} paid"
    if report.note:
        summary += f" ({report.note})"
    return summary


def _plausible_id(case_id: object) -> TypeGuard[str]:
    return isinstance(case_id, str) and 0 < len(case_id) <= MAX_CASE_ID_CHARS


def _secrets(shop: str) -> tuple[str, ...]:
    """The secrets of the shop's hand-overs that name one; none when none is configured."""
    try:
        policy = making.referral_policy(shop)
    except FieldError:
        return ()
    found: list[str] = []
    for kind in ReferralKind:
        hand_over = policy.hand_over(kind)
        if hand_over is not None and hand_over.secret_ref is not None:
            found += _named(shop, hand_over.secret_ref)
    return tuple(dict.fromkeys(found))


def _referral_secrets(shop: str, stored: StoredCase | None) -> tuple[str | None, tuple[str, ...]]:
    """The case's latest referral's id and the secrets that may report on it: those of the
    hand-over it went to (the name recorded with it; for a referral recorded before names
    were kept, the policy's hand-over of its kind to the same target)."""
    referrals = stored.referrals if stored else None
    if referrals is None or referrals.latest is None:
        return None, ()
    referral = referrals.latest
    secret_ref = referral.notification.secret_ref
    if secret_ref is None:
        try:
            current = making.referral_policy(shop).hand_over(referral.kind)
        except FieldError:
            current = None
        if current is not None and current.target == referral.notification.target:
            secret_ref = current.secret_ref
    return referrals.latest_id, _named(shop, secret_ref) if secret_ref else ()


def _named(shop: str, secret_ref: str) -> tuple[str, ...]:
    try:
        return get_settings().handover_secrets(shop, secret_ref)
    except ConfigurationError:
        logger.warning("Hand-over secret missing", extra={"shop": shop})
        return ()


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
