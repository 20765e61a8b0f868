"""The settings, templates, notifications and setup views in headless Chromium, against
`recoup serve`: one save through the save bar, the leave guard, field errors on the field
they name, the merge after a concurrent save, the cadence's "Add step", instalment plans and
the settlement offer, and the template editor's SMS counter and language switch. Screenshots
of each view (desktop and 390 px) go to test-results/screens/ (<view>-desktop.png,
<view>-phone.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.admin_seed import (
    DESKTOP,
    PHONE,
    SCREENS,
    admin_link,
    api,
    browser_page,
    open_path,
    ready,
    screens,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture(scope="module")
def browser(served: dict[str, Any]) -> Iterator[Page]:
    with browser_page(served["cwd"]) as (page, errors):
        yield page
    assert errors == []


def go(page: Page, path: str) -> None:
    """In-page navigation, as a link does it; edits a test left behind are discarded first."""
    if page.locator("#recoup-save-bar[showing]").count():
        page.click("#recoup-discard")
    open_path(page, path)


def field(page: Page, path: str) -> Any:
    return page.locator(f"[data-path='{path}']")


def fill(page: Page, path: str, value: str) -> None:
    field(page, path).locator("input").fill(value)


def save_bar(page: Page) -> Any:
    return page.locator("#recoup-save-bar")


def open_section(page: Page, name: str) -> None:
    body = page.locator(f"[data-collapse='section-{name}']")
    if body.get_attribute("data-open") != "true":
        page.click(f"[data-toggle='section-{name}']")
    expect(body).to_be_visible()


def section_screens(page: Page, name: str, shot: str | None = None) -> None:
    """The section alone at desktop width and at 390 px (settings-<shot>-desktop.png,
    settings-<shot>-phone.png; `shot` the section's name unless given); on a phone nothing
    is wider than the screen."""
    section = page.locator(f"#section-{name}")
    shot = shot or name
    section.screenshot(path=SCREENS / f"settings-{shot}-desktop.png")
    page.set_viewport_size(PHONE)
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the {name} section scrolls sideways: {width}px"
        section.screenshot(path=SCREENS / f"settings-{shot}-phone.png")
    finally:
        page.set_viewport_size(DESKTOP)


def test_an_edit_shows_the_save_bar_the_leave_guard_asks_and_discard_restores(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    go(page, "/app/settings")
    saved = api(served["front"], "GET", "/settings/reminders")["policy"]["weekly_cap"]
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    # One page, short: the sections fold to a summary line each
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2600, f"the settings page is {height} px tall"
    screens(page, "settings")
    # When the admin edits the weekly cap, the save bar shows
    fill(page, "reminders.weekly_cap", str(saved + 1))
    expect(save_bar(page)).to_have_attribute("showing", "")
    # When they leave by the navigation, the page asks first; staying keeps the edit
    page.locator("s-app-nav").get_by_role("link", name="Cases").click()
    leave = page.get_by_role("dialog", name="Leave page with unsaved changes?")
    expect(leave).to_be_visible()
    leave.get_by_role("button", name="Stay").click()
    assert urlsplit(page.url).path == "/app/settings"
    expect(field(page, "reminders.weekly_cap").locator("input")).to_have_value(str(saved + 1))
    # A reload asks too (the browser's own prompt)
    asked = page.evaluate(
        "() => { const e = new Event('beforeunload', {cancelable: true});"
        " dispatchEvent(e); return e.defaultPrevented; }"
    )
    assert asked is True
    # Discard restores the saved value and hides the bar
    page.click("#recoup-discard")
    expect(field(page, "reminders.weekly_cap").locator("input")).to_have_value(str(saved))
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    after = api(served["front"], "GET", "/settings/reminders")["policy"]["weekly_cap"]
    assert after == saved


def test_one_save_stores_every_changed_section(served: dict[str, Any], browser: Page) -> None:
    page = browser
    front = served["front"]
    go(page, "/app/settings")
    reminders = api(front, "GET", "/settings/reminders")
    fraud = api(front, "GET", "/settings/fraud")
    cap = 5 if reminders["policy"]["weekly_cap"] != 5 else 4
    review = 35 if fraud["settings"]["thresholds"]["review"] != 35 else 36
    fill(page, "reminders.weekly_cap", str(cap))
    open_section(page, "fraud")
    fill(page, "fraud.thresholds.review", str(review))
    open_section(page, "sender")
    fill(page, "sender.reply_to", "replies@example.com")
    page.click("#recoup-save")
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    expect(page.locator("#recoup-toasts")).to_contain_text("Settings saved")
    after_reminders = api(front, "GET", "/settings/reminders")
    after_fraud = api(front, "GET", "/settings/fraud")
    assert after_reminders["policy"]["weekly_cap"] == cap
    assert after_reminders["version"] == reminders["version"] + 1
    assert after_fraud["settings"]["thresholds"]["review"] == review
    assert after_fraud["version"] == fraud["version"] + 1
    assert api(front, "GET", "/settings/sender")["reply_to"] == "replies@example.com"
    expect(page.locator("#sender-replies")).to_contain_text("replies@example.com")


def test_add_step_inserts_the_default_before_the_final_notice(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    go(page, "/app/settings")
    steps = api(served["front"], "GET", "/settings/reminders")["policy"]["steps"]
    assert steps[-1]["tone"] == "final_notice", "the default cadence ends with a final notice"
    offered = api(served["front"], "GET", "/cadence/new-step")
    page.click("#add-step")
    expect(page.locator("[data-step]")).to_have_count(len(steps) + 1)
    new = len(steps) - 1  # where the final notice was
    # The final notice is still last and unchanged; the new step is the default, not a copy
    last = page.locator(f"[data-step='{len(steps)}']")
    expect(last).to_contain_text(f"Step {len(steps) + 1}")
    expect(last).to_contain_text("Final notice")
    final = field(page, f"reminders.steps[{len(steps)}].template")
    expect(final).to_have_js_property("value", steps[-1]["template"])
    inserted = page.locator(f"[data-step='{new}']")
    expect(inserted.locator(f"[data-summary='{new}']")).not_to_contain_text("Final notice")
    expect(inserted.locator("s-badge", has_text="Final notice")).to_have_count(0)
    template = field(page, f"reminders.steps[{new}].template")
    expect(template).to_have_js_property("value", offered["step"]["template"])
    # Channels are named in words
    channel = field(page, f"reminders.steps[{new}].channel").locator("option")
    assert "Email, then SMS if no email" in channel.all_text_contents()
    assert "SMS" in channel.all_text_contents()
    # Steps move and go: the new one up, then removed
    expect(inserted.locator(f"[data-collapse='step-{new}']")).to_be_visible()  # opened to edit
    page.get_by_role("button", name=f"Move step {new + 1} up").click()
    expect(page.locator(f"[data-step='{new - 1}'] [data-summary]")).to_contain_text(
        offered["step"]["template"].replace("_", " ").capitalize()
    )
    page.get_by_role("button", name=f"Remove step {new}").click()
    expect(page.locator("[data-step]")).to_have_count(len(steps))
    expect(save_bar(page)).not_to_have_attribute("showing", "")


def test_an_error_lands_on_step_5s_template_field(served: dict[str, Any], browser: Page) -> None:
    page = browser
    front = served["front"]

    def with_a_stale_name(route: Route) -> None:
        # A template the server no longer has (deleted in another tab, say): the page offers
        # only what the list says, so the list is where the stale name comes from.
        listed = route.fetch().json()
        listed["templates"].append(
            {"name": "gone_template", "builtin": False, "customised": True, "used_by_steps": []}
        )
        route.fulfill(json=listed)

    page.route("**/admin/api/templates", with_a_stale_name)
    try:
        go(page, "/app/settings")
        while page.locator("[data-step]").count() < 5:
            page.click("#add-step")
            page.wait_for_timeout(200)
        page.click("[data-toggle='step-4']")
        field(page, "reminders.steps[4].template").locator("select").select_option("gone_template")
        before = api(front, "GET", "/settings/reminders")
        page.click("#recoup-save")
        target = field(page, "reminders.steps[4].template")
        expect(target).to_have_attribute("error", re.compile(r"^Step 5\b"))
        expect(target).to_be_visible()
        expect(page.locator("#settings-error")).to_contain_text("Step 5")
        expect(page.locator("#settings-error")).not_to_contain_text("steps[4]")
        expect(save_bar(page)).to_have_attribute("showing", "")
        screens(page, "settings-error")
        assert api(front, "GET", "/settings/reminders") == before
    finally:
        page.unroute("**/admin/api/templates")
        page.click("#recoup-discard")


def test_a_concurrent_save_keeps_the_edits_and_merges(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    front = served["front"]
    go(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    mine = before["policy"]["weekly_cap"] % 7 + 1
    fill(page, "reminders.weekly_cap", str(mine))
    # Meanwhile someone else saves: another weekly cap, and other quiet hours
    theirs = {**before["policy"], "weekly_cap": mine % 7 + 1}
    theirs["quiet_hours"] = {**before["policy"]["quiet_hours"], "start": "20:30"}
    stored = api(
        front, "PUT", "/settings/reminders", {"version": before["version"], "policy": theirs}
    )
    assert stored["version"] == before["version"] + 1
    page.click("#recoup-save")
    # The edit is still on the page, and the merge view offers yours or theirs
    merge = page.locator("#settings-merge")
    expect(merge).to_contain_text("Someone else saved these settings")
    choice = merge.locator("[data-merge-field='reminders.weekly_cap']")
    expect(choice).to_be_visible()
    expect(choice.locator("option")).to_have_text(
        [f"Yours: {mine}", f"Saved now: {theirs['weekly_cap']}"]
    )
    expect(field(page, "reminders.weekly_cap").locator("input")).to_have_value(str(mine))
    screens(page, "settings-merge")
    # Keeping theirs for nothing, mine for the cap: saved against the new version
    page.click("#merge-save")
    expect(merge).to_be_empty()
    after = api(front, "GET", "/settings/reminders")
    assert after["version"] == before["version"] + 2
    assert after["policy"]["weekly_cap"] == mine
    assert after["policy"]["quiet_hours"]["start"] == "20:30"


def test_the_template_editor_counts_sms_segments(served: dict[str, Any], browser: Page) -> None:
    page = browser
    listed = api(served["front"], "GET", "/templates")
    go(page, "/app/templates")
    expect(page.locator("#templates-table [data-template]")).to_have_count(len(listed["templates"]))
    screens(page, "templates")
    name = next(t["name"] for t in listed["templates"] if "sms" in t.get("channels", ["sms"]))
    go(page, f"/app/templates?name={name}")
    # The email is shown as the customer gets it, in a frame that runs no script
    frame = page.locator("#email-preview iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(frame).to_have_attribute("srcdoc", re.compile("<html", re.IGNORECASE))
    # Worded for an expired card, the preview says so; the notices sent outside the steps
    # (a cancellation, say) always use the friendly template, so this one is not offered them
    situation = page.locator("#preview-situation select")
    expect(situation.locator("option[value=order_cancelled]")).to_have_count(0)
    situation.select_option("expired_card")
    expect(frame).to_have_attribute("srcdoc", re.compile("card used for this order has expired"))
    situation.select_option("payment_failed")
    expect(frame).not_to_have_attribute("srcdoc", re.compile("has expired"))
    counter = page.locator("#sms-counter")
    sms = page.locator("#part-sms")
    # How many characters the rendered SMS adds to the typed text (the shop's name, say)
    stop = "Reply STOP to opt out. "
    expect(counter).to_have_text(re.compile(r"\d+ / "))
    shipped = counter.inner_text()  # the shipped SMS's count, until the typed text's arrives
    sms.fill(stop + "A" * 20)
    expect(counter).not_to_have_text(shipped)
    expect(counter).to_have_text(re.compile(r"^\d+ / 160 · 1 segment · GSM-7$"))
    extra = int(counter.inner_text().split(" / ")[0]) - 20
    sms.fill(stop + "A" * (160 - extra))
    expect(counter).to_have_text("160 / 160 · 1 segment · GSM-7")
    sms.fill(stop + "A" * (161 - extra))
    expect(counter).to_have_text("161 / 306 · 2 segments · GSM-7")
    # One character outside GSM-7 turns the whole message to UCS-2, 70 a segment
    sms.fill(stop + "Zapłać")
    expect(counter).to_have_text(re.compile(r"^\d+ / 70 · 1 segment · UCS-2$"))
    expect(page.locator("#template-verdict")).to_contain_text("accepts")
    # A broken expression is shown on its line, and the verdict says no
    sms.fill(stop + "\n{{ order_name }\nBye")
    expect(page.locator("#part-sms-errors")).to_contain_text("Line 2")
    expect(page.locator("#template-verdict")).to_contain_text("refuses")
    email = page.frame_locator("#email-preview iframe").locator("body")
    expect(email).to_contain_text(re.compile(r"\w"))
    screens(page, "template-editor")
    # Switching the language with unsaved edits asks first; keeping them stays in English
    language = page.locator("#template-language select")
    language.select_option("de")
    modal = page.locator("#recoup-confirm")
    expect(modal).to_contain_text("Discard your unsaved changes?")
    modal.locator("[data-choice=cancel]").click()
    expect(language).to_have_value("en")
    assert urlsplit(page.url).query == f"name={name}"
    # Discarding them opens the German version, which starts from the shipped German text
    language.select_option("de")
    modal.locator("[data-choice=confirm]").click()
    expect(page).to_have_url(re.compile(r"[?&]lang=de\b"))
    german = api(served["front"], "GET", f"/templates/{name}?lang=de")["builtin_parts"]
    expect(page.locator("#part-sms")).to_have_js_property("value", german["sms"])
    expect(page.locator("#template-languages")).to_contain_text("Not customised")
    expect(page.locator("#sms-preview [data-sms]")).to_contain_text("STOP")
    screens(page, "template-editor-de")
    if german["subject"]:
        expect(page.locator("#part-subject")).to_have_js_property("value", german["subject"])
        email = page.frame_locator("#email-preview iframe").locator("html")
        expect(email).to_have_attribute("lang", "de")


def test_notifications_and_setup_views(served: dict[str, Any], browser: Page) -> None:
    page = browser
    go(page, "/app/onboarding")
    expect(page.locator("#onboarding [data-check=shopify]")).to_have_attribute(
        "data-status", "done"
    )
    # A test email to the admin's own address goes through the sender and shows as sent
    form = page.locator("#test-message-form")
    form.locator("s-select[name=step] select").select_option("1")
    form.locator("s-text-field[name=to] input").fill("owner@example.com")
    page.click("#send-test")
    expect(page.locator("[data-test-status]")).to_have_attribute(
        "data-test-status", "sent", timeout=30_000
    )
    expect(page.locator("#onboarding [data-check=test]")).to_have_attribute("data-status", "done")
    screens(page, "onboarding")
    # A bad number is refused on its field
    form.locator("s-select[name=channel] select").select_option("sms")
    form.locator("s-text-field[name=to] input").fill("12")
    page.click("#send-test")
    expect(form.locator("s-text-field[name=to]")).to_have_attribute(
        "error", re.compile("not a valid mobile")
    )
    go(page, "/app/notifications")
    current = api(served["front"], "GET", "/settings/notifications")
    fill(page, "notifications.email", "owner@example.com")
    expect(save_bar(page)).to_have_attribute("showing", "")
    page.click("#recoup-save")
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    saved = api(served["front"], "GET", "/settings/notifications")
    assert saved["notifications"]["email"] == "owner@example.com"
    assert saved["version"] == current["version"] + 1
    screens(page, "notifications")


def test_a_template_is_saved_through_the_save_bar_and_reset_after_a_confirmation(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    front = served["front"]
    name = api(front, "GET", "/settings/reminders")["policy"]["steps"][0]["template"]
    shipped = api(front, "GET", f"/templates/{name}")["builtin_parts"]
    go(page, f"/app/templates?name={name}")
    # The editor starts from the shipped words; the parts left so are not saved as the shop's
    expect(page.locator("#part-subject")).to_have_js_property("value", shipped["subject"])
    expect(page.locator("#part-sms")).to_have_js_property("value", shipped["sms"])
    text = "Hi {{ customer_first_name }}, {{ order_name }} is unpaid. Reply STOP to opt out."
    page.locator("#part-sms").fill(text)
    expect(page.locator("#template-verdict")).to_contain_text("accepts")
    page.click("#recoup-save")
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    assert api(front, "GET", f"/templates/{name}")["parts"] == {"sms": text}
    # The friendly template also words the messages sent outside the steps: previewed as the
    # notice before an unpaid order is cancelled, it says so and offers no pay link
    assert name == "friendly"
    page.locator("#preview-situation select").select_option("order_cancelled")
    frame = page.locator("#email-preview iframe")
    expect(frame).to_have_attribute("srcdoc", re.compile("being cancelled"))
    expect(frame).not_to_have_attribute("srcdoc", re.compile("/pay/"))
    notice = page.frame_locator("#email-preview iframe").locator("body")
    expect(notice).to_contain_text("is being cancelled")
    screens(page, "template-editor-cancelled")
    # Reset asks first; cancelling keeps the customised text
    go(page, f"/app/templates?name={name}")
    page.click("#reset-template")
    modal = page.locator("#recoup-confirm")
    expect(modal).to_contain_text("built-in")
    modal.locator("[data-choice=cancel]").click()
    assert api(front, "GET", f"/templates/{name}")["parts"] == {"sms": text}
    page.click("#reset-template")
    with page.expect_response(lambda r: r.request.method != "GET") as reset:
        modal.locator("[data-choice=confirm]").click()
    assert (reset.value.request.method, reset.value.status) == ("DELETE", 200)
    expect(page.locator("#recoup-toasts")).to_contain_text("reset to built-in")
    expect(page.locator("#part-sms")).to_have_js_property("value", shipped["sms"])
    assert api(front, "GET", f"/templates/{name}")["parts"] == {}
    listed = api(front, "GET", "/templates")["templates"]
    assert next(t for t in listed if t["name"] == name)["customised"] is False


def test_disconnecting_stripe_asks_first(served: dict[str, Any], browser: Page) -> None:
    page = browser
    stripe = api(served["front"], "GET", "/stripe")
    assert stripe["connected"], "the local stack's shop has a Stripe account"
    go(page, "/app/settings")
    page.click("#stripe-disconnect")
    modal = page.locator("s-modal#recoup-confirm")
    expect(page.get_by_role("dialog", name="Disconnect Stripe?")).to_be_visible()
    expect(modal).to_contain_text(stripe["account"])
    modal.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog", name="Disconnect Stripe?")).to_be_hidden()
    expect(page.locator("#stripe-connection")).to_contain_text(stripe["account"])
    assert api(served["front"], "GET", "/stripe") == stripe


def test_instalment_plans_and_the_offer_are_saved_by_the_save_bar_and_kept(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    front = served["front"]
    go(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    assert before["policy"]["instalments"]["enabled"] is False
    stripe = api(front, "GET", "/stripe")
    expect(page.locator("[data-section-summary=plans]")).to_have_text("Off.")
    open_section(page, "plans")
    # Stripe is connected on the local stack: the section says plans need it, and that it is
    line = page.locator("#plans-stripe")
    expect(line).to_contain_text("Plans are offered only with Stripe connected")
    expect(line).to_contain_text(stripe["account"])
    # The admin offers plans of up to 6 instalments, weekly too, from USD 50.00
    field(page, "reminders.instalments.enabled").locator("input").check()
    fill(page, "reminders.instalments.max_count", "6")
    page.locator("#section-plans [data-interval=weekly] input").check()
    page.locator("[data-currency-for='reminders.instalments.min_amount'] input").fill("usd")
    page.click("[data-add-currency='reminders.instalments.min_amount']")
    fill(page, "reminders.instalments.min_amount.USD", "50.00")
    field(page, "reminders.instalments.on_broken").locator("select").select_option("escalate")
    # and a 15% settlement offer from step 2
    open_section(page, "settlement")
    field(page, "reminders.settlement.enabled").locator("input").check()
    fill(page, "reminders.settlement.percent", "15")
    offered = field(page, "reminders.settlement.from_step").locator("select")
    assert offered.locator("option").all_text_contents()[-1].startswith("With the final notice")
    offered.select_option("2")
    expect(save_bar(page)).to_have_attribute("showing", "")
    # The badge is on the plans' section, not on the reminders' whose document holds them
    unsaved = {"has_text": "Unsaved changes"}
    expect(page.locator("#section-plans s-badge", **unsaved)).to_have_count(1)
    expect(page.locator("#section-reminders s-badge", **unsaved)).to_have_count(0)
    page.click("#recoup-save")
    expect(save_bar(page)).not_to_have_attribute("showing", "")
    expect(page.locator("#recoup-toasts")).to_contain_text("Settings saved")
    after = api(front, "GET", "/settings/reminders")
    assert after["version"] == before["version"] + 1
    assert after["policy"]["instalments"] == {
        **before["policy"]["instalments"],
        "enabled": True,
        "max_count": 6,
        "intervals": ["weekly", *before["policy"]["instalments"]["intervals"]],
        "min_amount": {"USD": 5_000},
        "on_broken": "escalate",
    }
    assert after["policy"]["settlement"] == {
        **before["policy"]["settlement"],
        "enabled": True,
        "percent": 15,
        "from_step": 2,
    }
    # A reload (the page opened afresh) shows what was saved
    token = admin_link(served["cwd"]).split("#", 1)[1]
    page.goto(f"{front}/app/settings#{token}")
    ready(page)
    expect(page.locator("[data-section-summary=plans]")).to_contain_text("Up to 6 instalments")
    expect(page.locator("[data-section-summary=settlement]")).to_contain_text(
        "15% off for paying in full"
    )
    open_section(page, "plans")
    expect(field(page, "reminders.instalments.enabled").locator("input")).to_be_checked()
    expect(field(page, "reminders.instalments.max_count").locator("input")).to_have_value("6")
    expect(page.locator("#section-plans [data-interval=weekly] input")).to_be_checked()
    amount = field(page, "reminders.instalments.min_amount.USD").locator("input")
    expect(amount).to_have_value("50.00")
    expect(field(page, "reminders.instalments.on_broken")).to_have_js_property("value", "escalate")
    open_section(page, "settlement")
    expect(field(page, "reminders.settlement.from_step")).to_have_js_property("value", "2")
    section_screens(page, "plans")
    section_screens(page, "settlement")


def test_a_plan_bound_out_of_range_is_refused_on_its_field(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    front = served["front"]
    go(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    open_section(page, "plans")
    fill(page, "reminders.instalments.max_count", "30")
    # Folded again, the save still finds the field and opens its section
    page.click("[data-toggle='section-plans']")
    expect(page.locator("[data-collapse='section-plans']")).to_be_hidden()
    page.click("#recoup-save")
    target = field(page, "reminders.instalments.max_count")
    expect(target).to_have_attribute("error", "must be an integer between 2 and 24, got 30")
    expect(target).to_be_visible()
    expect(page.locator("#settings-error")).to_contain_text(
        "Instalment plans · Most instalments: must be an integer between 2 and 24"
    )
    expect(save_bar(page)).to_have_attribute("showing", "")
    assert api(front, "GET", "/settings/reminders") == before
    # Correcting it clears the error
    fill(page, "reminders.instalments.max_count", "12")
    expect(target).not_to_have_attribute("error", re.compile(".*"))
    page.click("#recoup-discard")


def test_without_stripe_the_plans_section_asks_to_connect_it(
    served: dict[str, Any], browser: Page
) -> None:
    page = browser
    page.route(
        "**/admin/api/stripe",
        lambda route: route.fulfill(json={"connected": False, "account": None}),
    )
    try:
        go(page, "/app/settings")
        open_section(page, "plans")
        banner = page.locator("#plans-stripe")
        expect(banner).to_have_attribute("heading", "Connect Stripe to offer plans")
        expect(banner).to_contain_text("Plans are offered only with Stripe connected")
        section_screens(page, "plans", "plans-no-stripe")
        # Its link goes to the Stripe section, where the connect button is
        page.evaluate("window.scrollTo(0, 0)")
        page.click("#plans-connect-stripe")
        expect(page.locator("#section-stripe")).to_be_in_viewport()
        expect(page.locator("#stripe-connect")).to_be_visible()
        assert urlsplit(page.url).path == "/app/settings"
    finally:
        page.unroute("**/admin/api/stripe")
