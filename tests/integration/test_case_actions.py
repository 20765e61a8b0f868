"""The case page's actions through the admin API, against moto: a write-off and reopening it
(resume where it stopped, or start over), sending the next step now (the sender's quiet
hours still apply), skipping a step, bulk actions, and the staff member's name on the trail
from Shopify's online token exchange."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recoup import clock
from recoup.domain.dunning import DunningStatus
from recoup.services import shops
from recoup.store import cases as case_store
from recoup.store import staff_names
from recoup_local import session_tokens
from recoup_local.outbox import sent_messages
from tests.admin_support import pending_order
from tests.conftest import SHOP, event_bytes, shopify_headers

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

OTHER = "rival-gadgets.myshopify.com"
# The pending order's last update: when its case opens. The customer ships to Oregon
# (America/Los_Angeles, UTC-8 in November); quiet hours are 21:00-08:00 there.
OPENED = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def at(local: Any) -> Any:
    """A settable clock for the admin API and the sender."""

    class Clock:
        now = OPENED + timedelta(hours=2)

    clock.use(lambda: Clock.now)
    yield Clock
    clock.use(None)


def token(local: Any, shop: str = SHOP, user: str = session_tokens.LOCAL_STAFF_USER) -> str:
    claims = session_tokens.claims(shop, api_key=local.shopify_api_key, user=user)
    return session_tokens.sign(claims, local.shopify_secret)


def call(
    local: Any, method: str, path: str, body: Any = None, *, shop: str = SHOP, user: str = "1"
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token(local, shop, user)}"}
    raw = b"" if body is None else json.dumps(body).encode()
    result = local.lambdas.invoke_http(method, f"/admin/api{path}", headers, raw)
    return int(result["statusCode"]), json.loads(result["body"])


def act(local: Any, case_id: str, action: str, **body: Any) -> tuple[int, dict[str, Any]]:
    user = body.pop("user", "1")
    return call(local, "POST", f"/cases/{case_id}/actions", {"action": action, **body}, user=user)


def open_case(local: Any, order_id: int, shop: str = SHOP) -> str:
    body = pending_order(order_id, name=f"#{order_id % 10000}", amount="40.00", email="d@ex.com")
    headers = shopify_headers(body, local.shopify_secret, "orders/create", shop=shop)
    answer = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    assert answer["statusCode"] == 200, answer
    local.lambdas.drain()
    return str(order_id)


def stored(case_id: str, shop: str = SHOP) -> Any:
    found = case_store.load(shop, case_id)
    assert found is not None
    return found


def emails_to(local: Any, address: str) -> int:
    return sum(
        1
        for m in sent_messages(local.stack.region)
        if m.kind == "email" and address.encode() in m.content
    )


def send_first_step(local: Any, at: Any, case_id: str) -> None:
    """Step 1 (due a day after opening) goes at 09:00 in Portland."""
    at.now = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)
    local.lambdas.run_schedules(at.now)
    local.lambdas.drain()
    assert len(stored(case_id).dunning.sent) == 1


# ---------------------------------------------------------------- write-off and reopen


def test_a_written_off_case_is_closed_named_and_offers_reopen(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_001)
    # When Ana writes it off
    status, answer = act(local, case_id, "write_off", note="customer moved abroad")
    assert status == 200, answer
    # Then the result and the trail name her, and the case reads written off
    assert answer["result"]["effect"] == "Written off by Ana Ruiz: customer moved abroad"
    case = answer["case"]
    assert case["state"] == "written_off"
    assert case["referral"] == {"kind": None, "status": "written_off"}
    assert case["reminders"]["status"] == "stopped" and case["next_step"] is None
    assert "reopen" in case["actions"]
    for gone in ("write_off", "refer", "hold", "send_now", "skip_step", "withdraw"):
        assert gone not in case["actions"], gone
    last = case["timeline"][-1]
    assert last["kind"] == "merchant.write_off"
    assert last["actor"] == {"kind": "staff", "id": "1", "name": "Ana Ruiz"}
    assert last["summary"] == "written off by Ana Ruiz: customer moved abroad"
    assert case["timeline"][0]["actor"] == {"kind": "shopify", "id": None, "name": None}
    # and nothing is due for it any more
    assert list(case_store.due_cases(OPENED + 90 * DAY)) == []
    # Reopening needs a mode
    status, refused = act(local, case_id, "reopen")
    assert (status, refused["field"]) == (400, "mode")
    status, refused = act(local, case_id, "reopen", mode="later")
    assert (status, refused["field"]) == (400, "mode")
    assert stored(case_id).referrals.written_off is not None


def test_reopen_resume_goes_back_to_the_next_unsent_step_at_its_time(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_002)
    send_first_step(local, at, case_id)  # sent 2026-11-03 17:00; step 2 due 3 days later
    at.now = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    assert act(local, case_id, "write_off")[0] == 200
    # When it is reopened before step 2's time
    at.now = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    status, answer = act(local, case_id, "reopen", mode="resume")
    assert status == 200, answer
    # Then step 2 is next, at its own time, and the write-off is undone
    case = answer["case"]
    assert case["next_step"] == {
        "step": 2,
        "at": "2026-11-06T17:00:00+00:00",
        "channel": "email_then_sms",
        "template": "firm",
    }
    assert case["reminders"]["sent"] == 1 and case["written_off"] is None
    assert answer["result"]["effect"] == "Reopened (resuming at step 2) by Ana Ruiz"
    assert "reopen" not in case["actions"] and "write_off" in case["actions"]
    # When it is written off and reopened after step 2's time had passed: due now
    assert act(local, case_id, "write_off")[0] == 200
    at.now = datetime(2026, 11, 8, 19, 0, tzinfo=UTC)
    case = act(local, case_id, "reopen", mode="resume")[1]["case"]
    assert (case["next_step"]["step"], case["next_step"]["at"]) == (
        2,
        "2026-11-08T19:00:00+00:00",
    )
    # and the scheduler's next run sends it (11:00 in Portland), once
    local.lambdas.run_schedules(at.now + timedelta(minutes=5))
    local.lambdas.drain()
    sent = stored(case_id).dunning.sent
    assert [m.step for m in sent] == [0, 1]


def test_reopen_start_over_begins_again_at_step_1(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_003)
    send_first_step(local, at, case_id)
    assert act(local, case_id, "write_off")[0] == 200
    at.now = datetime(2026, 11, 8, 20, 0, tzinfo=UTC)  # 12:00 in Portland
    status, answer = act(local, case_id, "reopen", mode="start_over")
    assert status == 200, answer
    case = answer["case"]
    # Step 1's time (a day after opening) is past: due now, with what was sent kept
    assert case["next_step"]["step"] == 1
    assert case["next_step"]["at"] == "2026-11-08T20:00:00+00:00"
    assert case["reminders"]["sent"] == 1
    assert "starting over from step 1" in case["timeline"][-1]["summary"]
    # and it goes again: step 1 a second time, then step 2 is next
    local.lambdas.run_schedules(at.now + timedelta(minutes=5))
    local.lambdas.drain()
    again = stored(case_id).dunning
    assert [m.step for m in again.sent] == [0, 0]
    assert again.next_step == 1 and again.status is DunningStatus.SCHEDULED


# ---------------------------------------------------------------- send now, skip


def test_send_now_sends_the_next_step_at_once_in_the_customers_day(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_004)
    at.now = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)  # 12:00 in Portland; step 1 due tomorrow
    status, answer = act(local, case_id, "send_now")
    assert status == 200, answer
    assert answer["result"]["effect"] == "Step 1 made due now by Ana Ruiz"
    assert answer["case"]["next_step"]["at"] == "2026-11-02T20:00:00+00:00"
    # The job queued with it is sent by the sender
    local.lambdas.drain()
    after = stored(case_id).dunning
    assert [m.step for m in after.sent] == [0] and after.next_step == 1
    assert emails_to(local, "d@ex.com") == 1


def test_send_now_in_the_customers_night_is_deferred_by_the_sender(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_005)
    at.now = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)  # 23:00 in Portland: quiet hours
    assert act(local, case_id, "send_now")[0] == 200
    local.lambdas.drain()
    local.lambdas.run_schedules(at.now + timedelta(minutes=5))
    local.lambdas.drain()
    # Then nothing was sent: the step waits for 08:00 in Portland
    after = stored(case_id).dunning
    assert after.sent == () and emails_to(local, "d@ex.com") == 0
    assert (after.next_step, after.next_at) == (0, datetime(2026, 11, 3, 16, 0, tzinfo=UTC))
    case = call(local, "GET", f"/cases/{case_id}")[1]
    assert "quiet hours" in case["timeline"][-1]["summary"]
    assert case["timeline"][-1]["actor"]["kind"] == "recoup"
    assert case["customer_contact"]["timezone"] == "America/Los_Angeles"
    assert case["customer_contact"]["local_time"] == "2026-11-02T23:00:00-08:00"


def test_skip_step_moves_to_the_next_and_the_last_leaves_it_awaiting_escalation(
    local: Any, at: Any
) -> None:
    case_id = open_case(local, 8_100_000_000_006)
    status, answer = act(local, case_id, "skip_step", note="spoke on the phone")
    assert status == 200, answer
    case = answer["case"]
    # Step 2 comes three days after step 1 would have: four days after opening
    assert case["next_step"]["step"] == 2
    assert case["next_step"]["at"] == (OPENED + 4 * DAY).isoformat()
    assert case["timeline"][-1]["summary"] == "step 1 skipped by Ana Ruiz: spoke on the phone"
    assert stored(case_id).dunning.sent == ()
    # Skipping the rest leaves the sequence spent, with the referral check due
    for _ in range(3):
        assert act(local, case_id, "skip_step")[0] == 200
    case = call(local, "GET", f"/cases/{case_id}")[1]
    assert case["reminders"]["status"] == "awaiting_escalation" and case["next_step"] is None
    assert "skip_step" not in case["actions"] and "send_now" not in case["actions"]
    assert act(local, case_id, "skip_step")[1]["error"] == "action_refused"


# ---------------------------------------------------------------- bulk


def test_bulk_hold_acts_on_each_case_alone(local: Any, at: Any) -> None:
    shops.install(OTHER)
    first, second, third = (open_case(local, 8_100_000_000_010 + n) for n in range(3))
    theirs = open_case(local, 8_200_000_000_010, shop=OTHER)
    assert act(local, second, "hold")[0] == 200
    ids = [first, second, theirs, "4242", third]
    status, answer = call(local, "POST", "/cases/actions", {"action": "hold", "case_ids": ids})
    assert status == 200, answer
    results = {r["id"]: r for r in answer["results"]}
    assert [r["id"] for r in answer["results"]] == ids
    assert results[first] == {"id": first, "ok": True}
    assert results[third] == {"id": third, "ok": True}
    assert (results[second]["ok"], results[second]["error"]) == (False, "action_refused")
    assert "already held" in results[second]["message"]
    for unknown in (theirs, "4242"):
        assert (results[unknown]["ok"], results[unknown]["error"]) == (False, "not_found")
    for case_id in (first, second, third):
        assert stored(case_id).dunning.held_by == "merchant"
    assert stored(theirs, OTHER).dunning.status is DunningStatus.SCHEDULED
    # Each held case has its own trail entry, naming who held it
    assert stored(first).audit_seq == stored(third).audit_seq
    # Bulk resume brings them back
    status, answer = call(local, "POST", "/cases/actions", {"action": "resume", "case_ids": ids})
    assert [r["ok"] for r in answer["results"]] == [True, True, False, False, True]


def test_a_bulk_request_out_of_bounds_is_refused_whole(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_020)
    too_many = [str(n) for n in range(51)]
    for body, field in (
        ({"action": "hold", "case_ids": too_many}, "case_ids"),
        ({"action": "write_off", "case_ids": [case_id]}, "action"),
        ({"action": "hold", "case_ids": []}, "case_ids"),
        ({"action": "hold", "case_ids": [case_id], "note": "x" * 1001}, "note"),
    ):
        status, answer = call(local, "POST", "/cases/actions", body)
        assert (status, answer["field"]) == (400, field)
    assert stored(case_id).dunning.status is DunningStatus.SCHEDULED


# ---------------------------------------------------------------- staff names


def test_the_staff_name_comes_from_one_online_exchange_then_the_cache(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_030)
    endpoint = local.shopify_tokens
    before = endpoint.online_exchanges
    assert act(local, case_id, "hold")[1]["result"]["effect"] == "Held by Ana Ruiz"
    assert act(local, case_id, "resume")[1]["result"]["effect"] == "Resumed by Ana Ruiz"
    # One exchange for two actions by the same staff member; reads exchange nothing
    call(local, "GET", f"/cases/{case_id}")
    assert endpoint.online_exchanges == before + 1
    kept = staff_names.get(SHOP, "1", now=at.now)
    assert kept is not None and kept.name == "Ana Ruiz"
    # Another staff member is looked up once too
    assert act(local, case_id, "hold", user="2")[1]["result"]["effect"] == "Held by Ben Okafor"
    assert endpoint.online_exchanges == before + 2
    # A name older than a week is asked for again
    at.now += 8 * DAY
    assert act(local, case_id, "resume", user="2")[0] == 200
    assert endpoint.online_exchanges == before + 3
    actors = [e["actor"] for e in call(local, "GET", f"/cases/{case_id}")[1]["timeline"][-4:]]
    assert [a["name"] for a in actors] == ["Ana Ruiz", "Ana Ruiz", "Ben Okafor", "Ben Okafor"]


def test_shopify_refusing_the_exchange_still_acts_under_the_user_id(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_031)
    local.shopify_tokens.refuse_online = True
    status, answer = act(local, case_id, "hold")
    assert status == 200, answer
    assert answer["result"]["effect"] == "Held by staff member 1"
    assert answer["case"]["timeline"][-1]["actor"] == {"kind": "staff", "id": "1", "name": None}
    assert staff_names.get(SHOP, "1", now=at.now) is None
    # The next request asks again, and gets the name
    local.shopify_tokens.refuse_online = False
    assert act(local, case_id, "resume")[1]["result"]["effect"] == "Resumed by Ana Ruiz"


def test_a_name_lookup_that_times_out_after_acting_stores_the_action_once(
    local: Any, at: Any
) -> None:
    case_id = open_case(local, 8_100_000_000_032)
    seq_before = stored(case_id).audit_seq
    endpoint = local.shopify_tokens
    exchanges = endpoint.online_exchanges
    endpoint.lose_next_online_answer = True
    status, answer = act(local, case_id, "write_off", note="gone")
    assert status == 200, answer
    assert answer["result"]["effect"] == "Written off by staff member 1: gone"
    after = stored(case_id)
    assert after.audit_seq == seq_before + 1
    trail = case_store.audit_trail(SHOP, case_id)
    assert [e.body["kind"] for e in trail].count("merchant.write_off") == 1
    assert endpoint.online_exchanges == exchanges + 1
    assert staff_names.get(SHOP, "1", now=at.now) is None


def test_shop_redact_erases_the_staff_names(local: Any, at: Any) -> None:
    case_id = open_case(local, 8_100_000_000_033)
    assert act(local, case_id, "hold")[0] == 200
    assert staff_names.get(SHOP, "1", now=at.now) is not None
    body = event_bytes("shopify/shop_redact.json")
    headers = shopify_headers(body, local.shopify_secret, "shop/redact")
    assert (
        local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)["statusCode"] == 200
    )
    local.lambdas.drain()
    assert staff_names.get(SHOP, "1", now=at.now) is None


# ---------------------------------------------------------------- the case page


def test_the_case_page_links_to_shopify_and_shows_the_next_step(local: Any, at: Any) -> None:
    order_id = 8_100_000_000_040
    case_id = open_case(local, order_id)
    status, case = call(local, "GET", f"/cases/{case_id}")
    assert status == 200
    # admin_support gives the customer the order's id + 7
    assert case["links"] == {
        "order": f"shopify://admin/orders/{order_id}",
        "customer": f"shopify://admin/customers/{order_id + 7}",
    }
    assert case["customer_contact"]["phone"] == "+15035550142"
    assert case["customer_contact"]["country"] == "US"
    assert case["next_step"] == {
        "step": 1,
        "at": (OPENED + DAY).isoformat(),
        "channel": "email",
        "template": "friendly",
    }
    assert {"hold", "send_now", "skip_step", "write_off"} <= set(case["actions"])
    assert "withdraw" not in case["actions"] and "reopen" not in case["actions"]
