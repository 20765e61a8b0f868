"""The admin page's getting-started checklist (each state read live), the test message sent
through the sender (marked, on no case, at most once, limited per day) and the reply-to
address the admin sets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from pynamodb.exceptions import UpdateError

from recoup import clock
from recoup.store import cases as case_store
from recoup.store import policies, sample_sends, shops, tokens
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT
from tests.faults import FaultPlan
from tests.integration.test_admin_api import call

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _checks(local: Any) -> dict[str, str]:
    status, body = call(local, "GET", "/onboarding")
    assert status == 200, body
    return {check["key"]: check["status"] for check in body["checks"]}


def _emails(local: Any) -> list[Any]:
    return [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]


def test_the_checklist_reflects_each_state(local: Any) -> None:
    # A shop just installed: the admin's visit exchanged an expiring token, Stripe is connected
    # (the fixture), the local SES identity is verified, the sequence is the default one
    checks = _checks(local)
    assert checks == {
        "shopify": "done",
        "stripe": "done",
        "email": "done",
        "sms": "warning",  # the default sequence has an SMS step and no origination number
        "sequence": "todo",
        "test": "todo",
    }
    # Stripe disconnected: pay links fall back, and the checklist says so
    shops.disconnect_stripe(SHOP, STRIPE_ACCOUNT)
    assert _checks(local)["stripe"] == "todo"
    # The sequence saved once by the admin counts as reviewed
    status, view = call(local, "GET", "/settings/reminders")
    policy_doc = {k: v for k, v in view["policy"].items() if k != "version"}
    # (the SMS-only built-in template gives way to the firm one, which has an email version)
    policy_doc["steps"] = [
        {
            **s,
            "channel": "email",
            "template": "firm" if s["template"] == "firm_sms" else s["template"],
        }
        for s in policy_doc["steps"]
    ]
    status, saved = call(
        local, "PUT", "/settings/reminders", {"version": view["version"], "policy": policy_doc}
    )
    assert status == 200, saved
    checks = _checks(local)
    assert checks["sequence"] == "done"
    assert checks["sms"] == "off"  # no step sends SMS any more
    # The sending domain not verified (yet): a warning naming what to do
    from moto.backends import get_backend

    from recoup_local.provision import ACCOUNT

    identity = get_backend("ses")[ACCOUNT][local.stack.region].email_identities["recoup.example"]
    identity.verified_for_sending_status = False
    status, body = call(local, "GET", "/onboarding")
    email = next(c for c in body["checks"] if c["key"] == "email")
    assert email["status"] == "warning"
    assert "not verified" in email["detail"]
    identity.verified_for_sending_status = True


def test_a_refused_refresh_shows_on_the_checklist_until_the_exchange_repairs_it(
    local: Any,
) -> None:
    _checks(local)  # the first visit stores an expiring token
    stored = tokens.load(SHOP)
    assert stored is not None
    assert tokens.mark_needs_reauth(SHOP, "refresh refused", version=stored.version)
    # Shopify refuses the exchange too (the app's access was revoked meanwhile)
    local.shopify_tokens.refuse_exchange = True
    try:
        status, body = call(local, "GET", "/onboarding")
    finally:
        local.shopify_tokens.refuse_exchange = False
    shopify = next(c for c in body["checks"] if c["key"] == "shopify")
    assert (status, shopify["status"]) == (200, "warning")
    assert "Reload this page" in shopify["detail"]
    # The next visit exchanges a new token: the mark is gone
    assert _checks(local)["shopify"] == "done"


def test_a_test_message_goes_through_the_sender_once_marked_and_on_no_case(local: Any) -> None:
    cases_before = list(case_store.tracked_cases(SHOP))
    status, body = call(local, "POST", "/test-message", {"channel": "email", "step": 2})
    assert status == 202, body
    # The visit exchanged a token and read the shop's identity (the local shop query)
    item = shops.get(SHOP)
    assert item is not None
    assert (item.shop_name, item.contact_email) == (
        "Demo Electronics",
        "help@demo-electronics.example",
    )
    assert body["test_message"]["status"] == "queued"
    local.lambdas.drain()
    (mail,) = _emails(local)
    assert mail["To"].addresses[0].addr_spec == item.contact_email  # no address typed
    assert mail["Subject"].startswith("[Test] ")
    assert mail["X-Recoup-Test"] == "yes"
    assert mail["From"].addresses[0].display_name == "Demo Electronics"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "#1001" in text  # the sample order, not a customer's
    checks = _checks(local)
    assert checks["test"] == "done"
    # On no case, in no figure
    assert list(case_store.tracked_cases(SHOP)) == cases_before
    # A redelivered job sends nothing more
    latest = sample_sends.latest(SHOP)
    assert latest is not None
    job = json.dumps({"kind": "sample", "shop": SHOP, "send_id": latest.send_id})
    from recoup.services import sending

    assert sending.send_job(job).outcome == "stale"
    assert len(_emails(local)) == 1


def test_a_test_sms_is_marked_and_sent_to_the_number_typed(local: Any) -> None:
    status, body = call(
        local, "POST", "/test-message", {"channel": "sms", "step": 0, "to": "+1 503 555 0142"}
    )
    assert status == 202, body
    local.lambdas.drain()
    (sms,) = [m for m in sent_messages(local.stack.region) if m.kind == "sms"]
    assert sms.to == "+15035550142"
    assert sms.content.decode().startswith("[Test] ")


@pytest.mark.parametrize(
    ("request_body", "field", "words"),
    [
        ({"channel": "fax", "step": 0}, "channel", "email or sms"),
        ({"channel": "email", "step": 9}, "step", "a step of the saved sequence"),
        ({"channel": "email", "step": True}, "step", "a step of the saved sequence"),
        ({"channel": "sms", "step": 0}, "to", "mobile number"),
        ({"channel": "sms", "step": 0, "to": "12"}, "to", "not a valid mobile number"),
        ({"channel": "email", "step": 0, "to": "josé@example.com"}, "to", "non-ASCII"),
        ({"channel": "email", "step": 0, "shop": "other"}, "shop", "unknown key"),
    ],
)
def test_a_bad_test_message_request_names_its_field_and_queues_nothing(
    local: Any, request_body: dict[str, Any], field: str, words: str
) -> None:
    status, body = call(local, "POST", "/test-message", request_body)
    assert (status, body["field"]) == (400, field)
    assert words in body["message"]
    assert sample_sends.latest(SHOP) is None


def test_test_messages_are_limited_per_day(local: Any) -> None:
    for _ in range(sample_sends.DAILY_LIMIT):
        status, body = call(local, "POST", "/test-message", {"channel": "email", "step": 0})
        assert status == 202, body
    status, body = call(local, "POST", "/test-message", {"channel": "email", "step": 0})
    assert (status, body["error"]) == (429, "rate_limited")
    local.lambdas.drain()
    assert len(_emails(local)) == sample_sends.DAILY_LIMIT


def test_a_test_message_ses_refuses_is_shown_as_failed_and_not_retried(local: Any) -> None:
    status, _ = call(local, "POST", "/test-message", {"channel": "email", "step": 0})
    assert status == 202
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "throttle", whole_call=True)
        local.lambdas.drain()
    assert plan.injected
    assert _emails(local) == []
    status, body = call(local, "GET", "/onboarding")
    assert body["test_message"]["status"] == "failed"
    assert "SES did not send it" in body["test_message"]["detail"]
    test = next(c for c in body["checks"] if c["key"] == "test")
    assert test["status"] == "warning"


def test_a_test_message_whose_outcome_was_not_recorded_is_never_sent_again(
    local: Any,
) -> None:
    status, _ = call(local, "POST", "/test-message", {"channel": "email", "step": 0})
    assert status == 202
    latest = sample_sends.latest(SHOP)
    assert latest is not None
    # SES accepted it, then every try of the outcome's write failed: the job fails
    job = json.dumps({"kind": "sample", "shop": SHOP, "send_id": latest.send_id})
    from recoup.services import sending

    with FaultPlan() as plan:
        plan.fail("dynamodb", "UpdateItem", "throttle", nth=2, whole_call=True)
        with pytest.raises(UpdateError):
            sending.send_job(job)
    assert len(_emails(local)) == 1
    # SQS redelivers it moments later: another job may still be at it, nothing is sent
    assert sending.send_job(job).outcome == "stale"
    # and after the visibility timeout: recorded as unknown, still not sent again
    later = datetime.now(tz=UTC) + timedelta(minutes=3)
    clock.use(lambda: later)
    try:
        assert sending.send_job(job).outcome == "unknown"
    finally:
        clock.use(None)
    assert len(_emails(local)) == 1
    found = sample_sends.get(SHOP, latest.send_id)
    assert found is not None and found.status == "unknown"


def test_the_reply_to_set_in_settings_is_the_next_messages_reply_to(local: Any) -> None:
    status, body = call(local, "PUT", "/settings/sender", {"reply_to": "josé@example.com"})
    assert (status, body["field"]) == (400, "reply_to")
    status, body = call(local, "PUT", "/settings/sender", {"reply_to": "help@demo.example"})
    assert status == 200, body
    assert (body["reply_to"], body["replies_go_to"]) == ("help@demo.example", "help@demo.example")
    call(local, "POST", "/test-message", {"channel": "email", "step": 0})
    local.lambdas.drain()
    (mail,) = _emails(local)
    assert mail["Reply-To"].addresses[0].addr_spec == "help@demo.example"
    # Cleared: back to the contact email
    status, body = call(local, "PUT", "/settings/sender", {"reply_to": ""})
    contact = "help@demo-electronics.example"
    assert (status, body["reply_to"], body["replies_go_to"]) == (200, None, contact)
    assert policies.load_doc(SHOP, policies.REMINDERS) is None  # nothing else was written
