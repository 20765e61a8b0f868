"""The embedded admin page in headless Chromium, against `recoup serve`: opened with a link
`recoup admin-url` prints, over cases seeded by signed webhooks. Screenshots of each view go
to out/screenshots/."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from recoup_local import session_tokens
from recoup_local.stack import DEV_SECRETS, DEV_SHOPIFY_API_KEY
from tests.admin_support import paid_order, pending_order
from tests.conftest import SHOP, event_bytes, shopify_headers
from tests.e2e.conftest import RECOUP, ROOT, recoup_env

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "out" / "screenshots"
SECRET = DEV_SECRETS["RECOUP_SHOPIFY_API_SECRET"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def api(front: str, method: str, path: str, body: Any = None) -> Any:
    bearer = session_tokens.mint(SHOP, api_key=DEV_SHOPIFY_API_KEY, secret=SECRET)
    request = urllib.request.Request(
        f"{front}/admin/api{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def post_webhook(front: str, body: bytes, topic: str) -> None:
    headers = shopify_headers(body, SECRET, topic)
    request = urllib.request.Request(
        f"{front}/webhooks/shopify", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200


def wait_for_cases(front: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        cases: list[dict[str, Any]] = api(front, "GET", "/cases")["cases"]
        settled = all(c["reminders"] for c in cases)
        if (len(cases) >= count and settled) or time.monotonic() > deadline:
            return cases
        time.sleep(0.3)


@pytest.fixture(scope="module")
def seeded(served: dict[str, Any]) -> dict[str, Any]:
    """Four cases: two open, one paid, and a risky order the shop's fraud check holds."""
    front = served["front"]
    fraud = api(front, "GET", "/settings/fraud")
    stricter = {**fraud["settings"], "thresholds": {"review": 20, "high": 90}}
    api(front, "PUT", "/settings/fraud", {"version": fraud["version"], "settings": stricter})
    for n, amount in enumerate(("120.00", "80.00", "45.00")):
        body = pending_order(
            8_100_000_000_001 + n, name=f"#{3001 + n}", amount=amount, email="kim@example.com"
        )
        post_webhook(front, body, "orders/create")
    post_webhook(front, event_bytes("shopify/order_risky.json"), "orders/create")
    wait_for_cases(front, 4)
    paid = paid_order(8_100_000_000_003, name="#3003", amount="45.00", email="kim@example.com")
    post_webhook(front, paid, "orders/paid")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api(front, "GET", "/cases?state=paid")["cases"]:
            break
        time.sleep(0.3)
    held = api(front, "GET", "/cases?state=held")["cases"]
    assert len(held) == 1, "the risky order should be held for review"
    return {**served, "held": held[0]["id"]}


@pytest.fixture(scope="module")
def browser_page(seeded: dict[str, Any]) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: run `make chromium` as root")
    link = subprocess.run(
        [*RECOUP, "admin-url", "--shop", SHOP, "--minutes", "30"],
        cwd=seeded["cwd"],
        env=recoup_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert link.startswith(f"{seeded['front']}/app#id_token=")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")

        def local_only(route: Route) -> None:
            # Nothing leaves the machine (App Bridge's CDN included): a test cannot hang on it.
            if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                route.abort()

        context.route("**/*", local_only)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(link)
        ready(page)
        yield page
        context.close()
        browser.close()
    assert errors == []


def ready(page: Page) -> None:
    expect(page.locator("#view")).to_have_attribute("data-ready", "true", timeout=20_000)


def go(page: Page, hash_: str) -> None:
    page.evaluate("hash => { window.location.hash = hash; }", hash_)
    ready(page)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_the_token_leaves_the_address_bar_and_the_dashboard_matches_the_api(
    seeded: dict[str, Any], browser_page: Page
) -> None:
    page = browser_page
    # The token moved to memory: it is not in the address bar, nor in the history entry
    assert "id_token" not in page.url
    figures = api(seeded["front"], "GET", "/figures")
    go(page, "#/dashboard")
    # The numbers shown are the API's
    expect(page.locator("[data-figure=cases]")).to_have_text(str(figures["cases"]))
    shown = page.locator("[data-figure=outstanding] li").all_inner_texts()
    assert [digits(t) for t in shown] == [str(m["minor"]) for m in figures["outstanding"]]
    recovered = page.locator("[data-figure=recovered] li").all_inner_texts()
    assert [digits(t) for t in recovered] == [str(m["minor"]) for m in figures["recovered"]]
    for state, count in figures["by_state"].items():
        cell = page.locator(f"[data-figure=by-state] tr[data-state={state}] td.numeric")
        expect(cell).to_have_text(str(count))
    assert figures["by_state"] == {"open": 3, "paid": 1}
    expect(page.locator(".chart svg").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)


def test_the_checklist_shows_each_check_and_sends_a_test_message(
    seeded: dict[str, Any], browser_page: Page
) -> None:
    page = browser_page
    go(page, "#/dashboard")
    setup = api(seeded["front"], "GET", "/onboarding")
    # Every check the API reads is on the page, with its status
    for check in setup["checks"]:
        row = page.locator(f"#onboarding [data-check={check['key']}]")
        expect(row).to_have_attribute("data-status", check["status"])
        expect(row).to_contain_text(check["detail"])
    expect(page.locator("#onboarding [data-check=shopify]")).to_have_attribute(
        "data-status", "done"
    )
    # A test email to the admin's own address goes through the sender and shows as sent
    form = page.locator("#test-message-form")
    form.locator("select[name=step]").select_option("1")
    form.locator("input[name=to]").fill("owner@example.com")
    form.get_by_role("button", name="Send test").click()
    expect(page.locator("[data-test-status]")).to_have_attribute(
        "data-test-status", "sent", timeout=30_000
    )
    expect(page.locator("#onboarding [data-check=test]")).to_have_attribute("data-status", "done")
    page.screenshot(path=SCREENSHOTS / "dashboard-checklist.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.screenshot(path=SCREENSHOTS / "dashboard-phone.png", full_page=True)
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    # A bad number is refused beside its field, and nothing more is queued
    form.locator("select[name=channel]").select_option("sms")
    form.locator("input[name=to]").fill("12")
    form.get_by_role("button", name="Send test").click()
    expect(form.locator("[data-field=to] .field-error")).to_contain_text("not a valid mobile")


def test_the_case_list_shows_the_shops_cases(seeded: dict[str, Any], browser_page: Page) -> None:
    page = browser_page
    listed = api(seeded["front"], "GET", "/cases")["cases"]
    go(page, "#/cases")
    rows = page.locator("#cases-table tbody tr")
    expect(rows).to_have_count(len(listed))
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.case)")) == sorted(
        c["id"] for c in listed
    )
    # Filtering by state asks the API and shows its answer
    page.select_option("#filter-state", "paid")
    page.click("#filters button[type=submit]")
    ready(page)
    expect(rows).to_have_count(1)
    go(page, "#/cases")
    page.screenshot(path=SCREENSHOTS / "cases.png", full_page=True)


