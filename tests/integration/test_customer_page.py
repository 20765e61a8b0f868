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
from recoup.services import case_pages, cases
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_json, shopify_headers
from tests.faults import FaultPlan

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
    url = case_pages.link_for(stored, now=now[0])
    assert url is not None
    return url.rsplit("/c/", 1)[1]


def _get(local: Any, token: str, query: str = "", headers: dict[str, str] | None = None) -> Any:
    path = f"/c/{token}" + (f"?{query}" if query else "")
    answer = local.lambdas.invoke_http("GET", path, headers or {}, b"")
    assert answer is not None
    return answer


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found[1]


def _post(
    local: Any,
    token: str,
    action: str,
    fields: dict[str, Any],
    *,
    csrf: str | None,
    headers: dict[str, str] | None = None,
) -> Any:
    form = {**fields, **({"csrf": csrf} if csrf is not None else {})}
    body = urlencode(form, doseq=True).encode()
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    answer = local.lambdas.invoke_http("POST", f"/c/{token}/{action}", sent, body)
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
        url = case_pages.link_for(stored, now=now[0])
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
    assert case_pages.revoke(SHOP, CASE_ID, now=now[0]) is True
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


# ------------------------------------------------------------------------------ safety


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        (None, {}),
        ("1700000000.bm90LWEtbWFj", {}),
        ("expired", {}),
        ("valid", {"Origin": "https://evil.example"}),
        ("valid", {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["missing", "wrong", "expired", "cross-site-origin", "cross-site-fetch"],
)
def test_a_post_without_a_valid_form_token_or_from_another_site_is_refused(
    local: Any, opened: str, now: Any, csrf: str | None, headers: dict[str, str]
) -> None:
    if csrf == "expired":
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
    assert stored is not None and stored.dunning is not None and stored.dunning.next_at
    page = _get(local, opened)["body"]
    assert re.search(r"Next reminder: by (email|SMS) on \w+ \d+, \d{4} at ", page), page


# ------------------------------------------------------------------------------ a fresh link


def test_a_fresh_link_is_emailed_to_the_address_on_file_once(
    local: Any, opened: str, now: Any
) -> None:
    now[0] += timedelta(days=181)
    csrf = _form_token(_get(local, opened)["body"])
    answer = _post(
        local, opened, "new-link", {"lang": "en", "email": "attacker@example.com"}, csrf=csrf
    )
    assert answer["statusCode"] == 303
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


def test_an_ses_fault_on_a_fresh_link_is_tried_once_and_the_customer_told_to_try_later(
    local: Any, opened: str, now: Any
) -> None:
    assert case_pages.revoke(SHOP, CASE_ID, now=now[0])
    csrf = _form_token(_get(local, opened)["body"])
    with FaultPlan() as plan:
        plan.fail("sesv2", "SendEmail", "timeout_after")
        answer = _post(local, opened, "new-link", {}, csrf=csrf)
    assert [c for c in plan.invocations if c == ("sesv2", "SendEmail")] == [("sesv2", "SendEmail")]
    assert answer["statusCode"] == 503
    assert "Please try again later" in answer["body"]
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
