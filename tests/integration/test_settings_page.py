"""The settings page's API through the admin function: one all-or-nothing save of its
sections (a 409 carrying what is saved now), steps that may only use templates the shop has,
the templates and their editor's preview in the sending sandbox, and the step to add."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from recoup.channels import i18n
from recoup.channels.render import EmailOverride, render_email, render_sms, templates_dir
from recoup.domain.cadence import BUILTIN_TEMPLATES
from recoup.store import policies
from tests.conftest import SHOP
from tests.integration.test_admin_api import call
from tests.unit.test_render import make_ctx

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SMS_ONLY = {"parts": {"sms": "{{ shop_name }}: {{ order_name }} is open. {{ pay_url }} STOP"}}


def _step(**changes: Any) -> dict[str, Any]:
    step = {
        "delay": "3d",
        "anchor": "previous",
        "channel": "email",
        "template": "firm",
        "tone": "firm",
        "pay_link": True,
    }
    return {**step, **changes}


# ---------------------------------------------------------------- templates in the cadence


def test_a_step_naming_a_template_the_shop_lacks_is_refused_by_number(local: Any) -> None:
    # Given the default cadence, its second step set to a template nobody has
    _, current = call(local, "GET", "/settings/reminders")
    policy = copy.deepcopy(current["policy"])
    policy["steps"][1]["template"] = "nonexistent_tpl"
    # When saved / Then refused at that step's template, numbered from 1, with the choices
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    assert (status, answer["error"], answer["field"]) == (400, "invalid", "steps[1].template")
    assert answer["message"] == (
        "Step 2: no template named 'nonexistent_tpl'; choose one of final_notice, firm, friendly"
    )
    assert policies.load_doc(SHOP, policies.REMINDERS) is None

    # Given a template of the shop's own with an SMS part only
    assert call(local, "PUT", "/templates/holiday", SMS_ONLY)[0] == 200
    # When an email step uses it / Then refused: it has no email version
    policy["steps"][1].update(template="holiday", channel="email")
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    assert (status, answer["field"]) == (400, "steps[1].template")
    assert answer["message"].startswith("Step 2: the template 'holiday' has no email version")
    # When an SMS step uses it / Then saved
    policy["steps"][1]["channel"] = "sms"
    status, saved = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    assert (status, saved["policy"]["steps"][1]["template"]) == (200, "holiday")


def test_every_cadence_error_numbers_its_step_from_one(local: Any) -> None:
    # Given step 5 of 5 with a delay out of range
    _, current = call(local, "GET", "/settings/reminders")
    policy = copy.deepcopy(current["policy"])
    policy["steps"].insert(3, _step())
    policy["steps"][4]["delay"] = "99d"
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    # Then the field is the JSON path (from 0), the words say "Step 5"
    assert (status, answer["field"]) == (400, "steps[4].delay")
    assert answer["message"] == "Step 5: must be between 1h and 60d, got '99d'"


def test_every_built_in_template_previews_with_words_on_every_channel_and_tone(
    local: Any,
) -> None:
    # Given every built-in template, on each channel it has, in each tone
    blank = []
    for (name, channels), tone in itertools.product(
        BUILTIN_TEMPLATES.items(), ("friendly", "firm", "final_notice")
    ):
        for channel in ("email", "sms", "email_then_sms"):
            if channel != "email_then_sms" and channel not in channels:
                continue
            if channel == "email_then_sms" and set(channels) != {"email", "sms"}:
                continue
            step = _step(template=name, tone=tone, channel=channel)
            # When previewed
            status, shown = call(local, "POST", "/preview", {"step": step, "index": 1})
            assert status == 200, (name, channel, tone, shown)
            # Then every part the channel sends has words in it
            email, sms = shown["email"], shown["sms"]
            if "email" in channel:
                texts = [email["subject"], email["html"], email["text"]]
                blank += [(name, channel, tone) for text in texts if not text.strip()]
            if "sms" in channel:
                blank += [(name, channel, tone)] if not sms["body"].strip() else []
                # The shipped SMS are plain GSM-7: one segment, two past 160 septets
                assert sms["encoding"] == "GSM-7" and sms["text"] == sms["body"]
                assert sms["length"] == len(sms["body"])
                assert sms["segments"] == (1 if sms["length"] <= 160 else 2)
    assert blank == []


def test_previewing_a_template_the_shop_lacks_is_refused_not_replaced(local: Any) -> None:
    # Given a step naming a template nobody has / When previewed / Then 400, no shipped words
    step = _step(template="nonexistent_tpl")
    status, answer = call(local, "POST", "/preview", {"step": step, "index": 4})
    assert (status, answer["error"], answer["field"]) == (400, "unknown_template", "step.template")
    assert answer["message"].startswith("Step 5: no template named 'nonexistent_tpl'")
    # Given the built-in SMS-only template on an email step / Then refused likewise
    status, answer = call(local, "POST", "/preview", {"step": _step(template="firm_sms")})
    assert (status, answer["error"]) == (400, "unknown_template")
    assert "has no email version" in answer["message"]


# ---------------------------------------------------------------- one save for the page


def test_the_settings_page_reads_and_saves_its_sections_at_once(local: Any) -> None:
    # Given the page's sections as each route shows them
    status, whole = call(local, "GET", "/settings")
    assert status == 200
    for section in ("reminders", "fraud", "referral"):
        assert whole[section] == call(local, "GET", f"/settings/{section}")[1]
    reminders = copy.deepcopy(whole["reminders"]["policy"])
    reminders["weekly_cap"] = 4
    fraud = copy.deepcopy(whole["fraud"]["settings"])
    fraud["thresholds"] = {**fraud["thresholds"], "review": 55}
    # When all three are saved in one request
    body = {
        "reminders": {"version": 0, "policy": reminders},
        "fraud": {"version": 0, "settings": fraud},
        "referral": {"version": 0, "policy": whole["referral"]["policy"]},
    }
    status, saved = call(local, "PUT", "/settings", body)
    # Then each is at version 1 with its change, as its own route reads it
    assert status == 200
    assert [saved[s]["version"] for s in ("reminders", "fraud", "referral")] == [1, 1, 1]
    assert call(local, "GET", "/settings/reminders")[1]["policy"]["weekly_cap"] == 4
    assert call(local, "GET", "/settings/fraud")[1]["settings"]["thresholds"]["review"] == 55
    # And a later save may send one section alone
    reminders["weekly_cap"] = 6
    status, saved = call(
        local, "PUT", "/settings", {"reminders": {"version": 1, "policy": reminders}}
    )
    assert (status, saved["reminders"]["version"], saved["fraud"]["version"]) == (200, 2, 1)


def test_one_bad_section_saves_nothing_and_names_its_field_from_the_section(local: Any) -> None:
    # Given a good fraud section and reminders whose fifth step names an unknown template
    _, whole = call(local, "GET", "/settings")
    reminders = copy.deepcopy(whole["reminders"]["policy"])
    reminders["steps"].insert(3, _step(template="nonexistent_tpl"))
    fraud = {**whole["fraud"]["settings"], "thresholds": {"review": 50, "high": 90}}
    body = {
        "fraud": {"version": 0, "settings": fraud},
        "reminders": {"version": 0, "policy": reminders},
    }
    # When saved / Then 400 at the section's path, numbered in words, and nothing is stored
    status, answer = call(local, "PUT", "/settings", body)
    assert (status, answer["field"]) == (400, "reminders.steps[3].template")
    assert answer["message"].startswith("Step 4: no template named 'nonexistent_tpl'")
    assert policies.load_doc(SHOP, policies.FRAUD) is None
    assert policies.load_doc(SHOP, policies.REMINDERS) is None
    # And a malformed section is named by its path too
    status, answer = call(local, "PUT", "/settings", {"fraud": {"version": -1, "settings": {}}})
    assert (status, answer["field"]) == (400, "fraud.version")
    status, answer = call(local, "PUT", "/settings", {})
    assert status == 400


def test_a_stale_section_saves_nothing_and_the_409_carries_what_is_saved_now(local: Any) -> None:
    # Given another admin saved the reminders (version 1) after this page loaded version 0
    _, loaded = call(local, "GET", "/settings")
    theirs = copy.deepcopy(loaded["reminders"]["policy"])
    theirs["weekly_cap"] = 3
    assert call(local, "PUT", "/settings/reminders", {"version": 0, "policy": theirs})[0] == 200
    # When this page saves fraud (fresh) and reminders (stale) together
    mine = copy.deepcopy(loaded["reminders"]["policy"])
    mine["weekly_cap"] = 5
    fraud = {**loaded["fraud"]["settings"], "thresholds": {"review": 50, "high": 90}}
    body = {
        "reminders": {"version": 0, "policy": mine},
        "fraud": {"version": 0, "settings": fraud},
    }
    status, answer = call(local, "PUT", "/settings", body)
    # Then 409, neither is written, and "current" holds each section as its GET shows it now
    assert (status, answer["error"], answer["field"]) == (409, "version_conflict", "version")
    assert policies.load_doc(SHOP, policies.FRAUD) is None
    assert policies.load(SHOP).weekly_cap == 3
    current = answer["current"]
    assert current["reminders"]["version"] == 1
    assert current["reminders"]["policy"]["weekly_cap"] == 3
    assert current == call(local, "GET", "/settings")[1]


# ---------------------------------------------------------------- templates and their editor


def test_the_templates_list_says_which_steps_use_each_and_what_they_may_say(local: Any) -> None:
    # Given the default cadence and the shop's own version of "firm"'s subject
    good = {"parts": {"subject": "{{ shop_name }}: {{ order_name }} is still open"}}
    assert call(local, "PUT", "/templates/firm", good)[0] == 200
    assert call(local, "PUT", "/templates/holiday", SMS_ONLY)[0] == 200
    # When listed
    status, listed = call(local, "GET", "/templates")
    assert status == 200
    rows = {row["name"]: row for row in listed["templates"]}
    # Then the built-ins and the shop's own, with the steps (from 1) of the saved sequence
    assert rows["friendly"] == {
        "name": "friendly",
        "builtin": True,
        "customised": False,
        "used_by_steps": [1],
        "channels": ["email", "sms"],
        "languages": [],
    }
    assert (rows["firm"]["customised"], rows["firm"]["used_by_steps"]) == (True, [2])
    assert (rows["firm_sms"]["channels"], rows["firm_sms"]["used_by_steps"]) == (["sms"], [3])
    assert rows["final_notice"]["used_by_steps"] == [4]
    assert rows["holiday"] == {
        "name": "holiday",
        "builtin": False,
        "customised": True,
        "used_by_steps": [],
        "channels": ["sms"],
        "languages": ["en"],  # saved without a language: the English version
    }
    names = [v["name"] for v in listed["variables"]]
    assert {"order_name", "amount_owed", "unsubscribe_url", "items"} <= set(names)
    assert all(v["description"] for v in listed["variables"])
    # And one template shows its parts with the same variables
    status, one = call(local, "GET", "/templates/firm")
    assert (status, one["parts"], one["variables"]) == (200, good["parts"], listed["variables"])
    # And a template of the shop's own emptied of its parts is gone; a built-in one stays
    assert call(local, "PUT", "/templates/holiday", {"parts": {"sms": ""}})[0] == 200
    assert call(local, "PUT", "/templates/firm", {"parts": {}})[0] == 200
    rows = {row["name"]: row for row in call(local, "GET", "/templates")[1]["templates"]}
    assert "holiday" not in rows and rows["firm"]["customised"] is False


def test_a_draft_is_previewed_in_the_sending_sandbox_with_its_errors_by_line(
    local: Any,
) -> None:
    # Given a draft of "friendly" whose text uses an unknown variable on line 2
    draft = {
        "subject": "Order {{ order_name }}",
        "text": "Hello\n{{ amount_due }}\n{{ unsubscribe_url }}",
        "sms": "{{ shop_name }}: pay {{ amount_owed_plain }} at {{ pay_url }} STOP",
    }
    status, shown = call(local, "POST", "/templates/friendly/preview", {"parts": draft})
    # Then the error names the part and line; the email is not shown, the SMS is, measured
    assert status == 200
    assert shown["ok"] is False
    assert shown["errors"] == [
        {"part": "text", "line": 2, "message": "template uses unknown variable 'amount_due'"}
    ]
    assert shown["email"] is None
    sms = shown["sms"]
    assert sms["text"].endswith("STOP") and "#1001" not in sms["text"]
    assert (sms["encoding"], sms["segments"], sms["per_segment"]) == ("GSM-7", 1, 160)
    assert sms["length"] == len(sms["text"])

    # Given the draft fixed, and an emoji in the SMS
    draft["text"] = "Hello {{ customer_first_name }}\n{{ unsubscribe_url }}"
    draft["sms"] = "{{ shop_name }} 🎉 {{ order_name }}: {{ pay_url }} STOP"
    status, shown = call(local, "POST", "/templates/friendly/preview", {"parts": draft})
    # Then both channels render around the sample order; the SMS goes as UCS-2
    assert (status, shown["ok"], shown["errors"]) == (200, True, [])
    assert shown["email"]["subject"] == "Order #1001"
    assert shown["email"]["text"].startswith("Hello Alex\n")
    assert "#1001" in shown["email"]["html"]  # the shipped HTML fills in
    sms = shown["sms"]
    assert sms["encoding"] == "UCS-2"
    assert sms["length"] == len(sms["text"]) + 1  # the emoji is two UTF-16 units
    assert sms["per_segment"] == (70 if sms["segments"] == 1 else 67)
    # And nothing was saved by previewing
    assert call(local, "GET", "/templates/friendly")[1]["parts"] == {}


def test_a_template_the_sandbox_refuses_is_not_saved_and_the_answer_names_the_line(
    local: Any,
) -> None:
    # Given a text part calling a function on line 3
    parts = {"text": "Hello\n{{ unsubscribe_url }}\n{{ range(3) }}"}
    # When saved / Then 400 naming the part and the line, and nothing stored
    status, answer = call(local, "PUT", "/templates/firm", {"parts": parts})
    assert (status, answer["error"], answer["field"], answer["line"]) == (
        400,
        "template_rejected",
        "parts.text",
        3,
    )
    assert call(local, "GET", "/templates/firm")[1]["parts"] == {}
    # And a refusal of the channel's rules has no line
    status, answer = call(local, "PUT", "/templates/firm", {"parts": {"html": "<p>Pay</p>"}})
    assert (status, answer["field"], answer["line"]) == (400, "parts.html", None)
    # And the older route refuses it the same way
    status, answer = call(local, "PUT", "/settings/templates/firm", {"parts": parts})
    assert (status, answer["field"], answer["line"]) == (400, "parts.text", 3)


def test_the_step_to_add_goes_before_the_final_notice(local: Any) -> None:
    # Given the default cadence (step 4 is the final notice) / When the page asks for a step
    status, answer = call(local, "GET", "/cadence/new-step")
    # Then a firm email 3 days after step 3, to insert at index 3, never a final notice
    assert status == 200
    assert answer == {"step": _step(), "position": 3}
    # And inserted there, the cadence saves
    _, current = call(local, "GET", "/settings/reminders")
    policy = copy.deepcopy(current["policy"])
    policy["steps"].insert(answer["position"], answer["step"])
    assert call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})[0] == 200


# ---------------------------------------------------------------- the shipped text and reset

SHIPPED_TONES = {
    "friendly": "friendly",
    "firm": "firm",
    "firm_sms": "firm",
    "final_notice": "final_notice",
}


def _shipped(path: str) -> str:
    return i18n.english_source((templates_dir() / path).read_text(encoding="utf-8")).strip()


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_a_built_in_template_sends_its_shipped_text_which_renders_as_shipped(
    local: Any, name: str
) -> None:
    # Given a built-in template the shop never customised / When the editor loads it
    status, found = call(local, "GET", f"/templates/{name}")
    assert (status, found["parts"]) == (200, {})
    shipped = found["builtin_parts"]
    tone = SHIPPED_TONES[name]
    # Then each part of the channels it has is the shipped file's text
    assert shipped["sms"] == _shipped(f"sms/{tone}.txt.j2")
    if "email" not in BUILTIN_TEMPLATES[name]:
        assert (shipped["subject"], shipped["html"], shipped["text"]) == (None, None, None)
        return
    assert shipped["subject"] == _shipped(f"email/{tone}.subject.txt.j2")
    # And the email bodies come with the layout they extend filled in, free of tags it refuses
    for part in ("html", "text"):
        assert "{% extends" not in shipped[part] and "{% block" not in shipped[part]
    assert "Unsubscribe from payment reminders" in shipped["html"]
    # And saved as an override they render exactly what the shipped templates render
    for ctx in (make_ctx(tone), make_ctx(tone, pay_url=None, customer_first_name=None)):
        mine = render_email(
            ctx, EmailOverride(shipped["subject"], shipped["html"], shipped["text"]), strict=True
        )
        assert mine.template == f"email/{tone}+override:subject,html,text"
        assert (mine.subject, mine.html, mine.text) == (
            render_email(ctx).subject,
            render_email(ctx).html,
            render_email(ctx).text,
        )
        assert render_sms(ctx, shipped["sms"], strict=True).body == render_sms(ctx).body
    # And the older route sends the same
    assert call(local, "GET", f"/settings/templates/{name}")[1]["builtin_parts"] == shipped


def test_a_customised_built_in_template_is_reset_to_the_shipped_text(local: Any) -> None:
    # Given "firm" with the shop's own subject and its shipped text unchanged as plain text
    shipped = call(local, "GET", "/templates/firm")[1]["builtin_parts"]
    parts = {"subject": "{{ shop_name }}: order {{ order_name }} is open", "text": shipped["text"]}
    assert call(local, "PUT", "/templates/firm", {"parts": parts})[0] == 200
    rows = {row["name"]: row for row in call(local, "GET", "/templates")[1]["templates"]}
    assert rows["firm"]["customised"] is True
    # When reset / Then it answers the template as GET shows it: no parts of the shop's own
    status, answer = call(local, "DELETE", "/templates/firm")
    assert (status, answer["name"], answer["parts"], answer["builtin_parts"]) == (
        200,
        "firm",
        {},
        shipped,
    )
    assert call(local, "GET", "/templates/firm")[1]["parts"] == {}
    rows = {row["name"]: row for row in call(local, "GET", "/templates")[1]["templates"]}
    assert rows["firm"]["customised"] is False
    # And resetting it again, on either route, is the same answer
    assert call(local, "DELETE", "/templates/firm") == (200, answer)
    assert call(local, "DELETE", "/settings/templates/firm") == (200, answer)


def test_a_template_of_the_shops_own_is_deleted_only_when_no_step_uses_it(local: Any) -> None:
    # Given the shop's own SMS template used by step 3, the SMS step of the default cadence
    assert call(local, "PUT", "/templates/holiday", SMS_ONLY)[0] == 200
    _, current = call(local, "GET", "/settings/reminders")
    policy = copy.deepcopy(current["policy"])
    assert policy["steps"][2]["channel"] == "sms"
    policy["steps"][2]["template"] = "holiday"
    assert call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})[0] == 200
    # When deleted / Then 409 naming the step from 1, and the template stays
    status, answer = call(local, "DELETE", "/templates/holiday")
    assert (status, answer["error"]) == (409, "template_in_use")
    assert answer["message"].startswith("Step 3 of the reminders uses 'holiday'")
    assert call(local, "GET", "/templates/holiday")[1]["parts"] == SMS_ONLY["parts"]
    # Given step 3 back on the built-in SMS template / When deleted / Then it is gone
    policy["steps"][2]["template"] = "firm_sms"
    assert call(local, "PUT", "/settings/reminders", {"version": 1, "policy": policy})[0] == 200
    status, answer = call(local, "DELETE", "/templates/holiday")
    assert (status, answer["parts"], answer["builtin_parts"]) == (200, {}, None)
    names = {row["name"] for row in call(local, "GET", "/templates")[1]["templates"]}
    assert names == set(BUILTIN_TEMPLATES)
    # And a name the shop does not have is not found
    status, answer = call(local, "DELETE", "/templates/holiday")
    assert (status, answer["error"]) == (404, "not_found")


def test_the_shipped_email_edited_by_one_word_passes_the_save_check(local: Any) -> None:
    # Given the shipped HTML of every built-in email, one word changed (the save check renders
    # it for an order of MAX_SAMPLE_ITEMS long titles: the shipped layout lists 20 of them)
    rows = call(local, "GET", "/templates")[1]["templates"]
    emails = [row["name"] for row in rows if row["builtin"] and "email" in row["channels"]]
    assert emails
    for name in emails:
        shipped = call(local, "GET", f"/templates/{name}")[1]["builtin_parts"]
        assert "Qty" in shipped["html"]
        edited = {"html": shipped["html"].replace("Qty", "Quantity", 1)}
        # When it is saved / Then the sandbox accepts it and keeps the edit
        status, answer = call(local, "PUT", f"/templates/{name}", {"parts": edited})
        assert status == 200, answer
        assert answer["parts"]["html"] == edited["html"]
