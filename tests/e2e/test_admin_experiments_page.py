"""The experiments, the figures' breakdowns, the card retries and the cancellation of unpaid
orders on the admin page, in headless Chromium against `recoup serve`, over a shop whose
strategies run an experiment (tests/e2e/admin_seed.py, `seed_strategies`): the dashboard's
line per experiment and its way to the Experiments view, each arm's figures and the verdict,
the empty state, the breakdown tables, the retries form with a refusal beside its field, and
the cancellation field with Shopify's permission asked through App Bridge (the local
stand-in grants it). Each part is checked with axe-core (no serious or critical violation)
and shot at 1280 x 900 and 390 x 844 (test-results/screens/experiments-*.png,
figures-breakdown-*.png, retries-*.png, strategies-cancel-*.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.admin_seed import api, browser_page, open_path, ready, screens, seed_strategies
from tests.e2e.test_admin_strategies_page import check, field, open_strategies, open_strategy

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
RETRIES = "reminders.retries"


@pytest.fixture(scope="module")
def shop(served: dict[str, Any]) -> dict[str, Any]:
    return {**served, "ids": seed_strategies(served["front"])}


@pytest.fixture(scope="module")
def page(shop: dict[str, Any]) -> Iterator[Page]:
    with browser_page(shop["cwd"]) as (opened, errors):
        yield opened
    assert errors == []


def no_toasts(page: Page) -> None:
    """Earlier saves' notices gone, so a screenshot shows the part itself."""
    page.evaluate("document.querySelectorAll('#recoup-toasts > *').forEach((t) => t.remove())")


def cells(page: Page, row: str) -> list[str]:
    return [text.strip() for text in page.locator(f"{row} s-table-cell").all_inner_texts()]


# ---------------------------------------------------------------- experiments


def test_the_dashboard_leads_to_each_arms_figures_and_the_verdict(
    shop: dict[str, Any], page: Page
) -> None:
    open_path(page, "/app")
    # The dashboard has a line per experiment: no winner yet, 3% of the planned cases (the
    # smaller sending arm, control, has 3 of its 100)
    summary = page.locator("#experiments-summary")
    expect(summary.locator("[data-experiment=first-reminder]")).to_have_text(
        "Card payments, “first-reminder”: no winner yet (3% of the planned cases)."
    )
    check(page, "#experiments-summary", "experiments-dashboard")
    # and leads to the Experiments view, also in the nav
    page.click("#see-experiments")
    ready(page)
    assert page.url.endswith("/app/experiments")
    nav = page.get_by_role("navigation", name="Recoup")
    expect(nav.get_by_role("link", name="Experiments")).to_have_attribute("aria-current", "page")
    section = page.locator("s-section[data-experiment=first-reminder]")
    expect(section).to_have_attribute("heading", "Card payments: experiment “first-reminder”")
    expect(section.locator("dl.facts")).to_contain_text("Card payments (cards)")
    expect(section.locator("dl.facts")).to_contain_text("100 cases per arm")
    expect(section.locator("[data-information]")).to_have_text("3% of the planned cases")
    # Each arm by hand (the seed's hashes; every order owes USD 120.00):
    # control #6004, #6005, #6009: 3 cases, #6004 paid: 1/3 = 33.3%, $120.00
    # early #6001, #6006, #6007, #6008, #6010: 5, three paid: 3/5 = 60%, $360.00
    # the holdout #6002, #6003: 2, none paid
    arms = "s-section[data-experiment=first-reminder] [data-arm]"
    expect(page.locator(arms)).to_have_count(3)
    control, early, holdout = (cells(page, f"{arms}[data-arm={arm}]") for arm in ARMS)
    assert control[:3] == ["control", "3", "1"]
    assert control[3].startswith("33.3% (")
    assert control[4] == "$120.00"
    assert early[:3] == ["early", "5", "3"]
    assert early[3].startswith("60% (")
    assert early[4] == "$360.00"
    assert holdout[:5] == ["holdout Holdout: no reminders", "2", "0", holdout[3], "—"]
    assert holdout[3].startswith("0% (0% to ")
    # every paid case paid two minutes after opening: 0.0 days; nobody unsubscribed
    assert [control[5:], early[5:]] == [["0.0 days", "0%", "0%"]] * 2
    # the interval is the API's, as a percent with one decimal
    shown = api(shop["front"], "GET", "/experiments")["experiments"][0]
    low, high = next(a for a in shown["arms"] if a["arm"] == "early")["recovery_ci"]
    assert early[3] == f"60% ({percent(low)} to {percent(high)})"
    # What the reminders add over the holdout (0%): control +33.3 points, early +60.0
    lifts = "s-section[data-experiment=first-reminder] [data-lift]"
    expect(page.locator(lifts)).to_have_count(2)
    assert cells(page, f"{lifts}[data-lift=control]")[:2] == ["control", "+33.3 points"]
    assert cells(page, f"{lifts}[data-lift=early]")[:2] == ["early", "+60.0 points"]
    # No winner below 30 cases an arm, with the reason and the test in a note
    verdict = section.locator("[data-verdict]")
    expect(verdict).to_have_attribute("data-verdict", "none")
    expect(verdict).to_have_attribute("heading", "No winner yet")
    expect(verdict.locator("s-paragraph")).to_have_text(
        "Arm control has 3 cases, fewer than the 30 needed to compare arms."
    )
    expect(section.locator("[data-test-note]")).to_contain_text(
        "How the winner is decided: two-proportion z-test (pooled, two-sided)"
    )
    check(page, "#view", "experiments")


