"""The admin's case list over the API: search by order name, email and name, the opened and
owed orders, filters in one currency, the CSV export, the keys kept by every case write
(stale terms removed, a case stored before them backfilled by its next write, erased with
the customer), and reads that do not grow with the shop."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.endpoint import Endpoint

from recoup.domain.case import Case, CaseStatus
from recoup.domain.events import Customer, OrderSnapshot
from recoup.domain.money import Money
from recoup.services import shops
from recoup.store import case_listing
from recoup.store.models import case_pk, shop_parts
from recoup_local import session_tokens
from tests.admin_support import paid_order, pending_order
from tests.conftest import SHOP
from tests.integration.test_admin_api import OTHER, call, deliver

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

# Ids ascending while the orders were placed in the opposite order: the list's order by
# opening must not be the ids'.
ANN, BOB, CHO, JPY = "7800000000001", "7800000000002", "7800000000003", "7800000000004"
ORDERS = {
    ANN: ("#3001", "120.00", "Ann.Lee@Example.com", "Ann", "Lee", "2026-11-04T10:00:00Z"),
    BOB: ("#3002", "45.50", "bob@example.com", "Bob", "Annan", "2026-11-03T10:00:00Z"),
    CHO: ("#3003", "2500.00", "cho@example.com", "José", "Cho", "2026-11-02T10:00:00Z"),
}


def order(case_id: str, name: str, amount: str, email: str, first: str, last: str, at: str,
          *, currency: str = "USD", status: str = "pending") -> bytes:  # fmt: skip
    body = json.loads(pending_order(int(case_id), name=name, amount=amount, email=email))
    body.update(updated_at=at, created_at=at, currency=currency, financial_status=status)
    if currency != "USD":
        body.update(total_price=amount, current_total_price=amount, line_items=[])
    body["customer"].update(first_name=first, last_name=last)
    body.pop("billing_address", None)
    body.pop("shipping_address", None)
    return json.dumps(body).encode()


def seed(local: Any, shop: str = SHOP) -> None:
    for case_id, fields in ORDERS.items():
        deliver(local, order(case_id, *fields), shop)
    # 129,800 yen: more than 2,000 in any currency, but not dollars
    yen = ("#3004", "129800", "yuki@example.com", "Yuki", "Sato", "2026-11-01T10:00:00Z")
    deliver(local, order(JPY, *yen, currency="JPY"), shop)
    local.lambdas.drain()


def ids(local: Any, query: str) -> list[str]:
    status, page = call(local, "GET", f"/cases?{query}")
    assert status == 200, page
    return [row["id"] for row in page["cases"]]


def csv_text(local: Any, query: str = "") -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {token(local)}"}
    answer = local.lambdas.invoke_http("GET", f"/admin/api/cases.csv?{query}", headers, b"")
    return int(answer["statusCode"]), answer.get("headers") or {}, answer["body"]


def token(local: Any) -> str:
    claims = session_tokens.claims(SHOP, api_key=local.shopify_api_key)
    return session_tokens.sign(claims, local.shopify_secret)


@pytest.fixture
def listed(local: Any) -> Any:
    shops.install(OTHER)
    seed(local)
    # The same customers in another shop: never found from this one
    deliver(local, order("7900000000001", *ORDERS[ANN]), OTHER)
    local.lambdas.drain()
    return local


# ---------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("#3002", [BOB]),  # the order name, as written
        ("3002", [BOB]),  # or without its "#"
        ("ann.lee@example.COM", [ANN]),  # the whole email, whatever its case
        ("ann.lee@example", []),  # part of an email finds nothing
        ("an", [ANN, BOB]),  # the start of a first name (Ann) or a last name (Annan)
        ("LEE", [ANN]),
        ("jose", [CHO]),  # accents aside
        ("sato", [JPY]),
        ("nobody", []),
    ],
)
def test_a_search_finds_cases_by_order_email_or_name(
    listed: Any, q: str, expected: list[str]
) -> None:
    from urllib.parse import quote

    # Opened last first: Ann (4 Nov) before Bob (3 Nov)
    assert ids(listed, f"q={quote(q)}") == expected


def test_a_search_pages_sorts_and_filters_like_the_list(listed: Any) -> None:
    # Given a search matching Ann and Bob, one a page
    status, first = call(listed, "GET", "/cases?q=an&limit=1&sort=opened_asc")
    assert status == 200 and [r["id"] for r in first["cases"]] == [BOB]
    cursor = first["next_cursor"]
    status, second = call(listed, "GET", f"/cases?q=an&limit=1&sort=opened_asc&cursor={cursor}")
    assert [r["id"] for r in second["cases"]] == [ANN] and second["next_cursor"] is None
    # By what they owe, and within a range of it
    assert ids(listed, "q=an&sort=owed_desc&currency=USD") == [ANN, BOB]
    assert ids(listed, "q=an&sort=owed_asc&currency=USD") == [BOB, ANN]
    assert ids(listed, "q=an&currency=USD&min_amount=100") == [ANN]


# ---------------------------------------------------------------- sort and filters


def test_the_list_sorts_by_opening_and_by_what_is_owed_in_one_currency(listed: Any) -> None:
    assert ids(listed, "") == [ANN, BOB, CHO, JPY]  # opened_desc, the default
    assert ids(listed, "sort=opened_asc") == [JPY, CHO, BOB, ANN]
    assert ids(listed, "sort=owed_desc&currency=USD") == [CHO, ANN, BOB]
    assert ids(listed, "sort=owed_asc&currency=USD") == [BOB, ANN, CHO]
    assert ids(listed, "sort=owed_desc&currency=JPY") == [JPY]
    # "at least 2,000" is in the currency asked for: the 129,800 yen are not 2,000 dollars
    assert ids(listed, "currency=USD&min_amount=2000") == [CHO]
    assert ids(listed, "sort=owed_asc&currency=USD&min_amount=45.50&max_amount=120") == [
        BOB,
        ANN,
    ]
    assert ids(listed, "currency=JPY") == [JPY]
    # Paged in the owed order: every case once, the cursor in that order
    seen, cursor = [], None
    for _ in range(5):
        query = "sort=owed_desc&currency=USD&limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(listed, "GET", f"/cases?{query}")
        assert status == 200
        seen += [row["id"] for row in page["cases"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [CHO, ANN, BOB]


def test_rows_carry_their_display_state_title_email_and_currency(listed: Any) -> None:
    deliver(listed, paid_order(int(BOB), name="#3002", amount="45.50", email="bob@example.com"))
    listed.lambdas.drain()
    rows = {row["id"]: row for row in call(listed, "GET", "/cases")[1]["cases"]}
    ann = rows[ANN]
    assert (ann["title"], ann["order_name"], ann["customer_email"]) == (
        "#3001",
        "#3001",
        "Ann.Lee@Example.com",
    )
    assert ann["currency"] == "USD" and ann["amount_owed"]["amount"] == "120.00"
    assert rows[BOB]["state"] == "paid" and rows[BOB]["amount_owed"] is None
    assert rows[JPY]["currency"] == "JPY"
    assert ids(listed, "state=paid") == [BOB]
    assert set(ids(listed, "state=open")) == {ANN, CHO, JPY}
    for row in rows.values():
        assert row["state"] in ("open", "paid", "review", "fraud")
        assert set(row) >= {"next_at", "reminders", "risk", "referral", "opened_at", "status"}
    # and a written-off case leaves "open" (its status stays open: the filter is the state shown)
    status, _ = call(listed, "POST", f"/cases/{CHO}/actions", {"action": "write_off"})
    assert status == 200
    assert set(ids(listed, "state=open")) == {ANN, JPY}
    assert ids(listed, "state=written_off") == [CHO]


def test_a_stripe_payment_is_titled_by_its_amount_never_its_id() -> None:
    from recoup.admin import views
    from recoup.domain.aggregate import StoredCase
    from recoup.domain.listing import display_state

    opened = (CaseStatus.OPEN, datetime(2026, 12, 2, tzinfo=UTC))
    snapshot = OrderSnapshot(Money.of(12000, "USD"), Money.of(12000, "USD"), None, Customer())
    case = Case(SHOP, "pi_3QxYz", CaseStatus.OPEN, (opened,), snapshot)
    row = views.case_row(StoredCase(case, 1, 1, "h"))
    assert row["title"] == "Stripe payment of USD 120.00"
    assert row["order_name"] is None and "pi_" not in json.dumps({**row, "id": None})
    assert display_state(StoredCase(case, 1, 1, "h")) == "open"


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("min_amount=2000", 400, "currency_required", "min_amount"),
        ("max_amount=10", 400, "currency_required", "max_amount"),
        ("sort=owed_desc", 400, "currency_required", "sort"),
        ("sort=biggest", 400, "invalid_parameter", "sort"),
        ("currency=usd", 400, "invalid_parameter", "currency"),
        ("currency=US", 400, "invalid_parameter", "currency"),
        ("q=a", 400, "invalid_parameter", "q"),
        ("state=lost", 400, "invalid_parameter", "state"),
        ("min_amount=ten&currency=USD", 400, "invalid_parameter", "min_amount"),
    ],
)
def test_a_bad_value_gets_400_naming_its_parameter(
    local: Any, query: str, status: int, code: str, field: str
) -> None:
    answer = call(local, "GET", f"/cases?{query}")
    assert (answer[0], answer[1]["error"], answer[1]["field"]) == (status, code, field)
    csv_status, _, body = csv_text(local, query)
    assert csv_status == status and json.loads(body)["field"] == field


def test_a_cursor_of_another_order_is_refused(listed: Any) -> None:
    cursor = call(listed, "GET", "/cases?limit=1")[1]["next_cursor"]
    status, answer = call(listed, "GET", f"/cases?limit=1&sort=opened_asc&cursor={cursor}")
    assert (status, answer["field"]) == (400, "cursor")


# ---------------------------------------------------------------- CSV


def test_the_csv_export_holds_the_selection_with_formulas_defused(listed: Any) -> None:
    # Given a customer whose name a spreadsheet would run as a formula
    evil = (
        "#3005",
        "9.99",
        "=cmd@example.com",
        "=cmd|' /C calc'!A0",
        "+Smith",
        "2026-10-30T09:00:00Z",
    )
    deliver(listed, order("7800000000005", *evil))
    listed.lambdas.drain()
    status, headers, body = csv_text(listed, "currency=USD&sort=owed_asc")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"].startswith('attachment; filename="recoup-cases-')
    assert headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == [
        "id", "order", "customer", "email", "state", "currency", "amount_owed",
        "opened_at", "next_reminder_at", "risk", "referral",
    ]  # fmt: skip
    got = [row[:9] for row in rows[1:]]
    assert [row[0] for row in got] == ["7800000000005", BOB, ANN, CHO]
    assert got[0][1:8] == [
        "#3005",
        "'=cmd|' /C calc'!A0 +Smith",
        "'=cmd@example.com",
        "open",
        "USD",
        "9.99",
        "2026-10-30T09:00:00+00:00",
    ]
    assert got[2][1:8] == [
        "#3001",
        "Ann Lee",
        "Ann.Lee@Example.com",
        "open",
        "USD",
        "120.00",
        "2026-11-04T10:00:00+00:00",
    ]
    # No cell a spreadsheet would evaluate
    assert not [cell for row in rows[1:] for cell in row if cell[:1] in ("=", "+", "-", "@")]
    # A search selects as the list does
    status, _, body = csv_text(listed, "q=annan")
    assert [row[0] for row in csv.reader(io.StringIO(body))] == ["id", BOB]


def test_the_csv_export_stops_at_its_cap_and_says_so(
    listed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoup.services import case_list

    monkeypatch.setattr(case_list, "EXPORT_ROWS", 2)
    status, _, body = csv_text(listed)
    lines = body.splitlines()
    assert status == 200 and len(lines) == 4
    assert [line.split(",")[0] for line in lines[1:3]] == [ANN, BOB]
    assert lines[3] == "# truncated at 2 rows; narrow the filters"


# ---------------------------------------------------------------- the keys a write keeps


def listing_items(local: Any, case_id: str) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    found: list[dict[str, Any]] = ddb.query(
        TableName=local.stack.refs["Table"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :list)",
        ExpressionAttributeValues={
            ":pk": {"S": case_pk(SHOP, case_id)},
            ":list": {"S": case_listing.LIST_PREFIX},
        },
    )["Items"]
    return found


def listing_sorts(local: Any, case_id: str) -> list[str]:
    """The case's keys in the shop index (a retired one keeps only its table keys)."""
    found = listing_items(local, case_id)
    return sorted(item["shop_sort"]["S"] for item in found if "shop_sort" in item)


