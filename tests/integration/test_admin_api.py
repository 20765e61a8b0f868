"""The admin API against moto, through the function's handler as API Gateway calls it:
session tokens, tenant isolation, settings that validate before they write, the case list's
pagination and filters, merchant actions, previews and figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup.services import figures, shops
from recoup.store import cases as case_store
from recoup.store import policies, tokens
from recoup.store import shops as shop_store
from recoup_local import session_tokens
from tests.admin_support import paid_order, pending_order
from tests.conftest import SHOP, shopify_headers

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

OTHER = "rival-gadgets.myshopify.com"
NEVER_INSTALLED = "not-a-customer.myshopify.com"


def token(local: Any, shop: str = SHOP, **changes: Any) -> str:
    claims = session_tokens.claims(shop, api_key=local.shopify_api_key)
    claims.update(changes)
    return session_tokens.sign(claims, local.shopify_secret)


def call(
    local: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    shop: str = SHOP,
    bearer: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {bearer or token(local, shop)}"}
    raw = b"" if body is None else json.dumps(body).encode()
    result = local.lambdas.invoke_http(method, f"/admin/api{path}", headers, raw)
    return int(result["statusCode"]), json.loads(result["body"])


def deliver(local: Any, body: bytes, shop: str = SHOP, topic: str = "orders/create") -> None:
    headers = shopify_headers(body, local.shopify_secret, topic, shop=shop)
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert answer["statusCode"] == 200, answer


def seed(local: Any, shop: str, count: int, first_id: int) -> list[str]:
    """`count` open cases in `shop`, amounts 10.00, 20.00, ...; their ids."""
    ids = []
    for n in range(count):
        order_id = first_id + n
        body = pending_order(
            order_id, name=f"#{2000 + n}", amount=f"{10 * (n + 1)}.00", email="ann@example.com"
        )
        deliver(local, body, shop)
        ids.append(str(order_id))
    local.lambdas.drain()
    return ids


@pytest.fixture
def two_shops(local: Any) -> Any:
    shops.install(OTHER)
    return local


# ---------------------------------------------------------------- session tokens


@pytest.mark.parametrize(
    ("change", "code"),
    [
        # Times as seconds from when the test runs (collection may be minutes earlier)
        ({"exp": -60}, "token_expired"),
        ({"nbf": +120}, "token_not_yet_valid"),
        ({"aud": "another-apps-api-key"}, "wrong_audience"),
        ({"iss": f"https://{OTHER}/admin"}, "wrong_issuer"),
        ({"dest": "https://evil.example.com", "iss": "https://evil.example.com/admin"}, None),
    ],
)
def test_a_session_token_that_fails_a_check_gets_401_naming_it(
    local: Any, change: dict[str, Any], code: str | None
) -> None:
    # Given a token for the installed shop with one claim wrong
    now = int(datetime.now(tz=UTC).timestamp())
    claims = {k: now + v if k in ("exp", "nbf") else v for k, v in change.items()}
    bad = token(local, **claims)
    # When it is used
    status, answer = call(local, "GET", "/cases", bearer=bad)
    # Then the API refuses it, says why, and never echoes the token
    assert status == 401
    if code:
        assert answer["error"] == code
    assert answer["message"]
    assert bad not in json.dumps(answer)


def test_a_token_signed_with_another_secret_or_none_gets_401(local: Any) -> None:
    claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
    forged = session_tokens.sign(claims, "not-the-apps-client-secret-at-all")
    assert call(local, "GET", "/cases", bearer=forged)[1]["error"] == "bad_signature"
    headers_missing = local.lambdas.invoke_http("GET", "/admin/api/cases", {}, b"")
    assert headers_missing["statusCode"] == 401
    assert json.loads(headers_missing["body"])["error"] == "missing_token"
    assert call(local, "GET", "/cases", bearer="not.a.jwt")[1]["error"] == "malformed_token"
    # An unknown path is refused the same way before anything is looked up
    unknown = local.lambdas.invoke_http("GET", "/admin/api/nothing-here", {}, b"")
    assert unknown["statusCode"] == 401


def test_a_rotated_secret_still_verifies_tokens_signed_with_the_old_one(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.settings import get_settings

    # Given the app's secret rotated: the new one first, the old one still accepted
    old = local.shopify_secret
    monkeypatch.setenv("RECOUP_SHOPIFY_API_SECRET", f"new-client-secret-after-rotation,{old}")
    get_settings.cache_clear()
    claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
    # Then tokens signed by either are accepted, and one by neither is not
    assert call(local, "GET", "/cases", bearer=session_tokens.sign(claims, old))[0] == 200
    signed_new = session_tokens.sign(claims, "new-client-secret-after-rotation")
    assert call(local, "GET", "/cases", bearer=signed_new)[0] == 200
    assert call(local, "GET", "/cases", bearer=session_tokens.sign(claims, "other"))[0] == 401
    get_settings.cache_clear()


def test_a_shop_that_has_not_installed_recoup_gets_403(local: Any) -> None:
    # Shopify refuses to exchange the session token: the app is not installed there
    local.shopify_tokens.refuse_exchange = True
    status, answer = call(local, "GET", "/settings/reminders", shop=NEVER_INSTALLED)
    assert (status, answer["error"]) == (403, "not_installed")
    assert shop_store.get(NEVER_INSTALLED) is None


def test_a_shop_installed_in_shopify_is_installed_by_its_first_visit(local: Any) -> None:
    # Shopify-managed installation: no OAuth; the first request's session token is exchanged
    status, answer = call(local, "GET", "/settings/reminders", shop=NEVER_INSTALLED)
    assert status == 200, answer
    item = shop_store.get(NEVER_INSTALLED)
    assert item is not None
    assert (item.active, item.shop_name) == (True, "Not A Customer")
    assert tokens.status(NEVER_INSTALLED).expiring


def test_every_error_has_one_shape_and_a_fault_of_ours_is_a_500_without_its_text(
    local: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from recoup.services import shop_settings

    headers = {"Authorization": f"Bearer {token(local)}"}
    # A body that is not JSON, and one over the limit
    garbled = local.lambdas.invoke_http("PUT", "/admin/api/settings/fraud", headers, b"{no")
    assert (garbled["statusCode"], json.loads(garbled["body"])["error"]) == (400, "invalid_json")
    huge = json.dumps({"version": 0, "settings": {"x": "y" * 300_000}}).encode()
    too_large = local.lambdas.invoke_http("PUT", "/admin/api/settings/fraud", headers, huge)
    assert (too_large["statusCode"], json.loads(too_large["body"])["error"]) == (413, "too_large")
    # A file of the page that does not exist
    missing = local.lambdas.invoke_http("GET", "/app/nothing.js", {}, b"")
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"]) == {
        "error": "not_found",
        "message": "no route GET /app/nothing.js",
    }

    # When a route fails in a way nobody planned for, quoting a customer
    def broken(*_: Any) -> None:
        raise RuntimeError("ann@example.com owes 10.00")

    monkeypatch.setattr(shop_settings, "fraud_settings", broken)
    status, answer = call(local, "GET", "/settings/fraud")
    # Then the answer is a 500 that says nothing more, logged by type and place only
    assert (status, answer) == (500, {"error": "internal_error", "message": "try again later"})
    [failed] = [r for r in caplog.records if r.getMessage() == "Admin API request failed"]
    assert failed.__dict__["error"] == "RuntimeError"
    assert "ann@example.com" not in repr([vars(r) for r in caplog.records])


# ---------------------------------------------------------------- tenant isolation


def test_a_token_for_one_shop_never_reads_or_changes_another_shops_cases(two_shops: Any) -> None:
    local = two_shops
    mine = seed(local, SHOP, 2, 7_100_000_000_001)
    theirs = seed(local, OTHER, 2, 7_200_000_000_001)
    # When shop A lists its cases (even asking for B's in the query)
    status, page = call(local, "GET", f"/cases?shop={OTHER}")
    # Then only A's cases come back
    assert status == 200
    assert sorted(row["id"] for row in page["cases"]) == mine
    for case_id in theirs:
        # and B's case ids are unknown to A: reading, acting on them
        assert call(local, "GET", f"/cases/{case_id}")[0] == 404
        status, _ = call(local, "POST", f"/cases/{case_id}/actions", {"action": "hold"})
        assert status == 404
        # and B's cases are untouched
        stored = case_store.load(OTHER, case_id)
        assert stored is not None and stored.dunning is not None
        assert str(stored.dunning.status) == "scheduled"


def test_a_body_naming_another_shop_is_refused_and_changes_nothing(two_shops: Any) -> None:
    local = two_shops
    _, current = call(local, "GET", "/settings/fraud")
    body = {"version": 0, "settings": current["settings"], "shop": OTHER}
    status, answer = call(local, "PUT", "/settings/fraud", body)
    assert (status, answer["field"]) == (400, "shop")
    assert policies.load_doc(SHOP, policies.FRAUD) is None
    assert policies.load_doc(OTHER, policies.FRAUD) is None
    # And settings A saves are A's alone
    thresholds = {"review": 35, "high": 80}
    clean = {"version": 0, "settings": {**current["settings"], "thresholds": thresholds}}
    assert call(local, "PUT", "/settings/fraud", clean)[0] == 200
    assert call(local, "GET", "/settings/fraud", shop=OTHER)[1]["version"] == 0
    assert call(local, "GET", "/settings/fraud")[1]["settings"]["thresholds"]["review"] == 35


# ---------------------------------------------------------------- settings


def test_the_reminder_policy_is_saved_versioned_and_read_back(local: Any) -> None:
    status, current = call(local, "GET", "/settings/reminders")
    assert (status, current["version"]) == (200, 0)
    policy = current["policy"]
    policy["steps"][0]["delay"] = "2d"
    status, saved = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": policy})
    assert (status, saved["version"]) == (200, 1)
    assert call(local, "GET", "/settings/reminders")[1]["policy"]["steps"][0]["delay"] == "2d"
    assert policies.load(SHOP).steps[0].delay == timedelta(days=2)


def test_an_invalid_cadence_gets_400_naming_the_field_and_stores_nothing(local: Any) -> None:
    _, current = call(local, "GET", "/settings/reminders")
    first = {"version": 0, "policy": current["policy"]}
    assert call(local, "PUT", "/settings/reminders", first)[0] == 200
    # When step 2's delay is out of range, and when the steps come out of order
    bad = json.loads(json.dumps(current["policy"]))
    bad["steps"][1]["delay"] = "0h"
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 1, "policy": bad})
    assert (status, answer["field"]) == (400, "steps[1].delay")
    assert "between 1h and 60d" in answer["message"]
    unordered = json.loads(json.dumps(current["policy"]))
    unordered["steps"][1].update(anchor="opened", delay="12h")  # before step 1 (1 day)
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 1, "policy": unordered})
    assert (status, answer["field"]) == (400, "steps[1].delay")
    # Then the stored version is the one before
    stored = policies.load_doc(SHOP, policies.REMINDERS)
    assert stored is not None and stored[0] == 1
    assert stored[1]["steps"][1]["delay"] == current["policy"]["steps"][1]["delay"]


def test_a_stale_version_gets_409_and_the_newer_save_stands(local: Any) -> None:
    _, current = call(local, "GET", "/settings/reminders")
    mine, theirs = (json.loads(json.dumps(current["policy"])) for _ in range(2))
    theirs["weekly_cap"] = 3
    mine["weekly_cap"] = 5
    # Two admins loaded version 0; the first to save wins
    assert call(local, "PUT", "/settings/reminders", {"version": 0, "policy": theirs})[0] == 200
    status, answer = call(local, "PUT", "/settings/reminders", {"version": 0, "policy": mine})
    assert (status, answer["error"], answer["field"]) == (409, "version_conflict", "version")
    assert policies.load(SHOP).weekly_cap == 3


def test_fraud_settings_validate_and_show_the_default_rules(local: Any) -> None:
    _, current = call(local, "GET", "/settings/fraud")
    locked = {rule["name"] for rule in current["rules"] if rule["locked"]}
    assert locked == {"early_fraud_warning", "fraud_dispute", "fraud_decline_code"}
    settings = current["settings"]
    status, answer = call(
        local,
        "PUT",
        "/settings/fraud",
        {"version": 0, "settings": {**settings, "disabled": ["early_fraud_warning"]}},
    )
    assert (status, answer["field"]) == (400, "disabled[0]")
    status, answer = call(
        local,
        "PUT",
        "/settings/fraud",
        {"version": 0, "settings": {**settings, "thresholds": {"review": 80, "high": 70}}},
    )
    assert (status, answer["field"]) == (400, "thresholds.review")
    assert policies.load_doc(SHOP, policies.FRAUD) is None


def test_the_referral_policy_round_trips_and_names_bad_fields(local: Any) -> None:
    _, current = call(local, "GET", "/settings/referral")
    policy = current["policy"]
    policy["agency"]["hand_over"] = {"channel": "email", "address": "not an address"}
    status, answer = call(local, "PUT", "/settings/referral", {"version": 0, "policy": policy})
    assert (status, answer["field"]) == (400, "agency.hand_over.address")
    policy["agency"]["hand_over"] = {"channel": "email", "address": "cases@agency.example"}
    status, saved = call(local, "PUT", "/settings/referral", {"version": 0, "policy": policy})
    assert status == 200
    assert saved["policy"]["agency"]["hand_over"]["address"] == "cases@agency.example"


def test_template_overrides_are_checked_in_the_sandbox(local: Any) -> None:
    refused = {"parts": {"html": "<p>Pay {{ amount_owed }}</p>"}}  # no unsubscribe link
    status, answer = call(local, "PUT", "/settings/templates/friendly", refused)
    assert (status, answer["error"], answer["field"]) == (400, "template_rejected", "parts.html")
    assert "unsubscribe" in answer["message"]
    good = {"parts": {"subject": "{{ shop_name }}: {{ order_name }} still open"}}
    assert call(local, "PUT", "/settings/templates/friendly", good)[0] == 200
    assert call(local, "GET", "/settings/templates/friendly")[1]["parts"] == good["parts"]


def test_a_step_is_previewed_as_the_customer_will_see_it(local: Any) -> None:
    step = {
        "delay": "3d",
        "anchor": "previous",
        "channel": "email_then_sms",
        "template": "firm",
        "tone": "firm",
        "pay_link": True,
    }
    status, shown = call(local, "POST", "/preview", {"step": step, "index": 1})
    assert status == 200
    assert shown["email"]["subject"] and "#1001" in shown["email"]["text"]
    assert "/unsubscribe?t=" in shown["email"]["html"]
    assert "STOP" in shown["sms"]["body"]
    status, answer = call(local, "POST", "/preview", {"step": {**step, "delay": "99d"}})
    assert (status, answer["field"]) == (400, "step.delay")
    status, stored_step = call(local, "POST", "/preview", {"index": 0})
    assert status == 200 and stored_step["sms"] is None
    # Worded for the notice before an unpaid order is cancelled: no pay link
    asked = {"step": step, "index": 1, "situation": "order_cancelled"}
    status, notice = call(local, "POST", "/preview", asked)
    assert status == 200 and "being cancelled" in notice["email"]["text"]
    assert "/pay/" not in notice["email"]["html"]
    status, answer = call(local, "POST", "/preview", {**asked, "situation": "late"})
    assert (status, answer["error"], answer["field"]) == (400, "invalid", "situation")


# ---------------------------------------------------------------- cases


def test_pagination_returns_every_case_exactly_once(two_shops: Any) -> None:
    local = two_shops
    mine = seed(local, SHOP, 12, 7_300_000_000_001)
    seed(local, OTHER, 3, 7_400_000_000_001)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        status, page = call(
            local, "GET", "/cases?limit=5" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200 and len(page["cases"]) <= 5
        seen += [row["id"] for row in page["cases"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(mine)
    assert len(seen) == len(set(seen))


def test_filters_select_cases_by_state_amount_and_age(local: Any) -> None:
    ids = seed(local, SHOP, 5, 7_500_000_000_001)  # 10.00 ... 50.00 owed
    deliver(local, paid_order(int(ids[0]), name="#2000", amount="10.00", email="ann@example.com"))
    local.lambdas.drain()
    rows = lambda query: [r["id"] for r in call(local, "GET", f"/cases?{query}")[1]["cases"]]  # noqa: E731
    assert rows("state=paid") == [ids[0]]
    assert sorted(rows("state=open")) == sorted(ids[1:])
    assert sorted(rows("min_amount=20&max_amount=40&currency=USD")) == sorted(ids[1:4])
    assert rows("older_than_days=36500") == []
    all_rows = call(local, "GET", "/cases")[1]["cases"]
    levels = {row["risk"]["level"] for row in all_rows if row["risk"]}
    for level in levels:
        expected = [r["id"] for r in all_rows if r["risk"] and r["risk"]["level"] == level]
        assert rows(f"risk={level}") == expected
    for bad in ("state=lost", "limit=500", "min_amount=ten", "cursor=%%%", "older_than_days=-1"):
        status, answer = call(local, "GET", f"/cases?{bad}")
        assert status == 400 and answer["field"] == bad.split("=")[0], bad


def test_a_case_shows_its_timeline_and_the_actions_its_state_allows(local: Any) -> None:
    (case_id,) = seed(local, SHOP, 1, 7_600_000_000_001)
    status, case = call(local, "GET", f"/cases/{case_id}")
    assert status == 200
    assert case["timeline"][0]["kind"] == "orders/create"
    assert case["amount_owed"] == {"currency": "USD", "minor": 1000, "amount": "10.00"}
    assert "hold" in case["actions"]
    # When the merchant holds its reminders
    status, answer = call(
        local, "POST", f"/cases/{case_id}/actions", {"action": "hold", "note": "talking"}
    )
    assert status == 200
    held = answer["case"]
    assert held["reminders"]["status"] == "held"
    assert "resume" in held["actions"] and "hold" not in held["actions"]
    assert held["timeline"][-1]["kind"] == "merchant.hold"
    # A second hold is refused with the reason; an unknown action names the field
    status, refused = call(local, "POST", f"/cases/{case_id}/actions", {"action": "hold"})
    assert (status, refused["error"]) == (409, "action_refused")
    status, unknown = call(local, "POST", f"/cases/{case_id}/actions", {"action": "forgive"})
    assert (status, unknown["field"]) == (400, "action")
    # A referral names its kind
    for bad in ({"action": "refer"}, {"action": "refer", "kind": "bailiff"}):
        status, answer = call(local, "POST", f"/cases/{case_id}/actions", bad)
        assert (status, answer["field"]) == (400, "kind")
    for field, bad in (("note", {"action": "hold", "note": "x" * 1001}), ("action", {"action": 7})):
        status, answer = call(local, "POST", f"/cases/{case_id}/actions", bad)
        assert (status, answer["error"], answer["field"]) == (400, "invalid", field)
    assert call(local, "GET", "/cases/9999999")[0] == 404


def test_a_held_case_can_be_approved_and_its_reminders_resume(local: Any) -> None:
    from tests.conftest import event_bytes

    # Given a shop that reviews from score 20 (the risky order scores 30: shipping abroad,
    # names that differ, a high-value order)
    _, fraud = call(local, "GET", "/settings/fraud")
    stricter = {**fraud["settings"], "thresholds": {"review": 20, "high": 90}}
    assert call(local, "PUT", "/settings/fraud", {"version": 0, "settings": stricter})[0] == 200
    deliver(local, event_bytes("shopify/order_risky.json"))
    local.lambdas.drain()
    held = call(local, "GET", "/cases?state=held")[1]["cases"]
    assert held, "the risky order was not held for review"
    case_id = held[0]["id"]
    status, case = call(local, "GET", f"/cases/{case_id}")
    assert {"approve", "confirm_fraud"} <= set(case["actions"])
    status, answer = call(local, "POST", f"/cases/{case_id}/actions", {"action": "approve"})
    assert status == 200
    assert answer["case"]["reminders"]["status"] == "scheduled"
    assert answer["case"]["screening"]["decision"] == "approved"
    assert answer["case"]["screening"]["decided_by"] == session_tokens.LOCAL_STAFF_USER


# ---------------------------------------------------------------- figures


def test_figures_over_the_api_match_the_cases(local: Any) -> None:
    ids = seed(local, SHOP, 3, 7_700_000_000_001)  # 10.00, 20.00, 30.00
    deliver(local, paid_order(int(ids[1]), name="#2001", amount="20.00", email="ann@example.com"))
    local.lambdas.drain()
    status, shown = call(local, "GET", "/figures")
    assert status == 200
    assert (shown["currency"], shown["currencies"]) == ("USD", ["USD"])
    usd = {"currency": "USD", "minor": 4000, "amount": "40.00"}
    assert (shown["outstanding"], shown["outstanding_cases"]) == (usd, 2)
    # paid before any reminder: self-cured, not recovered
    usd = {"currency": "USD", "minor": 2000, "amount": "20.00"}
    assert (shown["self_cured"], shown["self_cured_cases"]) == (usd, 1)
    assert shown["recovered_cases"] == shown["contacted_cases"] == 0
    assert shown["recovery_rate"] is None
    assert shown["by_state"] == {"open": 2, "paid": 1, "cancelled": 0, "written_off": 0}
    assert shown["definitions"]["self_cured"] == figures.DEFINITIONS["self_cured"]
    expected = figures.for_shop(SHOP)
    assert shown["cases"] == expected.cases == 3
    # A period selects the cases opened in it; a bad date names the parameter
    assert call(local, "GET", "/figures?to=2000-01-01")[1]["cases"] == 0
    status, answer = call(local, "GET", "/figures?from=yesterday")
    assert (status, answer["field"]) == (400, "from")
    # Another currency shows its own figures; a currency must be an ISO code
    status, answer = call(local, "GET", "/figures?currency=EUR")
    assert (status, answer["currency"], answer["cases"], answer["currencies"]) == (
        200,
        "EUR",
        0,
        ["USD"],
    )
    status, answer = call(local, "GET", "/figures?currency=usd")
    assert (status, answer["error"], answer["field"]) == (400, "invalid_parameter", "currency")
