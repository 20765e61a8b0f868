"""Shopify's privacy webhooks and app/uninstalled against moto: verified and queued by the
webhook function, then carried out by the privacy worker (export, erasure, uninstall)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import boto3
import pytest
import requests

from recoup.domain.audit import verify_chain
from recoup.domain.case import Case
from recoup.domain.erasure import Subject
from recoup.domain.events import PaymentAttempt, Source
from recoup.services import cases, shops
from recoup.store import cases as case_store
from recoup.store import contacts, customer_links, velocity
from recoup.store import shops as shop_store
from recoup.store.models import shop_pk
from recoup.store.velocity import identity_hash
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP, STRIPE_ACCOUNT, event_bytes, event_json, shopify_headers
from tests.faults import FaultPlan

OWNER = "owner@demo-electronics.example"
OTHER_SHOP = "other-electronics.myshopify.com"
OTHER_ACCOUNT = "acct_1OtherElectronics"
REDACT = event_json("shopify/customers_redact.json")
DATA_REQUEST = event_json("shopify/customers_data_request.json")
# Daniel (customers_data_request.json) owes order_pending; Ryan (customers_redact.json)
# owes order_voided; Sofia owes order_expired and is in no request.
DANIEL_ORDER = str(event_json("shopify/order_pending.json")["id"])
RYAN_ORDER = str(event_json("shopify/order_voided.json")["id"])
RYAN = event_json("shopify/order_voided.json")
# Everything that names Ryan in what Shopify sent us: none of it may remain after erasure.
RYAN_TEXT = ("ryan.mitchell@example.com", "ryan mitchell", "mitchell", "5120 n college ave")
RYAN_TOKENS = ("+13175550187", "3175550187", "46205", "203.0.113.118", "indianapolis")


def post(
    local: Any, name: str, topic: str, *, shop: str = SHOP, body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    raw = body if body is not None else event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(raw, local.shopify_secret, topic, shop=shop)
    result = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, raw)
    return result["statusCode"], json.loads(result["body"])


def deliver(local: Any, name: str, topic: str, *, shop: str = SHOP) -> None:
    status, answer = post(local, name, topic, shop=shop)
    assert (status, answer["status"]) == (200, "queued"), answer
    local.lambdas.drain()


def depth(local: Any, queue: str) -> int:
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=local.stack.refs[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def table_items(local: Any) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    pages = ddb.get_paginator("scan").paginate(TableName=local.stack.refs["Table"])
    return [item for page in pages for item in page["Items"]]


def bucket() -> Any:
    return boto3.client("s3", region_name="us-east-1")


def bucket_objects(local: Any) -> dict[str, bytes]:
    name = local.stack.refs["CaseFilesBucket"]
    listed = bucket().list_objects_v2(Bucket=name).get("Contents", [])
    return {o["Key"]: bucket().get_object(Bucket=name, Key=o["Key"])["Body"].read() for o in listed}


def mentions_ryan(text: str) -> list[str]:
    """Ryan's data found in a text: names and addresses as substrings, numbers as whole
    tokens (a hex hash may contain five digits in a row by chance)."""
    folded = text.casefold()
    tokens = set(re.split(r"[^0-9a-z@.+]+", folded))
    return [t for t in RYAN_TEXT if t in folded] + [t for t in RYAN_TOKENS if t in tokens]


def emails(local: Any) -> list[Any]:
    return [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]


def queued_bodies(local: Any, prefix: str = "") -> dict[str, str]:
    name = local.stack.refs["QueueBodiesBucket"]
    listed = bucket().list_objects_v2(Bucket=name, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: bucket().get_object(Bucket=name, Key=o["Key"])["Body"].read().decode()
        for o in listed
    }


def dead_letters(local: Any, queue: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, found = local.stack.refs[queue], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def with_items(name: str, items: int) -> bytes:
    """The order with `items` line items: its event is beyond SQS's 256 KiB."""
    order = event_json(f"shopify/{name}.json")
    order["line_items"] = [
        {
            "id": 1489365720145000000 + i,
            "title": f"Cable no. {i:04d}",
            "price": "1.00",
            "quantity": 1,
            "sku": f"CBL-{i:05d}",
            "variant_id": 48123456700000 + i,
        }
        for i in range(items)
    ]
    return json.dumps(order).encode()


