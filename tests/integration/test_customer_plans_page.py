"""The customer's page offers an instalment plan and a settlement offer, through the real
handler on the in-process local stack and the real Stripe SDK against the stack's stand-in:
the plan's choices (only with Stripe connected and the shop's terms on), the exact schedule
of a choice (its bounds each just inside and just outside), the agreement (recorded with its
terms' digest, then Checkout), a plan in force, and a settlement offer open for its days
after its step was sent."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from babel.dates import format_date

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.domain.instalments import InstalmentTerms, Interval, PlanStatus
from recoup.domain.settlement import SettlementTerms
from recoup.services import cases, page_links
from recoup.settings import get_settings
from recoup.store import cases as case_store
from recoup.store import policies
from recoup_local.stack import LOCAL_STRIPE_KEYS
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_json, shopify_headers
from tests.page_support import form_token as _form_token
from tests.page_support import post_form as _post

# A US customer's order of $2,399.00, which does not split evenly in three
ORDER = copy.deepcopy(event_json("shopify/order_expired.json"))
for _name in ("total_price", "current_total_price", "total_outstanding"):
    ORDER[_name] = "2399.00"
CASE_ID = str(ORDER["id"])
OPENED = datetime.fromisoformat(ORDER["updated_at"]).astimezone(UTC)
OWED = 239_900
# Weekly: 5 at most (6 would make instalments under $450); every two weeks: 5 (the last 56
# days after the first: exactly the limit); monthly: 2 (3 would end 61 days after the first).
TERMS = InstalmentTerms(
    enabled=True,
    min_instalment={"USD": 45_000},
    max_count=6,
    intervals=(Interval.WEEKLY, Interval.BIWEEKLY, Interval.MONTHLY),
    max_days=56,
    first_due_now=True,
    grace_days=5,
)
# 10% of $2,399.00 is $239.90: capped at $200.00.
SETTLEMENT = SettlementTerms(
    enabled=True, percent=10, max_discount={"USD": 20_000}, pay_within_days=7, from_step=1
)


@pytest.fixture
def now(local: Any) -> Any:
    moment = [OPENED + timedelta(hours=1)]
    clock.use(lambda: moment[0])
    yield moment
    clock.use(None)


@pytest.fixture
def stripe(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The platform's Stripe key set: the shop (installed with its account) is connected."""
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _terms(instalments: InstalmentTerms = TERMS, settlement: SettlementTerms | None = None) -> None:
    stored = policies.load_doc(SHOP, policies.REMINDERS)
    changed = replace(
        policies.load(SHOP),
        version=stored[0] + 1 if stored else 1,
        instalments=instalments,
        settlement=settlement or SettlementTerms(),
    )
    policies.save(SHOP, changed, now=OPENED)


@pytest.fixture
def opened(local: Any, now: Any) -> str:
    """The order's case, opened by its webhook; the token of its page link."""
    body = json.dumps(ORDER).encode()
    headers = shopify_headers(body, local.shopify_secret, "orders/create")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    url = page_links.link_for(stored, now=now[0])
    assert url is not None
    return url.rsplit("/c/", 1)[1]


def _get(local: Any, token: str, query: dict[str, Any] | None = None) -> Any:
    path = f"/c/{token}" + (f"?{urlencode(query)}" if query else "")
    answer = local.lambdas.invoke_http("GET", path, {}, b"")
    assert answer is not None
    return answer


def _preview(local: Any, token: str, interval: str, count: int, start: str = "") -> Any:
    query = {"plan_interval": interval, "plan_count": count}
    return _get(local, token, {**query, **({"plan_start": start} if start else {})})


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, name
    return found[1]


def _schedule(html: str) -> list[tuple[str, str, str]]:
    """The preview's rows: (number, date, amount)."""
    part = html.split('id="plan-schedule"', 1)[1].split("</tbody>", 1)[0]
    found = re.findall(r'<tr><td>(\d+)</td><td>([^<]+)</td><td class="num">([^<]+)</td>', part)
    return [(str(n), str(d), str(a)) for n, d, a in found]