def test_a_changed_name_or_amount_moves_its_keys_in_the_same_write(listed: Any) -> None:
    before = listing_sorts(listed, ANN)
    assert len(before) == 6  # opened, owed, order, email, first and last name
    assert ids(listed, "q=lee") == [ANN]
    # When the order changes: another last name, less owed
    name, _, email, first, _, _ = ORDERS[ANN]
    changed = order(ANN, name, "80.00", email, first, "Park", "2026-11-05T10:00:00Z")
    deliver(listed, changed, topic="orders/updated")
    listed.lambdas.drain()
    # Then the old name finds nothing, the new one finds it, and it owes 80 in the owed order
    assert ids(listed, "q=lee") == [] and ids(listed, "q=park") == [ANN]
    assert ids(listed, "sort=owed_asc&currency=USD") == [BOB, ANN, CHO]
    assert ids(listed, "currency=USD&min_amount=100") == [CHO]
    after = listing_sorts(listed, ANN)
    assert len(after) == len(before) and not [s for s in after if "lee" in s]
    # the retired keys are out of the index and hold nothing but a hashed key
    retired = [i for i in listing_items(listed, ANN) if "shop_sort" not in i]
    assert len(retired) == 2 and all(set(i) == {"pk", "sk"} for i in retired)
    assert not [i for i in listing_items(listed, ANN) if "lee" in json.dumps(i).casefold()]
    # When it is paid / Then it keeps its opened key and terms, and leaves the owed order
    deliver(listed, paid_order(int(ANN), name=name, amount="80.00", email=email))
    listed.lambdas.drain()
    assert ids(listed, "sort=owed_asc&currency=USD") == [BOB, CHO]
    assert not [s for s in listing_sorts(listed, ANN) if s.startswith("A#")]
    assert ids(listed, "q=park") == [ANN]


