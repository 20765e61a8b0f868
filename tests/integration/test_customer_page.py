"""The customer's page of a case, through the real handler on the in-process local stack:
what it shows (the order reconciling to its total), its link's lifecycle (made once per case,
kept open by each message, expired, revoked, forged), its safety (CSRF, cross-site POSTs,
rate limits, headers) and what its forms do (H3's requests and H4's preferences on the
trail; a fresh link sent once to the address on file)."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlencode

import pytest

from recoup import clock, links
from recoup.services import case_pages, cases, page_links
from recoup.services.case_pages import NEW_LINK
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_json, shopify_headers
from tests.faults import FaultPlan
from tests.page_support import form_token as _form_token
from tests.page_support import post_form as _post

EXPIRED = event_json("shopify/order_expired.json")
CASE_ID = str(EXPIRED["id"])
OPENED = datetime.fromisoformat(EXPIRED["updated_at"]).astimezone(UTC)
DISCOUNT = "100.00"


def _money_set(amount: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": "USD"},
        "presentment_money": {"amount": amount, "currency_code": "USD"},
    }


def discounted_order() -> dict[str, Any]:
    """order_expired.json with a $100 discount code: items 2,328.00 - 100.00 + shipping
    25.50 + tax 145.50 = 2,399.00, as Shopify states such an order."""
    order = copy.deepcopy(EXPIRED)
    order["discount_codes"] = [{"code": "WELCOME100", "amount": DISCOUNT, "type": "fixed_amount"}]
    for name, amount in (
        ("total_discounts", DISCOUNT),
        ("current_total_discounts", DISCOUNT),
        ("subtotal_price", "2228.00"),
        ("current_subtotal_price", "2228.00"),
        ("total_price", "2399.00"),
        ("current_total_price", "2399.00"),
        ("total_outstanding", "2399.00"),
    ):
        order[name] = amount
        if f"{name}_set" in order:
            order[f"{name}_set"] = _money_set(amount)
    return order


@pytest.fixture
def now(local: Any) -> Any:
    moment = [OPENED + timedelta(hours=1)]
    clock.use(lambda: moment[0])
    yield moment
    clock.use(None)


@pytest.fixture
def opened(local: Any, now: Any) -> str:
    """The discounted order's case, opened by its webhook; the token of its page link."""
    body = json.dumps(discounted_order()).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert answer["statusCode"] == 200
    local.lambdas.drain()
    return _token(now)


def _token(now: Any) -> str:
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    url = page_links.link_for(stored, now=now[0])
    assert url is not None
    return url.rsplit("/c/", 1)[1]


def _get(local: Any, token: str, query: str = "", headers: dict[str, str] | None = None) -> Any:
    path = f"/c/{token}" + (f"?{query}" if query else "")
    answer = local.lambdas.invoke_http("GET", path, headers or {}, b"")
    assert answer is not None
    return answer


def _trail_kinds() -> list[str]:
    return [str(e.body.get("kind")) for e in cases.timeline(SHOP, CASE_ID)]


# ------------------------------------------------------------------------------ content


def test_the_page_shows_the_order_reconciling_to_its_total(local: Any, opened: str) -> None:
    answer = _get(local, opened)
    assert answer["statusCode"] == 200
    html = answer["body"]
    assert "Order #" in html and EXPIRED["name"] in html
    assert "NVIDIA GeForce RTX 5090" in html and "$1,999.00" in html and "$329.00" in html
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', html))
    assert rows == {
        "Items": "$2,328.00",
        "Discounts": "-$100.00",
        "Shipping": "$25.50",
        "Taxes": "$145.50",
        "Total": "$2,399.00",
    }
    assert "Other charges" not in html
    assert "$2,399.00 now" in html  # the Pay button, for what is owed
    pay = re.search(r'href="(http[^"]+/pay/[^"]+)"', html)
    assert pay is not None
    assert (
        links.verify_pay(
            pay[1].rsplit("/pay/", 1)[1].replace("%3D", "="),
            now=clock.now(),
            secrets=get_settings().link_secrets(),
        ).case_id
        == CASE_ID
    )
    headers = answer["headers"]
    csp = headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'<style nonce="{nonce[1]}">' in html
    assert "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in html and " style=" not in html
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_unexplained_difference_shows_as_other_charges(local: Any, now: Any) -> None:
    order = discounted_order()
    for name in ("total_price", "current_total_price", "total_outstanding"):
        order[name] = "2409.00"  # ten dollars the order does not itemise (a fee)
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    html = _get(local, _token(now))["body"]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', html))
    assert rows["Other charges"] == "$10.00"
    assert rows["Total"] == "$2,409.00"