ARMS = ("control", "early", "holdout")


def percent(rate: float) -> str:
    """As the page writes a rate: a percent with at most one decimal."""
    value = round(rate * 1000) / 10
    return f"{value:g}%"


def test_a_shop_without_experiments_is_told_where_to_add_one(
    shop: dict[str, Any], page: Page
) -> None:
    def none(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body='{"experiments": []}')

    page.route("**/admin/api/experiments", none)
    try:
        for path, holder in (("/app/experiments", "#view"), ("/app", "#experiments-summary")):
            open_path(page, path)
            empty = page.locator(f"{holder} #no-experiments")
            expect(empty).to_have_text("No experiments: add one to a strategy in Settings.")
            expect(empty.locator("s-link")).to_have_attribute("href", "/app/settings")
        check(page, "#experiments-summary", "experiments-empty")
    finally:
        page.unroute("**/admin/api/experiments")


# ---------------------------------------------------------------- the figures' breakdowns


def test_the_dashboard_breaks_recovery_down_by_strategy_decline_and_method(
    shop: dict[str, Any], page: Page
) -> None:
    open_path(page, "/app")
    tables = page.locator("#breakdowns")
    # By hand: 12 cases opened in USD; one recovered after a message (#6001, card, $120.00);
    # the four paid before any message are self-cured, not recovered
    rows = {
        "by_strategy": [
            ("cards", ["Card payments", "10", "1", "10%", "$120.00"]),
            ("transfers", ["Bank transfers", "2", "0", "0%", "$0.00"]),
        ],
        "by_decline": [("none", ["No declined payment", "12", "1", "8.3%", "$120.00"])],
        "by_method": [
            ("card", ["Card or wallet at checkout", "10", "1", "10%", "$120.00"]),
            ("bank_transfer", ["Bank transfer", "2", "0", "0%", "$0.00"]),
        ],
    }
    figures = api(shop["front"], "GET", "/figures")
    for key, expected in rows.items():
        block = tables.locator(f"[data-breakdown={key}]")
        # each with its definition, as the other cards have theirs
        expect(block).to_contain_text(figures["definitions"][key])
        shown = [
            (value, cells(page, f"#breakdowns [data-breakdown={key}] [data-value='{value}']"))
            for value in (
                row.get_attribute("data-value") for row in block.locator("[data-value]").all()
            )
        ]
        assert shown == expected, key
        assert [s["value"] for s in figures[key]] == [value for value, _ in expected]
    check(page, "#breakdowns", "figures-breakdown")
    screens(page, "figures-breakdown-dashboard")


# ---------------------------------------------------------------- retries