def as_stored_before_the_keys(local: Any, case_id: str) -> None:
    """The case as an earlier version stored it: no listing items, no `listed`."""
    ddb = boto3.client("dynamodb", region_name=local.stack.region)
    table = local.stack.refs["Table"]
    for found in listing_items(local, case_id):
        ddb.delete_item(TableName=table, Key={"pk": found["pk"], "sk": found["sk"]})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": case_pk(SHOP, case_id)}, "sk": {"S": "CASE"}},
        UpdateExpression="REMOVE listed",
    )


def test_a_case_stored_before_the_keys_gets_them_from_its_next_write(listed: Any) -> None:
    # Given Ann's and Bob's cases as an earlier version stored them
    as_stored_before_the_keys(listed, ANN)
    as_stored_before_the_keys(listed, BOB)
    case_listing._read.clear()  # a fresh container
    assert ids(listed, "") == [CHO, JPY] and ids(listed, "q=lee") == []
    # When anything writes Ann's case (here the merchant holds its reminders)
    status, _ = call(listed, "POST", f"/cases/{ANN}/actions", {"action": "hold"})
    assert status == 200
    # Then it is listed and found again
    assert ids(listed, "") == [ANN, CHO, JPY]
    assert ids(listed, "q=lee") == [ANN]
    assert len(listing_sorts(listed, ANN)) == 6
    # When the one-off backfill runs / Then Bob's gets its keys, and a second run does nothing
    assert case_listing.backfill(shop=SHOP).written == 1
    assert ids(listed, "") == [ANN, BOB, CHO, JPY] and ids(listed, "q=annan") == [BOB]
    assert case_listing.backfill().written == 0
    # and a write after it changes only what changed (the amount's key)
    deliver(listed, paid_order(int(BOB), name="#3002", amount="45.50", email="bob@example.com"))
    listed.lambdas.drain()
    assert ids(listed, "sort=owed_asc&currency=USD") == [ANN, CHO]
    assert len(listing_sorts(listed, BOB)) == 5


