"""The words of an instalment plan's messages: the notice of a missed instalment (which one,
its amount and date, the day and time to pay it by, the amount block asking for it) and the
step a broken plan resumes at (the plan is over, the balance is due), as the shipped
templates, a shop's own template and a case file's re-render say them."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recoup.casefile.messages import Branding, texts
from recoup.channels import compose
from recoup.channels.render import (
    EmailOverride,
    MessageContext,
    TemplateRejected,
    render_email,
    render_sms,
    template_variables,
    validate_overrides,
)
from recoup.channels.sms_segments import measure
from recoup.domain import cadence
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.instalments import Interval, Plan, PlanStatus, new_plan, schedule
from recoup.domain.money import Money
from recoup.domain.payment_situation import Situation
from recoup.domain.referral.policy import default_referral_policy
from tests.conftest import event_json
from tests.unit.test_casefile import T0, _case
from tests.unit.test_render import (
    PAGE_URL,
    PAY_URL,
    UNSUBSCRIBE_URL,
    _case_from_fixture,
    make_ctx,
    make_plan_ctx,
)

OREGON = ZoneInfo("America/Los_Angeles")
MADE = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)  # 10:00 in Oregon


def _figures(text: str) -> dict[str, int]:
    """The email's labelled amounts ("Balance: $1,266.00") in cents."""
    found = {}
    for label, amount in re.findall(r"^([A-Z][^:\n]*): \$([\d,]+\.\d\d)$", text, re.MULTILINE):
        found[label] = int(amount.replace(",", "").replace(".", ""))
    return found


# ---------------------------------------------------------------- the notice, in English


def test_the_notice_names_the_instalment_its_date_and_the_day_to_pay_it_by() -> None:
    # Given the notice of instalment 2 of 3 ($633.00 of $1,266.00 owed), due on 3 December,
    # whose grace days end at 10:00 on 8 December in the customer's zone
    email = render_email(make_plan_ctx(page_url=PAGE_URL))
    # Then its subject and heading say an instalment was missed
    assert email.subject == "Demo Electronics: instalment 2 of 3 for order #1042 was missed"
    assert email.text.startswith("An instalment of your plan was missed\n")
    assert ">An instalment of your plan was missed</h1>" in email.html
    # And the text and the HTML name it, its date, until when it can be paid and what follows
    said = (
        "Instalment 2 of 3 ($633.00, due on December 3, 2026) could not be charged to your "
        "card. Pay it by December 8, 2026, 10:00 AM (your time) to keep your plan; after that "
        "the plan ends and the rest ($1,266.00) is due."
    )
    assert said in email.text
    assert said in email.html
    assert "Please pay it now to keep your plan going" not in email.text
    # And the button pays the instalment, which the action names
    assert f'<a href="{PAY_URL}"' in email.html
    assert ">Pay $633.00</a>" in email.html
    assert "You can pay this instalment securely with the link below." in email.text
    assert "$633.00 is still due for order #1042." in email.html  # the preheader


def test_the_notices_amounts_ask_for_the_instalment_and_still_add_up() -> None:
    email = render_email(make_plan_ctx())
    figures = _figures(email.text)
    # The instalment is the amount due now; the balance is split into it and what is left
    assert "Instalment 2 of 3 due now for order #1042: $633.00" in email.text
    assert "Amount due" not in email.text
    assert figures["Total"] - figures["Paid so far"] == figures["Balance"] == 126_600
    due_now = figures["Due now (instalment 2 of 3)"]
    assert due_now == 63_300
    assert figures["Balance"] - due_now == figures["Balance after this instalment"] == 63_300
    # The HTML shows the same rows, the instalment in the box above them
    assert ">Instalment 2 of 3 due now for order #1042</p>" in email.html
    for label, amount in (
        ("Balance", "$1,266.00"),
        ("Due now (instalment 2 of 3)", "$633.00"),
        ("Balance after this instalment", "$633.00"),
    ):
        assert re.search(
            rf">{re.escape(label)}</td>\s*<td[^>]*>{re.escape(amount)}</td>", email.html
        )


