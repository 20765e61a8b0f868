"""A shop for the admin page's browser tests, seeded through the local stack's front door
(signed webhooks and the admin API, as Shopify and a merchant reach it), and the browser
that opens the page with the link `recoup admin-url` prints.

The shop, all opened now (so no reminder falls due by itself during a test):
- USD: #3001 120.00 and #3002 80.00 open; #3003 45.00 paid before any message (self-cured);
  #3005 60.00 open (the write-off test's); #3006 30.00 open (a test sends its first reminder
  and then pays it: recovered); the risky order #1048 6086.00, held by the fraud check and
  confirmed as fraud.
- EUR: #3101 200.00 open; #3102 50.00 paid before any message.
Quiet hours are moved away from the current hour, in the shop's zone (UTC), so a reminder
sent "now" is not deferred by them.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect, sync_playwright

from recoup_local import session_tokens
from recoup_local.stack import DEV_SECRETS, DEV_SHOPIFY_API_KEY
from tests.admin_support import pending_order
from tests.conftest import SHOP, event_json, shopify_headers
from tests.e2e.conftest import RECOUP, ROOT, recoup_env

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
SCREENS = ROOT / "test-results" / "screens"
SECRET = DEV_SECRETS["RECOUP_SHOPIFY_API_SECRET"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STAFF_NAME = "Ana Ruiz"  # the local stack's staff member behind `recoup admin-url` tokens


class ApiRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def api(front: str, method: str, path: str, body: Any = None) -> Any:
    bearer = session_tokens.mint(SHOP, api_key=DEV_SHOPIFY_API_KEY, secret=SECRET)
    request = urllib.request.Request(
        f"{front}/admin/api{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as refused:
        raise ApiRefused(refused.code, json.loads(refused.read() or b"{}")) from None


def post_webhook(front: str, body: bytes, topic: str) -> None:
    headers = shopify_headers(body, SECRET, topic)
    request = urllib.request.Request(
        f"{front}/webhooks/shopify", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200


def wait_until(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def all_cases(front: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api(front, "GET", f"/cases?limit=50{f'&cursor={cursor}' if cursor else ''}")
        cases += page["cases"]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return cases


def order(
    order_id: int, name: str, amount: str, currency: str, at: datetime, *, paid: bool = False
) -> bytes:
    stamp = at.isoformat()
    extra: dict[str, Any] = {
        "currency": currency,
        "presentment_currency": currency,
        "created_at": stamp,
        "updated_at": stamp,
        "total_price": amount,
        "current_total_price": amount,
    }
    if paid:
        extra["financial_status"] = "paid"
    body = pending_order(order_id, name=name, amount=amount, email="kim@example.com", **extra)
    if paid:  # pending_order sets the amount outstanding: a paid order owes nothing
        doc = json.loads(body)
        doc["total_outstanding"] = "0.00"
        body = json.dumps(doc).encode()
    return body


ORDERS = {
    # name: (order id, amount, currency, paid later)
    "#3001": (8_100_000_000_001, "120.00", "USD", False),
    "#3002": (8_100_000_000_002, "80.00", "USD", False),
    "#3003": (8_100_000_000_003, "45.00", "USD", True),
    "#3005": (8_100_000_000_005, "60.00", "USD", False),
    "#3006": (8_100_000_000_006, "30.00", "USD", False),
    "#3101": (8_100_000_000_101, "200.00", "EUR", False),
    "#3102": (8_100_000_000_102, "50.00", "EUR", True),
}


def seed_shop(front: str) -> dict[str, Any]:
    """Seeds the shop above; answers the case id of each order name (and "fraud")."""
    now = datetime.now(tz=UTC).replace(microsecond=0)
    fraud = api(front, "GET", "/settings/fraud")
    stricter = {**fraud["settings"], "thresholds": {"review": 20, "high": 90}}
    api(front, "PUT", "/settings/fraud", {"version": fraud["version"], "settings": stricter})
    reminders = api(front, "GET", "/settings/reminders")
    policy = reminders["policy"]
    quiet_from = (now + timedelta(hours=10)).strftime("%H:00")
    quiet_to = (now + timedelta(hours=11)).strftime("%H:00")
    policy.update(
        quiet_hours={"start": quiet_from, "end": quiet_to},
        timezone_rule="shop",
        shop_timezone="UTC",
    )
    api(front, "PUT", "/settings/reminders", {"version": reminders["version"], "policy": policy})

    for name, (order_id, amount, currency, _) in ORDERS.items():
        post_webhook(front, order(order_id, name, amount, currency, now), "orders/create")
    risky = event_json("shopify/order_risky.json")
    # Its customer's account keeps its age at ordering (3 minutes): a signal of the check
    risky.update(created_at=now.isoformat(), updated_at=now.isoformat())
    risky["processed_at"] = now.isoformat()
    risky["customer"]["created_at"] = (now - timedelta(minutes=3)).isoformat()
    post_webhook(front, json.dumps(risky).encode(), "orders/create")
    wait_until(
        lambda: (
            len(cases := all_cases(front)) >= len(ORDERS) + 1 and all(c["reminders"] for c in cases)
        ),
        "the seeded cases",
    )
    later = now + timedelta(minutes=1)
    for name, (order_id, amount, currency, paid) in ORDERS.items():
        if paid:
            body = order(order_id, name, amount, currency, later, paid=True)
            post_webhook(front, body, "orders/paid")
    wait_until(lambda: len(api(front, "GET", "/cases?state=paid")["cases"]) == 2, "two paid")
    ids = {c["order_name"]: c["id"] for c in all_cases(front)}
    held = api(front, "GET", "/cases?state=held")["cases"]
    assert len(held) == 1, "the risky order should be held for review"
    ids["fraud"] = held[0]["id"]
    api(
        front,
        "POST",
        f"/cases/{held[0]['id']}/actions",
        {"action": "confirm_fraud", "note": "stolen card, confirmed with the bank"},
    )
    return ids


def admin_link(cwd: Path) -> str:
    return subprocess.run(
        [*RECOUP, "admin-url", "--shop", SHOP, "--minutes", "30"],
        cwd=cwd,
        env=recoup_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


@contextmanager
def browser_page(cwd: Path) -> Iterator[tuple[Page, list[str]]]:
    """Chromium on the admin page, opened with a fresh `recoup admin-url` link; yields the
    page and the list of the page's script errors (empty when none happened)."""
    if not CHROMIUM.exists():
        raise AssertionError("Chromium is not at /usr/bin/chromium: run `make chromium` as root")
    link = admin_link(cwd)
    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")

        def local_only(route: Route) -> None:
            # Nothing leaves the machine (Shopify's CDN included): a test cannot hang on it.
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
        try:
            yield page, errors
        finally:
            context.close()
            browser.close()


