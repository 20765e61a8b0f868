"""customers/data_request: everything Recoup holds about one customer of one shop, written as
one JSON export to the private bucket, and a link to it emailed to the merchant, once.

Shopify asks the app; the merchant answers the customer, so the export goes to the shop's
contact email. A redelivery rewrites the same object (`exports/<shop>/<request id>.json`)
and never emails again (the request's marker, `store.data_requests`). A shop without a
contact email is recorded on the marker and logged as an error; the export stays for ops.
"""

from __future__ import annotations

import html
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from recoup import aws
from recoup.domain.erasure import Identifiers
from recoup.integrations import case_files
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.observability import logger, metrics
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import contacts, customer_data, data_requests, shops

if TYPE_CHECKING:
    from recoup.channels.render import RenderedEmail

FINISH_ATTEMPTS = 4
LINK_VALIDITY = timedelta(days=7)  # S3's longest presigned link
FORMAT = "recoup.customer-data-export/1"


def export(job: PrivacyJob, *, now: datetime) -> str:
    """Write the export and tell the merchant; returns what was done, in words."""
    request_id = job.data_request_id
    document = gather(job, now=now)
    key = case_files.export_key(job.shop, request_id)
    case_files.put_json(key, document)
    outcome = _notify(job, key, now=now)
    logger.info(
        "Customer data exported",
        extra={"shop": job.shop, "data_request_id": request_id, "cases": len(document["cases"])},
    )
    return f"{len(document['cases'])} case(s) exported to {key}; {outcome}"


def gather(job: PrivacyJob, *, now: datetime) -> dict[str, Any]:
    subject = job.subject
    held = customer_data.cases_about(job.shop, subject)
    who = Identifiers.of(subject, (h.case for h in held))
    customer = job.customer
    return {
        "format": FORMAT,
        "shop": job.shop,
        "data_request_id": job.data_request_id,
        "generated_at": now.isoformat(),
        "customer": {"id": customer.customer_id, "email": customer.email, "phone": customer.phone},
        "orders_requested": list(job.order_ids),
        "cases": [
            {
                "case_id": h.case.case_id,
                "case": h.case.to_dict(),
                "reminders": h.reminders,
                "fraud_screening": h.screening,
                "audit_trail": [
                    {"seq": e.seq, "hash": e.hash, "prev_hash": e.prev_hash, **e.body}
                    for e in case_store.audit_trail(job.shop, h.case.case_id)
                ],
            }
            for h in held
        ],
        "contact_preferences": customer_data.contact_records(job.shop, who),
        "messages_sent_last_8_days": customer_data.message_log(job.shop, who),
    }


def _notify(job: PrivacyJob, key: str, *, now: datetime) -> str:
    shop, request_id = job.shop, job.data_request_id
    claimed = data_requests.claim(
        shop,
        request_id,
        customer_hash=contacts.contact_hash(job.customer.customer_id),
        export_key=key,
        now=now,
    )
    if not claimed:
        return "the merchant was already notified"
    try:
        # Anything failing before the send gives the claim back, so SQS's retry may send.
        shops.forget(shop)  # the contact email may have just changed
        item = shops.get(shop)
        contact = item.contact_email if item else None
        if not contact:
            data_requests.finish(shop, request_id, "no_contact_email")
            logger.error(
                "Data export ready but the shop has no contact email: deliver it by hand",
                extra={"shop": shop, "data_request_id": request_id, "key": key},
            )
            metrics.add_metric(name="DataExportUndelivered", unit="Count", value=1)
            return "the shop has no contact email: recorded, not emailed"
        message_id = _email(job, key, contact, (item.shop_name if item else None) or shop, now)
    except aws.OutcomeUnknown as exc:
        # SES may have sent it: at most one email, so record it and do not send again.
        _finish_after_send(shop, request_id, "emailed_outcome_unknown")
        logger.warning("Data export email outcome unknown", extra={"shop": shop, "code": exc.code})
        metrics.add_metric(name="DataExportEmailOutcomeUnknown", unit="Count", value=1)
        return "link emailed to the shop, outcome unknown (SES did not answer in time)"
    except Exception:
        data_requests.release(shop, request_id)  # not sent: the retry may send
        raise
    _finish_after_send(shop, request_id, "emailed", message_id)
    metrics.add_metric(name="DataExportEmailed", unit="Count", value=1)
    return f"link emailed to the shop (SES message {message_id})"


def _finish_after_send(
    shop: str, request_id: str, status: str, message_id: str | None = None
) -> None:
    """Record the send, retrying in process: after the email left, the claim must never be
    given back (a retry would email again). If every attempt fails the claim stays, and no
    redelivery sends before it is CLAIM_TIMEOUT old."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            data_requests.finish(shop, request_id, status, message_id)
            return
        except Exception:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            time.sleep(0.1 * 2**attempt)


def _email(job: PrivacyJob, key: str, to: str, shop_name: str, now: datetime) -> str:
    from recoup.channels import mime
    from recoup.integrations import ses

    settings = get_settings()
    sender = settings.require("sender_address")
    link = case_files.download_link(key, LINK_VALIDITY)
    raw = mime.build_notice(
        _message(job, shop_name, link, now + LINK_VALIDITY),
        from_address=sender,
        from_name="Recoup",
        to_address=to,
        message_id_domain=sender.rsplit("@", 1)[1],
    )
    return ses.send_raw(
        raw,
        from_address=sender,
        to_address=to,
        tags={"shop": job.shop.replace(".", "_"), "kind": "data_request"},
    )


def _message(job: PrivacyJob, shop_name: str, link: str, expires: datetime) -> RenderedEmail:
    # The render module (Jinja2, babel) only on a data request's email, not on every job.
    from recoup.channels.render import RenderedEmail

    request_id, customer_id = job.data_request_id, job.customer.customer_id
    lines = [
        f"Shopify sent {shop_name} a customer data request (request {request_id}, "
        f"customer {customer_id}).",
        "Recoup has put everything it holds about this customer in one JSON file:",
        link,
        f"The link stops working by {expires:%Y-%m-%d %H:%M} UTC; the file is deleted after "
        "30 days. Please pass the data on to the customer yourself.",
    ]
    paragraphs = "".join(
        f'<p><a href="{html.escape(line, quote=True)}">Download the export</a></p>'
        if line == link
        else f"<p>{html.escape(line)}</p>"
        for line in lines
    )
    return RenderedEmail(
        subject=f"Customer data request {request_id}: the export is ready",
        html=f"<!doctype html><html><body>{paragraphs}</body></html>",
        text="\n\n".join(lines) + "\n",
        template="notice/data_request",
    )