def test_an_unexplained_credit_shows_as_other_credits(local: Any, now: Any) -> None:
    order = discounted_order()
    for name in ("total_price", "current_total_price", "total_outstanding"):
        order[name] = "2389.00"  # ten dollars less than the order itemises (a store credit)
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    html = _get(local, _token(now))["body"]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([^<]+)</td>', html))
    assert (rows["Other credits"], rows["Total"]) == ("-$10.00", "$2,389.00")
    assert "Other charges" not in rows


def test_the_page_speaks_the_language_asked_for(local: Any, opened: str) -> None:
    german = _get(local, opened, "lang=de")["body"]
    assert '<html lang="de">' in german and "Versand" in german and "2.399,00" in german
    japanese = _get(local, opened, "lang=ja")["body"]
    assert '<html lang="ja">' in japanese and "送料" in japanese


# ------------------------------------------------------------------------------ the link


def test_the_link_is_short_opaque_and_the_same_for_every_message(
    local: Any, opened: str, now: Any
) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", opened)
    raw = base64.urlsafe_b64decode(opened)
    assert CASE_ID.encode() not in raw and b"demo" not in raw
    # A retried job, or the next message the same day, gets the same link and writes nothing.
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    with FaultPlan() as plan:
        url = page_links.link_for(stored, now=now[0])
    assert url is not None and url.endswith(f"/c/{opened}")
    assert [op for service, op in plan.invocations if service == "dynamodb"] == ["GetItem"]
    # A message two days later keeps it open 180 days from then.
    now[0] += timedelta(days=2)
    assert _token(now) == opened
    now[0] += timedelta(days=179)
    assert _get(local, opened)["statusCode"] == 200


def test_an_expired_link_offers_a_new_one_and_a_later_message_revives_it(
    local: Any, opened: str, now: Any
) -> None:
    now[0] += timedelta(days=181)
    answer = _get(local, opened)
    assert answer["statusCode"] == 410
    assert "This link no longer works" in answer["body"]
    assert "Email me a new link" in answer["body"]
    assert "$2,399.00" not in answer["body"]  # nothing about the order
    # A new message puts the same link in it again: it opens the page again.
    assert _token(now) == opened
    assert _get(local, opened)["statusCode"] == 200


def test_a_revoked_link_offers_a_new_one_and_the_next_message_has_another(
    local: Any, opened: str, now: Any
) -> None:
    assert page_links.revoke(SHOP, CASE_ID, now=now[0]) is True
    answer = _get(local, opened)
    assert answer["statusCode"] == 410 and "Email me a new link" in answer["body"]
    fresh = _token(now)
    assert fresh != opened
    assert _get(local, fresh)["statusCode"] == 200
    assert _get(local, opened)["statusCode"] == 410


