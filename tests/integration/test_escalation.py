"""Escalation and referral against moto: the check waits after the sequence, refers once
(one file set, one hand-over) however often its job comes, writes off below the floor, stops
for a hold or a dispute, hands over by email or a retried signed webhook, and takes signed
report-backs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.domain.handover import sign, verify
from recoup.domain.referral import NotificationStatus, ReferralStatus
from recoup.services import actions, escalation, handover
from recoup.store import cases as case_store
from recoup.store import contacts, policies
from recoup.store.models import shop_pk
from recoup_local.cli import main as recoup_cli
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
AGENCY = "claims@agency.example"
SECRET = "legal-firm-shared-secret"
# 1,899.00 USD owed: an agency case unless a threshold says otherwise.
AGENCY_THRESHOLDS = {
    "USD": {"agency_minimum": 5000, "legal_minimum": 500000, "write_off_below": 2500}
}


class Receiver:
    """A hand-over webhook receiver on loopback that fails its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[int, bytes, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(outer.received) < outer.failures else 200
                outer.received.append((status, body, self.headers.get("Recoup-Signature")))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/referrals"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def delivered(self) -> list[tuple[int, bytes, str | None]]:
        return [r for r in self.received if r[0] == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    yield server
    server.server.shutdown()


@pytest.fixture
def at(local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A settable clock; retries without jitter (immediate); the legal firm's secret."""

    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    monkeypatch.setattr(handover, "rand", lambda: 0.0)
    monkeypatch.setenv("RECOUP_HANDOVER_SECRET_LEGAL_FIRM", SECRET)
    yield Clock
    clock.use(None)


def set_policy(receiver_url: str, thresholds: dict[str, Any] | None = None) -> None:
    doc: dict[str, Any] = {
        "version": 1,
        "agency": {
            "after_last_step_days": 14,
            "hand_over": {"channel": "email", "address": AGENCY},
        },
        "legal": {
            "hand_over": {"channel": "webhook", "url": receiver_url, "secret_ref": "legal-firm"}
        },
    }
    if thresholds is not None:
        doc["thresholds"] = thresholds
    policies.save_doc(SHOP, policies.REFERRAL, 1, doc, now=OPENED)


def open_case(local: Any) -> None:
    body = event_bytes("shopify/order_pending.json")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", webhook_id="wh-1")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def run_scheduler(local: Any, clock_: Any, when: datetime) -> None:
    clock_.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def run_sequence(local: Any, clock_: Any) -> None:
    """The scheduler twice a day for 16 days: the default sequence goes out in full."""
    for hours in range(0, 16 * 24 + 1, 12):
        run_scheduler(local, clock_, OPENED + timedelta(hours=hours))


def spend(clock_: Any, when: datetime) -> None:
    """Mark the sequence spent at `when` (as the sender does after the last step)."""
    clock_.now = when
    stored = case_store.load(SHOP, CASE)
    assert stored is not None and stored.dunning is not None
    case_store.save_dunning(stored, stored.dunning.spend(when, "sequence spent"))


def stored_case() -> case_store.StoredCase:
    stored = case_store.load(SHOP, CASE)
    assert stored is not None
    return stored


def case_files(local: Any) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", region_name=local.stack.region)
    bucket = local.stack.refs["CaseFilesBucket"]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"cases/{SHOP}/{CASE}/")
    return [
        {"key": o["Key"], **s3.head_object(Bucket=bucket, Key=o["Key"])}
        for o in listing.get("Contents", [])
    ]


def agency_emails(local: Any) -> list[Any]:
    return [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email" and m.to == AGENCY
    ]


def queue_check_twice(local: Any) -> None:
    """The escalation job delivered twice, as SQS may."""
    sqs = boto3.client("sqs", region_name=local.stack.region)
    url = local.stack.refs["EscalationQueue"]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"shop": SHOP, "case_id": CASE}))
    local.lambdas.drain()


def kinds_on_trail() -> list[str]:
    return [str(e.body["kind"]) for e in case_store.audit_trail(SHOP, CASE)]