def open_orders(local: Any) -> None:
    for name in ("order_pending", "order_voided", "order_expired"):
        deliver(local, name, "orders/create")


def set_contact_email(email: str | None) -> None:
    shops.install(SHOP, stripe_account=STRIPE_ACCOUNT, contact_email=email)


# ---------------------------------------------------------------------------------- intake


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("customers_data_request", "customers/data_request"),
        ("customers_redact", "customers/redact"),
        ("shop_redact", "shop/redact"),
        ("app_uninstalled", "app/uninstalled"),
    ],
)
def test_a_forged_privacy_webhook_is_refused_and_nothing_is_queued(
    local: Any, name: str, topic: str
) -> None:
    # Given a privacy delivery signed with another secret
    body = event_bytes(f"shopify/{name}.json")
    headers = shopify_headers(body, "not-the-app-secret", topic)
    # When it is posted
    result = local.lambdas.invoke_http("POST", "/webhooks/shopify", headers, body)
    # Then Shopify gets a 401 and no job is queued
    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"] == "invalid_signature"
    assert depth(local, "PrivacyQueue") == 0


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("customers_data_request", "customers/data_request"),
        ("customers_redact", "customers/redact"),
        ("shop_redact", "shop/redact"),
        ("app_uninstalled", "app/uninstalled"),
    ],
)
def test_a_privacy_webhook_about_another_shop_is_refused(local: Any, name: str, topic: str) -> None:
    # Given a delivery whose signed header names another shop than its body does
    # When it is posted
    status, answer = post(local, name, topic, shop=OTHER_SHOP)
    # Then it is refused, naming the field, and nothing is queued
    assert status == 400
    assert answer["error"] == "malformed_webhook"
    assert "does not match X-Shopify-Shop-Domain" in answer["message"]
    assert depth(local, "PrivacyQueue") == 0


@pytest.mark.parametrize(
    ("topic", "name", "remove", "message"),
    [
        ("customers/data_request", "customers_data_request", "shop_domain", "shop_domain is"),
        ("customers/data_request", "customers_data_request", "customer.id", "customer.id is"),
        ("customers/data_request", "customers_data_request", "data_request", "data_request is"),
        ("customers/redact", "customers_redact", "customer", "customer is missing"),
        ("customers/redact", "customers_redact", "customer.id", "customer.id is missing"),
        ("shop/redact", "shop_redact", "shop_domain", "shop_domain is missing"),
    ],
)
def test_a_privacy_webhook_without_a_needed_field_is_refused_naming_it(
    local: Any, topic: str, name: str, remove: str, message: str
) -> None:
    # Given a correctly signed body that lacks one field
    payload = event_json(f"shopify/{name}.json")
    parent, _, key = remove.rpartition(".")
    del (payload[parent] if parent else payload)[key]
    # When it is posted
    status, answer = post(local, name, topic, body=json.dumps(payload).encode())
    # Then the 400 names the field, and nothing is queued
    assert status == 400
    assert message in answer["message"]
    assert depth(local, "PrivacyQueue") == 0


def test_a_privacy_webhook_is_queued_whole_and_answered_at_once(local: Any) -> None:
    # Given a signed customers/redact delivery
    # When it is posted
    status, answer = post(local, "customers_redact", "customers/redact")
    # Then it is answered 200 and its job carries the topic, shop, delivery id and body
    assert (status, answer["status"], answer["kind"]) == (200, "queued", "customers/redact")
    sqs = boto3.client("sqs", region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=local.stack.refs["PrivacyQueue"])["Messages"]
    job = json.loads(message["Body"])
    assert (job["kind"], job["shop"], job["webhook_id"]) == (
        "customers/redact",
        SHOP,
        answer["event_id"],
    )
    assert job["payload"] == REDACT  # ids exact: they exceed 2**53
    assert depth(local, "EventsQueue") == 0


# ---------------------------------------------------------------------------------- export