def test_a_forged_token_gets_the_generic_page_without_reading_the_table(
    local: Any, opened: str
) -> None:
    forged = opened[:-1] + ("A" if opened[-1] != "A" else "B")
    with FaultPlan() as plan:
        answer = _get(local, forged)
    assert answer["statusCode"] == 404
    assert "This link is not valid" in answer["body"]
    assert "demo-electronics" not in answer["body"] and "new link" not in answer["body"]
    assert not [call for call in plan.invocations if call[0] == "dynamodb"]
    # A well-signed link id the table does not know looks exactly the same.
    unknown = links.sign_page(links.new_page_id(), secret=get_settings().link_secrets()[0])
    other = _get(local, unknown)
    assert other["statusCode"] == 404
    strip = re.compile(r"nonce(=\"|-)[A-Za-z0-9_-]+")
    assert strip.sub("", other["body"]) == strip.sub("", answer["body"])
    assert _get(local, "short")["statusCode"] == 404


def test_shop_redact_finds_the_links_mapping_through_the_shop_index(
    local: Any, opened: str
) -> None:
    from recoup.store import keys
    from recoup.store.models import shop_part

    link_id = links.verify_page(opened, secrets=get_settings().link_secrets())
    indexed = set(keys.list_index_keys("shop", "shop_part", shop_part(SHOP, CASE_ID)))
    assert (f"PAGE#{link_id}", "META") in indexed  # deleted by key, like a cross reference
    # and the case's own link item lives in the case's partition, deleted with it
    assert (f"CASE#{SHOP}#{CASE_ID}", "PAGE") in set(keys.list_keys(f"CASE#{SHOP}#{CASE_ID}"))


def test_a_corrected_address_closes_the_page_sent_to_the_old_one(
    local: Any, opened: str, now: Any
) -> None:
    # Given the page link sent to the order's (mistyped) email
    assert _get(local, opened)["statusCode"] == 200
    # When the merchant corrects the email on the order
    order = discounted_order()
    order["email"] = order["contact_email"] = "sofia.alvarez@example.org"
    order["customer"] = {**order["customer"], "email": "sofia.alvarez@example.org"}
    order["updated_at"] = (OPENED + timedelta(minutes=30)).isoformat()
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/updated")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    # Then the old link opens nothing, and the next message carries a new one
    assert _get(local, opened)["statusCode"] == 410
    fresh = _token(now)
    assert fresh != opened and _get(local, fresh)["statusCode"] == 200


def test_erasing_the_customer_closes_their_page(local: Any, opened: str, now: Any) -> None:
    # Given the customer's page open
    assert _get(local, opened)["statusCode"] == 200
    # When Shopify asks to erase the customer of the order
    from recoup.integrations.shopify_privacy import PrivacyJob
    from recoup.services import erasure

    subject = {"id": EXPIRED["customer"]["id"], "email": EXPIRED["email"]}
    job = PrivacyJob(
        "customers/redact", SHOP, "wh-redact", {"customer": subject, "orders_to_redact": []}
    )
    erasure.redact_customer(job, now=now[0])
    # Then the link opens nothing that was theirs, and offers no fresh link to an erased address
    answer = _get(local, opened)
    assert answer["statusCode"] == 410
    assert EXPIRED["email"] not in answer["body"]
    assert "/new-link" not in answer["body"] and "me a new link" not in answer["body"]
    # and a POST asking for one anyway sends nothing
    before = len(sent_messages(local.stack.region))
    asked = _post(local, opened, "new-link", {}, csrf=_form_token_for(opened, now))
    assert asked["statusCode"] == 200
    assert "We cannot send you a new link" in asked["body"]
    assert len(sent_messages(local.stack.region)) == before


