"""Tell the agency or lawyer about a referral: an email (SES) with pre-signed links to the case
file, or a signed HTTPS webhook; delivered from the hand-over's outbox, at least once.

The referral's case write records its notification `pending`, due now, which puts the case in
the due index with step HANDOVER_DELIVERY. A job (`{"shop", "case_id"}`, and `"referral_id"`
from the quick path) comes from the scheduler's run over that index, or right after the
referral. The worker first claims the attempt: one version-conditioned write counting it and
moving the due time a lease ahead, so a second job for the same hand-over finds it not due
and stops, and a worker that dies mid-attempt leaves it due again when the lease ends. Then
it delivers and records the outcome:

- delivered (2xx, or SES's message id): done, out of the due index;
- failed (refused, unreachable) or outcome unknown (no answer in time: the receiver may have
  it): due again after the backoff of `domain.handover.after_failure`, with the same
  Idempotency-Key (and, for email, the same Message-ID), so the receiver can drop a repeat;
- after the last attempt: `failed`, out of the due index, metric HandOverFailed (alarmed).

The write of the outcome is retried in-process, so a throttled write after a 2xx does not
make a second delivery. Secrets are read through `Settings.handover_secrets`, never logged.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import policy as email_policy
from email.parser import BytesParser
from enum import StrEnum
from typing import Any

from recoup import aws, clock, correlation
from recoup.casefile.record import VERIFY_COMMAND
from recoup.casefile.render import environment
from recoup.domain.aggregate import StoredCase
from recoup.domain.handover import (
    IDEMPOTENCY_HEADER,
    MAX_DELIVERY_ATTEMPTS,
    SIGNATURE_HEADER,
    DeadLetter,
    after_failure,
    idempotency_key,
    sign,
)
from recoup.domain.referral import (
    EmailHandOver,
    HandOverChannel,
    Notification,
    NotificationStatus,
    Referral,
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

POST_TIMEOUT_SECONDS: float = 10
# How long a claimed attempt is not due again: longer than the worker's Lambda timeout (30 s),
# so only a worker that died mid-attempt lets the next scheduler run retry it.
CLAIM_LEASE = timedelta(minutes=5)
RECORD_TRIES = 5  # in-process tries of the outcome's write (beyond the SDK's own retries)
RECORD_PAUSE_SECONDS = 0.2  # doubled after each failed try
# The jitter's random source and the pause between record tries; tests replace them.
rand: Callable[[], float] = random.SystemRandom().random
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class HandOverResult:
    outcome: str  # delivered | retrying | outcome_unknown | failed | stale
    detail: str


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # the receiver refused, or was never reached
    UNKNOWN = "unknown"  # sent, but no answer in time: the receiver may have it


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    detail: str  # no secret, no personal data


def deliver_job(body: str) -> HandOverResult:
    job = json.loads(body)
    referral_id = job.get("referral_id")
    return deliver(
        str(job["shop"]),
        str(job["case_id"]),
        referral_id=str(referral_id) if referral_id else None,
        now=clock.now(),
    )


def deliver(
    shop: str, case_id: str, *, referral_id: str | None = None, now: datetime
) -> HandOverResult:
    """Make the due attempt of the case's open hand-over (of `referral_id` if given)."""
    claimed = _claim(shop, case_id, referral_id, now)
    if isinstance(claimed, HandOverResult):
        return claimed
    stored, referral = claimed.stored, claimed.referral
    attempt = _attempt(stored, claimed.referral_id, referral, now)
    return _conclude(stored, claimed.referral_id, referral.notification.attempts, attempt, now)


def _open_referral(
    stored: StoredCase | None, referral_id: str | None
) -> tuple[str, Referral] | None:
    if stored is None or stored.referrals is None:
        return None
    for rid, referral in stored.referrals.entries:
        if (referral_id is None or rid == referral_id) and referral.notification.open:
            return rid, referral
    return None


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An attempt claimed: the case as written by the claim, the referral and its attempt."""

    stored: StoredCase
    referral_id: str
    referral: Referral


@dataclass(frozen=True, slots=True)
class _Unrecorded:
    """The attempts are spent, the last one's outcome never recorded: the hand-over fails."""

    stored: StoredCase
    referral_id: str
    attempts: int