def ready(page: Page) -> None:
    expect(page.locator("#view")).to_have_attribute("data-ready", "true", timeout=20_000)


def open_path(page: Page, path: str) -> None:
    """Goes to an /app path as the page's own links do (pushState; the token stays)."""
    page.evaluate(
        """path => {
          for (const modal of document.querySelectorAll("s-modal")) modal.hideOverlay();
          history.pushState(null, "", path);
          dispatchEvent(new PopStateEvent("popstate"));
        }""",
        path,
    )
    ready(page)


def screens(page: Page, name: str) -> None:
    """A full-page screenshot of the view at desktop width and at 390 px."""
    page.screenshot(path=SCREENS / f"{name}-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    try:
        page.screenshot(path=SCREENS / f"{name}-phone.png", full_page=True)
    finally:
        page.set_viewport_size(DESKTOP)


# ---------------------------------------------------------------- strategies, experiments

# The experiments page's shop (tests/e2e/test_admin_experiments_page.py), opened now, all in
# USD 120.00: ten card orders under "Card payments", a strategy running the experiment
# "first-reminder" (its arms by the ids' hashes: control #6004, #6005, #6009; early #6001,
# #6006, #6007, #6008, #6010; the holdout #6002, #6003), and two bank transfers under "Bank
# transfers". #6001 gets its first reminder and then pays (recovered); #6004, #6006, #6007
# and #6102 pay before any message (self-cured).
EXPERIMENT_ARMS = [
    {"id": "control", "weight": 45},
    {"id": "early", "weight": 45},
    {"id": "holdout", "weight": 10, "holdout": True},
]
CARD_ORDERS = {f"#60{n:02d}": 8_200_000_000_000 + n for n in range(1, 11)}
TRANSFER_ORDERS = {"#6101": 8_200_000_000_101, "#6102": 8_200_000_000_102}
REMINDED_THEN_PAID = "#6001"
PAID_BEFORE_ANY_MESSAGE = ("#6004", "#6006", "#6007", "#6102")


def strategy_order(order_id: int, name: str, at: datetime, *, card: bool, paid: bool) -> bytes:
    """A USD 120.00 order placed at `at`, by card or by bank transfer ("Bank Deposit"), and
    the same order paid in full."""
    stamp = at.isoformat()
    doc = json.loads(pending_order(order_id, name=name, amount="120.00", email="kim@example.com"))
    doc.update(created_at=stamp, updated_at=stamp, processed_at=stamp)
    if card:
        doc["payment_gateway_names"] = ["shopify_payments"]
    if paid:
        doc.update(financial_status="paid", total_outstanding="0.00")
    return json.dumps(doc).encode()


def seed_strategies(front: str) -> dict[str, str]:
    """Seeds the shop above; answers the case id of each order name."""
    now = datetime.now(tz=UTC).replace(microsecond=0)
    reminders = api(front, "GET", "/settings/reminders")
    policy = reminders["policy"]
    steps = policy["steps"]
    experiment = {
        "id": "first-reminder",
        "started_at": (now - timedelta(days=1)).isoformat(),
        "planned_cases_per_arm": 100,
        "arms": EXPERIMENT_ARMS,
    }
    cards = {"id": "cards", "name": "Card payments", "when": {"methods": ["card"]}}
    transfers = {
        "id": "transfers",
        "name": "Bank transfers",
        "when": {"methods": ["bank_transfer", "cash_on_delivery"]},
    }
    policy.update(
        # away from the current hour, so a reminder sent now is not deferred
        quiet_hours={
            "start": (now + timedelta(hours=10)).strftime("%H:00"),
            "end": (now + timedelta(hours=11)).strftime("%H:00"),
        },
        timezone_rule="shop",
        shop_timezone="UTC",
        strategies=[
            {**cards, "steps": steps, "experiment": experiment},
            {**transfers, "steps": steps},
        ],
    )
    api(front, "PUT", "/settings/reminders", {"version": reminders["version"], "policy": policy})
    orders = [(name, i, True) for name, i in CARD_ORDERS.items()]
    orders += [(name, i, False) for name, i in TRANSFER_ORDERS.items()]
    for name, order_id, card in orders:
        body = strategy_order(order_id, name, now, card=card, paid=False)
        post_webhook(front, body, "orders/create")
    wait_until(
        lambda: (
            len(cases := all_cases(front)) == len(orders) and all(c["reminders"] for c in cases)
        ),
        "the strategies' cases",
    )
    ids = {c["order_name"]: c["id"] for c in all_cases(front)}
    reminded = ids[REMINDED_THEN_PAID]
    api(front, "POST", f"/cases/{reminded}/actions", {"action": "send_now"})
    wait_until(lambda: api(front, "GET", f"/cases/{reminded}")["reminders_sent"], "a reminder")
    later = now + timedelta(minutes=2)
    for name, order_id, card in orders:
        if name == REMINDED_THEN_PAID or name in PAID_BEFORE_ANY_MESSAGE:
            body = strategy_order(order_id, name, later, card=card, paid=True)
            post_webhook(front, body, "orders/paid")
    paid = 1 + len(PAID_BEFORE_ANY_MESSAGE)
    wait_until(lambda: len(api(front, "GET", "/cases?state=paid")["cases"]) == paid, "paid")
    return ids