# ------------------------------------------------------------------------------ safety


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        (None, {}),
        ("wrong", {}),
        ("expired", {}),
        ("valid", {"Origin": "https://evil.example"}),
        ("valid", {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["missing", "wrong", "expired", "cross-site-origin", "cross-site-fetch"],
)
def test_a_post_without_a_valid_form_token_or_from_another_site_is_refused(
    local: Any, opened: str, now: Any, csrf: str | None, headers: dict[str, str]
) -> None:
    if csrf == "wrong":  # issued now, so only its MAC is wrong
        csrf = f"{int(now[0].timestamp())}.bm90LWEtbWFjLW5vdC1hLW1hYw"
    elif csrf == "expired":
        csrf = _form_token(_get(local, opened)["body"])
        now[0] += timedelta(hours=2, minutes=1)
    elif csrf == "valid":
        csrf = _form_token(_get(local, opened)["body"])
    before = _trail_kinds()
    answer = _post(
        local, opened, "report", {"kind": "dispute", "note": ""}, csrf=csrf, headers=headers
    )
    assert answer["statusCode"] == 403
    assert "Please reload the page" in answer["body"]
    assert _trail_kinds() == before


def test_a_form_token_of_another_link_is_refused(local: Any, opened: str, now: Any) -> None:
    other = links.sign_form(
        links.new_page_id(), now=now[0], secret=get_settings().link_secrets()[0]
    )
    answer = _post(local, opened, "report", {"kind": "dispute"}, csrf=other)
    assert answer["statusCode"] == 403


def test_posts_past_the_hourly_limit_get_429_until_the_hour_is_over(
    local: Any, opened: str, now: Any
) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    fields = {"email_on": "1", "sms_on": "1", "lang": "de"}
    for _ in range(case_pages.POSTS_PER_HOUR):
        assert _post(local, opened, "preferences", fields, csrf=csrf)["statusCode"] == 303
    refused = _post(local, opened, "preferences", fields, csrf=csrf)
    assert refused["statusCode"] == 429
    assert "Bitte versuchen Sie es später erneut" in refused["body"]
    assert 0 < int(refused["headers"]["Retry-After"]) <= 3600
    # The counter is the hour's: the next hour takes requests again.
    now[0] = now[0].replace(minute=0, second=0) + timedelta(hours=1)
    csrf = _form_token(_get(local, opened)["body"])
    assert _post(local, opened, "preferences", fields, csrf=csrf)["statusCode"] == 303


# ------------------------------------------------------------------------------ the forms


def test_a_promise_lands_on_the_trail_and_the_page_shows_it(
    local: Any, opened: str, now: Any
) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    pay_by = (now[0] + timedelta(days=5)).date().isoformat()
    answer = _post(
        local, opened, "promise", {"pay_by": pay_by, "note": "Payday", "lang": "en"}, csrf=csrf
    )
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == f"/c/{opened}?lang=en&done=promise"
    assert "customer.promise" in _trail_kinds()
    page = _get(local, opened, "lang=en&done=promise")["body"]
    assert "Your promise to pay is recorded" in page
    assert "You have promised to pay by" in page


def test_a_bad_promise_date_is_shown_next_to_the_field_and_keeps_the_note(
    local: Any, opened: str
) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    answer = _post(
        local, opened, "promise", {"pay_by": "2001-01-01", "note": "my words"}, csrf=csrf
    )
    assert answer["statusCode"] == 400
    html = answer["body"]
    assert 'aria-invalid="true" aria-describedby="error-pay_by"' in html
    assert 'id="error-pay_by"' in html
    assert ">my words</textarea>" in html
    assert "customer.promise" not in _trail_kinds()


def test_not_mine_is_reported_and_reminders_pause(local: Any, opened: str) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    answer = _post(local, opened, "report", {"kind": "not_mine", "note": "not me"}, csrf=csrf)
    assert answer["statusCode"] == 303
    assert "customer.not_mine" in _trail_kinds()
    page = _get(local, opened)["body"]
    assert "Reminders are paused: You told us you did not place this order." in page
    assert "Next reminder" not in page


def test_preferences_are_saved_on_the_trail(local: Any, opened: str) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    fields = {
        "email_on": "1",
        "preferred": "email",
        "avoid_days": ["0", "1"],
        "avoid_from": "09:00",
        "avoid_until": "17:00",
        "language": "",
    }
    answer = _post(local, opened, "preferences", fields, csrf=csrf)
    assert answer["statusCode"] == 303
    assert "customer.preferences" in _trail_kinds()
    page = _get(local, opened)["body"]
    assert 'id="sms_on" name="sms_on" value="1">' in page  # unchecked now
    assert 'value="09:00"' in page


def test_the_next_reminder_is_shown_in_the_customers_time(local: Any, opened: str) -> None:
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None and stored.dunning is not None
    # The first step (email) is due 2026-11-04 19:05:40 UTC: 14:05 in Massachusetts (EST).
    assert stored.dunning.next_at == datetime(2026, 11, 4, 19, 5, 40, tzinfo=UTC)
    page = _get(local, opened)["body"]
    assert "Next reminder: by email on November 4, 2026 at 2:05\u202fPM (your time)." in page


def test_the_next_reminder_waits_out_the_customers_avoided_times(local: Any, opened: str) -> None:
    # Given the customer asked not to be contacted on Wednesdays from 09:00 to 17:00
    csrf = _form_token(_get(local, opened)["body"])
    fields = {
        "email_on": "1",
        "sms_on": "1",
        "avoid_days": ["2"],
        "avoid_from": "09:00",
        "avoid_until": "17:00",
    }
    assert _post(local, opened, "preferences", fields, csrf=csrf)["statusCode"] == 303
    # Then the page shows the step due Wednesday 14:05 as the sender will send it: at 17:00
    page = _get(local, opened)["body"]
    assert "Next reminder: by email on November 4, 2026 at 5:00\u202fPM (your time)." in page


def test_an_opted_out_email_is_neither_the_next_reminder_nor_the_fresh_links_channel(
    local: Any, opened: str, now: Any
) -> None:
    from recoup.store import contacts
    from recoup.store.models import shop_pk

    # Given the customer unsubscribed their email from the shop's messages
    contacts.update(
        shop_pk(SHOP),
        contacts.contact_sk(EXPIRED["email"]),
        now=now[0],
        reason="unsubscribe link",
        email_opt_out=True,
    )
    # Then the page announces no email reminder (the first step is email only)
    assert "Next reminder" not in _get(local, opened)["body"]
    # and a fresh link goes by SMS to the number on file, not to the email
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    expired = _get(local, opened)["body"]
    assert "Text me a new link" in expired and "Email me a new link" not in expired
    answer = _post(local, opened, "new-link", {}, csrf=_form_token(expired))
    assert answer["statusCode"] == 303
    sent = sent_messages(local.stack.region)
    assert [m.to for m in sent if m.kind == "sms"] == ["+15085550163"]
    assert not [m for m in sent if m.kind == "email"]
    # and when SMS is opted out too (STOP), nothing may reach them: the page says so
    contacts.update(
        shop_pk(SHOP),
        contacts.contact_sk("+15085550163"),
        now=now[0],
        reason="STOP",
        sms_opt_out=True,
    )
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    now[0] += timedelta(hours=1)
    expired = _get(local, opened)["body"]
    assert "/new-link" not in expired
    refused = _post(local, opened, "new-link", {}, csrf=_form_token_for(opened, now))
    assert "We cannot send you a new link" in refused["body"]
    assert len(sent_messages(local.stack.region)) == len(sent)


def test_not_mine_or_a_fraud_hold_asks_for_no_payment_and_takes_no_promise(
    local: Any, opened: str
) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    assert _post(local, opened, "report", {"kind": "not_mine"}, csrf=csrf)["statusCode"] == 303
    page = _get(local, opened)["body"]
    assert "/pay/" not in page and "$2,399.00 now" not in page
    assert "/promise" not in page and "Promise to pay" not in page
    assert "is looking into this order. Until then, there is nothing to pay" in page
    # and a promise posted anyway is not taken
    pay_by = "2026-11-20"
    answer = _post(local, opened, "promise", {"pay_by": pay_by}, csrf=csrf)
    assert answer["statusCode"] in (400, 409)
    assert "customer.promise" not in _trail_kinds()


def test_an_uninstalled_shops_page_is_closed_and_sends_nothing(
    local: Any, opened: str, now: Any
) -> None:
    from recoup.store import shops

    # Given the shop uninstalled the app
    # (the local shop was installed at the wall clock's time: the uninstall comes after)
    assert shops.mark_uninstalled(SHOP, at=datetime.now(UTC))
    shops.forget(SHOP)
    # Then its page offers nothing to do and announces no reminder
    page = _get(local, opened)["body"]
    assert "There is nothing to pay on this page" in page
    assert "/pay/" not in page and "<form" not in page and "Next reminder" not in page
    # and a form posted anyway changes nothing
    answer = _post(local, opened, "report", {"kind": "dispute"}, csrf=_form_token_for(opened, now))
    assert answer["statusCode"] == 409
    assert "customer.dispute" not in _trail_kinds()
    # and an expired link offers no fresh one, nor sends one when asked
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    expired = _get(local, opened)["body"]
    assert "/new-link" not in expired
    _post(local, opened, "new-link", {}, csrf=_form_token_for(opened, now))
    assert not [m for m in sent_messages(local.stack.region) if "new link" in m.subject]


def _form_token_for(token: str, now: Any) -> str:
    """A valid form token of a page link, as a page that shows no form would have made."""
    link_id = links.verify_page(token, secrets=get_settings().link_secrets())
    return links.sign_form(link_id, now=now[0], secret=get_settings().link_secrets()[0])


def test_the_page_does_not_say_when_the_order_was_placed(local: Any, opened: str) -> None:
    # The case's opening is not the order's creation: the page does not pass one for it.
    assert "Placed on" not in _get(local, opened)["body"]


def test_money_follows_the_customers_full_locale(local: Any, now: Any) -> None:
    order = discounted_order()
    order["customer_locale"] = "de-CH"
    body = json.dumps(order).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    local.lambdas.drain()
    html = _get(local, _token(now))["body"]
    assert '<html lang="de">' in html
    assert "2’399.00" in html  # Swiss grouping, not German "2.399,00"
    assert "2.399,00" not in html


# ------------------------------------------------------------------------------ a fresh link


def _ses_tags(local: Any) -> list[dict[str, str]]:
    """The EmailTags of every SendEmail made from now on, as SES gets them."""
    from recoup import aws

    sent: list[dict[str, str]] = []
    aws.send_client("sesv2").meta.events.register(
        "provide-client-params.sesv2.SendEmail",
        lambda params, **_: sent.append({t["Name"]: t["Value"] for t in params["EmailTags"]}),
    )
    return sent


def test_a_fresh_link_is_emailed_to_the_address_on_file_once(
    local: Any, opened: str, now: Any
) -> None:
    now[0] += timedelta(days=181)
    tags = _ses_tags(local)
    csrf = _form_token(_get(local, opened)["body"])
    answer = _post(
        local, opened, "new-link", {"lang": "en", "email": "attacker@example.com"}, csrf=csrf
    )
    assert answer["statusCode"] == 303
    # tagged as every message of the shop, so feedback finds its bounces and complaints
    assert tags == [{"shop": SHOP.replace(".", "_"), "kind": "page_link"}]
    # and said on the case's trail by channel, never by address
    (entry,) = [e for e in cases.timeline(SHOP, CASE_ID) if e.body.get("kind") == NEW_LINK]
    assert "sent by email" in str(entry.body["summary"])
    assert EXPIRED["email"] not in json.dumps(entry.body)
    mails = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]
    (mail,) = [m for m in mails if "new link" in str(m["Subject"])]
    assert mail["To"] == EXPIRED["email"]
    assert mail["List-Unsubscribe"]
    fresh = re.search(r"/c/([A-Za-z0-9_-]{24})", mail.get_body(("plain",)).get_content())
    assert fresh is not None and fresh[1] != opened
    assert _get(local, fresh[1])["statusCode"] == 200
    assert _get(local, opened)["statusCode"] == 410
    # One an hour per case.
    csrf = _form_token(_get(local, opened)["body"])
    assert _post(local, opened, "new-link", {}, csrf=csrf)["statusCode"] == 429


