"""The customer's page in headless Chromium against `recoup serve`: axe-core finds no serious
or critical violation on the page (open, paused, closed, expired, with field errors; an
instalment plan's choices, its schedule and a plan in force) in English and Japanese, at
390×844 and 1280×900 (screenshots of each in test-results/screens/); a customer promises to
pay and sees the promise on the page, and one agrees to an instalment plan and sees it."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import SHOP
from tests.e2e.admin_seed import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    LOCAL_HOSTS,
    PHONE,
    SCREENS,
    api,
    order,
    post_webhook,
    wait_until,
)
from tests.e2e.conftest import recoup_env

OPEN, PAUSED, PAID, REVOKED = (
    8_200_000_000_001,
    8_200_000_000_002,
    8_200_000_000_003,
    8_200_000_000_004,
)
PLAN = 8_200_000_000_005
SERIOUS = {"serious", "critical"}
# The shop's instalment terms: weekly and every two weeks up to 4 instalments, monthly up to
# 2 (a third would end more than 45 days after the first), whatever the date.
PLAN_TERMS = {
    "enabled": True,
    "max_count": 4,
    "intervals": ["weekly", "biweekly", "monthly"],
    "max_days": 45,
    "first_due_now": True,
    "grace_days": 7,
    "min_instalment": {"USD": 2000},
}

# Run against the served stack: the case's page link as the sender makes it, or revoked.
_LINK = """
import sys
from recoup_local.stack import connect
connect()
from recoup import clock
from recoup.services import page_links
from recoup.store import cases
stored = cases.load(sys.argv[1], sys.argv[2])
if stored is not None and stored.dunning is not None:
    url = page_links.link_for(stored, now=clock.now())
    if sys.argv[3] == "revoke":
        page_links.revoke(stored.case.shop, stored.case.case_id, now=clock.now())
    print(url or "")