def test_a_data_request_exports_the_customers_cases_and_emails_the_merchant_once(
    local: Any,
) -> None:
    # Given three customers' open cases and a shop with a contact email
    set_contact_email(OWNER)
    open_orders(local)
    # When Shopify asks for Daniel's data
    deliver(local, "customers_data_request", "customers/data_request")
    # Then one export is written, with Daniel's case and nothing of the others
    key = f"exports/{SHOP}/{DATA_REQUEST['data_request']['id']}.json"
    objects = bucket_objects(local)
    assert list(objects) == [key]
    export = json.loads(objects[key])
    assert [c["case_id"] for c in export["cases"]] == [DANIEL_ORDER]
    (case,) = export["cases"]
    assert case["case"]["snapshot"]["customer"]["email"] == "daniel.okafor@example.com"
    assert [e["hash"] for e in case["audit_trail"]] == [
        e.hash for e in cases.timeline(SHOP, DANIEL_ORDER)
    ]
    assert case["reminders"]["status"]  # the reminder progress is part of it
    text = objects[key].decode()
    assert not mentions_ryan(text)
    assert "sofia" not in text.casefold()
    # and the merchant gets one email whose link downloads that export
    (mail,) = emails(local)
    assert mail["To"] == OWNER
    assert "List-Unsubscribe" not in mail
    body = mail.get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(r"https://\S+", body)
    assert "X-Amz-Expires=604800" in link
    assert requests.get(link, timeout=10).json() == export
    # When Shopify delivers the same request again
    deliver(local, "customers_data_request", "customers/data_request")
    # Then the export is rewritten in place and no second email is sent
    assert list(bucket_objects(local)) == [key]
    assert len(emails(local)) == 1
    assert depth(local, "PrivacyDeadLetterQueue") == 0


def test_a_data_request_for_a_shop_without_contact_email_is_recorded_not_emailed(
    local: Any,
) -> None:
    # Given a shop that gave no contact email
    open_orders(local)
    # When Shopify asks for Daniel's data
    deliver(local, "customers_data_request", "customers/data_request")
    # Then the export is written, nobody is emailed, and the request's marker says why
    request_id = DATA_REQUEST["data_request"]["id"]
    assert list(bucket_objects(local)) == [f"exports/{SHOP}/{request_id}.json"]
    assert emails(local) == []
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    marker = ddb.get_item(
        TableName=local.stack.refs["Table"],
        Key={"pk": {"S": shop_pk(SHOP)}, "sk": {"S": f"PRIVACY#DATA_REQUEST#{request_id}"}},
    )["Item"]
    assert marker["status"]["S"] == "no_contact_email"
    assert depth(local, "PrivacyDeadLetterQueue") == 0


def test_a_data_request_that_cannot_be_emailed_is_retried_then_dead_lettered(
    local: Any,
) -> None:
    # Given a shop whose contact email SES cannot send to
    set_contact_email("not-an-address")
    open_orders(local)
    # When Shopify asks for Daniel's data
    deliver(local, "customers_data_request", "customers/data_request")
    # Then every attempt failed, gave its claim back, and the job waits in the DLQ for ops
    assert emails(local) == []
    assert depth(local, "PrivacyDeadLetterQueue") == 1
    request_id = DATA_REQUEST["data_request"]["id"]
    sks = [i["sk"]["S"] for i in table_items(local) if i["pk"]["S"] == shop_pk(SHOP)]
    assert f"PRIVACY#DATA_REQUEST#{request_id}" not in sks


# ---------------------------------------------------------------------------------- erasure


def seed_ryan_everywhere(local: Any) -> None:
    """Ryan's data in every place Recoup keeps any: his case (from real deliveries), an
    email opt-out, an SMS STOP, the message log, velocity marks, a data export and a case
    file."""
    now = datetime.now(tz=UTC)
    email, phone = "ryan.mitchell@example.com", "+13175550187"
    contacts.update(
        shop_pk(SHOP), contacts.contact_sk(email), now=now, reason="x", email_opt_out=True
    )
    local.lambdas.publish(
        local.stack.refs["InboundSmsTopic"],
        {"originationNumber": phone, "destinationNumber": "+18005550100", "messageBody": "STOP"},
    )
    contacts.update(
        contacts.GLOBAL, contacts.contact_sk(phone), now=now, reason="x", last_shop=SHOP
    )
    stored = case_store.load(SHOP, RYAN_ORDER)
    assert stored is not None
    case: Case = stored.case
    log, actions = contacts.message_logged(
        SHOP, str(RYAN["customer"]["id"]), now, RYAN_ORDER, "email"
    )
    log.update(actions=actions)
    failure = PaymentAttempt(
        "shopify-txn:1", Source.STRIPE, False, now, code="card_declined", card_fingerprint="fp_R1"
    )
    failed = replace(case, attempts=(*case.attempts, failure))
    for item, actions in velocity.counters(SHOP, failed, velocity.failures(failed, case, now), now):
        item.update(actions=actions)
    deliver(local, "customers_data_request_redacted_customer", "customers/data_request")
    bucket().put_object(
        Bucket=local.stack.refs["CaseFilesBucket"],
        Key=f"cases/{SHOP}/{RYAN_ORDER}/case-file.json",
        Body=json.dumps({"debtor": "Ryan Mitchell", "address": "5120 N College Ave"}).encode(),
    )


