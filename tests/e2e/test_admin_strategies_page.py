"""The strategies on the settings page and their reasons on the case page, in headless
Chromium against `recoup serve`: the shipped list and the default last, a strategy added
with its conditions and saved by the save bar, an amount band refused beside its field, the
tester on a case and on facts entered by hand, the what-if preview, and the case page's
strategy and why. Each view is checked with axe-core (no serious or critical violation) and
shot at 1280 x 900 and 390 x 844 (test-results/screens/strategies-*.png,
case-strategy-*.png)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.admin_support import pending_order
from tests.conftest import shopify_headers
from tests.e2e.admin_seed import (
    DESKTOP,
    PHONE,
    SCREENS,
    SECRET,
    all_cases,
    api,
    browser_page,
    open_path,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
SERIOUS = {"serious", "critical"}
STRATEGY = "reminders.strategies[1]"


@pytest.fixture(scope="module")
def shop(served: dict[str, Any]) -> dict[str, Any]:
    """The shop with one order paid by bank transfer (#5001), opened now; the tests add to
    `cases` the orders they open."""
    front = served["front"]
    deliver_now(
        front,
        pending_order(9_200_000_000_001, name="#5001", amount="120.00", email="kim@example.com"),
    )
    return {**served, "cases": {"#5001": wait_for_case(front, "#5001")}}


@pytest.fixture(scope="module")
def page(shop: dict[str, Any]) -> Iterator[Page]:
    with browser_page(shop["cwd"]) as (opened, errors):
        yield opened
    assert errors == []


def deliver_now(front: str, body: bytes) -> None:
    """orders/create, signed as Shopify signs it, sent now: the case opens now."""
    order = json.loads(body)
    stamp = datetime.now(tz=UTC).replace(microsecond=0).isoformat()
    order.update(created_at=stamp, updated_at=stamp, processed_at=stamp)
    raw = json.dumps(order).encode()
    headers = shopify_headers(raw, SECRET, "orders/create")
    headers["X-Shopify-Triggered-At"] = stamp
    request = urllib.request.Request(
        f"{front}/webhooks/shopify", data=raw, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200


def wait_for_case(front: str, name: str) -> str:
    def found() -> str | None:
        cases = [c for c in all_cases(front) if c["order_name"] == name and c["reminders"]]
        return cases[0]["id"] if cases else None

    case_id: str = wait_until(found, f"the case of {name}")
    return case_id


def german_first_order(order_id: int, name: str) -> bytes:
    """A pending order paid by card, shipped to Germany, the customer's first at the shop."""
    address = {
        "first_name": "Jana",
        "last_name": "Vogel",
        "address1": "Hauptstr. 1",
        "city": "Berlin",
        "zip": "10115",
        "country": "Germany",
        "country_code": "DE",
    }
    return pending_order(
        order_id,
        name=name,
        amount="80.00",
        email="jana@example.com",
        payment_gateway_names=["shopify_payments"],
        shipping_address=address,
        billing_address=address,
        customer={"first_name": "Jana", "last_name": "Vogel", "orders_count": 1},
    )


def field(page: Page, path: str) -> Locator:
    return page.locator(f"[data-path='{path}']")


def open_strategies(page: Page) -> None:
    body = page.locator("[data-collapse='section-strategies']")
    if body.get_attribute("data-open") != "true":
        page.click("[data-toggle='section-strategies']")
    expect(body).to_be_visible()


def open_strategy(page: Page, index: int) -> None:
    body = page.locator(f"[data-collapse='strategy-{index}']")
    if body.get_attribute("data-open") != "true":
        page.click(f"[data-toggle='strategy-{index}']")
    expect(body).to_be_visible()


def check(page: Page, selector: str, name: str) -> None:
    """No serious or critical axe violation in the part of the page `selector` names, at
    1280 x 900 and at 390 x 844 (where nothing is wider than the screen); a screenshot of
    it at each (<name>-desktop.png, <name>-phone.png)."""
    target = page.locator(selector)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        try:
            if size == "phone":
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{name} scrolls sideways: {width}px"
            results = Axe().run(page, context=selector)
            found = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in results.response["violations"]
                if v["impact"] in SERIOUS
            ]
            assert found == [], f"{name} at {size}: {found}"
            target.screenshot(path=SCREENS / f"{name}-{size}.png")
        finally:
            page.set_viewport_size(DESKTOP)


