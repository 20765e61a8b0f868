"""Test messages: one step of the shop's sequence, sent to the admin's own address or number,
around a sample order, marked as a test, on no case and counted in no figure.

The admin page asks (`request`): the address is checked, the message counted against the
shop's daily limit, recorded as queued and put on the reminder queue, so it goes through the
sender with the same identity, configuration set and origination number as a real reminder.
The sender (`send`) claims it (queued -> sending) before the one provider call, so a
redelivered job never sends it twice, and records what happened for the page to show. A
test is never retried: a failure is shown, and the admin may send another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from recoup import aws, queue
from recoup.domain import cadence, template_overrides
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.domain.referral import FINAL_NOTICE_PERIOD
from recoup.domain.timezones import normalise_phone
from recoup.errors import ConfigurationError
from recoup.links import SAMPLE_TOKEN
from recoup.observability import logger, metrics
from recoup.services import job_kinds
from recoup.settings import get_settings
from recoup.store import case_listing, policies, sample_sends, shops
from recoup.store import cases as case_store
from recoup.store.models import TRACKED, ShopItem

if TYPE_CHECKING:
    from recoup.channels import render

JOB_KIND = job_kinds.SAMPLE
SAMPLE_ORDER = "#1001"
SAMPLE_CUSTOMER = "Alex"
SAMPLE_CURRENCY = "USD"
TEST_MARK = "[Test]"
# The sample order's payment terms, for the situations whose words state them: due a few
# days ahead (the courtesy reminder before the due date) or a week past it.
SAMPLE_TERMS = "Net 30"
SAMPLE_DUE_IN: dict[Situation, timedelta] = {
    Situation.PAYMENT_DUE_SOON: timedelta(days=3),
    Situation.TERMS_OVERDUE: timedelta(days=-7),
}
CHANNELS = ("email", "sms")
# A claim this old without an outcome was left by a job that stopped (SQS redelivers after
# the reminder queue's visibility timeout, three minutes).
CLAIM_TIMEOUT = timedelta(minutes=2)


class SampleRefused(Exception):
    """The request cannot be sent as asked; `field` names what to fix."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class SampleResult:
    outcome: str  # sent | failed | unknown | stale
    detail: str


@dataclass(frozen=True, slots=True)
class SampleJob:
    """A test message's job on the reminder queue (the sender tells it by its kind)."""

    shop: str
    send_id: str

    def to_json(self) -> str:
        return json.dumps({"kind": JOB_KIND, "shop": self.shop, "send_id": self.send_id})


def request(
    shop: str, *, channel: object, step: object, to: object, now: datetime
) -> sample_sends.SampleSend:
    """Check, count and queue one test message; raises SampleRefused naming the field."""
    if channel not in CHANNELS:
        raise SampleRefused(400, "channel", "must be email or sms")
    item = shops.get(shop)
    policy = policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(policy.steps):
        raise SampleRefused(
            400, "step", f"must be a step of the saved sequence, 0 to {len(policy.steps) - 1}"
        )
    address = _address(str(channel), to, item)
    try:
        # Before the message is counted: a stack without the queue spends none of the limit.
        get_settings().require(queue.Queue.REMINDERS.setting)
    except ConfigurationError:
        raise SampleRefused(503, None, "test messages are not configured on this stack") from None
    try:
        sample = sample_sends.create(
            shop, channel=str(channel), step=step, to_address=address, now=now
        )
    except sample_sends.DailyLimitReached:
        raise SampleRefused(
            429, None, f"at most {sample_sends.DAILY_LIMIT} test messages a day; try tomorrow"
        ) from None
    try:
        queue.send(queue.Queue.REMINDERS, SampleJob(shop, sample.send_id))
    except Exception as error:  # noqa: BLE001 (any failure: recorded, then answered 503)
        logger.warning("Test message not queued", extra={"error_type": type(error).__name__})
        sample_sends.claim(shop, sample.send_id, now=now)
        sample_sends.finish(shop, sample.send_id, "failed", "could not be queued", now=now)
        raise SampleRefused(503, None, "the test message could not be queued; try again") from None
    return sample


