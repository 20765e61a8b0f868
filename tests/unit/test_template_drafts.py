"""A drafted template: every refused part with its line, rendered without falling back to
the shipped words; and the variables the editor lists are exactly those templates get."""

from __future__ import annotations

import dataclasses

import pytest

from recoup.channels.render import (
    PartRefused,
    check_draft,
    render_draft,
    template_variables,
)
from recoup.channels.sandbox import TEMPLATE_VARIABLES, RenderBudget
from recoup.channels.templates import VARIABLE_DESCRIPTIONS
from tests.unit.test_render import make_ctx


def test_the_editor_lists_every_variable_a_template_gets_and_no_other() -> None:
    # Given the descriptions / Then they name exactly what render passes to templates
    ctx = make_ctx()
    assert set(VARIABLE_DESCRIPTIONS) == set(TEMPLATE_VARIABLES)
    assert set(VARIABLE_DESCRIPTIONS) == set(template_variables(ctx, RenderBudget()))
    assert all(text and "\n" not in text for text in VARIABLE_DESCRIPTIONS.values())


def test_each_refused_part_is_named_with_its_line() -> None:
    # Given a draft with an unknown variable on line 3 of the text and a syntax error on
    # line 2 of the SMS, and a good subject
    parts = {
        "subject": "{{ shop_name }}: order {{ order_name }}",
        "text": "Hello\n{{ unsubscribe_url }}\nPay {{ amount_due }}",
        "sms": "Pay now\n{% if pay_url %}{{ pay_url }} STOP",
    }
    # When checked / Then each bad part is refused at its line, in part order
    errors = check_draft(parts)
    assert [(e.part, e.line) for e in errors] == [("text", 3), ("sms", 2)]
    assert errors[0].message == "template uses unknown variable 'amount_due'"
    assert "syntax error on line 2" in errors[1].message


def test_a_rule_of_the_channel_is_refused_without_a_line() -> None:
    # Given HTML without the unsubscribe link / Then refused, at no one line
    (error,) = check_draft({"html": "<p>{{ amount_owed }}</p>"})
    assert error == PartRefused(
        "html", "template must include the unsubscribe link ({{ unsubscribe_url }})", None
    )


def test_a_draft_renders_its_parts_and_the_shipped_ones_for_the_rest() -> None:
    # Given a subject and an SMS of the shop's own
    ctx = make_ctx()
    parts = {
        "subject": "Still open: {{ order_name }}",
        "sms": "{{ shop_name }}: {{ pay_url }} STOP",
    }
    # When rendered for both channels
    shown = render_draft(ctx, parts, email=True, sms=True)
    # Then the draft's parts are used, the shipped html and text fill in, nothing is refused
    assert shown.errors == ()
    assert shown.email is not None and shown.email.subject == f"Still open: {ctx.order_name}"
    assert shown.email.template == f"email/{ctx.tone}+override:subject"
    assert ctx.unsubscribe_url in shown.email.text
    assert shown.sms is not None and shown.sms.body == f"{ctx.shop_name}: {ctx.pay_url} STOP"


def test_a_part_refused_for_this_message_is_reported_never_replaced() -> None:
    # Given an SMS that fits the save check's samples but not a much longer shop name here
    ctx = dataclasses.replace(make_ctx(), shop_name="S" * 330)
    shown = render_draft(ctx, {"sms": "{{ shop_name }} STOP"}, email=False, sms=True)
    # Then no SMS is shown (never the shipped one in its place) and the reason is given
    assert shown.sms is None and shown.email is None
    assert [(e.part, e.line) for e in shown.errors] == [("sms", None)]
    assert "the maximum is 2 segments" in shown.errors[0].message


def test_the_draft_is_rendered_under_the_senders_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a message time budget already spent when rendering starts
    monkeypatch.setattr("recoup.channels.sandbox.MAX_RENDER_MS", -1)
    # When a subject of the shop's own is rendered
    shown = render_draft(make_ctx(), {"subject": "{{ order_name }}"}, email=True, sms=False)
    # Then it is refused for time, as a send would refuse it, and no email is shown
    assert shown.email is None
    assert [e.part for e in shown.errors] == ["subject"]
    assert "template takes longer than -1 ms to render" in shown.errors[0].message