def test_the_shipped_strategies_show_with_the_default_last(
    shop: dict[str, Any], page: Page
) -> None:
    open_path(page, "/app/settings")
    # The shop never set its strategies: the settings hold none, and the shipped ones show
    assert "strategies" not in api(shop["front"], "GET", "/settings/reminders")["policy"]
    expect(page.locator("[data-section-summary=strategies]")).to_contain_text(
        "Shipped: Bank transfer and cash on delivery"
    )
    open_strategies(page)
    expect(page.locator("#strategies-shipped")).to_contain_text("these apply")
    boxes = page.locator("#strategies [data-strategy]")
    expect(boxes).to_have_count(1)
    expect(boxes.first).to_contain_text("1. Bank transfer and cash on delivery")
    expect(page.locator("[data-strategy-summary='0']")).to_have_text(
        "Bank transfer or Cash on delivery"
    )
    # The default comes last, read-only
    default = page.locator("#strategy-default")
    expect(default).to_contain_text("Default: every other case (the reminder sequence above)")
    assert page.evaluate(
        "() => { const d = document.querySelector('#strategy-default');"
        " const s = document.querySelector('#strategies [data-strategy]');"
        " return !!(s.compareDocumentPosition(d) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    expect(default.locator("input, select")).to_have_count(0)
    # Looking is not editing: no save bar
    open_strategy(page, 0)
    expect(page.locator("#recoup-save-bar")).not_to_have_attribute("showing", "")
    check(page, "#section-strategies", "strategies-shipped")


def test_a_strategy_is_added_with_its_conditions_and_saved(
    shop: dict[str, Any], page: Page
) -> None:
    front = shop["front"]
    open_path(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    open_strategies(page)
    # When the admin adds a strategy, names it, and sets its conditions
    page.click("#add-strategy")
    new = page.locator("[data-strategy='1']")
    expect(new.locator("s-badge", has_text=re.compile("^New$"))).to_have_count(1)
    expect(page.locator("[data-collapse='strategy-1']")).to_be_visible()
    field(page, f"{STRATEGY}.name").locator("input").fill("German first orders")
    # the id follows the name, as a slug
    expect(field(page, f"{STRATEGY}.id").locator("input")).to_have_value("german-first-orders")
    field(page, f"{STRATEGY}.when.methods").locator("[data-choice=card] input").check()
    field(page, f"{STRATEGY}.when.customer").get_by_label("First order at the shop").check()
    field(page, f"{STRATEGY}.when.countries").locator("input").fill("de")
    expect(page.locator("[data-strategy-summary='1']")).to_have_text(
        "Card or wallet at checkout · in DE · first order at the shop"
    )
    # With terms chosen, the courtesy days show; without, they do not
    terms = field(page, f"{STRATEGY}.when.payment_terms")
    expect(field(page, f"{STRATEGY}.courtesy_days")).to_have_count(0)
    terms.get_by_label("Only orders with payment terms").check()
    expect(field(page, f"{STRATEGY}.courtesy_days")).to_be_visible()
    terms.get_by_label("Any order").check()
    expect(field(page, f"{STRATEGY}.courtesy_days")).to_have_count(0)
    expect(page.locator("#recoup-save-bar")).to_have_attribute("showing", "")
    check(page, "[data-strategy='1']", "strategies-edit")
    # and saves
    page.click("#recoup-save")
    expect(page.locator("#recoup-toasts")).to_contain_text("Settings saved")
    expect(page.locator("#recoup-save-bar")).not_to_have_attribute("showing", "")
    after = api(front, "GET", "/settings/reminders")
    assert after["version"] == before["version"] + 1
    saved = after["policy"]["strategies"]
    assert [s["id"] for s in saved] == ["manual-payments", "german-first-orders"]
    assert saved[0] == after["strategies"]["shipped"][0]  # the shipped one, now the shop's own
    assert saved[1]["name"] == "German first orders"
    assert saved[1]["when"] == {
        "methods": ["card"],
        "declines": [],
        "amount": {},
        "countries": ["DE"],
        "customer": "first",
        "risks": [],
        "past_cases": [],
        "payment_terms": None,
    }
    assert saved[1]["steps"] == after["policy"]["steps"]  # it starts from the sequence above
    # The page now shows the shop's own list: no shipped note, the strategy saved
    expect(page.locator("#strategies-shipped")).to_have_count(0)
    expect(new.locator("s-badge", has_text=re.compile("^New$"))).to_have_count(0)
    expect(field(page, f"{STRATEGY}.id").locator("input")).to_be_disabled()
    # A first order from Germany, opened now, takes the strategy
    deliver_now(front, german_first_order(9_200_000_000_002, "#5002"))
    shop["cases"]["#5002"] = wait_for_case(front, "#5002")


def test_a_bad_amount_band_shows_its_error_beside_the_field(
    shop: dict[str, Any], page: Page
) -> None:
    front = shop["front"]
    open_path(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    open_strategies(page)
    open_strategy(page, 1)
    # A USD band from 50.00 to 30.00: its top below its bottom
    amount = f"{STRATEGY}.when.amount"
    page.locator(f"[data-currency-for='{amount}'] input").fill("usd")
    page.click(f"[data-add-band='{amount}']")
    field(page, f"{amount}.USD.min").locator("input").fill("50.00")
    field(page, f"{amount}.USD.max").locator("input").fill("30.00")
    # Folded again, the save still finds the field and opens what holds it
    page.click("[data-toggle='strategy-1']")
    page.click("#recoup-save")
    high = field(page, f"{amount}.USD.max")
    expect(high).to_have_attribute(
        "error", "must be an amount above the minimum (USD 50.00), or empty, got 30.00"
    )
    expect(high).to_be_visible()
    expect(page.locator("#settings-error")).to_contain_text(
        "Strategies · German first orders · When · Amount · USD · Max"
    )
    expect(page.locator("#recoup-save-bar")).to_have_attribute("showing", "")
    assert api(front, "GET", "/settings/reminders") == before
    check(page, "[data-strategy='1']", "strategies-error")
    # Mending it clears the error; discarding leaves the saved strategy as it was
    field(page, f"{amount}.USD.max").locator("input").fill("")
    expect(high).not_to_have_attribute("error", re.compile(".*"))
    page.click("#recoup-discard")
    expect(page.locator("[data-band]")).to_have_count(0)


def test_the_tester_names_the_strategy_that_takes_a_case(shop: dict[str, Any], page: Page) -> None:
    open_path(page, "/app/settings")
    open_strategies(page)
    tester = page.locator("#strategy-tester")
    # By the order's name: the German first order skips the shipped strategy for its method
    tester.locator("[data-path='tester.case_id'] input").fill("#5002")
    page.click("#tester-run")
    answer = page.locator("#tester-answer")
    expect(answer).to_have_attribute("data-taken", "german-first-orders")
    expect(page.locator("#tester-taken")).to_have_text(
        "“German first orders” takes this case (german-first-orders): "
        "paid by card; country DE; a first customer."
    )
    rows = page.locator("#tester-tried [data-tried]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(
        "Not taken: paid by card, not bank transfer or cash on delivery"
    )
    expect(rows.nth(1)).to_have_attribute("data-matched", "true")
    expect(page.locator("#tester-facts-read")).to_contain_text("First order at the shop")
    check(page, "#strategy-tester", "strategies-tester")
    # An order no case has is said so beside the field
    tester.locator("[data-path='tester.case_id'] input").fill("#9999")
    page.click("#tester-run")
    expect(tester.locator("[data-path='tester.case_id']")).to_have_attribute(
        "error", "No case of this shop has this order name or id."
    )
    # Facts entered by hand: cash on delivery goes to the shipped strategy
    tester.get_by_label("Facts I enter").check()
    field(page, "tester.facts.method").locator("select").select_option("cash_on_delivery")
    field(page, "tester.facts.amount").locator("input").fill("30.00")
    field(page, "tester.facts.currency").locator("input").fill("EUR")
    page.click("#tester-run")
    expect(answer).to_have_attribute("data-taken", "manual-payments")
    expect(page.locator("#tester-taken")).to_contain_text("takes these facts")
    expect(page.locator("#tester-facts-read")).to_contain_text("€30.00")
    # A country that is no code is refused beside its field
    field(page, "tester.facts.country").locator("input").fill("D1")
    page.click("#tester-run")
    expect(field(page, "tester.facts.country")).to_have_attribute(
        "error", "must be a two-letter country code such as DE"
    )


def test_the_what_if_preview_counts_the_recent_cases_per_strategy(
    shop: dict[str, Any], page: Page
) -> None:
    open_path(page, "/app/settings")
    open_strategies(page)
    expect(page.locator("#whatif-run")).to_have_text("Preview against the last 90 days")
    page.click("#whatif-run")
    expect(page.locator("#whatif-limits")).to_contain_text("weekly cap")
    counts = page.locator("[data-whatif=strategies]")
    expect(counts).to_contain_text("German first orders")
    expect(counts).to_contain_text("Bank transfer and cash on delivery")
    expected = api(
        shop["front"],
        "POST",
        "/strategies/whatif",
        {
            "reminders": api(shop["front"], "GET", "/settings/reminders")["policy"],
        },
    )
    expect(page.locator("[data-total=cases]")).to_have_text(str(expected["cases"]))
    expect(page.locator("[data-total=to_come]")).to_have_text(str(expected["to_come"]))
    check(page, "#strategy-whatif", "strategies-whatif")


def test_the_case_page_shows_the_strategy_and_why(shop: dict[str, Any], page: Page) -> None:
    # The German first order: the strategy saved before it opened, and why
    open_path(page, f"/app/cases/{shop['cases']['#5002']}")
    reasons = page.locator("#case-strategy")
    expect(reasons).to_have_attribute("data-strategy", "german-first-orders")
    expect(page.locator("#case-strategy-name")).to_have_text(
        "German first orders (german-first-orders)"
    )
    expect(page.locator("#case-strategy-why")).to_have_text(
        "Paid by card; country DE; a first customer"
    )
    expect(reasons).to_contain_text("Card or wallet at checkout")
    expect(reasons).to_contain_text("First order at the shop")
    check(page, "#case-strategy", "case-strategy")
    # The bank transfer order: the shipped strategy, for its method
    open_path(page, f"/app/cases/{shop['cases']['#5001']}")
    expect(page.locator("#case-strategy-name")).to_have_text(
        "Bank transfer and cash on delivery (manual-payments)"
    )
    expect(page.locator("#case-strategy-why")).to_have_text("Paid by bank transfer")
    expect(page.locator("#case-strategy")).to_contain_text("Payment terms")
    page.screenshot(path=SCREENS / "case-strategy-page-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    try:
        page.screenshot(path=SCREENS / "case-strategy-page-phone.png", full_page=True)
    finally:
        page.set_viewport_size(DESKTOP)


def test_an_experiment_shows_its_arms_and_a_bad_share_is_refused(
    shop: dict[str, Any], page: Page
) -> None:
    front = shop["front"]
    open_path(page, "/app/settings")
    before = api(front, "GET", "/settings/reminders")
    open_strategies(page)
    open_strategy(page, 1)
    # Starting an experiment splits the strategy's cases: most get its reminders, a
    # holdout none
    page.click("[data-start-experiment='1']")
    block = page.locator("[data-strategy='1'] [data-experiment]")
    expect(block.locator("[data-experiment-summary]")).to_contain_text(
        "“reminders” 90%, “holdout” 10% (the holdout: no reminders)"
    )
    arms = f"{STRATEGY}.experiment.arms"
    expect(field(page, f"{arms}[1].holdout").locator("input")).to_be_checked()
    # Shares that do not add up to 100 are refused where the arms are
    field(page, f"{arms}[0].weight").locator("input").fill("85")
    expect(block.locator("[data-experiment-summary]")).to_contain_text("“reminders” 85%")
    page.click("#recoup-save")
    refusal = field(page, arms).locator("[data-error-note]")
    expect(refusal).to_contain_text("weights must add up to 100, got 95")
    expect(page.locator("#settings-error")).to_contain_text(
        "Strategies · German first orders · Experiment · Arms"
    )
    assert api(front, "GET", "/settings/reminders") == before
    check(page, "[data-strategy='1'] [data-experiment]", "strategies-experiment")
    page.click("#recoup-discard")
    expect(page.locator("[data-strategy='1'] [data-experiment]")).to_have_count(0)