def test_the_last_instalment_leaves_nothing_after_it() -> None:
    # Given the notice of the last instalment, $633.00 of the $633.00 owed
    ctx = make_plan_ctx()
    assert ctx.plan is not None
    last = dataclasses.replace(
        ctx, amount_owed=Money("USD", 63_300), plan=dataclasses.replace(ctx.plan, number=3)
    )
    text = render_email(last).text
    assert "Due now (instalment 3 of 3): $633.00" in text
    assert "Balance after this instalment: $0.00" in text


def test_the_notices_sms_names_the_instalment_the_amount_and_when_to_pay() -> None:
    body = render_sms(make_plan_ctx(page_url=PAGE_URL)).body
    assert body == (
        "Demo Electronics: your instalment 2 of 3 (633.00 USD) was not paid. Please pay it by "
        f"Dec 8, 10:00 AM to keep your payment plan. {PAGE_URL} Reply STOP to opt out"
    )
    assert measure(body).encoding == "GSM-7"


# ---------------------------------------------------------------- the notice, in Japanese


def test_the_notice_in_japanese() -> None:
    ctx = make_plan_ctx(
        locale="ja-JP", currency="JPY", page_url=PAGE_URL, customer_last_name="佐藤"
    )
    email = render_email(ctx)
    assert email.subject == (
        "Demo Electronics：ご注文#1042の分割払い（全3回中の第2回）のお支払いが確認できません"
    )
    assert '<html lang="ja">' in email.html
    said = (
        "分割払い（全3回）の第2回（￥6,330、2026年12月3日お支払い分）をご登録のカードで決済"
        "できませんでした。分割払いを継続するには、2026年12月8日 10:00（現地時間）までにお支払い"
        "ください。期限を過ぎると分割払いは終了し、残額（￥12,660）のお支払いが必要となります。"
    )
    assert said in email.text
    assert said in email.html
    assert "ご注文#1042の今回のお支払い（全3回中の第2回）： ￥6,330" in email.text
    assert "今回のお支払い後の残額： ￥6,330" in email.text
    assert ">￥6,330を支払う</a>" in email.html
    # The SMS, in UCS-2, in two segments, with the figures
    body = render_sms(ctx).body
    assert body == (
        "Demo Electronics: 分割払い第2回（全3回）の6,330円が未払いです。お支払い期限：12月8日 "
        f"10:00 {PAGE_URL} STOPで配信停止"
    )
    assert measure(body).segments == 2


# ---------------------------------------------------------------- the broken plan


@pytest.mark.parametrize("tone", ["friendly", "firm", "final_notice"])
def test_a_broken_plan_says_the_plan_ended_and_the_balance_is_due(tone: Any) -> None:
    ctx = make_ctx(tone, situation="plan_broken", owed_minor=126_600, page_url=PAGE_URL)
    email = render_email(ctx)
    said = (
        "Your payment plan for this order has ended because an instalment was not paid. The "
        "remaining balance of $1,266.00 is now due."
    )
    assert said in email.text
    assert said in email.html
    # Nothing offers to keep the plan: the amount due is the balance
    for words in ("keep your plan", "An instalment of your payment plan", "Instalment 2"):
        assert words not in email.text
    assert "Amount due for order #1042: $1,266.00" in email.text
    assert ">Pay $1,266.00</a>" in email.html
    if tone == "friendly":
        assert email.subject == "Demo Electronics: your payment plan for order #1042 has ended"
        assert email.text.startswith("Your payment plan has ended\n")


def test_a_broken_plan_in_japanese() -> None:
    ctx = make_ctx(locale="ja-JP", currency="JPY", owed_minor=12_660, situation="plan_broken")
    email = render_email(ctx)
    assert email.subject == "Demo Electronics：ご注文#1042の分割払いは終了しました"
    assert (
        "分割払いのお支払いが確認できなかったため、このご注文の分割払いは終了しました。"
        "残額の￥12,660をお支払いください。"
    ) in email.text
    assert "ご注文#1042の分割払いは終了しました。残額12,660円をお支払いください。" in (
        render_sms(ctx).body
    )


