"""The privacy worker's entry: read a queued job and do what its topic asks.

customers/data_request exports, customers/redact and shop/redact erase, app/uninstalled
hands over to the installation service, shop/update keeps the shop's identity. Each is
idempotent, so SQS's at-least-once delivery is harmless; each failure raises, so SQS
retries and the dead-letter queue keeps the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recoup import clock
from recoup.integrations import shopify_privacy as topics
from recoup.integrations.shopify_privacy import PrivacyJob
from recoup.services import data_export, erasure, install, stripe_connect


@dataclass(frozen=True, slots=True)
class Handled:
    kind: str
    shop: str
    detail: str  # what was done, in words (no personal data)


def handle(body: str, *, now: datetime | None = None) -> Handled:
    job = PrivacyJob.from_json(body)
    when = now or clock.now()
    if job.kind == topics.DATA_REQUEST:
        detail = data_export.export(job, now=when)
    elif job.kind == topics.CUSTOMER_REDACT:
        detail = erasure.redact_customer(job, now=when)
    elif job.kind == topics.SHOP_REDACT:
        detail = erasure.redact_shop(job)
    elif job.kind == topics.STRIPE_DEAUTHORIZED:
        detail = stripe_connect.deauthorized(str(job.payload["account"]))
    elif job.kind == topics.SHOP_UPDATE:
        detail = install.apply_shop_update(job.shop, job.payload, now=when)
    else:
        install.uninstall(job.shop, now=when)
        detail = "uninstalled"
    return Handled(job.kind, job.shop, detail)