def test_a_data_request_includes_opt_outs_and_the_message_log(local: Any) -> None:
    # Given Ryan's case, opt-outs, message log and the rest
    set_contact_email(OWNER)
    open_orders(local)
    # When Shopify asks for his data (the seeding ends with that request)
    seed_ryan_everywhere(local)
    # Then the export has his case, his email opt-out, his SMS STOP and the message sent
    (key,) = [k for k in bucket_objects(local) if k.startswith("exports/")]
    export = json.loads(bucket_objects(local)[key])
    assert [c["case_id"] for c in export["cases"]] == [RYAN_ORDER]
    preferences = {
        (p["channel"], p["address"], p["applies_to"]): p for p in export["contact_preferences"]
    }
    assert preferences[("email", "ryan.mitchell@example.com", "this shop")]["email_opt_out"]
    assert preferences[("sms", "+13175550187", "every shop")]["sms_opt_out"]
    assert [(m["case_id"], m["channel"]) for m in export["messages_sent_last_8_days"]] == [
        (RYAN_ORDER, "email")
    ]


def test_customer_redact_leaves_none_of_the_customers_data_anywhere(local: Any) -> None:
    # Given Ryan's data everywhere, and two other customers' cases
    set_contact_email(OWNER)
    open_orders(local)
    seed_ryan_everywhere(local)
    found_before = [m for item in table_items(local) for m in mentions_ryan(json.dumps(item))]
    assert {"ryan.mitchell@example.com", "203.0.113.118", "46205"} <= set(found_before)
    before = case_store.load(SHOP, RYAN_ORDER)
    assert before is not None
    trail_before = cases.timeline(SHOP, RYAN_ORDER)
    ryan = Subject(str(RYAN["customer"]["id"]), "ryan.mitchell@example.com", "+13175550187")
    assert customer_links.case_ids(SHOP, ryan.identities()) == {RYAN_ORDER}
    # When Shopify asks to erase Ryan
    deliver(local, "customers_redact", "customers/redact")
    # Then the links from his id, email and phone to his case are gone
    assert customer_links.case_ids(SHOP, ryan.identities()) == set()
    # Then nothing in the table or the bucket names him any more
    leftovers = [
        (item["pk"]["S"], item["sk"]["S"], mentions_ryan(json.dumps(item)))
        for item in table_items(local)
        if mentions_ryan(json.dumps(item))
    ]
    assert leftovers == []
    files = bucket_objects(local)
    assert [key for key, body in files.items() if mentions_ryan(body.decode())] == []
    assert not any(key.startswith((f"cases/{SHOP}/{RYAN_ORDER}/", "exports/")) for key in files)
    # and no velocity counter, address entry or message log entry of his is left, while the
    # other customers' address entries stay
    items = table_items(local)
    sks = [item["sk"]["S"] for item in items if item["pk"]["S"] == shop_pk(SHOP)]
    ryan = identity_hash("ryan.mitchell@example.com")
    assert not [sk for sk in sks if sk.startswith(("VEL#", "MSG#", "ADDR#")) or ryan in sk]
    assert contacts.message_logs(SHOP, str(RYAN["customer"]["id"])) == []
    his = {
        velocity.counter_pk(SHOP, dim, identity_hash(value))
        for dim, value in (
            ("email", "ryan.mitchell@example.com"),
            ("card", "fp_R1"),
            ("ip", "203.0.113.118"),
        )
    }
    assert not [item for item in items if item["pk"]["S"] in his]
    others = {identity_hash(e) for e in ("daniel.okafor@example.com", "sofia.alvarez@example.com")}
    at_addresses = [
        set(item.get("emails", {}).get("SS", []))
        for item in items
        if item["pk"]["S"].startswith(f"ADDR#{SHOP}#")
    ]
    assert set().union(*at_addresses) == others
    # and his case keeps its ids, amounts, attempts and status, with a valid audit trail
    after = case_store.load(SHOP, RYAN_ORDER)
    assert after is not None
    assert after.case.snapshot is not None and after.case.snapshot.customer is None
    assert after.case.amount_owed == before.case.amount_owed
    assert after.case.status is before.case.status
    assert after.case.event_ids == before.case.event_ids
    assert [a.code for a in after.case.attempts] == [a.code for a in before.case.attempts]
    assert after.dunning is not None and str(after.dunning.status) == "stopped"
    trail = cases.timeline(SHOP, RYAN_ORDER)
    assert verify_chain(trail, expected_head=after.audit_head).ok
    assert trail[-1].body["summary"] == "customer data erased (customers/redact)"
    assert trail[:-1] == trail_before  # appended to, never rewritten
    # and his SMS STOP is still honoured, keyed by a hash, no longer naming the shop
    stop = [
        item
        for item in table_items(local)
        if item["pk"]["S"] == contacts.GLOBAL
        and item["sk"]["S"] == contacts.contact_sk("+13175550187")
    ]
    assert len(stop) == 1 and stop[0]["sms_opt_out"]["BOOL"] is True
    assert "last_shop" not in stop[0]
    # and Daniel's case is untouched
    daniel = case_store.load(SHOP, DANIEL_ORDER)
    assert daniel is not None and daniel.case.snapshot is not None
    assert daniel.case.snapshot.customer is not None
    assert daniel.case.snapshot.customer.email == "daniel.okafor@example.com"
    # When the same request is delivered again
    deliver(local, "customers_redact", "customers/redact")
    # Then it changes nothing: no new audit entry, nothing failed
    assert len(cases.timeline(SHOP, RYAN_ORDER)) == len(trail)
    assert depth(local, "PrivacyDeadLetterQueue") == 0