def test_an_old_link_cannot_close_the_customers_current_one(
    local: Any, opened: str, now: Any
) -> None:
    # Given link A revoked, and the next message carrying link B
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    current = _token(now)
    assert current != opened and _get(local, current)["statusCode"] == 200
    # When someone holding the old link A asks for a new one
    csrf = _form_token(_get(local, opened)["body"])
    assert _post(local, opened, "new-link", {}, csrf=csrf)["statusCode"] == 303
    # Then B, signed again, is what is sent, and B still opens the page
    (mail,) = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if "new link" in m.subject
    ]
    sent = re.search(r"/c/([A-Za-z0-9_-]{24})", mail.get_body(("plain",)).get_content())
    assert sent is not None and sent[1] == current
    assert _get(local, current)["statusCode"] == 200
    assert _get(local, opened)["statusCode"] == 410


def test_a_lost_ses_answer_on_a_fresh_link_is_not_sent_again_and_the_customer_told_to_look(
    local: Any, opened: str, now: Any
) -> None:
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    csrf = _form_token(_get(local, opened)["body"])
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")
        answer = _post(local, opened, "new-link", {"lang": "en"}, csrf=csrf)
    assert [c for c in plan.invocations if c == ("sesv2", "SendEmail")] == [("sesv2", "SendEmail")]
    assert answer["statusCode"] == 200
    # 20:05 UTC is 15:05 in Massachusetts: the hour's one request is spent until 16:00.
    assert (
        "A new link may be on its way. Please check your messages; if nothing arrives, "
        "ask again after 4:00\u202fPM (your time)."
    ) in answer["body"]
    assert "could not send" not in answer["body"]
    assert NEW_LINK in _trail_kinds()


