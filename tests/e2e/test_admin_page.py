"""The embedded admin page in headless Chromium against `recoup serve`, opened with the link
`recoup admin-url` prints, over a shop seeded by signed webhooks (tests/e2e/admin_seed.py).
Outside Shopify the page runs on the local stand-in for Polaris and App Bridge
(polaris-local.js). Screenshots of every view, at desktop width and at 390 px, go to
test-results/screens/."""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, Route, expect

from recoup.admin import views
from recoup.domain.case import Settled
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.instalments import Interval, new_plan, schedule
from recoup.domain.money import Money
from tests.e2e.admin_seed import (
    ORDERS,
    PHONE,
    STAFF_NAME,
    admin_link,
    api,
    browser_page,
    open_path,
    order,
    post_webhook,
    ready,
    screens,
    seed_shop,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
UTC_ZONE = ZoneInfo("UTC")

VIEWS = [
    "/app",
    "/app/cases",
    "/app/settings",
    "/app/templates",
    "/app/notifications",
    "/app/onboarding",
]


@pytest.fixture(scope="module")
def seeded(served: dict[str, Any]) -> dict[str, Any]:
    return {**served, "ids": seed_shop(served["front"])}


@pytest.fixture(scope="module")
def page(seeded: dict[str, Any]) -> Iterator[Page]:
    with browser_page(seeded["cwd"]) as (opened, errors):
        yield opened
    assert errors == []


def figure(page: Page, key: str) -> str:
    return page.locator(f"[data-figure={key}] [data-value]").inner_text().strip()


def test_the_views_are_reached_by_the_nav_by_links_and_by_their_url(
    seeded: dict[str, Any], page: Page
) -> None:
    # The token moved to memory: it is not in the address bar, nor in the history entry
    assert "id_token" not in page.url
    assert page.url.endswith("/app")
    expect(page.locator("#view")).to_have_attribute("data-view", "dashboard")
    nav = page.get_by_role("navigation", name="Recoup")
    page.evaluate("window.sameDocument = true")  # gone if a click reloaded the page
    # The title bar's primary action is a link into the app
    page.get_by_role("button", name="Review cases").click()
    ready(page)
    assert page.url.endswith("/app/cases")
    page.go_back()
    ready(page)
    # By the nav: Cases, then a case by its row's link, then back with the browser
    nav.get_by_role("link", name="Cases").click()
    ready(page)
    assert page.url.endswith("/app/cases")
    expect(page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Cases")).to_have_attribute("aria-current", "page")
    case_id = seeded["ids"]["#3001"]
    page.locator(f"s-table-row[data-case='{case_id}'] s-link").click()
    ready(page)
    assert page.url.endswith(f"/app/cases/{case_id}")
    expect(page.get_by_role("heading", name="#3001")).to_be_visible()
    page.go_back()
    ready(page)
    assert page.url.endswith("/app/cases")
    nav.get_by_role("link", name="Dashboard").click()
    ready(page)
    expect(page.locator("#view")).to_have_attribute("data-view", "dashboard")
    assert page.evaluate("window.sameDocument") is True  # every move was in the page
    # By URL: a reload or a shared link of any view opens that view
    token = admin_link(seeded["cwd"]).split("#", 1)[1]
    page.goto(f"{seeded['front']}/app/cases/{case_id}#{token}")
    ready(page)
    expect(page.locator("#view")).to_have_attribute("data-view", "case")
    expect(page.get_by_role("heading", name="#3001")).to_be_visible()
    assert "id_token" not in page.url
    for path in VIEWS:
        with urllib.request.urlopen(f"{seeded['front']}{path}", timeout=20) as answer:
            assert answer.status == 200
            assert '<main id="view"' in answer.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{seeded['front']}/app/nothing", timeout=20)
    assert missing.value.code == 404


def test_the_dashboard_shows_each_currency_apart_with_the_hand_computed_figures(
    seeded: dict[str, Any], page: Page
) -> None:
    front, ids = seeded["front"], seeded["ids"]
    # Given #3006 got its first reminder, and then paid: recovered (the others never got one)
    answer = api(front, "POST", f"/cases/{ids['#3006']}/actions", {"action": "send_now"})
    assert answer["case"]["id"] == ids["#3006"]
    wait_until(
        lambda: api(front, "GET", f"/cases/{ids['#3006']}")["reminders_sent"], "the reminder"
    )
    order_id, amount, currency, _ = ORDERS["#3006"]
    later = datetime.now(tz=UTC) + timedelta(minutes=2)
    post_webhook(front, order(order_id, "#3006", amount, currency, later, paid=True), "orders/paid")
    wait_until(lambda: len(api(front, "GET", "/cases?state=paid")["cases"]) == 3, "paid")

    # By hand: USD has 6 cases: owed on open ones 120 + 80 + 60 (the fraud 6,086 apart),
    # 30 recovered after a reminder, 45 paid before any; 1 of 1 contacted paid.
    usd = api(front, "GET", "/figures?currency=USD")
    assert (usd["currency"], usd["currencies"], usd["cases"]) == ("USD", ["EUR", "USD"], 6)
    assert (usd["outstanding"]["minor"], usd["outstanding_cases"]) == (26000, 3)
    assert (usd["fraud_flagged"]["minor"], usd["fraud_flagged_cases"]) == (608600, 1)
    assert (usd["unlinked_stripe"]["minor"], usd["written_off"]["minor"]) == (0, 0)
    assert (usd["recovered"]["minor"], usd["recovered_cases"]) == (3000, 1)
    assert (usd["self_cured"]["minor"], usd["self_cured_cases"]) == (4500, 1)
    assert (usd["contacted_cases"], usd["recovery_rate"]) == (1, 1.0)

    open_path(page, "/app")
    # The default currency is the one with the most cases; the figures are never summed
    expect(page.locator("s-select[name=currency]")).to_have_js_property("value", "USD")
    assert figure(page, "cases") == "6"
    assert figure(page, "outstanding") == "$260.00"
    assert figure(page, "fraud_flagged") == "$6,086.00"
    assert figure(page, "unlinked_stripe") == "$0.00"
    assert figure(page, "written_off") == "$0.00"
    assert figure(page, "recovered") == "$30.00"
    assert figure(page, "self_cured") == "$45.00"
    assert figure(page, "recovery_rate") == "100%"
    # Each card says what it counts, in the API's words
    definition = usd["definitions"]["outstanding"]
    expect(page.locator("[data-figure=outstanding] .figure-definition")).to_have_text(definition)
    # The reminder that converted, the month's cohort, and the charts with their tables
    step = page.locator("#conversion s-table-row[data-step='1']").first
    expect(step.locator("s-table-cell").nth(3)).to_have_text("1")
    expect(step.locator("s-table-cell").nth(4)).to_have_text("1")
    this_month = datetime.now(tz=UTC).strftime("%Y-%m")
    cohort = page.locator(f"#cohorts s-table-row[data-month='{this_month}'] s-table-cell")
    expect(cohort.nth(1)).to_have_text("6")
    expect(cohort.nth(2)).to_have_text("1")
    expect(cohort.nth(3)).to_have_text("1")
    for chart in ("#recovered-chart", "#opened-chart"):
        svg = page.locator(f"{chart} svg[role=img]")
        expect(svg).to_be_visible()
        assert svg.locator("title").first.text_content()
    page.locator("#recovered-chart details summary").click()
    expect(page.locator("#recovered-chart details s-table")).to_contain_text("$30.00")
    screens(page, "dashboard")

    # In EUR: 2 cases, 200 outstanding, 50 paid without a reminder, no rate (none contacted)
    page.locator("s-select[name=currency] select").select_option("EUR")
    ready(page)
    assert "currency=EUR" in page.url
    assert figure(page, "cases") == "2"
    assert figure(page, "outstanding") == "€200.00"
    assert figure(page, "self_cured") == "€50.00"
    assert figure(page, "recovered") == "€0.00"
    assert figure(page, "recovery_rate") == "—"

    # A bad filter is said beside its field; the page stays
    open_path(page, "/app?currency=usd")
    expect(page.locator("s-select[name=currency]")).to_have_attribute("error", re.compile(".+"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_write_off_asks_first_and_shows_who_did_it(seeded: dict[str, Any], page: Page) -> None:
    front, case_id = seeded["front"], seeded["ids"]["#3005"]
    open_path(page, f"/app/cases/{case_id}")
    expect(page.locator("#case-state")).to_have_attribute("data-state", "open")
    dialog = page.get_by_role("dialog")
    modal = page.locator("s-modal#recoup-confirm")  # the dialog's buttons are slotted into it
    # When the merchant clicks Write off, the modal says what it will do
    page.locator("[data-action=write_off]").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name("Write off: #3005?")
    expect(page.locator("#recoup-confirm-body")).to_contain_text(
        "$60.00 moves out of Outstanding into Written off"
    )
    screens(page, "case-write-off-modal")
    # Cancel leaves the case open
    modal.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#case-state")).to_have_attribute("data-state", "open")
    assert api(front, "GET", f"/cases/{case_id}")["state"] == "open"
    # Confirm writes it off, and the page shows it at once, with the staff member's name
    page.locator("[data-action=write_off]").click()
    modal.get_by_role("button", name="Write off").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#case-state")).to_have_attribute("data-state", "written_off")
    expect(page.locator("#case-state")).to_have_text("Written off")
    expect(page.locator("#timeline")).to_contain_text(f"Written off by {STAFF_NAME}")
    case = api(front, "GET", f"/cases/{case_id}")
    assert case["state"] == "written_off"
    assert "reopen" in case["actions"]
    # Reopening asks how: where it stopped, or from the start
    page.locator("[data-action=reopen]").first.click()
    expect(dialog).to_have_accessible_name("Reopen this case?")
    expect(modal.get_by_role("button", name="Resume where it stopped")).to_be_visible()
    expect(modal.get_by_role("button", name="Start over")).to_be_visible()
    page.keyboard.press("Escape")  # Escape closes the modal, and nothing happens
    expect(dialog).to_be_hidden()
    assert api(front, "GET", f"/cases/{case_id}")["state"] == "written_off"
    screens(page, "case")
    # Resuming where it stopped opens it again, on the step it had reached
    page.locator("[data-action=reopen]").first.click()
    modal.get_by_role("button", name="Resume where it stopped").click()
    expect(page.locator("#case-state")).to_have_attribute("data-state", "open")
    case = api(front, "GET", f"/cases/{case_id}")
    assert case["state"] == "open"
    assert case["next_step"]["step"] == 1


def test_the_next_reminder_can_be_skipped_from_the_case_page(
    seeded: dict[str, Any], page: Page
) -> None:
    front, case_id = seeded["front"], seeded["ids"]["#3101"]
    open_path(page, f"/app/cases/{case_id}")
    expect(page.locator("#next-step")).to_contain_text("Step 1")
    # The time says its zone
    expect(page.locator("#next-step")).to_contain_text("UTC")
    page.locator("[data-action=skip_step]").click()
    expect(page.locator("#next-step")).to_contain_text("Step 2")
    assert api(front, "GET", f"/cases/{case_id}")["next_step"]["step"] == 2
    assert api(front, "GET", f"/cases/{case_id}")["reminders_sent"] == []


def test_the_case_list_filters_exports_and_holds_in_bulk(
    seeded: dict[str, Any], page: Page
) -> None:
    front, ids = seeded["front"], seeded["ids"]
    open_path(page, "/app/cases")
    rows = page.locator("#cases-table s-table-row")
    listed = api(front, "GET", "/cases?limit=25")["cases"]
    expect(rows).to_have_count(len(listed))
    # Pages: "Load more" adds the next ones below, each case once
    open_path(page, "/app/cases?limit=3")
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(6)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(len(listed))
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.case)")
    assert sorted(shown) == sorted(c["id"] for c in listed)
    open_path(page, "/app/cases")
    # Amounts need a currency first
    expect(page.get_by_label("Owed at least")).to_be_disabled()
    # Search by order number
    page.get_by_label("Search").fill("#3002")
    page.get_by_role("button", name="Apply filters").click()
    ready(page)
    assert "q=%233002" in page.url
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-case", ids["#3002"])
    # A refused filter shows on its field, and the page stays
    open_path(page, "/app/cases?currency=USD&min_amount=lots")
    expect(page.locator("s-text-field[name=min_amount]")).to_have_attribute(
        "error", re.compile(".+")
    )
    expect(page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    # The CSV is what the filters select
    open_path(page, "/app/cases?currency=EUR")
    expect(rows).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    saved = download.value
    assert re.fullmatch(r"recoup-cases-\d{4}-\d{2}-\d{2}\.csv", saved.suggested_filename)
    table = list(csv.reader(io.StringIO(saved.path().read_text(encoding="utf-8"))))
    assert table[0] == [
        "id", "order", "customer", "email", "state", "currency", "amount_owed",
        "opened_at", "next_reminder_at", "risk", "referral",
    ]  # fmt: skip
    assert sorted((r[1], r[5], r[6]) for r in table[1:]) == [
        ("#3101", "EUR", "200.00"),
        ("#3102", "EUR", ""),  # paid: nothing owed
    ]
    # Hold two open cases at once, after a confirmation
    open_path(page, "/app/cases?state=open&currency=USD")
    for name in ("#3001", "#3002"):
        page.get_by_role("checkbox", name=f"Select {name}", exact=True).check()
    expect(page.locator("#bulk-actions")).to_contain_text("2 selected")
    page.locator("[data-bulk=hold]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_accessible_name("Hold reminders: 2 cases?")
    page.locator("s-modal#recoup-confirm").get_by_role("button", name="Hold reminders (2)").click()
    # The outcome is told, and the list shows it at once
    expect(page.get_by_role("status").filter(has_text="2 cases held")).to_be_visible()
    for name in ("#3001", "#3002"):
        cell = page.locator(f"s-table-row[data-case='{ids[name]}'] [data-reminders]")
        expect(cell).to_have_attribute("data-reminders", "held")
    for name in ("#3001", "#3002"):
        case = api(front, "GET", f"/cases/{ids[name]}")
        assert case["reminders"]["status"] == "held"
    screens(page, "cases")


def test_the_page_fits_a_phone(seeded: dict[str, Any], page: Page) -> None:
    page.set_viewport_size(PHONE)
    try:
        for path in ("/app", "/app/cases", f"/app/cases/{seeded['ids']['#3001']}"):
            open_path(page, path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} scrolls sideways: {width}px"
        # The case list's rows are stacked: a cell says its column
        open_path(page, "/app/cases")
        cell = page.locator("#cases-table s-table-row").first.locator("s-table-cell").nth(2)
        assert cell.get_attribute("data-label") == "Customer"
        expect(page.locator("#cases-table s-table-header-row")).to_be_hidden()
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def _plan_case(body: dict[str, Any]) -> dict[str, Any]:
    """The case as the API shows one whose customer agreed to 3 monthly instalments of its
    USD 120.00 five weeks ago: the first paid, the second declined, the third to come; its
    trail with the plan's entries as the services word them."""
    now = datetime.now(tz=UTC).replace(microsecond=0)
    made = now - timedelta(days=33)
    agreed = schedule(Money.of(12_000, "USD"), 3, Interval.MONTHLY, made.date())
    plan = new_plan("p1", "r1", agreed, Interval.MONTHLY, UTC_ZONE, "digest", "en", made)
    plan = plan.card_saved("pm_1", "cus_1").paid_instalment(1, "pi_1", made)
    failed = plan.instalments[1].due_at + timedelta(minutes=1)
    plan = plan.failed_instalment(2, "pi_2", "card_declined", failed)
    first, last = agreed[0].due_on.isoformat(), agreed[-1].due_on.isoformat()
    trail = [
        ("customer", made, "customer.plan", "the customer agreed to pay USD 120.00 in 3 "
         f"instalments a month apart from {first} to {last}"),
        ("recoup", made, "customer.plan_charged", "instalment 1 of 3 charged: USD 40.00"),
        ("recoup", failed, "customer.plan_charge_failed",
         "instalment 2 of 3 could not be charged (card_declined)"),
        ("recoup", failed, "customer.plan_notice",
         "notice of the missed instalment sent by email; provider id 0100-local"),
    ]  # fmt: skip
    timeline = list(body["timeline"])
    for source, at, kind, summary in trail:
        entry = {"occurred_at": at.isoformat(), "source": source, "kind": kind, "summary": summary}
        timeline.append(views.timeline_entry(len(timeline) + 1, entry))
    reminders = {**body["reminders"], "status": "planned"}
    shown = views.plan(Dunning(DunningStatus.PLANNED, plan=plan, plan_grace_days=7))
    return {**body, "plan": shown, "timeline": timeline, "reminders": reminders}


def test_a_case_shows_its_instalment_plan_and_a_settlement_its_discount(
    seeded: dict[str, Any], page: Page
) -> None:
    ids = seeded["ids"]

    def with_a_plan(route: Route) -> None:
        route.fulfill(json=_plan_case(route.fetch().json()))

    def settled(route: Route) -> None:
        body = route.fetch().json()
        offer = Settled("s3-0", Money.of(4_050, "USD"), Money.of(4_500, "USD"))
        route.fulfill(
            json={
                **body,
                "recovered": views.money(Money.of(4_050, "USD")),
                "settlement": views.settled(offer),
                "settled_discount": views.money(offer.discount),
            }
        )

    planned, paid = ids["#3001"], ids["#3003"]
    page.route(f"**/admin/api/cases/{planned}", with_a_plan)
    page.route(f"**/admin/api/cases/{paid}", settled)
    try:
        open_path(page, f"/app/cases/{planned}")
        card = page.locator("#plan")
        expect(card).to_have_attribute("data-status", "active")
        expect(card).to_contain_text("$120.00 in 3 monthly instalments")
        expect(card.locator("s-badge").first).to_have_text("Active")
        expect(page.locator("#plan-paid")).to_have_text("$40.00 of $120.00")
        missed = page.locator("#plan-missed")
        expect(missed).to_have_attribute(
            "heading", "Instalment 2 could not be charged (card declined)"
        )
        expect(missed).to_contain_text("can pay $40.00 from their page until")
        # No next charge while one is missed; the schedule says each instalment's state
        expect(page.locator("#plan-next")).to_have_count(0)
        rows = page.locator("#plan-schedule s-table-row[data-instalment]")
        expect(rows).to_have_count(3)
        states = rows.evaluate_all("rows => rows.map(r => r.dataset.status)")
        assert states == ["paid", "missed", "scheduled"]
        expect(rows.nth(0)).to_contain_text("1 of 3")
        expect(rows.nth(1)).to_contain_text("$40.00")
        expect(rows.nth(1)).to_contain_text("Missed")
        expect(page.locator("#reminder-status")).to_have_text("Reminders paused for the plan")
        # The trail's plan entries read as sentences, amounts and days in the page's locale
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("Instalment 1 of 3 charged: $40.00")
        expect(timeline).to_contain_text("Instalment 2 of 3 could not be charged (card declined)")
        expect(timeline).to_contain_text(
            re.compile(r"The customer agreed to pay \$120\.00 in 3 instalments a month apart from "
                       r"[A-Z][a-z]{2} \d{1,2}, \d{4} to [A-Z][a-z]{2} \d{1,2}, \d{4}")
        )  # fmt: skip
        expect(timeline).to_contain_text("Notice of the missed instalment sent by email")
        expect(timeline).not_to_contain_text("USD 40.00")
        page.set_viewport_size(PHONE)
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the case with a plan scrolls sideways: {width}px"
        finally:
            page.set_viewport_size({"width": 1280, "height": 900})
        screens(page, "case-plan")
        # A case paid under a settlement offer: what was paid, and the discount written off
        open_path(page, f"/app/cases/{paid}")
        expect(page.locator("#plan")).to_have_count(0)
        expect(page.locator("#amount-recovered")).to_have_text("$40.50")
        expect(page.locator("#settled")).to_have_text(
            "$40.50 paid for $45.00 under a settlement offer"
        )
        expect(page.locator("#settled-discount")).to_have_text("$4.50")
        screens(page, "case-settled")
    finally:
        page.unroute(f"**/admin/api/cases/{planned}")
        page.unroute(f"**/admin/api/cases/{paid}")


def test_every_view_has_screenshots(seeded: dict[str, Any], page: Page) -> None:
    for path in VIEWS:
        open_path(page, path)
        screens(page, path.strip("/").replace("/", "-"))
    open_path(page, f"/app/cases/{seeded['ids']['fraud']}")
    screens(page, "case-fraud")


def test_the_api_refuses_the_page_without_a_token(seeded: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{seeded['front']}/admin/api/cases")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 401
