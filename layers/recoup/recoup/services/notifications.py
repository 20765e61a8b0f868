"""Tell the merchant what waits for them: the notification settings, the daily digest and
the immediate notices (a fraud decision needed, a customer saying an order is not theirs, a
referral made). The digest lists every waiting case, the customers' reports among them
("already paid", "dispute", "not mine").

The scheduler's run calls `queue_notices`: for every shop in the notice registry
(`store.waiting`), once an hour a job for its digest, and at every run a job for a shop whose
immediate notice may be due. The jobs ride the reminder queue (`kind: merchant_notice`) and
the sender runs them (`run_job`), so a failed send is retried by SQS and, after five
receives, lands in the reminder DLQ, which is alarmed.

At most once, like every message Recoup sends: the digest's local day is claimed
(`claim_digest`) and each immediate notice's markers are claimed before the send. SES's
SendEmail takes no idempotency key, so an at-least-once send whose answer was lost could
not be told apart from one never sent: a send certainly refused (throttled, no connection)
gives the claim back and fails the job, so SQS tries again; an answer lost keeps the claim
(recorded `unknown`), so a merchant never gets the same digest twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recoup import aws, queue
from recoup.domain import notices
from recoup.domain.aggregate import StoredCase
from recoup.domain.fields import FieldError
from recoup.domain.notices import Line, Notice, NotificationSettings
from recoup.errors import InvalidInput, VersionConflict
from recoup.observability import logger
from recoup.services import job_kinds
from recoup.services.shop_settings import DocumentUpdate, Versioned
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies, shops, waiting
from recoup.store.waiting import Marker

JOB_KIND = job_kinds.MERCHANT_NOTICE
NOTIFICATIONS = "NOTIFICATIONS"  # the policy kind of the settings (`POLICY#NOTIFICATIONS`)
# A digest job is queued by the first scheduler run of each UTC hour (runs are 5 min apart).
DIGEST_SLOT = timedelta(minutes=5)
# An immediate notice tells of markers this recent; older ones are the digest's.
IMMEDIATE_WINDOW = timedelta(days=1)
# Referrals in the first digest: those of the last day.
FIRST_DIGEST_LOOKBACK = timedelta(days=1)


# ---------------------------------------------------------------- settings


def settings(shop: str) -> Versioned[NotificationSettings]:
    """The shop's notification settings (version 0: never saved; the email defaults to the
    shop's contact email as Shopify reports it)."""
    stored = policies.load_doc(shop, NOTIFICATIONS)
    if stored is None:
        item = shops.get(shop)
        return Versioned(0, notices.default_settings(item.contact_email if item else None))
    return Versioned(stored[0], notices.parse_settings(stored[1]))


def save_settings(
    shop: str, update: DocumentUpdate, *, now: datetime
) -> Versioned[NotificationSettings]:
    try:
        parsed = notices.parse_settings(update.document)
    except FieldError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None
    try:
        policies.save_doc(shop, NOTIFICATIONS, update.version + 1, parsed.to_dict(), now=now)
    except policies.PolicyConflict:
        raise VersionConflict() from None
    return settings(shop)


# ---------------------------------------------------------------- the scheduler's pass


@dataclass(frozen=True, slots=True)
class NoticeJob:
    shop: str
    digest: bool  # consider the daily digest too (hourly), not only immediate notices

    def to_json(self) -> str:
        return json.dumps({"kind": JOB_KIND, "shop": self.shop, "digest": self.digest})


def queue_notices(at: datetime) -> int:
    """Queue the notice jobs of this run; how many were queued. A batch SQS does not take is
    logged and left: the next run (immediate) or hour (digest, caught up the same day)
    queues it again."""
    hourly = at.minute * 60 + at.second < DIGEST_SLOT.total_seconds()
    jobs = [
        NoticeJob(shop.shop, hourly)
        for shop in waiting.registered_shops()
        if hourly or shop.pending_at is not None
    ]
    queued = 0
    for start in range(0, len(jobs), queue.BATCH_LIMIT):
        batch = {str(i): job for i, job in enumerate(jobs[start : start + queue.BATCH_LIMIT])}
        answer = queue.send_batch(queue.Queue.REMINDERS, batch)
        failed = answer.retry | answer.refused
        if failed:
            logger.warning("Notice jobs not queued", extra={"count": len(failed)})
        queued += len(batch) - len(failed)
    return queued


# ---------------------------------------------------------------- the job


@dataclass(frozen=True, slots=True)
class NoticeResult:
    outcome: str
    detail: str


def run_job(job: Mapping[str, Any], *, now: datetime) -> NoticeResult:
    shop = str(job["shop"])
    if not shops.is_installed(shop):
        return NoticeResult("stale", f"{shop} is not installed: nothing is sent")
    words = [immediate_notice(shop, now=now)]
    if job.get("digest"):
        words.append(daily_digest(shop, now=now))
    return NoticeResult("done", "; ".join(words))


