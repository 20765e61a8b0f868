"""A shop's own version of a template per language, through the admin API and the sender:
a message uses the version of its customer's language, else the shipped template in that
language, never another language's version; each version is read, saved, previewed and
dropped on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest

from recoup import clock
from recoup.services import message_templates
from recoup.store import shops
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, event_json, shopify_headers
from tests.integration.test_admin_api import call

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PENDING = event_json("shopify/order_pending.json")
OPENED = datetime.fromisoformat(PENDING["updated_at"]).astimezone(UTC)
GERMAN_SUBJECT = {"subject": "Ihre Bestellung {{ order_name }} ist noch offen"}
# An override saved before templates had languages: the shop's English version.
OLD_ENGLISH = {"friendly": {"subject": "Still open: {{ order_name }}"}}


def order(number: int, locale: str) -> bytes:
    """The pending order of a customer of their own, writing in `locale`."""
    body = json.loads(json.dumps(PENDING))
    email = f"customer{number}@example.com"
    body.update(
        id=PENDING["id"] + number,
        name=f"#{2000 + number}",
        order_number=2000 + number,
        email=email,
        contact_email=email,
        customer_locale=locale,
        browser_ip=f"203.0.113.{100 + number}",
    )
    if isinstance(body.get("customer"), dict):
        body["customer"]["email"] = email
        body["customer"]["id"] = body["customer"].get("id", 1) + number
    return json.dumps(body).encode()


def first_reminders(local: Any, locales: dict[int, str]) -> dict[str, Any]:
    """Each customer's first reminder email, by the customer's locale: their orders placed
    when the pending order was, the scheduler run after the first step is due."""
    now = OPENED
    clock.use(lambda: now)
    try:
        for number, locale in locales.items():
            body = order(number, locale)
            headers = shopify_headers(body, local.shopify_secret, "orders/create")
            answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
            assert answer["statusCode"] == 200
            local.lambdas.drain()
        now = OPENED + timedelta(days=1, hours=2)
        local.lambdas.run_schedules(now)
        local.lambdas.drain()
    finally:
        clock.use(None)
    mails = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]
    by_address = {str(mail["To"]): mail for mail in mails}
    return {
        locale: by_address[f"customer{number}@example.com"] for number, locale in locales.items()
    }


def test_each_customer_gets_the_shops_version_in_their_language_or_the_shipped_one(
    local: Any,
) -> None:
    # Given the shop's old override of "friendly" (no language: its English version), and
    # a German subject saved through the editor
    shops.save_templates(SHOP, json.loads(json.dumps(OLD_ENGLISH)))
    status, saved = call(local, "PUT", "/templates/friendly?lang=de", {"parts": GERMAN_SUBJECT})
    assert (status, saved["language"], saved["parts"]) == (200, "de", GERMAN_SUBJECT)
    assert saved["languages"] == ["en", "de"]
    # When an English, a German and a French customer get their first reminder
    mails = first_reminders(local, {1: "en-US", 2: "de-DE", 3: "fr-FR"})
    # Then the German one has the German subject; the English one the old English override
    assert mails["de-DE"]["Subject"] == "Ihre Bestellung #2002 ist noch offen"
    assert mails["en-US"]["Subject"] == "Still open: #2001"
    # And the French one the shipped French template, none of the shop's versions
    french = mails["fr-FR"]
    assert french["Subject"] not in ("Still open: #2003", "Ihre Bestellung #2003 ist noch offen")
    assert "#2003" in french["Subject"]
    assert '<html lang="fr"' in french.get_body(("html",)).get_content()
    # And the German body is the shipped German one around the shop's subject
    assert '<html lang="de"' in mails["de-DE"].get_body(("html",)).get_content()


def test_each_language_is_read_saved_and_dropped_on_its_own(local: Any) -> None:
    # Given an English and a German version of "friendly"
    english = {"sms": "{{ shop_name }}: {{ order_name }} is open. {{ pay_url }} STOP"}
    german = {"sms": "{{ shop_name }}: {{ order_name }} ist offen. {{ pay_url }} STOP"}
    assert call(local, "PUT", "/templates/friendly", {"parts": english})[0] == 200
    assert call(local, "PUT", "/templates/friendly?lang=de", {"parts": german})[0] == 200
    # When the German one is read / Then its parts, and the shipped text in German
    status, found = call(local, "GET", "/templates/friendly?lang=de")
    assert (status, found["language"], found["parts"]) == (200, "de", german)
    assert found["builtin_parts"] == message_templates.builtin_parts("friendly", "de")
    assert "Zahlung" in found["builtin_parts"]["subject"] + found["builtin_parts"]["text"]
    assert found["languages"] == ["en", "de"]
    # And without a language, the English one, with the English shipped text
    status, found = call(local, "GET", "/templates/friendly")
    assert (found["language"], found["parts"]) == ("en", english)
    assert found["builtin_parts"] == message_templates.builtin_parts("friendly")
    # And the list says which languages each template is customised in
    rows = {row["name"]: row for row in call(local, "GET", "/templates")[1]["templates"]}
    assert (rows["friendly"]["languages"], rows["friendly"]["customised"]) == (["en", "de"], True)
    assert (rows["firm"]["languages"], rows["firm"]["customised"]) == ([], False)
    # When the German one is dropped / Then only it: English stays, on either path
    status, answer = call(local, "DELETE", "/templates/friendly?lang=de")
    assert (status, answer["parts"], answer["languages"]) == (200, {}, ["en"])
    assert call(local, "GET", "/settings/templates/friendly")[1]["parts"] == english
    # And saving German again leaves English as it is
    assert call(local, "PUT", "/settings/templates/friendly?lang=de", {"parts": german})[0] == 200
    assert call(local, "GET", "/templates/friendly?lang=en")[1]["parts"] == english


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
def test_a_language_not_supported_is_refused_naming_lang(local: Any, method: str) -> None:
    path = "/templates/friendly" + ("/preview" if method == "POST" else "") + "?lang=pt"
    body = {"parts": GERMAN_SUBJECT} if method in ("PUT", "POST") else None
    status, answer = call(local, method, path, body)
    assert (status, answer["error"], answer["field"]) == (400, "invalid_parameter", "lang")
    assert "de" in answer["message"] and "ja" in answer["message"]
    # And nothing was stored
    assert call(local, "GET", "/templates/friendly?lang=de")[1]["parts"] == {}


def test_a_draft_is_previewed_in_its_language(local: Any) -> None:
    # Given a German draft of the subject only / When previewed in German
    path = "/templates/friendly/preview?lang=de"
    status, shown = call(local, "POST", path, {"parts": GERMAN_SUBJECT})
    # Then the subject is the draft, and the rest the shipped German template
    assert (status, shown["ok"]) == (200, True)
    assert shown["email"]["subject"].startswith("Ihre Bestellung #")
    assert '<html lang="de"' in shown["email"]["html"]
    # And in Japanese, the shipped Japanese template around it
    status, shown = call(local, "POST", "/templates/friendly/preview?lang=ja", {"parts": {}})
    assert '<html lang="ja"' in shown["email"]["html"]
    assert "\u3054" in shown["email"]["text"] or "\u6ce8\u6587" in shown["email"]["text"]


def test_a_draft_is_previewed_worded_for_the_situation_chosen(local: Any) -> None:
    # Given the friendly template, previewed as it is worded when nothing more is known
    path = "/templates/friendly/preview?lang=en"
    status, usual = call(local, "POST", path, {"parts": {}})
    assert status == 200 and "/pay/" in usual["email"]["html"]
    # When it is worded for the notice before an unpaid order is cancelled
    status, notice = call(local, "POST", path + "&situation=order_cancelled", {"parts": {}})
    # Then the preview says so, and offers no way to pay
    assert status == 200, notice
    assert "being cancelled" in notice["email"]["text"]
    assert "/pay/" not in notice["email"]["html"] and "/pay/" not in notice["email"]["text"]
    # And worded for the courtesy reminder it states the sample terms' due date
    status, courtesy = call(local, "POST", path + "&situation=payment_due_soon", {"parts": {}})
    assert status == 200 and "is due on" in courtesy["email"]["text"]
    assert "is due on" not in usual["email"]["text"]
    # And a situation that is none is refused, naming the parameter
    status, answer = call(local, "POST", path + "&situation=late", {"parts": {}})
    assert (status, answer["error"], answer["field"]) == (400, "invalid_parameter", "situation")
    assert "order_cancelled" in answer["message"]


def test_a_template_of_the_shops_own_keeps_its_languages_apart(local: Any) -> None:
    # Given the shop's own SMS template in German only
    german = {"sms": "{{ shop_name }}: {{ order_name }} ist offen. {{ pay_url }} STOP"}
    assert call(local, "PUT", "/templates/holiday?lang=de", {"parts": german})[0] == 200
    rows = {row["name"]: row for row in call(local, "GET", "/templates")[1]["templates"]}
    assert (rows["holiday"]["channels"], rows["holiday"]["languages"]) == (["sms"], ["de"])
    # Then it has no English version to drop, and no shipped text in any language
    status, answer = call(local, "DELETE", "/templates/holiday?lang=en")
    assert (status, answer["error"]) == (404, "not_found")
    assert call(local, "GET", "/templates/holiday?lang=de")[1]["builtin_parts"] is None
    # Given a step using it / When its last language is dropped / Then refused while used
    _, current = call(local, "GET", "/settings/reminders")
    steps = current["policy"]["steps"]
    steps[2]["template"] = "holiday"
    assert (
        call(local, "PUT", "/settings/reminders", {"version": 0, "policy": current["policy"]})[0]
        == 200
    )
    status, answer = call(local, "DELETE", "/templates/holiday?lang=de")
    assert (status, answer["error"]) == (409, "template_in_use")
    # And with an English version too, the German one may go: the template stays
    assert call(local, "PUT", "/templates/holiday", {"parts": german})[0] == 200
    status, answer = call(local, "DELETE", "/templates/holiday?lang=de")
    assert (status, answer["languages"]) == (200, ["en"])


def test_two_languages_saved_at_once_are_both_kept(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a German save that lands between an English save's read and its write
    from recoup.services import shops as shop_service

    german = {"sms": "{{ shop_name }}: {{ order_name }} ist offen. {{ pay_url }} STOP"}
    english = {"sms": "{{ shop_name }}: {{ order_name }} is open. {{ pay_url }} STOP"}
    write = shops.replace_templates
    raced: list[bool] = []

    def racing(shop: str, templates: dict[str, Any], *, read: Any) -> bool:
        if not raced:
            raced.append(True)
            assert write(shop, {"friendly": {"languages": {"de": german}}}, read=read)
        return write(shop, templates, read=read)

    monkeypatch.setattr(shops, "replace_templates", racing)
    # When the English one is written / Then it is refused once, read again, and both stay
    shop_service.set_template(SHOP, "friendly", english)
    assert raced == [True]
    stored = shops.get_fresh(SHOP)
    assert stored is not None
    assert stored.templates == {"friendly": {"sms": english["sms"], "languages": {"de": german}}}