def test_a_refused_fresh_link_is_tried_once_and_the_customer_told_to_try_later(
    local: Any, opened: str, now: Any
) -> None:
    assert page_links.revoke(SHOP, CASE_ID, now=now[0])
    csrf = _form_token(_get(local, opened)["body"])
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "reject")
        answer = _post(local, opened, "new-link", {}, csrf=csrf)
    assert answer["statusCode"] == 503
    assert "We could not send a new link just now. Please try again later." in answer["body"]
    assert NEW_LINK not in _trail_kinds()
    # The hour's one attempt is spent: asking again at once sends nothing.
    csrf = _form_token(_get(local, opened)["body"])
    with FaultPlan() as plan:
        assert _post(local, opened, "new-link", {}, csrf=csrf)["statusCode"] == 429
    assert ("sesv2", "SendEmail") not in plan.invocations


# ------------------------------------------------------------------------------ unsubscribe


def test_the_unsubscribe_page_speaks_the_links_language_else_the_browsers(
    local: Any, now: Any
) -> None:
    token = links.sign_unsubscribe(SHOP, "x", now=now[0], secret=get_settings().link_secrets()[0])
    path = f"/unsubscribe?{urlencode({'t': token, 'lang': 'de'})}"
    german = local.lambdas.invoke_http("GET", path, {}, b"")
    assert german["statusCode"] == 200
    assert "Zahlungserinnerungen per E-Mail abbestellen?" in german["body"]
    assert german["headers"]["Referrer-Policy"] == "no-referrer"
    path = f"/unsubscribe?{urlencode({'t': token})}"
    japanese = local.lambdas.invoke_http("GET", path, {"Accept-Language": "ja-JP,en;q=0.5"}, b"")
    assert "支払いのリマインダーメールを停止しますか" in japanese["body"]
    done = local.lambdas.invoke_http("POST", path, {"Accept-Language": "fr"}, b"")
    assert done["statusCode"] == 200 and "ne vous enverra plus" in done["body"]


