"""Escalation and referral against moto: the check waits after the sequence, refers once
(one file set, one hand-over) however often its job comes, writes off below the floor, stops
for a hold or a dispute, hands over by email or a retried signed webhook, and takes signed
report-backs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from recoup import clock
from recoup.domain.aggregate import StoredCase
from recoup.domain.dunning import DunningStatus
from recoup.domain.handover import sign, verify
from recoup.domain.referral import Notification, NotificationStatus, ReferralStatus
from recoup.observability import metrics
from recoup.services import actions, escalation, handover, scheduling
from recoup.store import cases as case_store
from recoup.store import contacts, policies
from recoup.store.models import shop_pk
from recoup_local.cli import main as recoup_cli
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers
from tests.faults import FaultPlan

PENDING = event_json("shopify/order_pending.json")
CASE = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
AGENCY = "claims@agency.example"
SECRET = "legal-firm-shared-secret"
AGENCY_SECRET = "agency-report-back-secret"
# 1,899.00 USD owed: an agency case unless a threshold says otherwise.
AGENCY_THRESHOLDS = {
    "USD": {"agency_minimum": 5000, "legal_minimum": 500000, "write_off_below": 2500}
}


class Receiver:
    """A hand-over webhook receiver on loopback that fails its first `failures` requests, and
    answers its first `slow` requests (200) only after `delay` seconds."""

    def __init__(self, failures: int, slow: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.received: list[tuple[int, bytes, str | None]] = []
        self.keys: list[str | None] = []  # the Idempotency-Key of each request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                index = len(outer.received)
                status = 500 if index < outer.failures else 200
                outer.received.append((status, body, self.headers.get("Recoup-Signature")))
                outer.keys.append(self.headers.get("Idempotency-Key"))
                if index < slow:
                    time.sleep(delay)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    """Receivers made to measure, shut down after the test."""
    made: list[Receiver] = []

    def make(failures: int = 0, slow: int = 0, delay: float = 0.0) -> Receiver:
        made.append(Receiver(failures, slow, delay))
        return made[-1]

    yield make
    for server in made:
        server.server.shutdown()


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the metrics added, in order."""
    names: list[str] = []
    original = metrics.add_metric

    def add_metric(*args: Any, **kwargs: Any) -> None:
        names.append(str(kwargs.get("name", args[0] if args else "")))
        original(*args, **kwargs)

    monkeypatch.setattr(metrics, "add_metric", add_metric)
    return names