def _claim(
    shop: str, case_id: str, referral_id: str | None, now: datetime
) -> _Claimed | HandOverResult:
    """Count the attempt and move its due time a lease ahead, conditioned on the version
    read: of two jobs for one attempt, one claims it and the other finds it not due."""

    def decide(
        stored: StoredCase | None,
    ) -> HandOverResult | _Unrecorded | store.Progress[_Claimed]:
        found = _open_referral(stored, referral_id)
        if stored is None or stored.referrals is None or found is None:
            return HandOverResult("stale", f"no hand-over to make on case {case_id}")
        rid, referral = found
        notification = referral.notification
        if notification.due_at is not None and notification.due_at > now:
            return HandOverResult(
                "stale", f"the next attempt of {rid} is due at {notification.due_at.isoformat()}"
            )
        if notification.attempts >= MAX_DELIVERY_ATTEMPTS:
            # The last claimed attempt never recorded its outcome (its worker died).
            return _Unrecorded(stored, rid, notification.attempts)
        claimed = replace(
            referral,
            notification=replace(
                notification, attempts=notification.attempts + 1, due_at=now + CLAIM_LEASE
            ),
        )
        return store.Progress(
            lambda written: _Claimed(written, rid, claimed),
            referrals=stored.referrals.updated(rid, claimed),
        )

    # Three kinds of result: the type checker sees `object`, narrowed here.
    claim = store.change(shop, case_id, decide, now=now)
    if isinstance(claim, _Unrecorded):
        return _give_up(claim.stored, claim.referral_id, claim.attempts, "no outcome recorded", now)
    assert isinstance(claim, _Claimed | HandOverResult)
    return claim


def _attempt(stored: StoredCase, referral_id: str, referral: Referral, now: datetime) -> Attempt:
    try:
        hand_over = _hand_over(stored.case.shop, referral)
        if isinstance(hand_over, EmailHandOver):
            return _email(stored, referral_id, referral, hand_over, now)
        return _post(stored, referral_id, referral, hand_over, now)
    except HandOverFailed as exc:
        return Attempt(Outcome.FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - retried like a refusal, bounded by the attempts
        # Raised before anything was sent (a missing secret, an unreadable file); were it
        # after, the retry carries the same key. The type only: its text may hold an address.
        logger.warning(
            "Hand-over not attempted",
            extra={"case_id": stored.case.case_id, "error": type(exc).__name__},
        )
        return Attempt(Outcome.FAILED, f"not sent: {type(exc).__name__}")


def _hand_over(shop: str, referral: Referral) -> EmailHandOver | WebhookHandOver:
    """Where this referral goes: the target and secret recorded with it (a policy changed
    since does not redirect it), with the policy's link expiry when it still names it."""
    notification = referral.notification
    current = making.referral_policy(shop).hand_over(referral.kind)
    if notification.channel is HandOverChannel.EMAIL:
        hours = (
            current.link_expiry_hours
            if isinstance(current, EmailHandOver) and current.address == notification.target
            else DEFAULT_LINK_EXPIRY_HOURS
        )
        return EmailHandOver(notification.target, hours, notification.secret_ref)
    secret_ref = notification.secret_ref
    if secret_ref is None:  # recorded before referrals kept their secret's name
        if not isinstance(current, WebhookHandOver) or current.url != notification.target:
            raise HandOverFailed(f"the shop's policy no longer has this {referral.kind} hand-over")
        return current
    local = get_settings().secrets_source == "env"
    return WebhookHandOver(notification.target, secret_ref, allow_loopback_http=local)


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


def _summary(stored: StoredCase, referral_id: str, referral: Referral) -> dict[str, Any]:
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
    stored: StoredCase,
    referral_id: str,
    referral: Referral,
    hand_over: EmailHandOver,
    now: datetime,
) -> Attempt:
    from recoup.channels import mime
    from recoup.channels.render import RenderedEmail
    from recoup.integrations import ses

    settings = get_settings()
    key = idempotency_key(stored.case.shop, stored.case.case_id, referral_id)
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
    domain = sender.rsplit("@", 1)[1]
    # A one-to-one service email, not bulk mail: no list headers (RFC 8058 is for lists).
    raw = mime.build_notice(
        rendered,
        from_address=sender,
        from_name=str(variables["merchant"]),
        to_address=hand_over.address,
        message_id_domain=domain,
    )
    raw = _stable_ids(raw, key, domain)
    try:
        message_id = ses.send_raw(
            raw,
            from_address=sender,
            to_address=hand_over.address,
            tags=_email_tags(stored.case.shop),
        )
    except aws.OutcomeUnknown as exc:
        # A read timeout, a dropped connection or a 5xx: SES may have accepted it.
        return Attempt(Outcome.UNKNOWN, f"SES did not answer in time ({exc.code})")
    except aws.SendFailed as exc:  # not sent (throttled, unreachable) or refused
        return Attempt(Outcome.FAILED, f"SES answered {exc.code}")
    return Attempt(Outcome.DELIVERED, f"emailed (SES message id {message_id})")