def of_shop(item: dict[str, Any], shop: str) -> bool:
    """The item is the shop's: in its partition, or in one of its cases', cross references'
    or velocity buckets' partitions (whose keys begin with a kind and the shop)."""
    pk = item["pk"]["S"]
    return pk == shop_pk(shop) or pk.split("#")[1:2] == [shop]


def test_shop_redact_deletes_every_item_and_file_of_the_shop_and_nothing_else(
    local: Any,
) -> None:
    # Given two installed shops with cases and files
    shops.install(OTHER_SHOP, stripe_account=OTHER_ACCOUNT)
    open_orders(local)
    deliver(local, "order_pending", "orders/create", shop=OTHER_SHOP)
    name = local.stack.refs["CaseFilesBucket"]
    for shop in (SHOP, OTHER_SHOP):
        bucket().put_object(Bucket=name, Key=f"cases/{shop}/1/file.json", Body=b"{}")
        bucket().put_object(Bucket=name, Key=f"exports/{shop}/1.json", Body=b"{}")
        for key in (f"inbox/{shop}/1/e.json", f"quarantine/{shop}/1/m.json"):
            bucket().put_object(Bucket=local.stack.refs["QueueBodiesBucket"], Key=key, Body=b"{}")
    other_before = [i for i in table_items(local) if of_shop(i, OTHER_SHOP)]
    assert any(i["pk"]["S"].startswith(f"CASE#{SHOP}#") for i in table_items(local))
    # When Shopify says the demo shop's data must go
    deliver(local, "shop_redact", "shop/redact")
    # Then no item of the shop, nor its Stripe mapping, nor any of its files remains
    remaining = table_items(local)
    assert [i for i in remaining if of_shop(i, SHOP)] == []
    assert [i for i in remaining if i["pk"]["S"] == f"STRIPEACCT#{STRIPE_ACCOUNT}"] == []
    assert sorted(bucket_objects(local)) == [
        f"cases/{OTHER_SHOP}/1/file.json",
        f"exports/{OTHER_SHOP}/1.json",
    ]
    assert sorted(queued_bodies(local)) == [
        f"inbox/{OTHER_SHOP}/1/e.json",
        f"quarantine/{OTHER_SHOP}/1/m.json",
    ]
    # and the other shop keeps everything
    assert [i for i in remaining if of_shop(i, OTHER_SHOP)] == other_before
    assert [i["shop"]["S"] for i in remaining if i["pk"]["S"] == f"STRIPEACCT#{OTHER_ACCOUNT}"] == [
        OTHER_SHOP
    ]
    # When the request is delivered again / Then it is harmless
    deliver(local, "shop_redact", "shop/redact")
    assert depth(local, "PrivacyDeadLetterQueue") == 0


