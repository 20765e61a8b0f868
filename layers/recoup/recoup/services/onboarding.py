"""The admin page's getting-started checklist, each item read live when the page asks.

Shopify token, Stripe connection, the sending identity (SES GetEmailIdentity on the sender's
domain), SMS readiness, the reviewed sequence and a test message. Every item is one read by
key (the shop item, the reminder policy, the newest test message, one SES call): the cost
does not grow with the shop. A check that cannot be read says so instead of failing the page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from recoup import aws
from recoup.domain import cadence
from recoup.integrations import ses
from recoup.observability import logger
from recoup.settings import get_settings
from recoup.store import policies, sample_sends, shops, tokens

DONE, TODO, WARNING, OFF = "done", "todo", "warning", "off"


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    title: str
    status: str  # done | todo | warning | off
    detail: str


def checklist(shop: str) -> dict[str, Any]:
    item = shops.get_fresh(shop)
    stored = policies.load_doc(shop, policies.REMINDERS)
    zone = (item.timezone if item else None) or "UTC"
    policy = cadence.parse_policy(stored[1]) if stored else cadence.default_policy(zone)
    latest = sample_sends.latest(shop)
    checks = [
        _shopify(shop),
        _stripe(item),
        _email(),
        _sms(policy),
        _sequence(stored is not None, policy),
        _test_message(latest),
    ]
    return {
        "checks": [asdict(check) for check in checks],
        "complete": all(check.status in (DONE, OFF) for check in checks),
        "test_message": _sample_view(latest),
        "steps": [
            {"index": i, "channel": str(step.channel), "tone": str(step.tone)}
            for i, step in enumerate(policy.steps)
        ],
        "reply_to": shops.reply_address(item),
    }


def _shopify(shop: str) -> Check:
    title = "Shopify connection"
    status = tokens.status(shop)
    if not status.present:
        return Check(
            "shopify", title, TODO, "No access token yet: open Recoup from the Shopify admin."
        )
    if status.needs_reauth:
        return Check(
            "shopify",
            title,
            WARNING,
            "Shopify refused to renew Recoup's access; customer tags and shop details are on "
            "hold. Reload this page from the Shopify admin to reconnect.",
        )
    if not status.expiring:
        return Check(
            "shopify",
            title,
            WARNING,
            "Recoup still holds an old, non-expiring token; it is replaced on this visit.",
        )
    return Check("shopify", title, DONE, "Connected with an expiring token, renewed automatically.")


def _stripe(item: Any) -> Check:
    title = "Stripe"
    account = item.stripe_account if item else None
    if account:
        return Check(
            "stripe",
            title,
            DONE,
            f"Connected ({account}): pay links open Stripe Checkout for what is owed.",
        )
    return Check(
        "stripe",
        title,
        TODO,
        "Not connected: pay links open the Shopify order's payment page, and Stripe payment "
        "failures are not matched to orders. Connect it under Settings > Stripe.",
    )


def _email() -> Check:
    title = "Sending email"
    sender = get_settings().sender_address
    if not sender:
        return Check("email", title, WARNING, "No sender address is configured on this stack.")
    domain = sender.rsplit("@", 1)[1]
    try:
        found = ses.identity(domain)
    except Exception as error:  # noqa: BLE001 (shown as a check that could not be read)
        code = error.code if isinstance(error, aws.CallFailed) else type(error).__name__
        logger.warning("SES identity not read", extra={"error_code": code})
        return Check("email", title, WARNING, f"Could not check {domain} right now ({code}).")
    if found is None:
        return Check(
            "email",
            title,
            WARNING,
            f"{domain} is not an SES identity: reminder emails cannot be sent. "
            "Ops: see README, Deploy.",
        )
    if not found.verified:
        return Check(
            "email",
            title,
            WARNING,
            f"{domain} is not verified yet: publish its DKIM records (README, Deploy). "
            "Reminder emails wait until it is.",
        )
    notes = [f"Emails go out from {sender}"]
    dkim = found.dkim_status
    notes.append("signed with DKIM" if dkim == "SUCCESS" else f"DKIM {str(dkim).lower()}")
    mail_from = found.mail_from_status
    if mail_from and mail_from != "SUCCESS":
        notes.append(f"custom MAIL FROM {mail_from.lower()}")
    status = DONE if dkim == "SUCCESS" else WARNING
    return Check("email", title, status, ", ".join(notes) + ".")


def _sms(policy: cadence.ReminderPolicy) -> Check:
    title = "Sending SMS"
    uses_sms = any(step.channel is not cadence.Channel.EMAIL for step in policy.steps)
    if not uses_sms:
        return Check("sms", title, OFF, "No step sends SMS.")
    origin = get_settings().sms_origination_identity
    if origin:
        return Check("sms", title, DONE, f"SMS steps are sent from {origin}.")
    return Check(
        "sms",
        title,
        WARNING,
        "SMS steps are on but this stack has no origination number: in the United States "
        "and Canada carriers block them. Ops: set SmsOriginationIdentity (README, Deploy).",
    )


def _sequence(saved: bool, policy: cadence.ReminderPolicy) -> Check:
    title = "Reminder sequence"
    steps = len(policy.steps)
    if saved:
        return Check("sequence", title, DONE, f"Reviewed: {steps} steps.")
    return Check(
        "sequence",
        title,
        TODO,
        f"Still the default {steps} steps: review them under Settings and save.",
    )


def _test_message(latest: sample_sends.SampleSend | None) -> Check:
    title = "Test message"
    if latest is None:
        return Check("test", title, TODO, "Send yourself a step to see what customers get.")
    shown = f"step {latest.step + 1} by {latest.channel}"
    if latest.status == "sent":
        return Check("test", title, DONE, f"Sent {shown} ({latest.detail}).")
    if latest.status in ("queued", "sending"):
        return Check("test", title, TODO, f"Sending {shown}…")
    return Check("test", title, WARNING, f"The test ({shown}) was not sent: {latest.detail}.")


def _sample_view(latest: sample_sends.SampleSend | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    return {
        "id": latest.send_id,
        "channel": latest.channel,
        "step": latest.step,
        "status": latest.status,
        "detail": latest.detail,
        "at": latest.updated_at.isoformat(),
    }
