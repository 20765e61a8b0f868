"""Tell the agency or lawyer about a referral: an email (SES) with pre-signed links to the case
file, or a signed HTTPS webhook, retried with backoff and dead-lettered when retries run out.

One job per attempt on the hand-over queue (`{"shop", "case_id", "referral_id",
"attempt"}`). A failed webhook schedules the next attempt as a new, delayed message (the
backoff of `domain.handover.after_failure`) and marks the notification `retrying`; after the
last attempt the job goes to the dead-letter queue and the notification is `failed`. A
notification already delivered or failed is never sent again, so a redelivered job is
harmless. Secrets are read through `Settings.handover_secrets` and never logged.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from recoup import clock
from recoup.casefile.record import VERIFY_COMMAND
from recoup.casefile.render import environment
from recoup.domain.handover import SIGNATURE_HEADER, DeadLetter, after_failure, sign
from recoup.domain.referral import (
    EmailHandOver,
    NotificationStatus,
    Referral,
    Referrals,
    WebhookHandOver,
    format_amount,
)
from recoup.domain.referral.policy import DEFAULT_LINK_EXPIRY_HOURS
from recoup.integrations import case_files
from recoup.observability import logger, metrics
from recoup.services import referrals as making
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import shops

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

POST_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 5  # re-reads of the case when recording meets another writer
# The jitter's random source; tests replace it to make the schedule immediate.
rand: Callable[[], float] = random.SystemRandom().random


@cache
def _sqs() -> SQSClient:
    import boto3

    return boto3.client("sqs", region_name=get_settings().region)


@dataclass(frozen=True, slots=True)
class HandOverResult:
    outcome: str  # delivered | retrying | failed | stale
    detail: str


def deliver_job(body: str) -> HandOverResult:
    job = json.loads(body)
    return deliver(
        str(job["shop"]),
        str(job["case_id"]),
        str(job["referral_id"]),
        attempt=int(job.get("attempt", 1)),
        now=clock.now(),
    )


def deliver(
    shop: str, case_id: str, referral_id: str, *, attempt: int, now: datetime
) -> HandOverResult:
    stored = store.load(shop, case_id)
    referral = stored.referrals.find(referral_id) if stored and stored.referrals else None
    if stored is None or referral is None:
        return HandOverResult("stale", f"no referral {referral_id} on case {case_id}")
    if referral.notification.status in (NotificationStatus.DELIVERED, NotificationStatus.FAILED):
        return HandOverResult("stale", f"the hand-over of {referral_id} is already done")
    hand_over = making.referral_policy(shop).hand_over(referral.kind)
    try:
        if isinstance(hand_over, EmailHandOver):
            detail = _email(stored, referral_id, referral, hand_over, now)
        elif isinstance(hand_over, WebhookHandOver):
            detail = _post(stored, referral_id, referral, hand_over, now)
        else:
            raise HandOverFailed(f"the shop's policy no longer has a {referral.kind} hand-over")
    except HandOverFailed as exc:
        return _failed(stored, referral_id, attempt, str(exc), now)
    _record(stored, referral_id, NotificationStatus.DELIVERED, attempt, detail, now)
    metrics.add_metric(name="HandOverDelivered", unit="Count", value=1)
    return HandOverResult("delivered", detail)


class HandOverFailed(Exception):
    """The receiver refused or could not be reached; the message says how."""


def _links(referral: Referral, hours: int) -> dict[str, str | None]:
    files = referral.files
    if files is None:
        raise HandOverFailed("the referral has no case file")
    valid = timedelta(hours=hours)
    return {
        "html_url": case_files.download_link(files.html, valid),
        "pdf_url": case_files.download_link(files.pdf, valid),
        "json_url": case_files.download_link(files.json, valid),
        "letter_url": case_files.download_link(files.letter, valid) if files.letter else None,
    }


def _summary(stored: store.StoredCase, referral_id: str, referral: Referral) -> dict[str, Any]:
    case = stored.case
    shop_item = shops.get(case.shop)
    files = referral.files
    record = case_files.get_json(files.json) if files else {}
    chain = record.get("chain") if isinstance(record, dict) else None
    return {
        "referral_id": referral_id,
        "kind": str(referral.kind),
        "shop": case.shop,
        "merchant": (shop_item.shop_name if shop_item else None) or case.shop,
        "case_id": case.case_id,
        "order": (case.snapshot.order_name if case.snapshot else None) or case.case_id,
        "owed": format_amount(referral.owed),
        "reason": referral.reason,
        "referred_at": referral.referred_at.isoformat(),
        "chain_head": chain.get("head") if isinstance(chain, dict) else None,
        "verify_command": VERIFY_COMMAND,
    }


def _email(
    stored: store.StoredCase,
    referral_id: str,
    referral: Referral,
    hand_over: EmailHandOver,
    now: datetime,
) -> str:
    from recoup.channels import mime
    from recoup.channels.render import RenderedEmail
    from recoup.integrations import ses

    settings = get_settings()
    variables = {
        **_summary(stored, referral_id, referral),
        **_links(referral, hand_over.link_expiry_hours),
        "expires": (now + timedelta(hours=hand_over.link_expiry_hours)).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
    }
    env = environment()
    rendered = RenderedEmail(
        subject=" ".join(
            env.get_template("handover/email.subject.txt.j2").render(variables).split()
        ),
        html=env.get_template("handover/email.html.j2").render(variables),
        text=env.get_template("handover/email.txt.j2").render(variables),
        template="handover/email",
    )
    sender = settings.require("sender_address")
    # A one-to-one service email, not bulk mail: no list headers (RFC 8058 is for lists).
    raw = mime.build_notice(
        rendered,
        from_address=sender,
        from_name=str(variables["merchant"]),
        to_address=hand_over.address,
        message_id_domain=sender.rsplit("@", 1)[1],
    )
    try:
        message_id = ses.send_raw(
            raw,
            from_address=sender,
            to_address=hand_over.address,
            tags={"shop": stored.case.shop.replace(".", "_"), "kind": "handover"},
        )
    except Exception as exc:
        raise HandOverFailed(f"SES refused the email: {type(exc).__name__}") from exc
    return f"emailed to {hand_over.address} (SES message id {message_id})"


def _post(
    stored: store.StoredCase,
    referral_id: str,
    referral: Referral,
    hand_over: WebhookHandOver,
    now: datetime,
) -> str:
    secrets = get_settings().handover_secrets(stored.case.shop, hand_over.secret_ref)
    payload = {
        **_summary(stored, referral_id, referral),
        "owed_amount": referral.owed.to_dict(),
        "links": _links(referral, DEFAULT_LINK_EXPIRY_HOURS),
        "links_expire_at": (now + timedelta(hours=DEFAULT_LINK_EXPIRY_HOURS)).isoformat(),
    }
    body = json.dumps(payload, sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is validated https (or loopback)
        hand_over.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secrets[:1], now),
            "User-Agent": "Recoup hand-over",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise HandOverFailed(f"{hand_over.url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HandOverFailed(
            f"{hand_over.url} could not be reached: {type(exc).__name__}"
        ) from None
    if not 200 <= status < 300:
        raise HandOverFailed(f"{hand_over.url} answered {status}")
    return f"posted to {hand_over.url} ({status})"


def _failed(
    stored: store.StoredCase, referral_id: str, attempt: int, error: str, now: datetime
) -> HandOverResult:
    shop, case_id = stored.case.shop, stored.case.case_id
    step = after_failure(attempt, error, rand)
    if isinstance(step, DeadLetter):
        _record(stored, referral_id, NotificationStatus.FAILED, attempt, step.reason, now)
        _sqs().send_message(
            QueueUrl=get_settings().require("handover_dlq_url"),
            MessageBody=json.dumps(
                {"shop": shop, "case_id": case_id, "referral_id": referral_id, "attempt": attempt}
            ),
        )
        metrics.add_metric(name="HandOverDeadLettered", unit="Count", value=1)
        logger.error("Hand-over dead-lettered", extra={"case_id": case_id, "why": step.reason})
        return HandOverResult("failed", step.reason)
    detail = f"attempt {attempt} failed ({error}); next in {step.delay_seconds} s"
    _record(stored, referral_id, NotificationStatus.RETRYING, attempt, detail, now)
    making.queue_handover(
        shop, case_id, referral_id, attempt=attempt + 1, delay_seconds=step.delay_seconds
    )
    metrics.add_metric(name="HandOverRetried", unit="Count", value=1)
    return HandOverResult("retrying", detail)


def _record(
    stored: store.StoredCase,
    referral_id: str,
    status: NotificationStatus,
    attempts: int,
    detail: str,
    now: datetime,
) -> None:
    """The notification's progress on the referral, with an audit entry."""
    current = stored
    for _ in range(MAX_ATTEMPTS):
        referrals = current.referrals or Referrals()
        referral = referrals.find(referral_id)
        if referral is None:
            return
        notified = replace(
            referral, notification=replace(referral.notification, status=status, attempts=attempts)
        )
        entry = store.recoup_entry(
            current,
            source="recoup",
            kind=f"handover.{status}",
            event_id=f"recoup:handover:{current.case.case_id}:{referral_id}:{attempts}:{status}",
            summary=f"hand-over of {referral_id}: {detail}",
            effect=f"notification {status}",
            now=now,
        )
        write = store.CaseWrite(
            current.case, current, entry, referrals=referrals.updated(referral_id, notified)
        )
        try:
            store.save_all([write], now=now)
            return
        except store.ConcurrentUpdate:
            reloaded = store.load(current.case.shop, current.case.case_id)
            if reloaded is None:
                return
            current = reloaded
    raise store.ConcurrentUpdate(f"case {stored.case.case_id}: could not record the hand-over")


__all__ = ["HandOverFailed", "HandOverResult", "deliver", "deliver_job", "rand"]
