"""The reminder sequence against moto: scheduled, sent once, held back when it must be,
stopped the moment the money arrives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlparse

import pytest

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.services import cases, sending
from recoup.store import cases as case_store
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_bytes, event_json, shopify_headers, stripe_headers

PENDING = event_json("shopify/order_pending.json")
PENDING_ID = str(PENDING["id"])
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)


@pytest.fixture
def at(local: Any) -> Any:
    """A settable clock for the sender (the scheduler takes its time from the event)."""

    class Clock:
        now = OPENED

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def deliver_shopify(local: Any, name: str, topic: str, webhook_id: str) -> None:
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, local.shopify_secret, topic, webhook_id=webhook_id)
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()


def deliver_stripe(local: Any, name: str) -> None:
    body = event_bytes(f"stripe/{name}.json")
    headers = stripe_headers(body, local.stripe_secret)
    assert local.lambdas.invoke_http("POST", "/webhooks/stripe", headers, body)["statusCode"] == 200
    local.lambdas.drain()


def run_scheduler(local: Any, clock_: Any, when: datetime) -> None:
    clock_.now = when
    local.lambdas.run_schedules(when)
    local.lambdas.drain()


def emails(local: Any) -> list[Any]:
    return [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]


def sms(local: Any) -> list[Any]:
    return [m for m in sent_messages(local.stack.region) if m.kind == "sms"]


def dunning(case_id: str = PENDING_ID) -> Any:
    stored = case_store.load(SHOP, case_id)
    assert stored is not None
    return stored.dunning


def test_an_opened_case_is_scheduled_from_the_shops_policy(local: Any) -> None:
    # Given a pending order / When the case opens
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    # Then the first step is due a day after the order was placed
    state = dunning()
    assert state.status is DunningStatus.SCHEDULED
    assert state.next_step == 0
    assert state.next_at == OPENED + timedelta(days=1)


def test_the_first_step_is_sent_once_with_unsubscribe_headers(local: Any, at: Any) -> None:
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    # When the scheduler runs after the step is due (and runs again, as a redelivery would)
    due = OPENED + timedelta(days=1, hours=2)
    run_scheduler(local, at, due)
    run_scheduler(local, at, due + timedelta(minutes=5))
    sending.send_step(SHOP, PENDING_ID, 0, now=due)  # a duplicated job
    # Then exactly one email went out, with RFC 8058 headers and both parts
    sent = emails(local)
    assert len(sent) == 1
    mail = sent[0]
    assert mail["To"] == PENDING["email"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe?t=" in mail["List-Unsubscribe"]
    kinds = [part.get_content_type() for part in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "1,899.00" in mail.get_body(("plain",)).get_content()
    # And the audit trail names the provider's message id; step 2 is scheduled
    trail = cases.timeline(SHOP, PENDING_ID)
    assert trail[-1].body["kind"] == "reminder.sent"
    assert "provider id" in trail[-1].body["summary"]
    assert dunning().next_step == 1


def test_payment_stops_the_sequence_at_once(local: Any, at: Any) -> None:
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    # When the order is paid
    deliver_shopify(local, "order_paid", "orders/paid", "wh-paid")
    # Then it leaves the due index and nothing more is sent, ever
    assert dunning().status is DunningStatus.STOPPED
    assert list(case_store.due_cases(OPENED + timedelta(days=90))) == []
    for days in (5, 10, 20, 40):
        run_scheduler(local, at, OPENED + timedelta(days=days))
    assert len(emails(local)) == 1
    assert sms(local) == []


def test_a_step_due_in_the_customers_night_waits_for_the_morning(local: Any, at: Any) -> None:
    # Given the Oregon customer's first step, due a day after the order: 07:15 Pacific time
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    night = datetime(2026, 11, 3, 15, 20, tzinfo=UTC)  # 07:20 in America/Los_Angeles
    # When the scheduler runs then
    run_scheduler(local, at, night)
    # Then nothing is sent, and the step waits for 08:00 Pacific
    assert emails(local) == []
    assert dunning().next_at == datetime(2026, 11, 3, 16, 0, tzinfo=UTC)
    assert "quiet hours" in cases.timeline(SHOP, PENDING_ID)[-1].body["summary"]
    run_scheduler(local, at, datetime(2026, 11, 3, 16, 0, tzinfo=UTC))
    assert len(emails(local)) == 1


def test_the_unsubscribe_link_opts_out_with_one_post(local: Any, at: Any) -> None:
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    link = emails(local)[0]["List-Unsubscribe"].split("<")[1].split(">")[0]
    path = urlparse(link)
    # When a mail client posts the one-click body to the link
    result = local.lambdas.invoke_http(
        "POST",
        f"{path.path}?{path.query}",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"List-Unsubscribe=One-Click",
    )
    assert result["statusCode"] == 200
    assert "unsubscribed" in result["body"]
    # Then the next step, email_then_sms, goes by SMS
    run_scheduler(local, at, OPENED + timedelta(days=4, hours=3))
    assert len(emails(local)) == 1
    assert len(sms(local)) == 1
    assert "STOP" in sms(local)[0].content.decode()


def _invoke_unsubscribe(local: Any, method: str, token: str) -> Any:
    return local.lambdas.invoke_http(method, f"/unsubscribe?t={token}", {}, b"")


def test_a_forged_or_expired_unsubscribe_link_is_refused(local: Any) -> None:
    assert _invoke_unsubscribe(local, "POST", "abc.def")["statusCode"] == 400
    from recoup import links

    old = links.sign_unsubscribe(
        SHOP, "x", now=datetime(2020, 1, 1, tzinfo=UTC), secret=local.link_secret
    )
    answer = _invoke_unsubscribe(local, "GET", old)
    assert answer["statusCode"] == 400
    assert "expired" in answer["body"]


def test_a_permanent_bounce_suppresses_the_address(local: Any, at: Any) -> None:
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    local.lambdas.publish(
        local.stack.refs["EmailFeedbackTopic"],
        {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bouncedRecipients": [{"emailAddress": PENDING["email"]}],
            },
            "mail": {"tags": {"shop": [SHOP.replace(".", "_")]}},
        },
    )
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    assert emails(local) == []
    assert "suppress" in cases.timeline(SHOP, PENDING_ID)[-1].body["summary"]


def test_sms_stop_start_and_help(local: Any, at: Any) -> None:
    phone = PENDING["shipping_address"]["phone"]
    inbound = local.stack.refs["InboundSmsTopic"]

    def text(body: str) -> None:
        local.lambdas.publish(inbound, {"originationNumber": phone, "messageBody": body})

    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    text("STOP")
    from recoup.store import contacts

    assert contacts.reachability(SHOP, None, phone).sms_opted_out
    text("start")
    assert not contacts.reachability(SHOP, None, phone).sms_opted_out
    text("HELP")
    replies = sms(local)
    assert len(replies) == 1
    assert "STOP" in replies[0].content.decode()


def test_an_early_fraud_warning_flags_the_sequence(local: Any, at: Any) -> None:
    unlinked = event_json("stripe/payment_intent.payment_failed.unlinked.json")
    deliver_stripe(local, "payment_intent.payment_failed.unlinked")
    deliver_stripe(local, "radar.early_fraud_warning.created")
    case_id = unlinked["data"]["object"]["id"]
    run_scheduler(local, at, datetime(2026, 12, 1, tzinfo=UTC))
    assert emails(local) == []
    assert dunning(case_id).status is DunningStatus.FLAGGED


def test_a_provider_failure_releases_the_claim_and_the_retry_sends_once(
    local: Any, at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.integrations import ses

    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    real = ses.send_raw
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("SES throttled")
        return real(*args, **kwargs)

    monkeypatch.setattr(ses, "send_raw", flaky)
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    assert len(emails(local)) == 1
    assert calls["n"] == 2


def test_a_concurrent_job_for_the_same_step_sends_nothing(
    local: Any, at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a due step, and a second job for it arriving while the first is sending
    from recoup.integrations import ses

    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    due = OPENED + timedelta(days=1, hours=2)
    at.now = due
    real = ses.send_raw
    second: list[Any] = []

    def send_while_another_job_runs(*args: Any, **kwargs: Any) -> str:
        if not second:
            second.append(sending.send_step(SHOP, PENDING_ID, 0, now=due))
        return real(*args, **kwargs)

    monkeypatch.setattr(ses, "send_raw", send_while_another_job_runs)
    # When the first job sends
    first = sending.send_step(SHOP, PENDING_ID, 0, now=due)
    # Then the second job stood back (its SQS retry finds the step recorded), one email went
    # out, and one entry records it
    assert (first.outcome, second[0].outcome) == ("sent", "in_flight")
    assert "another job" in second[0].detail
    assert len(emails(local)) == 1
    assert [e.body["kind"] for e in cases.timeline(SHOP, PENDING_ID)].count("reminder.sent") == 1


def test_a_claim_left_by_a_crashed_sender_is_recorded_not_resent(local: Any, at: Any) -> None:
    # Given a step claimed by a sender that died before recording anything
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    due = OPENED + timedelta(days=1, hours=2)
    stored = case_store.load(SHOP, PENDING_ID)
    case_store.save_dunning(stored, stored.dunning.claim(0, due))
    # When the job is redelivered after the claim timed out
    result = sending.send_step(SHOP, PENDING_ID, 0, now=due + timedelta(minutes=10))
    # Then nothing is sent again; the trail says so and the next step is scheduled
    assert result.outcome == "sent"
    assert emails(local) == []
    assert "not resent" in cases.timeline(SHOP, PENDING_ID)[-1].body["summary"]
    assert dunning().next_step == 1


def test_a_partial_payment_lowers_the_amount_in_later_messages(local: Any, at: Any) -> None:
    # Given a first reminder for the whole amount
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    # When the customer pays part of it
    order = dict(PENDING)
    order.update(
        financial_status="partially_paid",
        total_outstanding="899.00",
        updated_at="2026-11-04T10:00:00-05:00",
    )
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/updated", webhook_id="wh-part")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    # Then the next reminder asks for what is left
    run_scheduler(local, at, OPENED + timedelta(days=4, hours=3))
    latest = emails(local)[-1].get_body(("plain",)).get_content()
    assert len(emails(local)) == 2
    assert "$899.00" in latest
    first = emails(local)[0].get_body(("plain",)).get_content()
    assert "$899.00" not in first


def test_the_weekly_cap_defers_a_step(local: Any, at: Any) -> None:
    # Given a customer the shop already messaged seven times this week (other orders)
    from recoup.store import contacts

    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    due = OPENED + timedelta(days=1, hours=2)
    customer = str(PENDING["customer"]["id"])
    for hours in range(7):
        log, actions = contacts.message_logged(
            SHOP, customer, due - timedelta(days=6, hours=-hours), f"other-{hours}", "email"
        )
        log.update(actions=actions)
    # When the step comes due / Then it waits until the oldest of those is a week old
    run_scheduler(local, at, due)
    assert emails(local) == []
    trail = cases.timeline(SHOP, PENDING_ID)
    assert "cap" in trail[-1].body["summary"]
    assert dunning().next_at >= due - timedelta(days=6) + timedelta(days=7)


def test_a_complaint_suppresses_and_opts_out_and_a_transient_bounce_does_nothing(
    local: Any,
) -> None:
    from recoup.store import contacts

    topic = local.stack.refs["EmailFeedbackTopic"]
    tags = {"shop": [SHOP.replace(".", "_")]}
    local.lambdas.publish(
        topic,
        {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Transient",
                "bouncedRecipients": [{"emailAddress": "full@example.com"}],
            },
            "mail": {"tags": tags},
        },
    )
    local.lambdas.publish(
        topic,
        {
            "eventType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": PENDING["email"]}]},
            "mail": {"tags": tags},
        },
    )
    assert contacts.reachability(SHOP, "full@example.com", None) == contacts.Reachability()
    flags = contacts.reachability(SHOP, PENDING["email"], None)
    assert (flags.email_suppressed, flags.email_opted_out) == (True, True)
    # and another shop's customer with the same address is not affected
    assert contacts.reachability("other.myshopify.com", PENDING["email"], None) == (
        contacts.Reachability()
    )


def test_a_shops_template_is_checked_when_saved_and_falls_back_when_it_misbehaves(
    local: Any, at: Any
) -> None:
    from recoup.channels.render import TemplateRejected
    from recoup.services import shops as shop_service
    from recoup.store import shops

    # Given a shop saving an override that reaches for Python internals: refused, not stored
    with pytest.raises(TemplateRejected, match="__class__"):
        shop_service.set_template(SHOP, "friendly", {"subject": "{{ shop_name.__class__ }}"})
    # And a valid override of the first step's subject, which is stored and used
    shop_service.set_template(SHOP, "friendly", {"subject": "{{ shop_name }}: {{ order_name }}"})
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    run_scheduler(local, at, OPENED + timedelta(days=1, hours=2))
    assert emails(local)[0]["Subject"] == f"{SHOP}: {PENDING['name']}"
    # When a stored override goes bad (written around the check, e.g. by an older version)
    shops.save_templates(SHOP, {"firm": {"subject": "{{ password }}"}})
    run_scheduler(local, at, OPENED + timedelta(days=4, hours=3))
    # Then the step still goes out with the default, and the trail says why
    assert len(emails(local)) == 2
    assert "shop template refused" in cases.timeline(SHOP, PENDING_ID)[-1].body["summary"]


def test_a_deferral_that_meets_a_concurrent_write_still_resolves_its_claim(
    local: Any, at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a step due in the customer's night, and a write that conflicts with the deferral
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    real = case_store.save_all
    conflicts = {"left": 1}

    def conflicting(*args: Any, **kwargs: Any) -> None:
        if conflicts["left"]:
            conflicts["left"] -= 1
            raise case_store.ConcurrentUpdate("another writer")
        real(*args, **kwargs)

    monkeypatch.setattr(case_store, "save_all", conflicting)
    # When the sender defers it
    result = sending.send_step(SHOP, PENDING_ID, 0, now=datetime(2026, 11, 3, 15, 20, tzinfo=UTC))
    # Then the deferral was written on the second try, and no claim is left behind
    assert result.outcome == "deferred"
    assert dunning().claimed_step == -1
    assert dunning().next_at == datetime(2026, 11, 3, 16, 0, tzinfo=UTC)


def test_a_policy_is_stored_versioned_and_used_for_new_cases(local: Any) -> None:
    from recoup.domain.cadence import default_policy, parse_policy, policy_to_dict
    from recoup.store import policies

    # Given a shop that saves version 1 of a one-step policy, then tries to save it again
    data = policy_to_dict(default_policy("America/New_York"))
    data["steps"] = [dict(data["steps"][0], delay="2d")]
    first = parse_policy({**data, "version": 1})
    policies.save(SHOP, first, now=OPENED)
    with pytest.raises(policies.PolicyConflict):
        policies.save(SHOP, first, now=OPENED)
    # When a case opens / Then it is scheduled from the stored policy, not the default
    assert policies.load(SHOP) == first
    deliver_shopify(local, "order_pending", "orders/create", "wh-1")
    assert dunning().next_at == OPENED + timedelta(days=2)
    assert dunning().policy_version == 1
    # And version 2 follows version 1, but not a skipped version
    policies.save(SHOP, parse_policy({**data, "version": 2}), now=OPENED)
    with pytest.raises(policies.PolicyConflict):
        policies.save(SHOP, parse_policy({**data, "version": 4}), now=OPENED)