# ------------------------------------------------------------------ answers to bad requests


def _page_headers_and_language(answer: Any, language: str) -> None:
    headers = answer["headers"]
    assert f'<html lang="{language}">' in answer["body"]
    nonce = re.search(r"'nonce-([^']+)'", headers["Content-Security-Policy"])
    assert nonce and f'<style nonce="{nonce[1]}">' in answer["body"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_a_form_with_too_many_fields_is_refused_as_too_large_before_the_token_is_read(
    local: Any, opened: str
) -> None:
    body = "&".join(f"f{i}=x" for i in range(60)).encode()
    with FaultPlan() as plan:
        answer = local.lambdas.invoke_http(
            "POST",
            f"/c/{opened}/report",
            {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "fr"},
            body,
        )
    assert answer["statusCode"] == 413
    assert "Le formulaire envoyé est trop volumineux" in answer["body"]
    _page_headers_and_language(answer, "fr")
    assert not [call for call in plan.invocations if call[0] == "dynamodb"]


def test_an_unknown_form_is_answered_by_the_page_and_its_token_never_logged(
    local: Any, opened: str
) -> None:
    import io
    import logging
    from typing import cast

    from recoup.observability import logger

    buffer = io.StringIO()
    handler = cast(logging.StreamHandler, logger.registered_handler)
    previous = handler.setStream(buffer)
    try:
        answer = _post(local, opened, "bogus", {}, csrf=None, headers={"Accept-Language": "ja"})
        nowhere = local.lambdas.invoke_http("POST", f"/c/{opened}/a/b?lang=de", {}, b"")
    finally:
        handler.setStream(previous)
    assert answer["statusCode"] == 404
    assert "このページは存在しません" in answer["body"]
    _page_headers_and_language(answer, "ja")
    assert nowhere["statusCode"] == 404
    _page_headers_and_language(nowhere, "de")
    logged = buffer.getvalue()
    assert "Customer page request refused" in logged
    assert opened not in logged and "/c/{token}" in logged


def test_a_fault_of_ours_is_answered_by_the_page_in_the_customers_language(
    local: Any, opened: str
) -> None:
    with FaultPlan() as plan:
        plan.fail("dynamodb", "GetItem", "server_error", nth=0)
        answer = _get(local, opened, "lang=es")
    assert answer["statusCode"] == 500
    assert "Algo salió mal por nuestra parte" in answer["body"]
    _page_headers_and_language(answer, "es")


# ------------------------------------------------------------------------------ notes and errors


def test_a_notes_line_breaks_count_once(local: Any, opened: str) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    note = "line\r\n" * 190  # 1140 characters as the browser sends them, 950 as text
    answer = _post(local, opened, "report", {"kind": "dispute", "note": note}, csrf=csrf)
    assert answer["statusCode"] == 303
    assert "customer.dispute" in _trail_kinds()


def test_a_note_with_control_characters_is_refused_in_its_own_words(
    local: Any, opened: str
) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    answer = _post(local, opened, "report", {"kind": "dispute", "note": "hi\x07there"}, csrf=csrf)
    assert answer["statusCode"] == 400
    html = answer["body"]
    assert "Your note contains characters that cannot be sent" in html
    assert "at most 1000 characters" not in html
    assert 'aria-describedby="error-note"' in html
    long = _post(local, opened, "report", {"kind": "dispute", "note": "x" * 1001}, csrf=csrf)
    assert "Your note can be at most 1000 characters long." in long["body"]


def test_group_errors_are_tied_to_their_fieldset(local: Any, opened: str) -> None:
    csrf = _form_token(_get(local, opened)["body"])
    report = _post(local, opened, "report", {"note": ""}, csrf=csrf)["body"]
    assert '<fieldset aria-invalid="true" aria-describedby="error-kind">' in report
    assert 'id="error-kind"' in report
    fields = {"email_on": "1", "avoid_from": "09:00", "avoid_until": "17:00"}
    prefs = _post(local, opened, "preferences", fields, csrf=csrf)
    assert prefs["statusCode"] == 400
    assert '<fieldset aria-invalid="true" aria-describedby="error-avoid_days">' in prefs["body"]