def test_the_retries_are_set_with_the_reminders_and_a_bad_wait_is_refused_beside_it(
    shop: dict[str, Any], page: Page
) -> None:
    front = shop["front"]
    open_path(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    assert before["policy"]["retries"]["enabled"] is False
    retries = page.locator("#retries")
    # In the reminders section (open at first), folded to a line until opened
    expect(page.locator("[data-retries-summary]")).to_have_text(
        "Off: a declined card payment is left to the reminders."
    )
    page.click("[data-toggle='retries']")
    expect(retries).to_contain_text("Only a card the customer saved for later payments")
    expect(retries).to_contain_text("Never after a hard decline")
    expect(page.locator("[data-section-summary=reminders]")).to_contain_text("card retries off")
    # When the admin turns them on, allows 3, and sets the second wait to 45 days
    field(page, f"{RETRIES}.enabled").locator("input").check()
    field(page, f"{RETRIES}.max_retries").locator("input").fill("3")
    field(page, f"{RETRIES}.soft_delays[1]").locator("input").fill("45")
    expect(page.locator("[data-retries-summary]")).to_have_text(
        "Up to 3 a case, after 1 day, 45 days, 5 days, then every 7 days."
    )
    page.click("#recoup-save")
    # Then the refusal shows beside that wait, and nothing is stored
    wait = field(page, f"{RETRIES}.soft_delays[1]")
    expect(wait).to_have_attribute("error", "must be from 1h to 30d, got '45d'")
    expect(page.locator("#settings-error")).to_contain_text(
        "Reminders · Wait before retry 2: must be from 1h to 30d, got '45d'"
    )
    assert api(front, "GET", "/settings/reminders") == before
    no_toasts(page)
    retries.evaluate("el => el.scrollIntoView({ block: 'end' })")  # clear of the save bar
    check(page, "#retries", "retries")
    # Mended (12 hours), with one more wait, it saves with the reminders
    wait.locator("input").fill("12")
    expect(wait).not_to_have_attribute("error", re.compile(".*"))
    field(page, f"{RETRIES}.soft_delays[1].unit").locator("select").select_option("h")
    page.click("#add-retry-wait")
    expect(page.locator("[data-retry-wait]")).to_have_count(5)
    page.click("#recoup-save")
    expect(page.locator("#recoup-toasts")).to_contain_text("Settings saved")
    after = api(front, "GET", "/settings/reminders")
    assert after["version"] == before["version"] + 1
    assert after["policy"]["retries"] == {
        "enabled": True,
        "max_retries": 3,
        "soft_delays": ["1d", "12h", "5d", "7d", "7d"],  # the new wait repeats the last
        "do_not_honor_hard": False,
    }
    expect(page.locator("[data-section-summary=reminders]")).to_contain_text("up to 3 card retries")
    expect(page.locator("[data-retries-summary]")).to_have_text(
        "Up to 3 a case, after 1 day, 12 hours, 5 days, 7 days, then every 7 days."
    )


# ---------------------------------------------------------------- cancelling unpaid orders


def test_a_manual_payments_strategy_cancels_with_shopifys_permission(
    shop: dict[str, Any], page: Page
) -> None:
    front = shop["front"]
    open_path(page, "/app/settings")
    open_strategies(page)
    # The card strategy cannot cancel: its field is closed, and says why
    open_strategy(page, 0)
    cards = "reminders.strategies[0].cancel_after_days"
    expect(field(page, cards).locator("input")).to_be_disabled()
    expect(page.locator("[data-cancel-only='0']")).to_contain_text(
        "tick only Bank transfer, Cash on delivery or Another method"
    )
    # The bank transfers' can: 10 days, said plainly, and Shopify's permission is asked for
    open_strategy(page, 1)
    days = "reminders.strategies[1].cancel_after_days"
    expect(field(page, days).locator("input")).to_be_enabled()
    expect(page.locator("[data-cancel-only='1']")).to_be_hidden()
    field(page, days).locator("input").fill("10")
    expect(page.locator("[data-cancel-said='1']")).to_have_text(
        "Still unpaid 10 days after the order, the customer gets a last message saying the "
        "order is being cancelled; then Shopify cancels the order and puts its items back in "
        "stock. Shopify's own cancellation email is not sent, and a payment before then stops it."
    )
    scope = page.locator("[data-cancel-scope='1']")
    expect(scope.locator("[data-scope=missing]")).to_have_attribute(
        "heading", "Recoup needs your permission to cancel orders"
    )
    no_toasts(page)
    check(page, "[data-cancel='1']", "strategies-cancel")
    scope.locator("[data-request-scope=write_orders]").click()
    expect(scope.locator("[data-scope=granted]")).to_have_text(
        "Shopify lets Recoup cancel orders (permission “write_orders” granted)."
    )
    granted = page.evaluate("async () => (await shopify.scopes.query()).granted")
    assert "write_orders" in granted
    # A card ticked too: the server refuses the cancellation, beside its field
    before = api(front, "GET", "/settings/reminders")
    methods = field(page, "reminders.strategies[1].when.methods")
    methods.locator("[data-choice=card] input").check()
    expect(page.locator("[data-cancel-only='1']")).to_be_visible()
    expect(field(page, days).locator("input")).to_be_enabled()  # still mendable
    page.click("#recoup-save")
    expect(field(page, days)).to_have_attribute(
        "error",
        "applies only to a strategy for manual payments: set when.methods to some of "
        "bank_transfer, cash_on_delivery, other",
    )
    assert api(front, "GET", "/settings/reminders") == before
    # Without the card it saves
    methods.locator("[data-choice=card] input").uncheck()
    page.click("#recoup-save")
    expect(page.locator("#recoup-toasts")).to_contain_text("Settings saved")
    saved = api(front, "GET", "/settings/reminders")["policy"]["strategies"]
    assert [(s["id"], s["cancel_after_days"]) for s in saved] == [
        ("cards", 0),
        ("transfers", 10),
    ]
    assert saved[1]["when"]["methods"] == ["bank_transfer", "cash_on_delivery"]