"""


def _link(served: dict[str, Any], order_id: int, mode: str = "link") -> str:
    done = subprocess.run(
        [sys.executable, "-c", _LINK, SHOP, str(order_id), mode],
        cwd=served["cwd"],
        env=recoup_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.fixture(scope="module")
def pages(served: dict[str, Any]) -> dict[str, str]:
    """The page paths of an open order, one paused by a report, a paid one and a revoked
    link, on the served stack."""
    now = datetime.now(tz=UTC).replace(microsecond=0)
    for order_id, name in ((OPEN, "#4001"), (PAUSED, "#4002"), (PAID, "#4003"), (REVOKED, "#4004")):
        post_webhook(served["front"], order(order_id, name, "249.99", "USD", now), "orders/create")
    paths = {}
    for key, order_id in (("open", OPEN), ("paused", PAUSED), ("paid", PAID)):
        url = wait_until(lambda o=order_id: _link(served, o), f"the page link of {order_id}")
        paths[key] = urlsplit(url).path
    revoked = wait_until(lambda: _link(served, REVOKED, "revoke"), "the revoked link")
    paths["expired"] = urlsplit(revoked).path
    later = now + timedelta(minutes=1)
    paid = order(PAID, "#4003", "249.99", "USD", later, paid=True)
    post_webhook(served["front"], paid, "orders/paid")
    _report_not_mine(served["front"] + paths["paused"])
    return paths


def _report_not_mine(url: str) -> None:
    """The customer says the order is not theirs, as the page's form posts it."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        csrf = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode())
    assert csrf is not None
    form = urlencode({"csrf": csrf[1], "kind": "not_mine", "note": "Never ordered here."})
    request = urllib.request.Request(f"{url}/report", data=form.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert "done=report" in answer.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError("Chromium is not at /usr/bin/chromium: run `make chromium` as root")
    with sync_playwright() as playwright:
        opened = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield opened
        opened.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def _check(page: Page, name: str) -> None:
    """No serious or critical axe violation, at both sizes; a screenshot of each."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        results = Axe().run(page)
        found = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in SERIOUS
        ]
        assert found == [], f"{name} at {size}: {found}"
        page.screenshot(path=SCREENS / f"customer-{name}-{size}.png", full_page=True)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_state_of_the_page_is_accessible(
    served: dict[str, Any], pages: dict[str, str], page: Page, language: str
) -> None:
    front = served["front"]
    page.goto(f"{front}{pages['open']}?lang={language}")
    assert page.locator("html").get_attribute("lang") == language
    _check(page, f"open-{language}")
    # With a field error: a promise date the shop does not allow, shown next to the field.
    page.locator("#pay_by").fill("2001-01-01")
    page.locator("#promise_note").fill("Salary day")
    page.locator("#promise-heading ~ form button[type=submit]").click()
    page.wait_for_selector("#error-pay_by")
    assert page.locator("#promise_note").input_value() == "Salary day"
    _check(page, f"field-error-{language}")
    page.goto(f"{front}{pages['paused']}?lang={language}")
    assert page.locator("#kind-not_mine").count() == 0  # reported already
    _check(page, f"paused-{language}")
    wait_until(lambda: _is_paid(page, front, pages["paid"], language), "the paid order's page")
    _check(page, f"closed-{language}")
    page.goto(f"{front}{pages['expired']}?lang={language}")
    assert page.locator("form[action$='/new-link']").count() == 1
    _check(page, f"expired-{language}")


PAID_WORDS = {
    "en": "This order is paid. Thank you.",
    "ja": "このご注文はお支払い済みです。ありがとうございました。",
}


def _is_paid(page: Page, front: str, path: str, language: str) -> bool:
    answer = page.goto(f"{front}{path}?lang={language}")
    assert answer is not None and answer.status == 200
    if PAID_WORDS[language] not in page.locator("main").inner_text():
        return False  # the payment is still on its way through the queue
    assert page.locator("#owed-heading").count() == 0
    return True


def test_a_customer_promises_to_pay_and_sees_the_promise(
    served: dict[str, Any], pages: dict[str, str], page: Page
) -> None:
    page.set_viewport_size(PHONE)
    page.goto(f"{served['front']}{pages['open']}")
    pay_by = page.locator("#pay_by")
    latest = pay_by.get_attribute("max")
    earliest = pay_by.get_attribute("min")
    assert earliest and latest and earliest <= latest
    pay_by.fill(earliest)
    page.locator("#promise_note").fill("Paid on Friday")
    page.get_by_role("button", name="Send my promise").click()
    page.wait_for_url("**done=promise**")
    assert "Your promise to pay is recorded" in page.locator("[role=status]").inner_text()
    assert "You have promised to pay by" in page.content()
    assert page.locator("#pay_by").count() == 0  # one promise in force at a time
    page.screenshot(path=SCREENS / "customer-promised-phone.png", full_page=True)


def test_the_pay_button_opens_the_pay_flow(
    served: dict[str, Any], pages: dict[str, str], page: Page
) -> None:
    page.goto(f"{served['front']}{pages['open']}")
    href = page.locator("a.button.primary").get_attribute("href")
    assert href and "/pay/" in href
    # The pay flow decides on the click: a redirect to a payment page for what is owed.
    answer = page.request.get(f"{served['front']}{urlsplit(href).path}", max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"].startswith("http")


@pytest.fixture(scope="module")
def plan_page(served: dict[str, Any], pages: dict[str, str]) -> str:
    """The page of an order whose shop offers instalment plans (after the other pages were
    made under the default policy); Stripe is connected on the served stack."""
    front = served["front"]
    reminders = api(front, "GET", "/settings/reminders")
    policy = {**reminders["policy"], "instalments": PLAN_TERMS}
    api(front, "PUT", "/settings/reminders", {"version": reminders["version"], "policy": policy})
    now = datetime.now(tz=UTC).replace(microsecond=0)
    post_webhook(front, order(PLAN, "#4005", "249.99", "USD", now), "orders/create")
    url = wait_until(lambda: _link(served, PLAN), "the page link of the plan's order")
    return urlsplit(url).path


def _show_schedule(page: Page, interval: str, count: int) -> None:
    page.locator(f"#plan-interval-{interval}").check()
    page.locator("#plan_count").select_option(str(count))
    page.locator("#plan-form-heading ~ form button[type=submit]").click()


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_plan_choice_and_its_schedule_are_accessible(
    served: dict[str, Any], plan_page: str, page: Page, language: str
) -> None:
    page.goto(f"{served['front']}{plan_page}?lang={language}")
    assert page.locator("input[name=plan_interval]").count() == 3
    _check(page, f"plan-choice-{language}")
    # A monthly plan of 4 would end past the shop's 45 days: the error at the count
    _show_schedule(page, "monthly", 4)
    page.wait_for_selector("#error-count")
    assert page.locator("#plan_count").get_attribute("aria-describedby") == "error-count"
    _check(page, f"plan-error-{language}")
    # Weekly in 3: the schedule, its total and the agreement
    _show_schedule(page, "weekly", 3)
    page.wait_for_selector("#plan-schedule")
    assert "plan_interval=weekly" in page.url and "plan_count=3" in page.url
    rows = page.locator("#plan-schedule tbody tr")
    assert rows.count() == 3
    assert page.locator("#plan_agree").count() == 1
    _check(page, f"plan-preview-{language}")


def test_a_customer_agrees_to_a_plan_and_sees_it_in_force(
    served: dict[str, Any], plan_page: str, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    front = served["front"]
    page.goto(f"{front}{plan_page}")
    _show_schedule(page, "biweekly", 2)
    page.wait_for_selector("#plan-schedule")
    page.get_by_role("button", name="Agree and continue to payment").click()
    page.wait_for_selector("#error-agree")  # the box is not ticked yet
    page.locator("#plan_agree").check()
    page.get_by_role("button", name="Agree and continue to payment").click()
    # Stripe Checkout (the local stand-in) takes the first instalment, half of $249.99
    page.wait_for_url("**/checkout/cs_test_*")
    assert "Pay USD 125.00" in page.content()
    page.goto(f"{front}{plan_page}?done=plan")
    main = page.locator("main").inner_text()
    assert "Your instalment plan" in main and "If you finished on the payment page" in main
    assert page.locator("form[action$='/plan-card']").count() == 1
    assert page.locator("#pay_by").count() == 0  # no promise while the plan is in force
    assert page.locator("#plan_count").count() == 0  # nor another plan
    _check(page, "plan-in-force")