def test_erasing_the_customer_removes_their_terms(listed: Any) -> None:
    # When Shopify asks to erase Ann
    assert ids(listed, "q=ann.lee@example.com") == [ANN]
    redact = {
        "shop_id": 84736291015,
        "shop_domain": SHOP,
        "customer": {"id": int(ANN) + 7, "email": "ann.lee@example.com"},
        "orders_to_redact": [int(ANN)],
    }
    deliver(listed, json.dumps(redact).encode(), SHOP, topic="customers/redact")
    listed.lambdas.drain()
    # Then neither her email nor her names find the case; its order name still does
    assert ids(listed, "q=ann.lee@example.com") == [] and ids(listed, "q=lee") == []
    assert ids(listed, "q=an") == [BOB]
    assert ids(listed, "q=3001") == [ANN]
    assert not [i for i in listing_items(listed, ANN) if "ann" in json.dumps(i).casefold()]
    kept = listing_sorts(listed, ANN)
    assert [s.split(":")[0] for s in kept if s.startswith("F#")] == ["F#o"]
    assert not [s for s in kept if "lee" in s.casefold()]
    # When the whole shop is erased / Then none of its listing keys are left
    shop_redact = {"shop_id": 84736291015, "shop_domain": SHOP}
    deliver(listed, json.dumps(shop_redact).encode(), SHOP, topic="shop/redact")
    listed.lambdas.drain()
    assert [listing_items(listed, case_id) for case_id in (ANN, BOB, CHO, JPY)] == [[]] * 4