def test_a_spent_sequence_waits_then_is_referred_to_the_agency_once(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given a shop with an agency hand-over by email, and an unpaid order
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    # When the whole reminder sequence goes out (its last step a final notice)
    run_sequence(local, at)
    # Then the case waits: its check is due 14 days after the final notice
    dunning = stored_case().dunning
    assert dunning is not None and dunning.status is DunningStatus.AWAITING_ESCALATION
    assert dunning.spent_at is not None and dunning.escalate_at is not None
    assert dunning.escalate_at >= dunning.spent_at + timedelta(days=14)
    assert "escalation.wait" in kinds_on_trail()
    assert case_files(local) == []
    # When the scheduler runs once the wait is over, and the job is delivered twice more
    run_scheduler(local, at, dunning.escalate_at + timedelta(minutes=5))
    queue_check_twice(local)
    # Then one file set (JSON, HTML, PDF), each encrypted with KMS
    files = case_files(local)
    names = sorted(f["key"].rsplit("/", 1)[1] for f in files)
    assert names == ["casefile.html", "casefile.pdf", "record.json", "record.sig", "record.signed"]
    assert all(f["key"].startswith(f"cases/{SHOP}/{CASE}/agency-1/") for f in files)
    assert {f["ServerSideEncryption"] for f in files} == {"aws:kms"}
    # and one email to the agency, with expiring links and the chain head
    (mail,) = agency_emails(local)
    text = mail.get_body(("plain",)).get_content()
    assert "X-Amz-Expires=259200" in text and "1,899.00 USD" in text
    stored = stored_case()
    assert stored.referrals is not None
    referral = stored.referrals.latest
    assert referral is not None and referral.status is ReferralStatus.REFERRED
    assert referral.notification.status is NotificationStatus.DELIVERED
    record = json.loads(_object(local, f"cases/{SHOP}/{CASE}/agency-1/record.json"))
    assert record["chain"]["head"] in text
    # and reminders stopped; the trail names the reason and where the file is
    assert stored.dunning is not None and stored.dunning.status is DunningStatus.STOPPED
    (entry,) = [
        e for e in case_store.audit_trail(SHOP, CASE) if e.body["kind"] == "escalation.referred"
    ]
    assert "agency minimum" in entry.body["summary"]
    assert f"cases/{SHOP}/{CASE}/agency-1/" in entry.body["summary"]
    assert escalation.check(SHOP, CASE, now=at.now).outcome == "stale"


def test_a_legal_referral_adds_the_demand_letter_and_survives_a_failing_receiver(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given default thresholds (1,899.00 USD is over the legal minimum) and a receiver that
    # fails twice before it accepts
    set_policy(receiver.url)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    # When the check runs after the wait
    run_scheduler(local, at, OPENED + timedelta(days=30))
    # Then the file set holds the demand letter too
    names = sorted(f["key"].rsplit("/", 1)[1] for f in case_files(local))
    assert names == [
        "casefile.html",
        "casefile.pdf",
        "demand_letter.html",
        "demand_letter.txt",
        "record.json",
        "record.sig",
        "record.signed",
    ]
    # and the webhook was tried three times and delivered exactly once, validly signed
    assert [status for status, _, _ in receiver.received] == [500, 500, 200]
    ((_, body, signature),) = receiver.delivered
    verify(body, signature, [SECRET], at.now)
    payload = json.loads(body)
    assert payload["kind"] == "legal" and payload["case_id"] == CASE
    assert payload["links"]["letter_url"]
    referral = stored_case().referrals
    assert referral is not None and referral.latest is not None
    assert referral.latest.notification.status is NotificationStatus.DELIVERED
    assert referral.latest.notification.attempts == 3


def test_below_the_floor_the_case_is_written_off(local: Any, at: Any, receiver: Receiver) -> None:
    floor = {"USD": {"agency_minimum": 300000, "legal_minimum": 500000, "write_off_below": 200000}}
    set_policy(receiver.url, floor)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    run_scheduler(local, at, OPENED + timedelta(days=30))
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.written_off is not None
    assert "write-off floor" in stored.referrals.written_off.reason
    assert stored.dunning is not None and stored.dunning.status is DunningStatus.STOPPED
    assert case_files(local) == [] and agency_emails(local) == []
    # The merchant may reopen it: back to awaiting escalation
    actions.perform(SHOP, CASE, "reopen", by="staff-1", note="", now=at.now)
    reopened = stored_case()
    assert reopened.referrals is not None and reopened.referrals.written_off is None
    assert reopened.dunning is not None
    assert reopened.dunning.status is DunningStatus.AWAITING_ESCALATION


def test_a_merchants_hold_stops_the_referral(local: Any, at: Any, receiver: Receiver) -> None:
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    actions.perform(SHOP, CASE, "hold", by="staff-1", note="talking to them", now=at.now)
    run_scheduler(local, at, OPENED + timedelta(days=40))
    assert case_files(local) == []
    assert escalation.check(SHOP, CASE, now=at.now).outcome == "stale"
    with pytest.raises(actions.ActionRefused):
        actions.perform(SHOP, CASE, "refer", by="staff-1", note="", now=at.now, kind="agency")


def test_an_open_dispute_stops_the_referral(local: Any, at: Any, receiver: Receiver) -> None:
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    for name in ("payment_intent.payment_failed", "charge.dispute.created"):
        body = event_bytes(f"stripe/{name}.json")
        headers = stripe_headers(body, local.stripe_secret)
        local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)
        local.lambdas.drain()
    assert stored_case().case.dispute_open
    stored = stored_case()
    assert stored.dunning is not None
    case_store.save_dunning(stored, stored.dunning.spend(OPENED, "sequence spent"))
    result = escalation.check(SHOP, CASE, now=OPENED + timedelta(days=40))
    assert result.outcome == "none" and "dispute" in result.detail
    assert case_files(local) == []
    # recorded once: no check is due any more
    assert escalation.check(SHOP, CASE, now=OPENED + timedelta(days=41)).outcome == "stale"
    assert kinds_on_trail().count("escalation.none") == 1


def test_an_opted_out_customer_is_referred_and_the_file_says_so(
    local: Any, at: Any, receiver: Receiver
) -> None:
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    for address in (PENDING["email"], "+15035550142"):
        contacts.update(
            shop_pk(SHOP),
            contacts.contact_sk(address),
            now=OPENED,
            reason="opted out",
            email_opt_out=True,
            sms_opt_out=True,
        )
    spend(at, OPENED + timedelta(days=15))
    run_scheduler(local, at, OPENED + timedelta(days=30))
    record = json.loads(_object(local, f"cases/{SHOP}/{CASE}/agency-1/record.json"))
    assert "could not be delivered" in record["reachability"]["statement"]
    assert "could not be delivered" in record["referral"]["reason"]
    assert record["reachability"]["email_opted_out"] is True


def test_report_backs_are_verified_and_move_the_referral(
    local: Any, at: Any, receiver: Receiver
) -> None:
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    run_scheduler(local, at, OPENED + timedelta(days=30))

    def report(data: dict[str, Any], secret: str = SECRET) -> dict[str, Any]:
        body = json.dumps({"shop": SHOP, **data}).encode()
        headers = {"Recoup-Signature": sign(body, [secret], at.now)}
        answer = local.lambdas.invoke_http("POST", "/referrals/report", headers, body)
        return {**json.loads(answer["body"]), "http": answer["statusCode"]}

    at.now = OPENED + timedelta(days=31, hours=1)
    when = (OPENED + timedelta(days=31)).isoformat()
    accepted = {"case_id": CASE, "status": "accepted", "reported_at": when}
    # A forged signature, an unknown case, a bad field: refused
    assert report(accepted, secret="not-the-secret")["http"] == 401
    assert report({**accepted, "case_id": "999"})["http"] == 404
    bad = report({**accepted, "status": "paid"})
    assert bad["http"] == 400 and "amount" in bad["message"]
    # A signed report moves the referral; an illegal move is refused
    assert report(accepted)["http"] == 200
    later = (OPENED + timedelta(days=31, minutes=30)).isoformat()
    assert report({**accepted, "reported_at": later})["http"] == 409
    # Returned unpaid by the agency: the next check refers the case to legal
    returned = report({"case_id": CASE, "status": "returned_unpaid", "reported_at": later})
    assert returned["http"] == 200
    run_scheduler(local, at, OPENED + timedelta(days=32))
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.latest is not None
    assert stored.referrals.latest.kind == "legal"
    assert "returned the account unpaid" in stored.referrals.latest.reason
    assert len(receiver.delivered) == 1
    # and a payment reported on it is recorded as recovered
    paid = report(
        {
            "case_id": CASE,
            "status": "paid",
            "reported_at": (OPENED + timedelta(days=32)).isoformat(),
            "amount": {"minor": 189900, "currency": "USD"},
        }
    )
    assert paid["http"] == 200 and paid["recovered"] == {"minor": 189900, "currency": "USD"}


def test_verify_chain_passes_on_the_file_and_fails_once_edited(
    local: Any, at: Any, receiver: Receiver, tmp_path: Path, capsys: Any
) -> None:
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    run_scheduler(local, at, OPENED + timedelta(days=30))
    raw = _object(local, f"cases/{SHOP}/{CASE}/agency-1/record.json")
    path = tmp_path / "record.json"
    path.write_bytes(raw)
    assert recoup_cli(["verify-chain", str(path)]) == 0
    record = json.loads(raw)
    record["events"][0]["body"]["summary"] = "nothing happened"
    path.write_text(json.dumps(record))
    assert recoup_cli(["verify-chain", str(path)]) == 1
    assert "FAILED" in capsys.readouterr().err


def _object(local: Any, key: str) -> bytes:
    s3 = boto3.client("s3", region_name=local.stack.region)
    bucket = local.stack.refs["CaseFilesBucket"]
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body
