"""What customers and mail servers tell us back: SES's events (bounces and complaints
suppress the address; every report about a reminder goes on its case's trail), SNS's SMS
delivery status, inbound SMS (the STOP, START and HELP keywords, and opt-outs in the customer's
own words: `domain.opt_out_text`), and the unsubscribe link."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recoup import aws, links
from recoup.domain import opt_out_text
from recoup.domain.opt_out_text import Intent
from recoup.domain.timezones import normalise_phone
from recoup.integrations import sns
from recoup.observability import logger, metrics
from recoup.services import delivery_reports
from recoup.settings import get_settings
from recoup.store import contacts, shops
from recoup.store.models import shop_pk

STOP_WORDS = opt_out_text.OPT_OUT_KEYWORDS
START_WORDS = opt_out_text.OPT_IN_KEYWORDS
HELP_WORDS = opt_out_text.HELP_KEYWORDS


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    kind: str
    addresses: int
    detail: str
    trail: str = ""  # what became of the delivery report, if the event carried one


def apply_sns_message(message: str, *, now: datetime) -> FeedbackResult:
    """One SNS notification: an SES event (bounce, complaint) or an inbound SMS."""
    data = json.loads(message)
    if "originationNumber" in data:
        return inbound_sms(data, now=now)
    return email_event(data, now=now)


def email_event(data: dict[str, Any], *, now: datetime) -> FeedbackResult:
    """Suppress the address on a permanent bounce or a complaint, then put the report on the
    reminder's trail (both are idempotent, so SNS's redelivery repeats nothing)."""
    result = _email_action(data, now=now)
    report = delivery_reports.from_ses(data)
    if report is None:
        return result
    return replace(result, trail=delivery_reports.record(report, now=now))


def _email_action(data: dict[str, Any], *, now: datetime) -> FeedbackResult:
    kind = str(data.get("eventType") or data.get("notificationType") or "")
    tags = (data.get("mail") or {}).get("tags") or {}
    shop_tag = (tags.get("shop") or [None])[0]
    if not shop_tag:
        return FeedbackResult(kind, 0, "no shop tag: not a Recoup message")
    shop = str(shop_tag).replace("_", ".")
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return FeedbackResult(kind, 0, f"{bounce.get('bounceType')} bounce: no action")
        suppressed = _suppress(shop, bounce.get("bouncedRecipients"), now, "permanent bounce")
        metrics.add_metric(name="EmailSuppressed", unit="Count", value=suppressed)
        return FeedbackResult(kind, suppressed, "suppressed after a permanent bounce")
    if kind == "Complaint":
        recipients = (data.get("complaint") or {}).get("complainedRecipients")
        suppressed = _suppress(shop, recipients, now, "complaint", opt_out=True)
        metrics.add_metric(name="EmailComplaint", unit="Count", value=suppressed)
        return FeedbackResult(kind, suppressed, "suppressed and opted out after a complaint")
    return FeedbackResult(kind, 0, "no change to the address")


def sms_delivery_logs(awslogs_data: str, *, now: datetime) -> list[FeedbackResult]:
    """SNS's SMS delivery status records, as a CloudWatch Logs subscription delivers them
    (base64 of gzip of JSON): each reminder's outcome onto its case's trail."""
    batch = json.loads(gzip.decompress(base64.b64decode(awslogs_data)))
    results = []
    for log_event in batch.get("logEvents") or ():
        try:
            data = json.loads(log_event.get("message") or "")
        except ValueError:
            data = None
        report = delivery_reports.from_sns_sms(data) if isinstance(data, dict) else None
        if report is None:
            results.append(FeedbackResult("sms-status", 0, "not an SMS delivery status record"))
            continue
        trail = delivery_reports.record(report, now=now)
        results.append(FeedbackResult("sms-status", 0, report.kind, trail=trail))
    return results


def _suppress(
    shop: str, recipients: Any, now: datetime, reason: str, *, opt_out: bool = False
) -> int:
    """Put SES's recipients on the shop's suppression list (and opt them out); how many."""
    addresses = [r["emailAddress"] for r in recipients or [] if r.get("emailAddress")]
    for address in addresses:
        contacts.update_address(
            shop_pk(shop),
            address,
            now=now,
            reason=reason,
            suppressed=True,
            email_opt_out=True if opt_out else None,
        )
    return len(addresses)


def inbound_sms(data: dict[str, Any], *, now: datetime) -> FeedbackResult:
    """An SMS the customer sent: opt the number out (a keyword, or in their own words) for
    every shop, back in, or answer HELP; anything else changes nothing. The message's words
    are never logged nor stored: the contact record says only how an opt-out was said."""
    phone = normalise_phone(str(data.get("originationNumber") or ""), None)
    if phone is None:
        return FeedbackResult("sms", 0, "no valid sender number")
    reading = opt_out_text.read(str(data.get("messageBody") or ""))
    if reading.intent is Intent.OPT_OUT:
        return _sms_opt_out(phone, reading, now)
    if reading.intent is Intent.OPT_IN:
        contacts.update_address(
            contacts.GLOBAL,
            phone,
            now=now,
            reason=f"SMS {reading.keyword}",
            sms_opt_out=False,
        )
        return FeedbackResult("sms", 1, f"{reading.keyword}: opted back in to SMS")
    if reading.intent is Intent.HELP:
        sns.send_sms(phone, help_text(contacts.last_shop_for_phone(phone)))
        return FeedbackResult("sms", 1, "HELP: answered with the merchant's contact")
    # The reading's reason is the rules' wording, never the message's: safe to log.
    logger.info(
        "Inbound SMS without a keyword",
        extra={"length": len(data.get("messageBody") or ""), "reason": reading.reason},
    )
    return FeedbackResult("sms", 0, "no keyword")


def _sms_opt_out(phone: str, reading: opt_out_text.Reading, now: datetime) -> FeedbackResult:
    """Opt the number out for every shop. A keyword is confirmed by the sending number's
    own keyword answer; free text is not a keyword the number knows, so Recoup confirms it,
    in the language the reading found, once per opt-out: only when this message changed the
    number from texted to opted out (not after an earlier free text or keyword, nor on a
    redelivery). At most once: the confirmation is best-effort (the opt-out stands whatever
    becomes of it), and a failed one is not retried into a second."""
    free_text = reading.said_as == "free_text"
    new = contacts.opt_out_phone(
        phone,
        now=now,
        reason="SMS opt-out in the customer's own words" if free_text else f"SMS {reading.keyword}",
        kind=reading.said_as or "keyword",
    )
    said = "free text" if free_text else str(reading.keyword)
    if not new:
        return FeedbackResult("sms", 1, f"{said}: already opted out of SMS, nothing sent")
    metrics.add_metric(name="SmsOptOut", unit="Count", value=1)
    if not free_text:
        return FeedbackResult("sms", 1, f"{reading.keyword}: opted out of SMS")
    try:
        shop = contacts.last_shop_for_phone(phone)
        sns.send_sms(phone, opt_out_confirmation(shop, reading.language or "en"))
    except Exception as error:  # noqa: BLE001 - the opt-out is what matters
        logger.warning("Opt-out confirmation not sent", extra={"error": aws.error_code(error)})
        return FeedbackResult("sms", 1, "free text: opted out of SMS (confirmation not sent)")
    return FeedbackResult("sms", 1, "free text: opted out of SMS, confirmed")


# The answer to a free-text opt-out in each language the reading tells: short, GSM-7 where
# the language allows (Spanish worded without á, í, ó, ú; Japanese is UCS-2), and saying
# what the opt-out does: no texts from this number for any shop that sends through it.
OPT_OUT_CONFIRMATIONS: dict[str, str] = {
    "en": (
        "You're unsubscribed: no more texts from this number, for any shop that uses it. "
        "Reply START to resume."
    ),
    "de": (
        "Abgemeldet: keine SMS mehr von dieser Nummer, für keinen Shop, der sie nutzt. "
        "Mit START wieder anmelden."
    ),
    "fr": (
        "Désinscription faite : plus de SMS de ce numéro, pour aucune boutique. "
        "Répondez START pour les recevoir à nouveau."
    ),
    "es": (
        "Le hemos dado de baja: ya no le enviaremos SMS desde este remitente, de ninguna "
        "tienda. Responda START para volver a recibirlos."
    ),
    "ja": (
        "配信を停止しました。この番号からは、どのショップのSMSも届きません。"
        "再開はSTARTと返信してください。"
    ),
}


def opt_out_confirmation(shop: str | None, language: str = "en") -> str:
    """The answer to a free-text opt-out, in the customer's language, named after the last
    shop that texted the number when there is one."""
    item = shops.get(shop) if shop else None
    name = (item.shop_name if item else None) or shop
    text = OPT_OUT_CONFIRMATIONS.get(language) or OPT_OUT_CONFIRMATIONS["en"]
    return f"{name}: {text}" if name else text


def help_text(shop: str | None) -> str:
    item = shops.get(shop) if shop else None
    name = (item.shop_name if item else None) or shop or "the store"
    contact = shops.reply_address(item) or (f"https://{shop}" if shop else "")
    return f"{name}: payment reminders for your order. Questions: {contact}. Reply STOP to opt out."


def unsubscribe(token: str, *, now: datetime) -> links.Unsubscribe:
    """Opt the address the signed link names out of this shop's emails (one POST)."""
    link = links.verify_unsubscribe(token, now=now, secrets=get_settings().link_secrets())
    contacts.update(
        shop_pk(link.shop),
        f"CONTACT#{link.contact}",
        now=now,
        reason="unsubscribe link",
        email_opt_out=True,
    )
    metrics.add_metric(name="EmailUnsubscribed", unit="Count", value=1)
    return link