def _stable_ids(raw: bytes, key: str, domain: str) -> bytes:
    """The message with a Message-ID derived from the idempotency key, the same on every
    attempt (mail systems and the agency drop a repeat by it), and the key as a header."""
    message = BytesParser(policy=email_policy.SMTP).parsebytes(raw)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message.replace_header("Message-ID", f"<handover.{digest}@{domain}>")
    message[IDEMPOTENCY_HEADER] = key
    return message.as_bytes(policy=email_policy.SMTP)


def _post(
    stored: StoredCase,
    referral_id: str,
    referral: Referral,
    hand_over: WebhookHandOver,
    now: datetime,
) -> Attempt:
    secrets = get_settings().handover_secrets(stored.case.shop, hand_over.secret_ref)
    key = idempotency_key(stored.case.shop, stored.case.case_id, referral_id)
    payload = {
        **_summary(stored, referral_id, referral),
        "idempotency_key": key,
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
            IDEMPOTENCY_HEADER: key,
            "User-Agent": "Recoup hand-over",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return Attempt(Outcome.FAILED, f"{hand_over.url} answered {exc.code}")
    except urllib.error.URLError as exc:
        # urllib raises URLError only while connecting and sending: no complete request.
        return Attempt(
            Outcome.FAILED,
            f"{hand_over.url} could not be reached: {type(exc.reason).__name__}",
        )
    except (OSError, http.client.HTTPException) as exc:
        # Sent, but the answer timed out or broke off: the receiver may have acted.
        return Attempt(
            Outcome.UNKNOWN, f"{hand_over.url} did not answer in time ({type(exc).__name__})"
        )
    if not 200 <= status < 300:
        return Attempt(Outcome.FAILED, f"{hand_over.url} answered {status}")
    return Attempt(Outcome.DELIVERED, f"posted to {hand_over.url} ({status})")


def _conclude(
    stored: StoredCase, referral_id: str, attempt: int, made: Attempt, now: datetime
) -> HandOverResult:
    """Record what the attempt came to, and when the next one is due if any."""
    if made.outcome is Outcome.DELIVERED:
        _record(stored, referral_id, attempt, NotificationStatus.DELIVERED, None, made.detail, now)
        metrics.add_metric(name="HandOverDelivered", unit="Count", value=1)
        return HandOverResult("delivered", made.detail)
    if made.outcome is Outcome.UNKNOWN:
        metrics.add_metric(name="HandOverOutcomeUnknown", unit="Count", value=1)
    step = after_failure(attempt, made.detail, rand)
    if isinstance(step, DeadLetter):
        return _give_up(stored, referral_id, attempt, made.detail, now)
    if made.outcome is Outcome.UNKNOWN:
        status = NotificationStatus.OUTCOME_UNKNOWN
        detail = (
            f"attempt {attempt}: outcome unknown ({made.detail}); retrying with the same "
            f"{IDEMPOTENCY_HEADER} in {step.delay_seconds} s"
        )
    else:
        status = NotificationStatus.RETRYING
        detail = f"attempt {attempt} failed ({made.detail}); next in {step.delay_seconds} s"
    due = now + timedelta(seconds=step.delay_seconds)
    _record(stored, referral_id, attempt, status, due, detail, now)
    metrics.add_metric(name="HandOverRetried", unit="Count", value=1)
    return HandOverResult(
        "outcome_unknown" if made.outcome is Outcome.UNKNOWN else "retrying", detail
    )


def _give_up(
    stored: StoredCase, referral_id: str, attempts: int, last: str, now: datetime
) -> HandOverResult:
    """Attempts spent: `failed`, out of the due index, and HandOverFailed for the alarm."""
    reason = f"{attempts} attempts made; last: {last}"
    _record(stored, referral_id, attempts, NotificationStatus.FAILED, None, reason, now)
    metrics.add_metric(name="HandOverFailed", unit="Count", value=1)
    logger.error("Hand-over failed", extra={"case_id": stored.case.case_id, "attempts": attempts})
    return HandOverResult("failed", reason)


def _record(
    stored: StoredCase,
    referral_id: str,
    attempt: int,
    status: NotificationStatus,
    due_at: datetime | None,
    detail: str,
    now: datetime,
) -> None:
    """The attempt's outcome on the referral, with an audit entry; the due index follows.
    Retried in-process when the write fails (a throttle outlasting the SDK's retries), so a
    delivery already made is not made again because its record was lost."""

    def decide(current: StoredCase | None) -> store.Change[None] | None:
        referral = current.referrals.find(referral_id) if current and current.referrals else None
        if current is None or current.referrals is None or referral is None:
            return None
        notified = _notified(referral.notification, attempt, status, due_at)
        if notified is None:
            return None  # recorded already (a write that landed unseen), or a later attempt's
        entry = store.recoup_entry(
            current,
            source="recoup",
            kind=f"handover.{status}",
            event_id=f"recoup:handover:{current.case.case_id}:{referral_id}:{attempt}:{status}",
            summary=f"hand-over of {referral_id}: {detail}",
            effect=f"notification {status}",
            now=now,
        )
        moved = current.referrals.updated(referral_id, replace(referral, notification=notified))
        return store.Change(current.case, entry, None, referrals=moved)

    store.change(
        stored.case.shop,
        stored.case.case_id,
        decide,
        now=now,
        first=stored,
        attempts=RECORD_TRIES,
        transient=store.TRANSIENT_FAILURES,
        pause=lambda tried: sleep(RECORD_PAUSE_SECONDS * 2**tried),
    )


def _notified(
    notification: Notification,
    attempt: int,
    status: NotificationStatus,
    due_at: datetime | None,
) -> Notification | None:
    """The notification with this attempt's outcome; None when there is nothing to write:
    already recorded, or a later attempt has claimed it (a delivery is recorded anyway)."""
    target = replace(notification, status=status, attempts=attempt, due_at=due_at)
    if notification == target:
        return None
    if notification.attempts != attempt and status is not NotificationStatus.DELIVERED:
        return None
    if notification.status is NotificationStatus.DELIVERED:
        return None
    return target


__all__ = ["HandOverFailed", "HandOverResult", "deliver", "deliver_job", "rand", "sleep"]


def _email_tags(shop: str) -> dict[str, str]:
    """SES tags of a hand-over email: its shop and kind, and the flow's correlation id, which
    SES's events about the email repeat."""
    tags = {"shop": shop.replace(".", "_"), "kind": "handover"}
    flow = correlation.current()
    if flow:
        tags[correlation.MESSAGE_ATTRIBUTE] = flow
    return tags