def test_a_held_case_is_approved_from_its_timeline(
    seeded: dict[str, Any], browser_page: Page
) -> None:
    page = browser_page
    case_id = seeded["held"]
    go(page, "#/cases")
    page.click(f"tr[data-case='{case_id}']")
    ready(page)
    # A held case offers the fraud decision
    expect(page.locator(".banner-warning")).to_contain_text("Reminders are held")
    expect(page.locator("[data-action=approve]")).to_be_visible()
    expect(page.locator("[data-action=confirm_fraud]")).to_be_visible()
    expect(page.locator("#timeline li").first).to_contain_text("orders/create")
    page.screenshot(path=SCREENSHOTS / "case.png", full_page=True)
    # When the merchant approves it
    page.fill("#action-note", "customer confirmed by phone")
    page.click("[data-action=approve]")
    expect(page.locator(".banner-success")).to_contain_text("Approve: done.", timeout=20_000)
    # Then its reminders run again, and the API says so too
    expect(page.locator("#reminder-status")).to_contain_text("Scheduled")
    case = api(seeded["front"], "GET", f"/cases/{case_id}")
    assert case["reminders"]["status"] == "scheduled"
    assert case["screening"]["decision"] == "approved"
    assert case["screening"]["note"] == "customer confirmed by phone"


def test_the_cadence_is_edited_saved_and_refused_when_invalid(
    seeded: dict[str, Any], browser_page: Page
) -> None:
    page = browser_page
    front = seeded["front"]
    before = api(front, "GET", "/settings/reminders")
    go(page, "#/settings")
    # The Stripe card says which account takes the shop's payments, and offers to disconnect
    stripe = api(front, "GET", "/stripe")
    connection = page.locator("#stripe-connection")
    if stripe["connected"]:
        expect(connection).to_contain_text(stripe["account"])
        expect(page.locator("#stripe-disconnect")).to_be_visible()
    else:
        expect(page.locator("#stripe-connect")).to_be_visible()
    # The preview shows each step as the customer will see it, the email sandboxed
    frame = page.locator("[data-preview='0'] iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.locator("[data-sms='1']")).to_contain_text("STOP")
    page.screenshot(path=SCREENSHOTS / "settings.png", full_page=True)
    # When the first step's delay becomes 2 days and is saved
    page.fill("input[aria-label='Step 1 delay']", "2")
    page.click("#save-reminders")
    expect(page.locator("#reminders-form .banner-success")).to_contain_text("Saved")
    saved = api(front, "GET", "/settings/reminders")
    assert saved["version"] == before["version"] + 1
    assert saved["policy"]["steps"][0]["delay"] == "2d"
    # When the second step's delay is 0 days
    page.fill("input[aria-label='Step 2 delay']", "0")
    page.click("#save-reminders")
    error = page.locator("[data-field='steps[1].delay'] .field-error[role=alert]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("between 1h and 60d")
    page.screenshot(path=SCREENSHOTS / "settings-error.png", full_page=True)
    # Then nothing was stored
    after = api(front, "GET", "/settings/reminders")
    assert after == saved


def test_the_api_refuses_the_page_without_a_token(seeded: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{seeded['front']}/admin/api/cases")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 401