@pytest.fixture
def at(local: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A settable clock; retries without jitter (immediate); the legal firm's secret."""

    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    monkeypatch.setattr(handover, "rand", lambda: 0.0)
    monkeypatch.setattr(handover, "sleep", lambda _: None)
    monkeypatch.setenv("RECOUP_HANDOVER_SECRET_LEGAL_FIRM", SECRET)
    monkeypatch.setenv("RECOUP_HANDOVER_SECRET_AGENCY_CLAIMS", AGENCY_SECRET)
    yield Clock
    clock.use(None)


def set_policy(receiver_url: str, thresholds: dict[str, Any] | None = None) -> None:
    doc: dict[str, Any] = {
        "version": 1,
        "agency": {
            "after_last_step_days": 14,
            "hand_over": {"channel": "email", "address": AGENCY, "secret_ref": "agency-claims"},
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
    """The scheduler's run at `when`, at least a second after the previous one (time passes
    between runs), its slot a second later: an entry written now (a retry due now) is keyed
    in the next second (store.cases.index_key)."""
    clock_.now = max(when, clock_.now + timedelta(seconds=1))
    local.lambdas.run_schedules(clock_.now + timedelta(seconds=1))
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


def stored_case() -> StoredCase:
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


def due_steps() -> list[int]:
    """The case's steps in the due index, whenever due."""
    far = OPENED + timedelta(days=3650)
    return [d.step for d in case_store.due_cases(far) if d.case_id == CASE]


def refer_to_legal(
    local: Any, clock_: Any, receiver: Receiver, plan: FaultPlan | None = None
) -> None:
    """A case referred to legal (hand-over by webhook to `receiver`) by the referral check,
    run here (under `plan` if given); its quick-path job is queued, not yet run."""
    set_policy(receiver.url)
    open_case(local)
    spend(clock_, OPENED + timedelta(days=15))
    clock_.now = OPENED + timedelta(days=30)
    if plan is None:
        assert escalation.check(SHOP, CASE, now=clock_.now).outcome == "legal"
        return
    with plan:
        assert escalation.check(SHOP, CASE, now=clock_.now).outcome == "legal"


def notification() -> Notification:
    referrals = stored_case().referrals
    assert referrals is not None and referrals.latest is not None
    return referrals.latest.notification


LEGAL_KEY = f"{SHOP}/{CASE}/legal-1"


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
    # and the webhook was tried once, failed, and is due again in the case's due index
    assert [status for status, _, _ in receiver.received] == [500]
    assert due_steps() == [case_store.HANDOVER_DELIVERY]
    # When the scheduler runs on (each retry comes from the due index, not a delayed message)
    for _ in range(3):
        run_scheduler(local, at, at.now)
    # Then it was tried three times, delivered exactly once, validly signed, with one key
    assert [status for status, _, _ in receiver.received] == [500, 500, 200]
    assert receiver.keys == [f"{SHOP}/{CASE}/legal-1"] * 3
    ((_, body, signature),) = receiver.delivered
    verify(body, signature, [SECRET], at.now)
    payload = json.loads(body)
    assert payload["kind"] == "legal" and payload["case_id"] == CASE
    assert payload["links"]["letter_url"]
    referral = stored_case().referrals
    assert referral is not None and referral.latest is not None
    assert referral.latest.notification.status is NotificationStatus.DELIVERED
    assert referral.latest.notification.attempts == 3
    assert payload["idempotency_key"] == f"{SHOP}/{CASE}/legal-1"
    # and, delivered, the case has left the due index
    assert due_steps() == []


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
    # The merchant may reopen it: every step was sent, so back to awaiting escalation
    actions.perform(SHOP, CASE, "reopen", by="staff-1", note="", now=at.now, mode="resume")
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

    def report(data: dict[str, Any], secret: str = AGENCY_SECRET) -> dict[str, Any]:
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
    for _ in range(2):  # the receiver's two failures, retried from the due index
        run_scheduler(local, at, at.now)
    assert len(receiver.delivered) == 1
    # and a payment reported on it by the lawyer is recorded as recovered
    paid = report(
        {
            "case_id": CASE,
            "status": "paid",
            "reported_at": (OPENED + timedelta(days=32)).isoformat(),
            "amount": {"minor": 189900, "currency": "USD"},
        },
        secret=SECRET,
    )
    assert paid["http"] == 200 and paid["recovered"] == {"minor": 189900, "currency": "USD"}


def test_an_agencys_secret_cannot_move_a_legal_referral_nor_the_reverse(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given an agency referral (handed over by email; its report-backs signed with the
    # agency's secret) and the shop's legal hand-over with the law firm's own secret
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    run_scheduler(local, at, OPENED + timedelta(days=30))
    at.now = OPENED + timedelta(days=31)

    def report(status: str, secret: str, minutes: int, **extra: Any) -> dict[str, Any]:
        reported_at = (at.now - timedelta(minutes=30 - minutes)).isoformat()
        data = {"shop": SHOP, "case_id": CASE, "status": status, "reported_at": reported_at}
        body = json.dumps({**data, **extra}).encode()
        headers = {"Recoup-Signature": sign(body, [secret], at.now)}
        answer = local.lambdas.invoke_http("POST", "/referrals/report", headers, body)
        return {**json.loads(answer["body"]), "http": answer["statusCode"]}

    # When the law firm's secret signs a withdrawal of the agency's referral
    refused = report("withdrawn", SECRET, 1)
    # Then it is refused, saying the referral is moved only by its own hand-over's secret
    assert refused["http"] == 403 and refused["error"] == "wrong_hand_over"
    assert "agency-1" in refused["message"]
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.latest is not None
    assert stored.referrals.latest.status is ReferralStatus.REFERRED
    # and the agency's own secret moves it
    assert report("returned_unpaid", AGENCY_SECRET, 2)["http"] == 200
    # When the case is referred to legal
    run_scheduler(local, at, OPENED + timedelta(days=31))
    at.now = OPENED + timedelta(days=31, hours=1)
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.latest_id == "legal-2"
    # Then the agency's secret can neither mark it paid nor withdraw it
    owed = {"minor": 189900, "currency": "USD"}
    for status, extra in (("paid", {"amount": owed}), ("withdrawn", {})):
        answer = report(status, AGENCY_SECRET, 3, **extra)
        assert answer["http"] == 403 and answer["error"] == "wrong_hand_over", status
        assert "legal-2" in answer["message"]
    legal = stored_case().referrals
    assert legal is not None and legal.latest is not None
    assert legal.latest.status is ReferralStatus.REFERRED and legal.latest.recovered is None
    # and the law firm's secret is accepted
    assert report("accepted", SECRET, 4)["http"] == 200


def test_a_hand_over_whose_queueing_fails_is_delivered_once_from_the_outbox(
    local: Any, at: Any, make_receiver: Callable[..., Receiver], emitted: list[str]
) -> None:
    # Given a legal referral whose hand-over job SQS refuses right after the case write
    receiver = make_receiver()
    plan = FaultPlan().fail("sqs", "SendMessage", "reject")
    refer_to_legal(local, at, receiver, plan)
    assert plan.injected == [("sqs", "SendMessage", "reject")]
    local.lambdas.drain()
    # Then nobody has been told yet, but the hand-over is recorded, pending, in the due index
    assert receiver.received == []
    assert notification().status is NotificationStatus.PENDING
    assert due_steps() == [case_store.HANDOVER_DELIVERY]
    assert "HandOverQueueDeferred" in emitted
    # When the scheduler runs, and again later
    run_scheduler(local, at, at.now)
    run_scheduler(local, at, at.now + timedelta(minutes=5))
    # Then the lawyer got it exactly once, and it is recorded delivered, out of the index
    assert [status for status, _, _ in receiver.received] == [200]
    assert receiver.keys == [LEGAL_KEY]
    assert notification().status is NotificationStatus.DELIVERED
    assert due_steps() == []


def test_a_merchants_referral_is_handed_over_from_the_same_outbox(
    local: Any, at: Any, make_receiver: Callable[..., Receiver]
) -> None:
    # Given a merchant who refers a case to legal by hand, and SQS refusing the quick path
    receiver = make_receiver()
    set_policy(receiver.url)
    open_case(local)
    at.now = OPENED + timedelta(days=3)
    with FaultPlan() as plan:
        plan.fail("sqs", "SendMessage", "reject")
        actions.perform(SHOP, CASE, "refer", by="staff-1", note="", now=at.now, kind="legal")
    assert plan.injected == [("sqs", "SendMessage", "reject")]
    assert notification().status is NotificationStatus.PENDING
    # When the scheduler runs
    run_scheduler(local, at, at.now)
    # Then the lawyer has it, once
    assert receiver.keys == [LEGAL_KEY]
    assert notification().status is NotificationStatus.DELIVERED


def test_a_hand_over_queued_twice_is_attempted_once(
    local: Any, at: Any, make_receiver: Callable[..., Receiver]
) -> None:
    # Given a referral's quick-path job, and the scheduler queueing the same hand-over from
    # the due index before the worker ran
    receiver = make_receiver()
    refer_to_legal(local, at, receiver)
    local.lambdas.run_schedules(at.now)
    # When the worker takes both jobs
    local.lambdas.drain()
    # Then one claims the attempt and the other finds it not due: one POST
    assert len(receiver.received) == 1
    assert notification().status is NotificationStatus.DELIVERED
    assert notification().attempts == 1


def test_a_receiver_slower_than_the_timeout_gets_one_key_and_is_recorded_delivered(
    local: Any,
    at: Any,
    make_receiver: Callable[..., Receiver],
    emitted: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a lawyer's receiver that takes longer than the POST's timeout on its first request
    # (and does accept it, too late for the answer to arrive)
    monkeypatch.setattr(handover, "POST_TIMEOUT_SECONDS", 0.3)
    receiver = make_receiver(slow=1, delay=1.0)
    refer_to_legal(local, at, receiver)
    # When the first attempt runs
    local.lambdas.drain()
    # Then its outcome is recorded as unknown (not failed) and counted, due again
    first = notification()
    assert first.status is NotificationStatus.OUTCOME_UNKNOWN and first.attempts == 1
    assert "HandOverOutcomeUnknown" in emitted
    assert "handover.outcome_unknown" in kinds_on_trail()
    assert due_steps() == [case_store.HANDOVER_DELIVERY]
    # When the scheduler runs again
    run_scheduler(local, at, at.now)
    # Then the second attempt carries the same Idempotency-Key (header and signed body), so
    # the receiver can drop it, and the hand-over is recorded delivered, never failed
    assert len(receiver.received) == 2
    assert receiver.keys == [LEGAL_KEY, LEGAL_KEY]
    assert {json.loads(body)["idempotency_key"] for _, body, _ in receiver.received} == {LEGAL_KEY}
    final = notification()
    assert final.status is NotificationStatus.DELIVERED and final.attempts == 2
    assert "HandOverFailed" not in emitted and "handover.failed" not in kinds_on_trail()
    assert due_steps() == []


def test_a_throttled_record_after_a_2xx_makes_no_second_post(
    local: Any, at: Any, make_receiver: Callable[..., Receiver]
) -> None:
    # Given a referral whose hand-over the receiver accepts at once
    receiver = make_receiver()
    refer_to_legal(local, at, receiver)
    # When the write recording the 2xx is throttled past the SDK's own retries (4 tries)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "throttle", times=6)
        local.lambdas.drain()
    # Then the worker retried the record in-process: one POST, recorded delivered
    assert len(plan.injected) == 6
    assert len(receiver.received) == 1
    assert notification().status is NotificationStatus.DELIVERED
    assert notification().attempts == 1
    # and nothing comes due again to repeat it
    run_scheduler(local, at, at.now + timedelta(hours=1))
    assert len(receiver.received) == 1


def test_six_failed_attempts_end_failed_out_of_the_due_index_and_alarmed(
    local: Any, at: Any, make_receiver: Callable[..., Receiver], emitted: list[str]
) -> None:
    # Given a receiver that always answers 500
    receiver = make_receiver(failures=1000)
    refer_to_legal(local, at, receiver)
    local.lambdas.drain()
    # When the scheduler runs more often than there are attempts
    for _ in range(8):
        run_scheduler(local, at, at.now)
    # Then six attempts were made, all with the same key
    assert len(receiver.received) == 6
    assert receiver.keys == [LEGAL_KEY] * 6
    # and the hand-over is failed, out of the due index, with the metric the alarm watches
    final = notification()
    assert final.status is NotificationStatus.FAILED and final.attempts == 6
    assert due_steps() == []
    assert emitted.count("HandOverFailed") == 1
    assert kinds_on_trail().count("handover.failed") == 1


def test_a_hand_over_an_hour_past_due_is_reported_overdue(
    local: Any, at: Any, make_receiver: Callable[..., Receiver], emitted: list[str]
) -> None:
    # Given a hand-over pending in the due index that no worker has claimed
    receiver = make_receiver()
    refer_to_legal(local, at, receiver, FaultPlan().fail("sqs", "SendMessage", "reject"))
    due_at = at.now
    # When the scheduler queues it within the hour (and no worker takes the job), then its
    # hourly sweep finds it still waiting more than an hour later
    scheduling.queue_due(due_at + timedelta(minutes=59))
    assert "HandOverOverdue" not in emitted
    scheduling.queue_due(due_at + timedelta(minutes=120))
    # Then it reports it overdue, for the alarm
    assert emitted.count("HandOverOverdue") == 1


def test_an_email_hand_over_repeated_after_a_timeout_keeps_its_message_id(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given SES sends with no retries of their own (recoup.aws: the application decides), and
    # an agency referral by email whose send SES accepts but whose answer times out
    set_policy(receiver.url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(at, OPENED + timedelta(days=15))
    at.now = OPENED + timedelta(days=30)
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")
        escalation.check(SHOP, CASE, now=at.now)
        local.lambdas.drain()
    assert plan.injected == [("sesv2", "SendEmail", "timeout_after")]
    # Then the outcome is recorded as unknown, due again
    assert notification().status is NotificationStatus.OUTCOME_UNKNOWN
    # When the scheduler runs on
    run_scheduler(local, at, at.now)
    run_scheduler(local, at, at.now + timedelta(minutes=5))
    # Then the agency got it twice (at least once, by design), as one message: the same
    # Message-ID and Idempotency-Key, so its mail system and staff can drop the repeat
    mails = agency_emails(local)
    assert len(mails) == 2
    assert len({m["Message-ID"] for m in mails}) == 1
    assert {m["Idempotency-Key"] for m in mails} == {f"{SHOP}/{CASE}/agency-1"}
    assert notification().status is NotificationStatus.DELIVERED


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