def immediate_notice(shop: str, *, now: datetime) -> str:
    """Tell the merchant of new fraud decisions needed and referrals made, once each."""
    pending = waiting.pending_at(shop)
    chosen = settings(shop).value
    if pending is None:
        return "no immediate notice pending"
    if not chosen.immediate or chosen.email is None:
        waiting.clear_pending(shop, pending)
        return "immediate notices off"
    fresh = [
        m
        for m in waiting.markers(shop)
        if _immediate(m) and not m.notified and m.since >= now - IMMEDIATE_WINDOW
    ]
    claimed = waiting.claim_notices(fresh, now=now)
    if claimed:
        lines = _lines(shop, claimed)
        notice = notices.immediate(_shop_name(shop), lines, settings_link(shop))
        outcome = _send(
            shop, chosen.email, notice, "immediate", lambda: waiting.release_notices(claimed)
        )
    else:
        outcome = "nothing new"
    waiting.clear_pending(shop, pending)
    return f"immediate: {outcome}"


def _immediate(marker: Marker) -> bool:
    """Worth a notice of its own: a referral made, or a reason the merchant should hear of
    at once (a fraud decision needed, a customer saying the order is not theirs)."""
    if marker.reason == "referred":
        return True
    known = {str(reason) for reason in notices.WaitReason}
    return marker.reason in known and notices.WaitReason(marker.reason).immediate


def daily_digest(shop: str, *, now: datetime, force: bool = False) -> str:
    """Send the shop's digest if it is due at its local hour and not sent today (`force`:
    now, whatever the hour; still once per local day)."""
    chosen = settings(shop).value
    if chosen.email is None:
        return "digest: no address (the shop has no contact email; set one in the settings)"
    item = shops.get(shop)
    zone = item.timezone if item else None
    state = waiting.digest_state(shop)
    if force:
        day = notices.local_day(now, zone)[0]
        due = None if state.day == day.isoformat() else day
    else:
        due = notices.digest_day(chosen, zone, now, state.day)
    if due is None or chosen.email is None:
        return "digest not due (off, before the hour, or sent today)"
    found = waiting.markers(shop)
    since = state.sent_at or now - FIRST_DIGEST_LOOKBACK
    waits = [m for m in found if m.reason != "referred"]
    referred = [m for m in found if m.reason == "referred" and m.since > since]
    if not waits and not referred:
        return "digest: nothing waits"
    if not waiting.claim_digest(shop, due.isoformat(), now=now):
        return "digest already sent today"
    notice = notices.digest(
        _shop_name(shop), _lines(shop, waits), _lines(shop, referred), settings_link(shop)
    )
    outcome = _send(
        shop, chosen.email, notice, "digest", lambda: waiting.release_digest(shop, due.isoformat())
    )
    waiting.finish_digest(shop, outcome, now=now)
    return f"digest {outcome}: {len(waits)} waiting, {len(referred)} referred"


def _lines(shop: str, found: Iterable[Marker]) -> list[Line]:
    """Each marker as a line, with its case read (the waiting ones only: BatchGetItem)."""
    chosen = list(found)
    read = case_store.load_many(shop, (m.case_id for m in chosen))
    return [
        _line(shop, m, read.get(m.case_id))
        for m in chosen
        if m.case_id in read or m.reason == "referred"
    ]


def _line(shop: str, marker: Marker, stored: StoredCase | None) -> Line:
    case = stored.case if stored else None
    name = case.snapshot.order_name if case and case.snapshot else None
    owed = case.amount_owed if case else None
    if marker.reason == "referred":
        why, at = "referred", marker.since
    else:
        why, at = notices.WaitReason(marker.reason).words, None
    return Line(
        title=name or f"Case {marker.case_id}",
        amount=str(owed) if owed is not None else "amount unknown",
        why=why,
        link=case_link(shop, marker.case_id),
        at=at,
    )


def _send(shop: str, to: str, notice: Notice, kind: str, release: Any) -> str:
    """One attempt; `release` gives the claim back when it certainly was not sent."""
    from recoup.channels import mime
    from recoup.channels.render import RenderedEmail
    from recoup.integrations import ses

    sender = get_settings().require("sender_address")
    rendered = RenderedEmail(notice.subject, notice.html, notice.text, f"notice/{kind}")
    try:
        raw = mime.build_notice(
            rendered,
            from_address=sender,
            from_name="Recoup",
            to_address=to,
            message_id_domain=sender.rsplit("@", 1)[1],
        )
        ses.send_raw(
            raw,
            from_address=sender,
            to_address=to,
            tags={"shop": shop.replace(".", "_"), "kind": f"merchant_{kind}"},
        )
    except aws.OutcomeUnknown as exc:
        logger.warning("Merchant notice outcome unknown", extra={"shop": shop, "code": exc.code})
        return "unknown"
    except aws.Rejected as exc:
        logger.error("Merchant notice refused by SES", extra={"shop": shop, "code": exc.code})
        return "rejected"
    except Exception:
        release()  # not sent: SQS's retry may send
        raise
    return "sent"


# ---------------------------------------------------------------- links


def case_link(shop: str, case_id: str) -> str:
    return _app_link(shop, f"cases/{case_id}")


def settings_link(shop: str) -> str:
    return _app_link(shop, "notifications")  # the page's notification settings view


def _app_link(shop: str, path: str) -> str:
    """Into the embedded app in the Shopify admin (the client id stands for the app's
    handle there); on the local stack, its own front."""
    current = get_settings()
    if current.secrets_source == "env" or not current.shopify_api_key:
        return f"{current.public_base_url()}/app/{path}?shop={shop}"
    handle = shop.removesuffix(".myshopify.com")
    return f"https://admin.shopify.com/store/{handle}/apps/{current.shopify_api_key}/{path}"


def _shop_name(shop: str) -> str:
    item = shops.get(shop)
    return (item.shop_name if item else None) or shop