# ---------------------------------------------------------------- the facts, from the plan


def _missed_plan() -> Plan:
    """Three monthly instalments of $633.00 from 3 November in Oregon; the first paid, the
    second's charge failed at 10:00 there on 3 December."""
    agreed = schedule(Money.of(189_900, "USD"), 3, Interval.MONTHLY, date(2026, 11, 3))
    plan = new_plan("p1", "r1", agreed, Interval.MONTHLY, OREGON, "digest", "en", MADE)
    plan = plan.card_saved("pm_1", "cus_1").paid_instalment(1, "pi_1", MADE)
    return plan.failed_instalment(2, "pi_2", "card_declined", plan.instalments[1].due_at)


def test_the_notice_states_the_missed_instalment_and_the_end_of_its_grace_days() -> None:
    dunning = Dunning(DunningStatus.PLANNED, plan=_missed_plan(), plan_grace_days=5)
    notice = compose.plan_notice(dunning, OREGON)
    # Instalment 2 of 3, $633.00, due on 3 December; the plan breaks five days after its
    # charge failed, at 10:00 on 8 December in Oregon: that is the day and time stated
    assert notice == compose.PlanNotice(
        number=2,
        count=3,
        amount=Money.of(63_300, "USD"),
        due_on=date(2026, 12, 3),
        pay_by=datetime(2026, 12, 8, 10, 0, tzinfo=OREGON),
    )
    assert notice is not None and notice.pay_by.utcoffset() == timedelta(hours=-8)
    # In another zone the same moment is that zone's day and time
    tokyo = compose.plan_notice(dunning, ZoneInfo("Asia/Tokyo"))
    assert tokyo is not None and (tokyo.pay_by.date(), tokyo.pay_by.hour) == (date(2026, 12, 9), 3)


def test_no_notice_without_a_missed_instalment_or_a_plan_in_force() -> None:
    plan = _missed_plan()
    paid = plan.paid_instalment(2, "pi_3", MADE + timedelta(days=31))
    broken = plan.ended(PlanStatus.BROKEN, MADE + timedelta(days=36), "instalment 2 unpaid")
    for dunning in (
        None,
        Dunning(DunningStatus.SCHEDULED),
        Dunning(DunningStatus.PLANNED, plan=paid, plan_grace_days=5),
        Dunning(DunningStatus.SCHEDULED, plan=broken, plan_grace_days=5),
    ):
        assert compose.plan_notice(dunning, OREGON) is None


def _context(situation: Situation | None, plan: compose.PlanNotice | None) -> MessageContext:
    case = _case_from_fixture(event_json("shopify/order_pending.json"))
    return compose.message_context(
        case,
        cadence.default_policy().steps[0],
        0,
        None,
        reply_to=None,
        links=compose.Links(unsubscribe=UNSUBSCRIBE_URL),
        notice=None,
        situation=situation,
        plan=plan,
    )


def test_only_the_notice_states_the_plans_figures_and_only_when_they_fit_what_is_owed() -> None:
    owed = _context(None, None).amount_owed
    notice = compose.PlanNotice(
        2,
        3,
        Money(owed.currency, owed.minor // 3),
        date(2026, 12, 3),
        datetime(2026, 12, 8, tzinfo=OREGON),
    )
    assert _context(Situation.INSTALMENT_MISSED, notice).plan == notice
    # Another message's words never carry them
    for situation in (None, Situation.PLAN_BROKEN, Situation.PROMISE_BROKEN):
        assert _context(situation, notice).plan is None
    # Nor an instalment of another currency, or larger than what is owed now
    other = dataclasses.replace(notice, amount=Money("EUR", 100))
    larger = dataclasses.replace(notice, amount=Money(owed.currency, owed.minor + 1))
    for wrong in (other, larger):
        ctx = _context(Situation.INSTALMENT_MISSED, wrong)
        assert ctx.plan is None
        assert "An instalment of your payment plan for this order was not paid." in (
            render_email(ctx).text
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"situation": "plan_broken"}, "only by a message worded instalment_missed"),
        ({"number": 4}, "instalment 4 of 3 does not exist"),
        ({"number": 0}, "instalment 0 of 3 does not exist"),
        ({"amount": Money("USD", 126_601)}, "no more than amount_owed"),
        ({"amount": Money("EUR", 100)}, "currency of amount_owed"),
        ({"pay_by": datetime(2026, 12, 8, 10, 0)}, "timezone-aware"),  # noqa: DTZ001
    ],
)
def test_the_context_refuses_plan_figures_that_do_not_hold(
    changes: dict[str, Any], message: str
) -> None:
    ctx = make_plan_ctx()
    assert ctx.plan is not None
    situation = changes.pop("situation", ctx.situation)
    plan = dataclasses.replace(ctx.plan, **changes)
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(ctx, situation=situation, plan=plan)