# ---------------------------------------------------------------------------------- uninstall


def test_app_uninstalled_deactivates_the_shop(local: Any) -> None:
    # Given an installed shop
    assert shop_store.is_installed(SHOP)
    # When Shopify says the app was uninstalled
    deliver(local, "app_uninstalled", "app/uninstalled")
    # Then the shop is no longer installed, and nothing failed
    shop_store.forget(SHOP)
    item = shop_store.get(SHOP)
    assert item is not None and item.active is False and item.uninstalled_at is not None
    assert not shop_store.is_installed(SHOP)
    assert depth(local, "PrivacyDeadLetterQueue") == 0


# --------------------------------------------------------------------------- queued bodies


def test_customer_redact_deletes_the_customers_queued_bodies_and_a_redrive_cannot_undo_it(
    local: Any,
) -> None:
    # Given Ryan's and Daniel's orders, each also updated by an event too large for SQS
    open_orders(local)
    for name in ("order_voided", "order_pending"):
        status, _ = post(local, name, "orders/updated", body=with_items(name, 2000))
        assert status == 200
    local.lambdas.drain()
    # And an update of Ryan's order that failed its retries and was moved aside
    with FaultPlan() as plan:
        plan.fail("dynamodb", "TransactWriteItems", "reject", nth=0)
        deliver(local, "order_voided", "orders/updated")
    [reference] = dead_letters(local, "EventsDeadLetterQueue")
    assert mentions_ryan(reference) == []
    ryan_bodies = queued_bodies(local, f"quarantine/{SHOP}/{RYAN_ORDER}/")
    assert ryan_bodies and all(mentions_ryan(body) for body in ryan_bodies.values())
    assert len(queued_bodies(local, f"inbox/{SHOP}/{RYAN_ORDER}/")) == 1
    # When Shopify asks to erase Ryan
    deliver(local, "customers_redact", "customers/redact")
    # Then none of his queued bodies is left, and Daniel's stays
    left = queued_bodies(local)
    assert [key for key, body in left.items() if mentions_ryan(body)] == []
    assert [key.split("/")[2] for key in left] == [DANIEL_ORDER]
    # When ops later redrive the reference / Then it finds nothing and brings nothing back
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=local.stack.refs["EventsQueue"], MessageBody=reference)
    local.lambdas.drain()
    after = case_store.load(SHOP, RYAN_ORDER)
    assert after is not None and after.case.snapshot is not None
    assert after.case.snapshot.customer is None
    assert dead_letters(local, "EventsDeadLetterQueue") == []


def test_a_privacy_job_that_keeps_failing_leaves_only_a_reference_and_a_redrive_finishes_it(
    local: Any,
) -> None:
    # Given a customers/redact that fails every time the worker tries it
    open_orders(local)
    with FaultPlan() as plan:
        plan.fail("dynamodb", "Query", "reject", nth=0)
        deliver(local, "customers_redact", "customers/redact")
    # Then the DLQ holds a reference naming the job, and nothing about Ryan
    [reference] = dead_letters(local, "PrivacyDeadLetterQueue")
    assert mentions_ryan(reference) == []
    held = json.loads(reference)
    assert (held["kind"], held["shop"]) == ("customers/redact", SHOP)
    assert held["quarantined"].startswith(f"quarantine/{SHOP}/_/")
    assert mentions_ryan(queued_bodies(local)[held["quarantined"]])
    # When the fault is gone and ops redrive it
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=local.stack.refs["PrivacyQueue"], MessageBody=reference)
    local.lambdas.drain()
    # Then Ryan is erased, and the body the reference kept is gone too
    after = case_store.load(SHOP, RYAN_ORDER)
    assert after is not None and after.case.snapshot is not None
    assert after.case.snapshot.customer is None
    assert queued_bodies(local) == {}
    assert depth(local, "PrivacyDeadLetterQueue") == 0