def _address(channel: str, to: object, item: ShopItem | None) -> str:
    if to is not None and not isinstance(to, str):
        raise SampleRefused(400, "to", "must be a string")
    typed = (to or "").strip()
    if channel == "email":
        from recoup.channels import mime

        address = typed or shops.reply_address(item) or ""
        if not address:
            raise SampleRefused(400, "to", "give the address to send the test to")
        problem = mime.address_problem(address)
        if problem is not None:
            raise SampleRefused(400, "to", f"cannot be sent to: {problem}")
        return address
    if not typed:
        raise SampleRefused(400, "to", "give the mobile number to send the test to")
    phone = normalise_phone(typed, (item.country if item else None) or None)
    if phone is None:
        raise SampleRefused(
            400, "to", "is not a valid mobile number; include the country code, as +1 503 555 0100"
        )
    return phone


def send_job(job: dict[str, Any], *, now: datetime) -> SampleResult:
    return send(str(job["shop"]), str(job["send_id"]), now=now)


def send(shop: str, send_id: str, *, now: datetime) -> SampleResult:
    """Send one queued test message at most once and record the outcome."""
    claimed = sample_sends.claim(shop, send_id, now=now)
    if claimed is None:
        return _already_claimed(shop, send_id, now)
    try:
        outgoing = _compose(shop, claimed, now)
    except Exception as error:  # noqa: BLE001 (shown to the admin; nothing was sent)
        detail = f"could not be rendered ({type(error).__name__})"
        sample_sends.finish(shop, send_id, "failed", detail, now=now)
        return SampleResult("failed", detail)
    from recoup.integrations import ses, sns

    provider = "SES" if claimed.channel == "email" else "SNS"
    try:
        if isinstance(outgoing, bytes):
            ses.send_raw(
                outgoing,
                from_address=get_settings().require("sender_address"),
                to_address=claimed.to_address,
                tags={"shop": shop.replace(".", "_"), "kind": "test"},
            )
        else:
            sns.send_sms(claimed.to_address, outgoing)
    except aws.OutcomeUnknown as lost:
        detail = f"{provider}'s answer was lost ({lost.code}): it may have been sent"
        sample_sends.finish(shop, send_id, "unknown", detail, now=now)
        return SampleResult("unknown", detail)
    except aws.SendFailed as failure:
        detail = f"{provider} did not send it ({failure.code})"
        sample_sends.finish(shop, send_id, "failed", detail, now=now)
        return SampleResult("failed", detail)
    metrics.add_metric(name="TestMessageSent", unit="Count", value=1)
    sample_sends.finish(shop, send_id, "sent", f"sent by {provider}", now=now)
    return SampleResult("sent", f"sent by {provider}")


def _already_claimed(shop: str, send_id: str, now: datetime) -> SampleResult:
    """A redelivered job. Still "sending" long after its claim: that job stopped after the
    claim, perhaps after the provider accepted; it is never sent again, and the page says
    the outcome is unknown."""
    found = sample_sends.get(shop, send_id)
    if found is None or found.status != "sending":
        return SampleResult("stale", "test message already handled or expired")
    if now - found.updated_at < CLAIM_TIMEOUT:
        return SampleResult("stale", "test message being sent by another job")
    detail = "the send's outcome was not recorded: it may have been sent"
    sample_sends.finish(shop, send_id, "unknown", detail, now=now)
    return SampleResult("unknown", detail)