# ---------------------------------------------------------------- bounded reads


@contextmanager
def items_read() -> Iterator[dict[str, int]]:
    """Items DynamoDB returned to the code, per operation, while the block runs."""
    counts: dict[str, int] = {}
    original = Endpoint._do_get_response

    def counted(endpoint: Endpoint, request: Any, operation_model: Any, context: Any) -> Any:
        answer = original(endpoint, request, operation_model, context)
        if operation_model.service_model.endpoint_prefix == "dynamodb" and answer[0]:
            parsed = answer[0][1]
            name = operation_model.name
            found = parsed.get("ScannedCount", 0) + ("Item" in parsed)
            found += sum(len(rows) for rows in parsed.get("Responses", {}).values())
            counts[name] = counts.get(name, 0) + found
        return answer

    Endpoint._do_get_response = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Endpoint._do_get_response = original  # type: ignore[method-assign]


def searched(local: Any, query: str) -> tuple[list[str], dict[str, int]]:
    call(local, "GET", "/cases?limit=1")  # the session and the shop, read once
    with items_read() as counts:
        found = ids(local, query)
    # The list's own reads (the session's and the shop's come from caches or not)
    return found, {op: n for op, n in counts.items() if op in ("Query", "BatchGetItem")}


def test_a_search_reads_the_same_items_in_a_small_and_a_large_shop(local: Any) -> None:
    # Given the small shop
    seed(local)
    small = {q: searched(local, q) for q in ("q=ann.lee@example.com", "q=an", "q=3003")}
    # When it has 24 more cases, of other customers with other names
    for n in range(24):
        body = order(f"78100000000{n:02d}", f"#4{n:03d}", f"{n + 1}.00", f"c{n}@example.com",
                     f"Zed{n}", f"Xu{n}", f"2026-11-0{n % 9 + 1}T08:00:00Z")  # fmt: skip
        deliver(local, body)
    local.lambdas.drain()
    # Then each search finds the same cases reading the same number of items
    for q, (found, counts) in small.items():
        again, counts_large = searched(local, q)
        assert again == found, q
        assert counts_large == counts, q
    assert small["q=an"][0] == [ANN, BOB]
    assert small["q=an"][1]["Query"] <= 16  # the matching keys (8 shards x 2 kinds of term)


def test_a_list_page_reads_a_page_not_the_shop(local: Any) -> None:
    seed(local)
    for n in range(24):
        body = order(f"78200000000{n:02d}", f"#5{n:03d}", "5.00", f"d{n}@example.com",
                     f"Ola{n}", f"Berg{n}", f"2026-10-{n + 1:02d}T08:00:00Z")  # fmt: skip
        deliver(local, body)
    local.lambdas.drain()
    found, counts = searched(local, "limit=2")
    assert found == [ANN, BOB]
    # one Query per shard (16) for a share of the page (2 keys each), a second page of a shard
    # only where the merge reached its end, and the page's cases and one more
    shards = len(shop_parts(SHOP))
    assert shards <= counts["Query"] <= 2 * shards and counts["BatchGetItem"] == 3
    found, counts = searched(local, "limit=2&sort=owed_desc&currency=USD")
    assert found == [CHO, ANN] and counts["Query"] <= 2 * shards and counts["BatchGetItem"] == 3


def test_the_export_needs_a_session_like_the_rest_of_the_api(local: Any) -> None:
    answer = local.lambdas.invoke_http("GET", "/admin/api/cases.csv", {}, b"")
    assert answer["statusCode"] == 401