def _today(now: Any) -> date:
    from recoup.domain.customer_requests import customer_zone_of

    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    moment: datetime = now[0]
    return moment.astimezone(customer_zone_of(stored, policies.load(SHOP))).date()


def _day(day: date, form: str = "medium") -> str:
    """A date as the page's schedule shows it (its messages: "long")."""
    return str(format_date(day, format=form, locale="en_US"))


def _trail() -> list[dict[str, Any]]:
    return [dict(e.body) for e in cases.timeline(SHOP, CASE_ID)]


def _dunning() -> Any:
    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None and stored.dunning is not None
    return stored.dunning


# ------------------------------------------------------------------------------ offered


def test_plans_are_offered_only_with_stripe_connected_and_the_shops_terms_on(
    local: Any, opened: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stripe connected, the shop's terms off (the default): no plan
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert "Pay in instalments" not in _get(local, opened)["body"]
    # The terms on, but no platform key to charge the card with: no plan either
    _terms()
    for name in LOCAL_STRIPE_KEYS:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    html = _get(local, opened)["body"]
    assert "Pay in instalments" not in html and 'name="plan_count"' not in html
    # Both: the choices, each interval with the most instalments it takes
    for name, value in LOCAL_STRIPE_KEYS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    html = _get(local, opened)["body"]
    assert "Pay in instalments" in html
    assert "Every week (up to 5 instalments)" in html
    assert "Every two weeks (up to 5 instalments)" in html
    assert "Every month (up to 2 instalments)" in html
    select = html.split('id="plan_count"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\d+)"', select) == ["2", "3", "4", "5"]
    assert "<legend>How often do you want to pay?</legend>" in html
    get_settings.cache_clear()


# ------------------------------------------------------------------------------ the schedule


def test_the_preview_shows_the_exact_schedule_and_changes_nothing(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms()
    before = (_trail(), _dunning())
    answer = _preview(local, opened, "weekly", 3)
    assert answer["statusCode"] == 200
    html = answer["body"]
    today = _today(now)
    # $2,399.00 in 3: $799.66 each, the 2 cents left over on the first
    assert _schedule(html) == [
        ("1", _day(today), "$799.68"),
        ("2", _day(today + timedelta(days=7)), "$799.66"),
        ("3", _day(today + timedelta(days=14)), "$799.66"),
    ]
    assert OWED == 799_68 + 2 * 799_66
    assert _day(today) == "Nov 3, 2026"
    assert '<td class="num">$2,399.00</td></tr></tfoot>' in html
    assert "You pay the first instalment, $799.68, today on the payment page" in html
    assert "charged automatically on each date above, at about 10:00\u202fAM your time" in html
    assert "have 5 days to pay it" in html
    assert re.search(r'<input type="checkbox" id="plan_agree" name="agree" value="yes"', html)
    # What the agree form sends is the schedule shown
    assert (_hidden(html, "interval"), _hidden(html, "count"), _hidden(html, "start")) == (
        "weekly",
        "3",
        "",
    )
    assert _hidden(html, "shown") == f"{today.isoformat()}/{OWED}"
    # The choice is kept in the form
    assert 'id="plan-interval-weekly" name="plan_interval" value="weekly" checked' in html
    assert '<option value="3" selected>' in html
    # A GET changes nothing
    assert (_trail(), _dunning()) == before


def test_the_schedule_reads_in_the_customers_language(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms()
    html = _get(local, opened, {"plan_interval": "monthly", "plan_count": 2, "lang": "de"})["body"]
    assert "In Raten zahlen" in html and "Ihr Zahlungsplan" in html
    rows = _schedule(html)
    assert [amount for _, _, amount in rows] == ["1.199,50\xa0$", "1.199,50\xa0$"]
    assert rows[0][1] == str(format_date(_today(now), format="medium", locale="de"))


@pytest.mark.parametrize(
    ("interval", "count", "field", "words"),
    [
        ("weekly", 5, None, None),  # $479.80 each: just over the $450 minimum
        ("weekly", 6, "count", "Each instalment must be at least $450.00."),
        ("biweekly", 5, None, None),  # the last 56 days after the first: the limit
        ("monthly", 3, "count", "more than 56 days after the first"),
        ("monthly", 2, None, None),
        ("weekly", 7, "count", "Choose from 2 to 5 instalments for this interval."),
        ("daily", 2, "interval", "Choose how often you want to pay."),
    ],
)
def test_each_bound_just_inside_and_just_outside(
    local: Any,
    opened: str,
    stripe: Any,
    interval: str,
    count: int,
    field: str | None,
    words: str | None,
) -> None:
    _terms()
    answer = _preview(local, opened, interval, count)
    html = answer["body"]
    if field is None:
        assert answer["statusCode"] == 200
        rows = _schedule(html)
        assert len(rows) == count
        amounts = [int(re.sub(r"\D", "", amount)) for _, _, amount in rows]
        assert sum(amounts) == OWED and min(amounts) >= 45_000
        assert 'id="error-' not in html
        return
    assert answer["statusCode"] == 400
    assert "Please correct the field marked below." in html
    error = re.search(rf'<p class="error" id="error-{field}">([^<]+)</p>', html)
    assert error is not None and words is not None and words in error[1]
    assert f'aria-invalid="true" aria-describedby="error-{field}"' in html
    assert 'id="plan-schedule"' not in html  # no schedule to agree to


def test_an_interval_the_shop_does_not_allow_is_refused_at_its_field(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms(replace(TERMS, intervals=(Interval.BIWEEKLY, Interval.MONTHLY)))
    html = _get(local, opened)["body"]
    assert 'value="weekly"' not in html
    answer = _preview(local, opened, "weekly", 2)
    assert answer["statusCode"] == 400
    assert '<p class="error" id="error-interval">' in answer["body"]
    assert '<fieldset aria-invalid="true" aria-describedby="error-interval">' in answer["body"]


@pytest.mark.parametrize(("days", "shown"), [(0, False), (1, True), (14, True), (15, False)])
def test_the_first_dates_window_when_the_first_is_not_due_now(
    local: Any, opened: str, now: Any, stripe: Any, days: int, shown: bool
) -> None:
    _terms(replace(TERMS, first_due_now=False))
    today = _today(now)
    html = _get(local, opened)["body"]
    first = today + timedelta(days=1)
    last = today + timedelta(days=14)
    assert f'min="{first.isoformat()}" max="{last.isoformat()}"' in html
    start = today + timedelta(days=days)
    answer = _preview(local, opened, "biweekly", 2, start.isoformat())
    if shown:
        assert answer["statusCode"] == 200
        rows = _schedule(answer["body"])
        assert [d for _, d, _ in rows] == [_day(start), _day(start + timedelta(days=14))]
        assert _hidden(answer["body"], "start") == start.isoformat()
        assert "You pay the first instalment" not in answer["body"]
        return
    assert answer["statusCode"] == 400
    error = re.search(r'<p class="error" id="error-start">([^<]+)</p>', answer["body"])
    assert error is not None
    assert error[1] == f"Choose a date from {_day(first, 'long')} to {_day(last, 'long')}."
    assert 'aria-invalid="true" aria-describedby="error-start"' in answer["body"]


# ------------------------------------------------------------------------------ agreeing


def _agree(local: Any, token: str, interval: str = "weekly", count: int = 3, **extra: Any) -> Any:
    html = _preview(local, token, interval, count)["body"]
    fields = {
        "interval": interval,
        "count": count,
        "start": "",
        "shown": _hidden(html, "shown"),
        "agree": "yes",
        **extra,
    }
    return _post(local, token, "plan", fields, csrf=_form_token(html))


def test_agreeing_records_the_plan_and_opens_checkout_for_the_first_instalment(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms()
    answer = _agree(local, opened)
    assert answer["statusCode"] == 303
    location = answer["headers"]["Location"]
    assert location.startswith(f"{local.stripe.url}/checkout/cs_test_")
    (session,) = local.stripe.sessions.values()
    # The first instalment, due today, is paid at Checkout, which also saves the card
    assert (session.account, session.mode, session.amount, session.currency) == (
        STRIPE_ACCOUNT,
        "payment",
        799_68,
        "usd",
    )
    assert session.customer and session.customer.startswith("cus_")
    assert session.metadata["recoup_plan"] == "p1" and session.metadata["recoup_instalment"] == "1"
    back = urlsplit(session.return_url)
    assert back.path == f"/c/{opened}" and back.query == "lang=en&done=plan"
    assert session.return_url.startswith(get_settings().public_base_url())
    # A browser holds the redirect of a form's POST to the page's form-action: the page lets
    # its forms go on to Stripe Checkout (here, the stand-in's)
    csp = _get(local, opened)["headers"]["Content-Security-Policy"]
    assert f"form-action 'self' https://checkout.stripe.com {local.stripe.url};" in csp
    # The plan is recorded: the reminders wait for it
    dunning = _dunning()
    assert dunning.status is DunningStatus.PLANNED
    assert dunning.plan is not None and dunning.plan.status is PlanStatus.AWAITING_CARD
    assert [i.amount_minor for i in dunning.plan.instalments] == [799_68, 799_66, 799_66]
    (entry,) = [e for e in _trail() if e.get("kind") == "customer.plan"]
    assert re.fullmatch(r"[0-9a-f]{64}", str(entry["terms_digest"]))
    assert entry["terms_digest"] == dunning.plan.terms_digest
    # The page now shows the plan, and offers neither a promise nor another plan
    html = _get(local, opened, {"done": "plan"})["body"]
    assert "Your instalment plan" in html and "Continue to payment" in html
    assert "If you finished on the payment page" in html
    assert 'name="plan_count"' not in html and 'id="pay_by"' not in html
    assert "Promise to pay by a date" not in html
    assert [d for _, _, _, d in _plan_rows(html)] == ["Due", "Due", "Due"]


def _plan_rows(html: str) -> list[tuple[str, str, str, str]]:
    part = html.split("Your instalment plan", 1)[1].split("</tbody>", 1)[0]
    found = re.findall(
        r'<tr><td>(\d+)</td><td>([^<]+)</td><td class="num">([^<]+)</td>'
        r'<td class="state \w+">([^<]+)</td></tr>',
        part,
    )
    return [(str(n), str(d), str(a), str(s)) for n, d, a, s in found]


def test_a_click_repeated_on_the_agreement_goes_to_the_same_checkout(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms()
    first = _agree(local, opened)
    html = _get(local, opened)["body"]
    again = _post(
        local,
        opened,
        "plan",
        {"interval": "weekly", "count": 3, "start": "", "agree": "yes"},
        csrf=_form_token(html),
    )
    assert again["statusCode"] == 303
    assert again["headers"]["Location"] == first["headers"]["Location"]
    assert len([e for e in _trail() if e.get("kind") == "customer.plan"]) == 1
    # Another plan is refused: one per case
    other = _post(
        local,
        opened,
        "plan",
        {"interval": "monthly", "count": 2, "start": "", "agree": "yes"},
        csrf=_form_token(html),
    )
    assert other["statusCode"] == 409
    assert "This cannot be done for this order any more." in other["body"]


def test_without_the_box_ticked_the_schedule_is_shown_again_with_the_error(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms()
    html = _preview(local, opened, "weekly", 3)["body"]
    fields = {"interval": "weekly", "count": 3, "start": "", "shown": _hidden(html, "shown")}
    answer = _post(local, opened, "plan", fields, csrf=_form_token(html))
    assert answer["statusCode"] == 400
    body = answer["body"]
    assert '<p class="error" id="error-agree">Tick the box to agree to this schedule.</p>' in body
    assert 'aria-invalid="true" aria-describedby="error-agree"' in body
    assert len(_schedule(body)) == 3
    assert _dunning().plan is None and not local.stripe.sessions


def test_a_choice_outside_the_terms_posted_is_refused_at_its_field(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms()
    html = _get(local, opened)["body"]
    fields = {"interval": "monthly", "count": 3, "start": "", "agree": "yes"}
    answer = _post(local, opened, "plan", fields, csrf=_form_token(html))
    assert answer["statusCode"] == 400
    assert '<p class="error" id="error-count">' in answer["body"]
    assert _dunning().plan is None


def test_a_schedule_that_changed_since_it_was_shown_is_shown_again(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms()
    from recoup.domain.customer_requests import customer_zone_of

    stored = case_store.load(SHOP, CASE_ID)
    assert stored is not None
    zone = customer_zone_of(stored, policies.load(SHOP))
    midnight = datetime.combine(_today(now) + timedelta(days=1), datetime.min.time(), zone)
    now[0] = midnight.astimezone(UTC) - timedelta(minutes=1)
    html = _preview(local, opened, "weekly", 3)["body"]
    shown = _hidden(html, "shown")
    now[0] += timedelta(minutes=2)  # a new day for the customer: the dates move
    fields = {"interval": "weekly", "count": 3, "start": "", "shown": shown, "agree": "yes"}
    answer = _post(local, opened, "plan", fields, csrf=_form_token(html))
    assert answer["statusCode"] == 409
    assert "The schedule has changed since it was shown." in answer["body"]
    assert _hidden(answer["body"], "shown") != shown
    assert _dunning().plan is None


def test_agreeing_needs_the_form_token_and_the_same_site(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms()
    html = _preview(local, opened, "weekly", 3)["body"]
    fields = {"interval": "weekly", "count": 3, "start": "", "agree": "yes"}
    assert _post(local, opened, "plan", fields, csrf=None)["statusCode"] == 403
    assert _post(local, opened, "plan", fields, csrf="forged")["statusCode"] == 403
    cross = {"Sec-Fetch-Site": "cross-site"}
    answer = _post(local, opened, "plan", fields, csrf=_form_token(html), headers=cross)
    assert answer["statusCode"] == 403
    for action in ("plan-card", "settle"):
        assert _post(local, opened, action, {}, csrf=None)["statusCode"] == 403
    assert _dunning().plan is None and not local.stripe.sessions


def test_a_checkout_that_cannot_open_leaves_the_plan_and_offers_to_continue(
    local: Any, opened: str, stripe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.integrations import stripe_payments

    _terms()

    def down(**_: Any) -> str:
        raise ConnectionError("Stripe did not answer")

    working = stripe_payments.create_plan_checkout
    monkeypatch.setattr(stripe_payments, "create_plan_checkout", down)
    answer = _agree(local, opened)
    assert answer["statusCode"] == 503
    html = answer["body"]
    assert "Your instalment plan is recorded, but the payment page could not be opened." in html
    assert 'action="/c/' + opened + '/plan-card"' in html and "Continue to payment" in html
    assert _dunning().plan is not None
    monkeypatch.setattr(stripe_payments, "create_plan_checkout", working)
    again = _post(local, opened, "plan-card", {}, csrf=_form_token(html))
    assert again["statusCode"] == 303
    assert again["headers"]["Location"].startswith(f"{local.stripe.url}/checkout/")


def test_continue_to_payment_without_a_plan_waiting_is_refused(
    local: Any, opened: str, stripe: Any
) -> None:
    _terms()
    html = _get(local, opened)["body"]
    answer = _post(local, opened, "plan-card", {}, csrf=_form_token(html))
    assert answer["statusCode"] == 409


def _plan_changed(change: Any, at: datetime) -> None:
    """The plan as Stripe's events would leave it (`change` of the stored plan)."""

    def decide(stored: Any) -> Any:
        dunning = stored.dunning
        return case_store.Progress(lambda _: None, dunning=dunning.with_plan(change(dunning.plan)))

    case_store.change(SHOP, CASE_ID, decide, now=at)


def test_a_missed_instalment_is_shown_with_its_deadline_and_paid_through_checkout(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    from recoup.services import instalment_plans

    _terms()
    assert _agree(local, opened)["statusCode"] == 303
    (first,) = local.stripe.sessions.values()
    customer = first.customer
    agreed = now[0]
    # The card saved with instalment 1; instalment 2's charge declined a week later
    failed_at = agreed + timedelta(days=7, hours=1)
    _plan_changed(
        lambda plan: (
            plan.card_saved("pm_card_visa", customer)
            .paid_instalment(1, "pi_first", agreed)
            .failed_instalment(2, "pi_second", "card_declined", failed_at)
            .notice_done()  # the sender told the customer
        ),
        failed_at,
    )
    now[0] = failed_at + timedelta(hours=1)
    html = _get(local, opened)["body"]
    grace = _dunning().plan.grace_ends(_dunning().plan_grace_days)
    assert grace == failed_at + timedelta(days=5)
    assert "Instalment 2, $799.66, could not be charged. Please pay it by" in html
    assert "No further instalment is charged until it is paid." in html
    assert [state for _, _, _, state in _plan_rows(html)] == ["Paid", "Missed", "Due"]
    assert re.search(r"<dt>Paid so far</dt><dd>\$799\.68</dd>", html)
    assert re.search(r"<dt>Still to pay in this plan</dt><dd>\$1,599\.32</dd>", html)
    assert "Pay the missed instalment now" in html
    answer = _post(local, opened, "plan-card", {}, csrf=_form_token(html))
    assert answer["statusCode"] == 303
    missed = [x for x in local.stripe.sessions.values() if x is not first]
    assert [(x.mode, x.amount, x.metadata["recoup_instalment"]) for x in missed] == [
        ("payment", 799_66, "2")
    ]
    # Unpaid past the grace days: the plan is broken, the reminders resume, a promise may
    # be made again, and no other plan
    now[0] = grace
    assert instalment_plans.run_due(SHOP, CASE_ID, now=now[0]).outcome == "broken"
    html = _get(local, opened)["body"]
    assert "An instalment was not paid in time, so the plan has ended." in html
    assert [state for _, _, _, state in _plan_rows(html)] == ["Paid", "Missed", "Not charged"]
    assert "plan-card" not in html and 'name="plan_count"' not in html
    assert "Promise to pay by a date" in html


# ------------------------------------------------------------------------------ settlement


def _send_first_step(local: Any, now: Any) -> None:
    now[0] = OPENED + timedelta(days=1, hours=2)
    local.lambdas.run_schedules(now[0])
    local.lambdas.drain()
    assert _dunning().sent, "the first reminder was not sent"


def test_a_settlement_offer_opens_when_its_step_is_sent_and_lasts_its_days(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms(settlement=SETTLEMENT)
    assert "instead of" not in _get(local, opened)["body"]  # its step is not sent yet
    _send_first_step(local, now)
    html = _get(local, opened)["body"]
    offer = re.search(r"<strong>(Pay [^<]+)</strong>", html)
    assert offer is not None
    # 10% would be $239.90: the shop's cap, $200.00, is the discount
    assert offer[1].startswith("Pay $2,199.00 instead of $2,399.00 (you save $200.00)")
    # Above the full payment, which stays available
    assert html.index('action="/c/' + opened + '/settle"') < html.index("Pay $2,399.00 now")
    sent = _dunning().sent[0].at
    now[0] = sent + timedelta(days=7) - timedelta(seconds=1)
    assert "instead of" in _get(local, opened)["body"]
    now[0] = sent + timedelta(days=7)
    assert "instead of" not in _get(local, opened)["body"]


def test_paying_the_settlement_opens_checkout_for_the_discounted_amount(
    local: Any, opened: str, now: Any, stripe: Any
) -> None:
    _terms(settlement=SETTLEMENT)
    _send_first_step(local, now)
    html = _get(local, opened)["body"]
    answer = _post(local, opened, "settle", {}, csrf=_form_token(html))
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"].startswith(f"{local.stripe.url}/checkout/")
    (session,) = local.stripe.sessions.values()
    assert (session.account, session.amount, session.currency) == (STRIPE_ACCOUNT, 219_900, "usd")
    assert session.metadata["recoup_settles"] == str(OWED)
    assert urlsplit(session.return_url).query == "lang=en&done=settle"


def test_settling_without_an_open_offer_is_refused(local: Any, opened: str, stripe: Any) -> None:
    _terms(settlement=SETTLEMENT)
    html = _get(local, opened)["body"]
    answer = _post(local, opened, "settle", {}, csrf=_form_token(html))
    assert answer["statusCode"] == 409
    assert not local.stripe.sessions