def _compose(shop: str, sample: sample_sends.SampleSend, now: datetime) -> bytes | str:
    from recoup.channels import i18n, mime, render

    item = shops.get(shop)
    policy = policies.load(shop, shop_timezone=(item.timezone if item else None) or "UTC")
    step = policy.steps[min(sample.step, len(policy.steps) - 1)]
    settings = get_settings()
    base = settings.public_base_url()
    ctx = sample_context(
        shop,
        item,
        step,
        sample.step + 1,
        now,
        pay_url=f"{base}/pay/{SAMPLE_TOKEN}" if step.pay_link else None,
        unsubscribe_url=f"{base}/unsubscribe?t={SAMPLE_TOKEN}",
    )
    parts = template_overrides.parts_for(
        item.templates if item else None, step.template, i18n.language_for(ctx.locale)
    )
    if sample.channel == "sms":
        sms = render.render_sms(ctx, parts.get("sms"))
        return f"{TEST_MARK} {sms.body}"
    override = render.EmailOverride(
        subject=parts.get("subject"), html=parts.get("html"), text=parts.get("text")
    )
    email = render.render_email(ctx, override if any(parts.values()) else None)
    email = replace(email, subject=f"{TEST_MARK} {email.subject}")
    sender = settings.require("sender_address")
    return mime.build_email(
        email,
        from_address=sender,
        from_name=ctx.shop_name,
        to_address=sample.to_address,
        reply_to=ctx.shop_email,
        list_unsubscribe_url=ctx.unsubscribe_url,
        list_unsubscribe_mailto=None,
        message_id_domain=sender.rsplit("@", 1)[1],
        extra_headers={"X-Recoup-Test": "yes"},
    )


def sample_context(
    shop: str,
    item: ShopItem | None,
    step: cadence.Step,
    number: int,
    now: datetime,
    *,
    pay_url: str | None,
    unsubscribe_url: str,
    situation: Situation = Situation.PAYMENT_FAILED,
) -> render.MessageContext:
    """One step around a sample order, with the shop's name, branding, locale and
    reply-to address: what the preview shows and a test message carries; worded for
    `situation`, with the payment terms and due date its words state (none otherwise)."""
    from recoup.channels import render  # Jinja2: only where a message is rendered

    currency = _shop_currency(shop, item)
    return render.MessageContext(
        shop_name=(item.shop_name if item else None) or shop,
        shop_email=shops.reply_address(item),
        shop_url=f"https://{shop}",
        brand_color=(item.brand_color if item else None) or render.DEFAULT_BRAND_COLOR,
        logo_url=item.logo_url if item else None,
        customer_first_name=SAMPLE_CUSTOMER,
        locale=(item.locale if item else None) or "en",
        order_name=SAMPLE_ORDER,
        items=(
            render.ItemLine("Wireless headphones", 1, Money.parse("199", currency)),
            render.ItemLine("USB-C cable", 2, Money.parse("25", currency)),
        ),
        amount_owed=Money.parse("249", currency),
        order_total=Money.parse("249", currency),
        pay_url=pay_url,
        unsubscribe_url=unsubscribe_url,
        step_number=number,
        tone=str(step.tone),
        referral_date=(now + FINAL_NOTICE_PERIOD).date()
        if step.tone is cadence.Tone.FINAL_NOTICE
        else None,
        situation=str(situation),
        **_sample_terms(situation, now),
    )


def _sample_terms(situation: Situation, now: datetime) -> dict[str, Any]:
    """The sample order's payment terms and due date when `situation`'s words state them."""
    due_in = SAMPLE_DUE_IN.get(situation)
    if due_in is None:
        return {"payment_terms": None, "due_date": None}
    return {"payment_terms": SAMPLE_TERMS, "due_date": (now + due_in).date()}


def _shop_currency(shop: str, item: ShopItem | None) -> str:
    """The shop's currency as Shopify reports it, else that of one of its tracked cases (the
    first of the first shop index shard that holds one: a key and a case read, whatever the
    shop's size), so the sample looks like its orders."""
    if item is not None and item.currency:
        return item.currency
    case_id = case_listing.first_of(shop, TRACKED)
    stored = case_store.load(shop, case_id) if case_id is not None else None
    owed = (stored.case.amount_owed or stored.case.recovered) if stored is not None else None
    return owed.currency if owed is not None else SAMPLE_CURRENCY
