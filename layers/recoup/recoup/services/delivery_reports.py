"""Delivery reports onto the trail of the case whose reminder they describe.

SES publishes an event per message (delivered, bounced, complained, delayed, rejected) to the
email feedback topic; SNS logs the outcome of each SMS to CloudWatch Logs, which a subscription
hands to the feedback function. Both name only the provider's message id: the sender recorded
which case and step it belongs to (`store.deliveries`). Each kind of report lands once, as an
audit entry in the same transaction as its REPORT# marker, so a redelivered notification adds
nothing; the case file reads them back from the trail (`casefile.record`, by message).
Reports name no address: the entry says what happened, not to whom.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recoup import observability
from recoup.domain.aggregate import StoredCase
from recoup.domain.audit import DELIVERY_REPORT, AuditEntry
from recoup.observability import logger
from recoup.store import cases as store
from recoup.store import deliveries

BACKOFF_SECONDS = 0.05
# SES event types that say what became of a message, and the words the trail gives them.
SES_OUTCOMES = {
    "Delivery": "delivered",
    "Bounce": "bounced",
    "Complaint": "complaint",
    "DeliveryDelay": "delayed",
    "Reject": "rejected by SES",
    "RenderingFailure": "not rendered by SES",
}


@dataclass(frozen=True, slots=True)
class Report:
    """One provider report about one message."""

    channel: str  # "email" | "sms"
    provider_id: str
    kind: str  # the provider's own name for it, one entry per kind
    outcome: str  # what the case file says: "delivered", "bounced (Permanent, General)", ...
    at: datetime  # when the provider saw it happen
    # The correlation id the message was sent under (SES repeats the send's tags), logged
    # beside this notification's own: from a bounce back to the webhook or run that sent it.
    sent_correlation_id: str | None = None


def from_ses(data: dict[str, Any]) -> Report | None:
    """The report in an SES event notification, if it is one about a message's fate."""
    kind = str(data.get("eventType") or data.get("notificationType") or "")
    words = SES_OUTCOMES.get(kind)
    mail = data.get("mail") or {}
    provider_id = str(mail.get("messageId") or "")
    if words is None or not provider_id:
        return None
    detail = _ses_detail(kind, data)
    section = data.get(kind[0].lower() + kind[1:]) or {}
    at = _when(section.get("timestamp") or mail.get("timestamp"))
    outcome = f"{words} ({detail})" if detail else words
    tagged = (mail.get("tags") or {}).get("correlation_id") or []
    sent_under = str(tagged[0]) if tagged else None
    return Report("email", provider_id, kind, outcome, at, sent_under)


def _ses_detail(kind: str, data: dict[str, Any]) -> str:
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        return ", ".join(
            str(v) for v in (bounce.get("bounceType"), bounce.get("bounceSubType")) if v
        )
    if kind == "Complaint":
        return str((data.get("complaint") or {}).get("complaintFeedbackType") or "")
    if kind == "DeliveryDelay":
        return str((data.get("deliveryDelay") or {}).get("delayType") or "")
    if kind == "Reject":
        return str((data.get("reject") or {}).get("reason") or "")
    return ""


def from_sns_sms(data: dict[str, Any]) -> Report | None:
    """The report in one SNS SMS delivery status log record (success or failure)."""
    notification = data.get("notification") or {}
    provider_id = str(notification.get("messageId") or "")
    status = str(data.get("status") or "").upper()
    if not provider_id or status not in ("SUCCESS", "FAILURE"):
        return None
    response = str((data.get("delivery") or {}).get("providerResponse") or "")
    outcome = "delivered" if status == "SUCCESS" else f"failed ({response or 'no reason given'})"
    return Report("sms", provider_id, status, outcome, _when(notification.get("timestamp")))


def _when(value: Any) -> datetime:
    """SES: ISO 8601 with Z; SNS: "2016-06-28 00:40:34.558", UTC. Now if neither parses."""
    text = str(value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(tz=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def record(report: Report, *, now: datetime) -> str:
    """Put the report on the case's trail once; says what became of it."""
    sent = deliveries.find(report.channel, report.provider_id)
    if sent is None:
        # Not a reminder (a data export, a test send) or older than the lookup's window.
        return "not a reminder Recoup recorded"

    def decide(current: StoredCase | None) -> str | store.Change[str]:
        # Checked on every read: a conflict may be another delivery of this report winning.
        if deliveries.reported(report.channel, report.provider_id, report.kind):
            return "already recorded"
        if current is None:
            return "the case is gone"
        marker = deliveries.report_item(report.channel, report.provider_id, report.kind, at=now)

        def committed() -> None:
            observability.delivery_report(report.channel)
            logger.info(
                "Delivery report recorded",
                extra={
                    "case_id": sent.case_id,
                    "step": sent.step + 1,
                    "kind": report.kind,
                    "sent_correlation_id": report.sent_correlation_id,
                },
            )

        return store.Change(
            current.case,
            _entry(current, report, sent.step, now),
            f"recorded: step {sent.step + 1} {report.outcome}",
            absent=[marker],
            after=committed,
        )

    # The case moved on (a payment, a send), or another delivery of this report won: wait a
    # little before reading again.
    return store.change(sent.shop, sent.case_id, decide, now=now, pause=_backoff)


def _backoff(attempt: int) -> None:
    time.sleep(BACKOFF_SECONDS * 2**attempt)


def _entry(current: StoredCase, report: Report, step: int, now: datetime) -> AuditEntry:
    entry = store.recoup_entry(
        current,
        source="ses" if report.channel == "email" else "sns",
        kind=DELIVERY_REPORT,
        event_id=f"{report.channel}:{report.provider_id}:{report.kind}",
        summary=f"step {step + 1} by {report.channel}: {report.outcome}",
        effect="",
        now=now,
    )
    # What the case file reads back, by message; the chain covers it like every field.
    body = {
        **entry.body,
        "occurred_at": report.at.isoformat(),
        "provider_message_id": report.provider_id,
        "outcome": report.outcome,
        "step": step + 1,
    }
    return AuditEntry.following(current.audit_seq, entry.prev_hash, body)