# ---------------------------------------------------------------- a shop's own template


def test_a_shops_template_may_state_the_plan_and_one_without_it_still_renders() -> None:
    # Given a shop's SMS and subject that state the instalment when there is one
    sms = (
        "{{ shop_name }}: {% if plan %}instalment {{ plan.number }}/{{ plan.count }} "
        "({{ plan.amount_plain }}) by {{ plan.pay_by_short }} {{ plan.pay_by_time }}"
        "{% else %}{{ amount_owed_plain }} due{% endif %} {{ pay_url }} Reply STOP"
    )
    subject = "{% if plan %}Instalment {{ plan.number }} missed{% else %}Reminder{% endif %}"
    validate_overrides({"sms": sms, "subject": subject})
    # Then the notice says it, and any other message renders without it
    notice = make_plan_ctx()
    assert render_sms(notice, sms, strict=True).body == (
        f"Demo Electronics: instalment 2/3 (633.00 USD) by Dec 8 10:00 AM {PAY_URL} Reply STOP"
    )
    assert render_email(notice, EmailOverride(subject=subject), strict=True).subject == (
        "Instalment 2 missed"
    )
    other = make_ctx()
    assert template_variables(other)["plan"] is None
    assert render_sms(other, sms, strict=True).body.startswith("Demo Electronics: 1,899.00 USD due")
    # And a shop's template without any plan variable renders the notice as written
    plain = "{{ shop_name }}: {{ amount_owed_plain }} is open. {{ pay_url }} Reply STOP"
    assert render_sms(notice, plain, strict=True).body.startswith("Demo Electronics: 1,266.00 USD")


def test_a_shops_template_that_reads_the_plan_where_there_is_none_is_refused() -> None:
    with pytest.raises(TemplateRejected, match="number"):
        validate_overrides({"subject": "Instalment {{ plan.number }} missed"})
    # And nothing but the plan's figures can be read from it
    with pytest.raises(TemplateRejected, match="__class__"):
        validate_overrides({"subject": "{% if plan %}{{ plan.__class__ }}{% endif %}x"})


# ---------------------------------------------------------------- the case file


def _sent(situation: str) -> SentMessage:
    return SentMessage(
        1, "email", T0, "provider-id", "firm", 126_600, "USD", locale="en", situation=situation
    )


def test_the_case_file_re_renders_a_broken_plans_step_and_an_older_one_without_figures() -> None:
    branding = Branding(shop_domain="demo.example", shop_name="Demo")
    policy = cadence.default_policy()
    found = texts(_case(), [_sent("plan_broken")], policy, default_referral_policy(), branding, T0)
    assert (
        "Your payment plan for this order has ended because an instalment was not paid. The "
        "remaining balance of $1,266.00 is now due."
    ) in " ".join(found[1].body.split())
    assert "the payment situation (plan_broken) are those recorded" in found[1].source
    # A step recorded as instalment_missed (before plan_broken) has no plan figures to rebuild:
    # its words are the situation's without them, as it was sent
    older = texts(
        _case(), [_sent("instalment_missed")], policy, default_referral_policy(), branding, T0
    )
    body = " ".join(older[1].body.split())
    assert "An instalment of your payment plan for this order was not paid." in body
    assert "Amount due for order #1042: $1,266.00" in body
    assert "Instalment 2 of 3" not in body
