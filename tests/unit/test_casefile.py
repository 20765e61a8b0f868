"""The case file: the JSON record's sections, HTML and PDF, the demand letter, and the check
of the audit chain it quotes (in code and through `recoup verify-chain`)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from recoup.casefile.letters import LetterError, render_demand_letter
from recoup.casefile.pdf import latin1
from recoup.casefile.record import (
    SCHEMA,
    CaseFileInputs,
    ContactState,
    MessageText,
    ShopInfo,
    build_record,
    record_json,
)
from recoup.casefile.render import render_html, render_pdf
from recoup.casefile.signing import sign_record, statement
from recoup.casefile.verify import FileReport, verify_chain_section, verify_document, verify_record
from recoup.domain.audit import DELIVERY_REPORT, AuditEntry
from recoup.domain.case import Case, apply, new_case
from recoup.domain.charges import ChargeLine, OrderCharges
from recoup.domain.dunning import Dunning, DunningStatus, SentMessage
from recoup.domain.events import (
    Customer,
    DomainEvent,
    Fact,
    LineItem,
    OrderSnapshot,
    PaymentAttempt,
    Source,
)
from recoup.domain.money import Money
from recoup.domain.referral import EmailHandOver, ReferralKind, start_referral
from recoup_local.casefile_check import openssl_check
from recoup_local.cli import main
from tests.unit.casefile_keys import Keys, make_keys

SHOP = "demo-electronics.myshopify.com"
ORDER = "5960359936123456789"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
GENERATED = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
SECTIONS = {
    "schema",
    "generated_at",
    "referral",
    "merchant",
    "customer",
    "order",
    "amounts",
    "payment_attempts",
    "refunds",
    "messages",
    "customer_actions",
    "reachability",
    "fraud",
    "events",
    "chain",
}


def _snapshot(first_name: str, last_name: str, owed: int = 189_900) -> OrderSnapshot:
    return OrderSnapshot(
        amount_owed=Money("USD", owed),
        order_total=Money("USD", 199_900),
        order_name="#1042",
        customer=Customer(
            customer_id="7001",
            email="ada@example.com",
            phone="+14155550123",
            first_name=first_name,
            last_name=last_name,
            locale="de-DE",
            country="DE",
            zip="10115",
        ),
        line_items=(
            LineItem("Laptop Pro 14", 1, Money("USD", 179_900), sku="LP14"),
            LineItem("USB-C charger", 2, Money("USD", 10_000)),
        ),
        financial_status="partially_paid",
        pay_url="https://demo-electronics.example/orders/1042/pay",
        charges=OrderCharges(
            subtotal=Money("USD", 199_900),
            total_tax=Money("USD", 0),
            total_shipping=Money("USD", 0),
            total_discounts=Money("USD", 0),
            lines=(ChargeLine("shipping", "Free shipping", Money("USD", 0)),),
        ),
    )


def _event(
    event_id: str, fact: Fact, minutes: int, snapshot: OrderSnapshot | None, **extra: Any
) -> DomainEvent:
    return DomainEvent(
        event_id=event_id,
        source=Source.SHOPIFY if snapshot else Source.STRIPE,
        kind=f"test/{fact}",
        shop=SHOP,
        case_id=ORDER,
        occurred_at=T0 + timedelta(minutes=minutes),
        fact=fact,
        snapshot=snapshot,
        summary=f"{event_id} reported",
        **extra,
    )


def _case(first_name: str = "Ada", last_name: str = "Lovelace") -> Case:
    snap = _snapshot(first_name, last_name)
    declined = PaymentAttempt(
        "pi_1_declined",
        Source.STRIPE,
        False,
        T0 + timedelta(minutes=10),
        Money("USD", 199_900),
        code="insufficient_funds",
        message="Your card has insufficient funds.",
    )
    deposit = PaymentAttempt(
        "pi_2_deposit", Source.STRIPE, True, T0 + timedelta(minutes=20), Money("USD", 20_000)
    )
    events = [
        _event("created", Fact.UNPAID, 0, snap),
        _event("declined", Fact.PAYMENT_FAILED, 10, None, attempt=declined),
        _event("deposit", Fact.UNPAID, 20, snap, attempt=deposit),
        _event("refund", Fact.REFUNDED, 30, None, refunded=Money("USD", 10_000)),
    ]
    return reduce(lambda case, e: apply(case, e).case, events, new_case(SHOP, ORDER))


def _audit(case: Case, count: int = 5) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(count):
        at = (T0 + timedelta(hours=i)).isoformat()
        body = {
            "event_id": f"evt-{i}",
            "source": "shopify" if i % 2 else "recoup",
            "kind": "orders/updated" if i % 2 else "reminder_sent",
            "fact": "unpaid",
            "occurred_at": at,
            "recorded_at": at,
            "summary": f"event {i} about {case.case_id}",
            "effect": "recorded; 1,899.00 USD owed",
        }
        entries.append(AuditEntry.after(entries[-1] if entries else None, body))
    return entries


def _with_reports(entries: list[AuditEntry]) -> list[AuditEntry]:
    """The trail with SES's and SNS's reports about the first two messages appended, as
    services.delivery_reports records them."""
    reports = (
        ("ses-0001", "delivered", 1),
        ("sns-0002", "failed (carrier blocked)", 2),
        ("ses-0001", "complaint (abuse)", 1),
    )
    for provider_id, outcome, step in reports:
        at = (T0 + timedelta(days=step, hours=1)).isoformat()
        body = {
            "event_id": f"{provider_id}:{outcome}",
            "source": "ses" if provider_id.startswith("ses") else "sns",
            "kind": DELIVERY_REPORT,
            "fact": "",
            "occurred_at": at,
            "recorded_at": at,
            "summary": f"step {step}: {outcome}",
            "effect": "",
            "provider_message_id": provider_id,
            "outcome": outcome,
            "step": step,
        }
        entries.append(AuditEntry.after(entries[-1], body))
    return entries


def _dunning() -> Dunning:
    sent = (
        SentMessage(0, "email", T0 + timedelta(days=1), "ses-0001", "friendly", 189_900, "USD"),
        SentMessage(1, "sms", T0 + timedelta(days=4), "sns-0002", "firm", 189_900, "USD"),
        SentMessage(2, "unknown", T0 + timedelta(days=8), None, "firm_sms", 189_900, "USD"),
    )
    return Dunning(DunningStatus.AWAITING_ESCALATION, next_step=3, sent=sent)


SCREENING = {
    "history": [
        {
            "at": "2026-11-02T15:01:00+00:00",
            "score": 72,
            "level": "high",
            "reasons": [
                {"rule": "cvc_fail", "weight": 30, "text": "the card's CVC check failed"},
                {"rule": "ip_far", "weight": 42, "text": "IP 8,000 km from the address"},
            ],
            "confidence": 0.9,
            "notes": [],
            "ruleset": "abc123",
        }
    ],
    "decision": "confirmed_fraud",
    "decided_at": "2026-11-05T10:00:00+00:00",
    "decided_by": "owner@demo-electronics.example",
    "note": "customer denies the order",
}


def _inputs(case: Case | None = None, **changes: Any) -> CaseFileInputs:
    case = case or _case()
    audit = _with_reports(_audit(case))
    referral = start_referral(
        ReferralKind.LEGAL,
        at=GENERATED,
        reason="owed 1,899.00 USD ≥ legal minimum 1,000.00 USD",
        owed=Money("USD", 189_900),
        hand_over=EmailHandOver("law@firm.example"),
    )
    fields: dict[str, Any] = {
        "shop": ShopInfo(SHOP, "Demo Electronics", "help@demo-electronics.example"),
        "case": case,
        "dunning": _dunning(),
        "screening": SCREENING,
        "audit": audit,
        "audit_head": audit[-1].hash,
        "contact": ContactState(email_opted_out=True, reasons=("unsubscribed by link",)),
        "message_texts": {
            0: MessageText("Hi Ada, 1,899.00 USD for #1042 is unpaid.", "Order #1042", "test"),
            1: MessageText("Demo Electronics: 1,899.00 USD for #1042 is unpaid. Reply STOP"),
        },
        "referral": referral,
        "generated_at": GENERATED,
    }
    return CaseFileInputs(**(fields | changes))


@pytest.fixture
def record() -> dict[str, Any]:
    return build_record(_inputs())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def signed(record: dict[str, Any], keys: Keys) -> dict[str, Any]:
    """The record signed, as read back from its JSON file."""
    read: dict[str, Any] = json.loads(record_json(sign_record(record, keys.key_id, keys.sign)))
    return read


# --- the record -----------------------------------------------------------------------------


def test_the_record_has_every_section(record: dict[str, Any]) -> None:
    assert set(record) == SECTIONS
    assert record["schema"] == SCHEMA
    assert record["merchant"]["contact_email"] == "help@demo-electronics.example"
    customer = record["customer"]
    assert (customer["name"], customer["email"], customer["phone"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "+14155550123",
    )
    order = record["order"]
    assert order["order_name"] == "#1042"
    assert [i["title"] for i in order["items"]] == ["Laptop Pro 14", "USB-C charger"]
    assert order["items"][1]["line_total"] == {
        "minor": 20_000,
        "currency": "USD",
        "formatted": "200.00 USD",
    }
    assert record["referral"]["kind"] == "legal"
    assert record["referral"]["notification"]["target"] == "law@firm.example"


def test_amounts_are_exact_and_formatted(record: dict[str, Any]) -> None:
    amounts = record["amounts"]
    assert amounts["currency"] == "USD"
    assert amounts["owed"] == {"minor": 189_900, "currency": "USD", "formatted": "1,899.00 USD"}
    # total 1,999.00 - owed 1,899.00 + refunded 100.00: the 200.00 deposit
    assert amounts["paid"]["minor"] == 20_000
    assert amounts["refunded"]["minor"] == 10_000
    assert amounts["order_total"]["minor"] == 199_900
    assert amounts["reconciliation"]["reconciles"] is True


def test_every_attempt_and_message_is_listed_with_its_outcome(record: dict[str, Any]) -> None:
    attempts = record["payment_attempts"]
    assert [(a["attempt_id"], a["succeeded"], a["decline_code"]) for a in attempts] == [
        ("pi_1_declined", False, "insufficient_funds"),
        ("pi_2_deposit", True, None),
    ]
    messages = record["messages"]
    assert [(m["step"], m["channel"], m["provider_message_id"]) for m in messages] == [
        (1, "email", "ses-0001"),
        (2, "sms", "sns-0002"),
        (3, "unknown", None),
    ]
    # From the trail's delivery report entries, in the order they came.
    assert messages[0]["outcome"] == "delivered; complaint (abuse)"
    assert messages[1]["outcome"] == "failed (carrier blocked)"
    assert messages[2]["outcome"].startswith("unknown")


def test_opt_outs_and_undelivered_reminders_are_stated() -> None:
    record = build_record(_inputs())
    reach = record["reachability"]
    assert reach["email_opted_out"] is True
    assert reach["reasons"] == ["unsubscribed by link"]
    assert reach["statement"] == (
        "3 reminder(s) sent; 1 reported delivered (the customer opted out of email)."
    )
    silent = build_record(_inputs(dunning=None, contact=ContactState(sms_opted_out=True)))
    assert silent["reachability"]["statement"] == (
        "No reminder was sent: the reminders could not be delivered "
        "(the customer opted out of SMS)."
    )


def test_fraud_screening_is_quoted(record: dict[str, Any]) -> None:
    fraud = record["fraud"]
    assert fraud["latest"]["score"] == 72
    assert [r["rule"] for r in fraud["latest"]["reasons"]] == ["cvc_fail", "ip_far"]
    assert fraud["decision"] == "confirmed_fraud"
    assert fraud["decided_by"] == "owner@demo-electronics.example"


def test_a_malformed_screening_never_breaks_the_file() -> None:
    odd = {"history": [{"score": "high", "reasons": "none", "notes": 5}, 7], "decision": None}
    fraud = build_record(_inputs(screening=odd))["fraud"]
    assert fraud["screened"] is True
    assert fraud["history"][0]["score"] is None
    assert fraud["history"][0]["reasons"] == []
    assert fraud["history"][0]["notes"] == []
    assert build_record(_inputs(screening=None))["fraud"]["screened"] is False


def test_the_chain_section_quotes_the_head(record: dict[str, Any]) -> None:
    chain = record["chain"]
    assert chain["head"] == record["events"][-1]["hash"]
    assert chain["entries"] == len(record["events"]) == 5 + 3  # five events, three delivery reports
    assert chain["verify_command"] == "recoup verify-chain <file> --public-key <pem>"
    assert chain["verified_when_generated"] is True
    assert "sha256" in chain["algorithm"]


def test_a_broken_trail_is_flagged_when_the_file_is_made() -> None:
    inputs = _inputs()
    audit = list(inputs.audit)
    made = build_record(replace(inputs, audit=audit[:-1]))  # the stored head is the 5th
    assert made["chain"]["verified_when_generated"] is False
    assert "missing at the end" in made["chain"]["problem_when_generated"]


def test_json_html_and_pdf_are_deterministic() -> None:
    a, b = build_record(_inputs()), build_record(_inputs())
    assert record_json(a) == record_json(b)
    assert render_html(a) == render_html(b)
    assert render_pdf(a) == render_pdf(b)
    assert json.loads(record_json(a)) == a


# --- HTML and PDF ---------------------------------------------------------------------------


def test_html_escapes_hostile_text() -> None:
    hostile = "<script>alert(1)</script>"
    record = build_record(_inputs(_case(first_name=hostile, last_name="<b>x</b>")))
    html = render_html(record)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_html_shows_the_sections_a_lawyer_needs(record: dict[str, Any]) -> None:
    html = render_html(record)
    for words in (
        "Case file: legal referral",
        "1,899.00 USD",
        "insufficient_funds",
        "ses-0001",
        "the customer opted out of email",
        "the card&#39;s CVC check failed",
        record["chain"]["head"],
        "recoup verify-chain &lt;file&gt; --public-key &lt;pem&gt;",
        "2026-12-20 09:00:00 UTC",  # times as people read them
    ):
        assert words in html


def test_pdf_is_a_pdf_and_survives_any_unicode() -> None:
    names = ("Zoë Ærøskøbing", "ƒrançois 🚀", "李小龙", "\u202eevil\u0000")
    for first in names:
        pdf = render_pdf(build_record(_inputs(_case(first_name=first))))
        assert pdf.startswith(b"%PDF")
        assert pdf.rstrip().endswith(b"%%EOF")


def test_pdf_creation_date_comes_from_the_record() -> None:
    record = build_record(_inputs())
    later = copy.deepcopy(record)
    later["generated_at"] = "2027-01-01T00:00:00+00:00"
    assert b"D:20261220090000" in render_pdf(record)
    assert render_pdf(record) != render_pdf(later)


def test_latin1_keeps_what_it_can_and_replaces_the_rest() -> None:
    assert latin1("Zoë Müller") == "Zoë Müller"
    assert latin1("ﬁne – “quoted” ≥ 5 €") == 'fine - "quoted" >= 5 EUR'
    assert latin1("ƒ🚀李") == "???"
    assert latin1("a\tb\u0000c\nd") == "a b c\nd"


def test_a_record_with_sections_missing_still_renders() -> None:
    stripped = {"schema": SCHEMA, "generated_at": "not a date", "events": [{"body": 3}]}
    assert render_pdf(stripped).startswith(b"%PDF")


# --- the demand letter ----------------------------------------------------------------------


def test_the_demand_letter_states_amount_dates_and_how_to_pay(record: dict[str, Any]) -> None:
    letter = render_demand_letter(record, issued_on=date(2026, 12, 20))
    for text in (letter.html, letter.text):
        assert "Demo Electronics" in text
        assert "Ada Lovelace" in text
        assert "#1042" in text
        assert "1.899,00\xa0$" in text  # the customer's locale is de-DE
        assert "20. Dezember 2026" in text
        assert "3. Januar 2027" in text  # the default deadline: 14 days
        assert "https://demo-electronics.example/orders/1042/pay" in text


def test_the_demand_letter_escapes_hostile_names() -> None:
    record = build_record(_inputs(_case(first_name="<img src=x onerror=alert(1)>")))
    letter = render_demand_letter(record, issued_on=date(2026, 12, 20))
    assert "<img" not in letter.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in letter.html
    assert "<img src=x onerror=alert(1)>" in letter.text  # plain text is not HTML


def test_the_demand_letter_needs_a_later_deadline_and_an_amount(record: dict[str, Any]) -> None:
    with pytest.raises(LetterError, match="must come after"):
        render_demand_letter(record, issued_on=date(2026, 12, 20), deadline=date(2026, 12, 20))
    unpaid = copy.deepcopy(record)
    unpaid["amounts"]["owed"] = None
    with pytest.raises(LetterError, match="no amount owed"):
        render_demand_letter(unpaid, issued_on=date(2026, 12, 20))


# --- the seal: digest of the whole record, signed ------------------------------------------


def _verify(record: dict[str, Any], keys: Keys) -> FileReport:
    return verify_record(record, openssl_check(keys.public))


def _rechain(record: dict[str, Any]) -> None:
    """What a forger does after editing an entry: recompute every hash and the head."""
    entries: list[AuditEntry] = []
    for event in record["events"]:
        entries.append(AuditEntry.after(entries[-1] if entries else None, event["body"]))
    record["events"] = [
        {"seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "body": e.body} for e in entries
    ]
    record["chain"]["head"] = entries[-1].hash


def test_a_signed_file_verifies_with_the_public_key_alone(
    signed: dict[str, Any], keys: Keys
) -> None:
    report = _verify(signed, keys)
    assert report.ok, report.problem
    seal = signed["signature"]
    assert (seal["algorithm"], seal["key_spec"], seal["key_id"]) == (
        "ECDSA_SHA_256",
        "ECC_NIST_P256",
        keys.key_id,
    )
    assert report.record_sha256 == seal["record_sha256"]
    assert f"chain-head: {signed['chain']['head']}" in seal["signed"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("amounts", "owed", "minor"), 1),
        (("amounts", "paid", "minor"), 0),
        (("customer", "postal_address", "line1"), "1 Elsewhere Road"),
        (("customer", "email"), "someone-else@example.com"),
        (("messages", 0, "text"), "Hi Ada, nothing is owed."),
        (("messages", 1, "provider_message_id"), "sns-9999"),
        (("referral", "kind"), "agency"),
        (("order", "items", 0, "unit_price", "minor"), 1),
        (("order", "charges", "lines", 0, "amount", "minor"), 1_500),
        (("customer", "postal_address", "line2"), "Flat 2"),
        (("payment_attempts", 1, "succeeded"), False),
        (("reachability", "email_opted_out"), False),
    ],
)
def test_editing_any_field_fails_verification(
    signed: dict[str, Any], keys: Keys, path: tuple[Any, ...], value: Any
) -> None:
    # Given a signed file with one field edited after signing
    target = reduce(lambda node, key: node[key], path[:-1], signed)
    assert target[path[-1]] != value
    target[path[-1]] = value
    # When verified / Then the record no longer matches what was signed
    report = _verify(signed, keys)
    assert not report.ok
    assert "differs from what was signed" in (report.problem or "")


def test_re_chaining_after_an_edit_fails_verification(signed: dict[str, Any], keys: Keys) -> None:
    # Given an entry edited and the chain recomputed around it (the chain alone checks out)
    signed["events"][2]["body"]["summary"] = "customer paid in full"
    _rechain(signed)
    assert verify_chain_section(signed).ok
    # When verified / Then the signed statement names another digest and head
    assert "differs from what was signed" in (_verify(signed, keys).problem or "")
    # And rewriting the statement too leaves a signature that no longer verifies
    signed["signature"]["signed"] = statement(signed, keys.key_id).decode()
    report = _verify(signed, keys)
    assert not report.ok
    assert "signature does not verify" in (report.problem or "")


def test_a_file_signed_with_another_key_fails(
    record: dict[str, Any], keys: Keys, tmp_path: Path
) -> None:
    forger = make_keys(tmp_path)
    forged = sign_record(record, keys.key_id, forger.sign)  # claims the real key's id
    assert not _verify(forged, keys).ok
    assert _verify(forged, forger).ok  # the forger's own key would accept it


def test_removing_the_signature_fails(signed: dict[str, Any], keys: Keys) -> None:
    del signed["signature"]
    report = _verify(signed, keys)
    assert not report.ok
    assert report.problem == "the file carries no signature"


def test_without_a_public_key_nothing_is_trusted(signed: dict[str, Any]) -> None:
    report = verify_record(signed, None)
    assert not report.ok
    assert "no public key" in (report.problem or "")


def test_amounts_that_do_not_reconcile_fail_even_when_signed(
    record: dict[str, Any], keys: Keys
) -> None:
    # Given a record whose paid amount contradicts its total, owed and refunds, then signed
    record["amounts"]["paid"]["minor"] = 0
    forged = sign_record(record, keys.key_id, keys.sign)
    # When verified / Then the signature holds but the amounts fail
    report = _verify(forged, keys)
    assert not report.ok
    assert report.problem == "amounts: owed 189900 != order total 199900 - paid 0 + refunded 10000"


def test_a_partly_paid_order_states_what_was_paid() -> None:
    # Given a Shopify order partly paid at the shop: 1,999.00, 1,199.00 still outstanding,
    # and no payment attempt Recoup saw
    snapshot = replace(
        _snapshot("Ada", "Lovelace", owed=119_900), financial_status="partially_paid"
    )
    case = apply(new_case(SHOP, ORDER), _event("created", Fact.UNPAID, 0, snapshot)).case
    # When the file is built
    amounts = build_record(_inputs(case))["amounts"]
    # Then "paid" is the 800.00 the order was paid, and the amounts reconcile
    assert amounts["paid"]["formatted"] == "800.00 USD"
    assert amounts["paid_by_attempts"]["minor"] == 0
    assert amounts["reconciliation"]["reconciles"] is True


def test_messages_carry_their_words_and_the_customer_their_address(
    record: dict[str, Any],
) -> None:
    messages = record["messages"]
    assert messages[0]["subject"] == "Order #1042"
    assert messages[0]["text"] == "Hi Ada, 1,899.00 USD for #1042 is unpaid."
    assert messages[1]["text"].endswith("Reply STOP")
    assert messages[2]["text"] is None  # the unknown outcome: no words to show
    assert record["customer"]["postal_address"]["zip"] == "10115"
    actions = [a["action"] for a in record["customer_actions"]]
    assert actions == [
        "tried to pay; the payment failed",
        "paid",
        "opted out of email",
    ]


# --- verifying the chain --------------------------------------------------------------------


def test_an_intact_chain_verifies(record: dict[str, Any]) -> None:
    report = verify_chain_section(json.loads(record_json(record)))
    assert report.ok
    assert report.entries == 8
    assert report.head == record["chain"]["head"]


def test_an_edited_body_is_caught(record: dict[str, Any]) -> None:
    record["events"][2]["body"]["summary"] = "customer paid in full"
    report = verify_chain_section(record)
    assert not report.ok
    assert report.problem == "entry 3: content changed"


def test_a_removed_entry_in_the_middle_is_caught(record: dict[str, Any]) -> None:
    del record["events"][2]
    record["chain"]["entries"] = 7  # even with the count adjusted
    report = verify_chain_section(record)
    assert not report.ok
    assert report.problem == "entry 4: expected 3"


def test_a_removed_last_entry_is_caught_by_the_head(record: dict[str, Any]) -> None:
    del record["events"][-1]
    record["chain"]["entries"] = 7
    report = verify_chain_section(record)
    assert not report.ok
    assert "chain head differs" in (report.problem or "")


def test_an_edited_delivery_report_is_caught(record: dict[str, Any]) -> None:
    """A report on the trail is what the file's message outcome says: changing one (a
    bounce made a delivery) breaks the chain, and re-deriving the outcome cannot hide it."""
    report_entry = record["events"][6]
    assert report_entry["body"]["outcome"] == "failed (carrier blocked)"
    report_entry["body"]["outcome"] = "delivered"
    report = verify_chain_section(record)
    assert not report.ok
    assert report.problem == "entry 7: content changed"


def test_two_swapped_entries_are_caught(record: dict[str, Any]) -> None:
    events = record["events"]
    events[1], events[2] = events[2], events[1]
    report = verify_chain_section(record)
    assert not report.ok
    assert report.problem == "entry 3: expected 2"


def test_a_wrong_entry_count_or_a_malformed_file_is_caught(record: dict[str, Any]) -> None:
    record["chain"]["entries"] = 6
    assert "states 6 entries but holds 8" in (verify_chain_section(record).problem or "")
    assert verify_document(b"not json", None).problem is not None
    assert verify_document(b"[]", None).problem == "not a case file: the JSON is not an object"
    assert verify_chain_section({"events": [{"seq": "1"}], "chain": {}}).ok is False


# --- the command ----------------------------------------------------------------------------


def _run_cli(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    public_key: Path,
) -> tuple[int, str]:
    # main() sets these defaults for the console; set them here so the test leaves no trace.
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    code = main(["verify-chain", str(path), "--public-key", str(public_key)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_command_verifies_a_signed_file(
    signed: dict[str, Any],
    keys: Keys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(record_json(signed))
    code, out = _run_cli(path, monkeypatch, capsys, keys.public)
    assert code == 0, out
    assert "OK" in out
    assert signed["chain"]["head"] in out
    assert signed["signature"]["record_sha256"] in out


def test_the_command_fails_on_a_tampered_file(
    signed: dict[str, Any],
    keys: Keys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed["events"][0]["body"]["effect"] = "case paid"
    path = tmp_path / "record.json"
    path.write_bytes(record_json(signed))
    code, out = _run_cli(path, monkeypatch, capsys, keys.public)
    assert code == 1
    assert "entry 1: content changed" in out
    code, out = _run_cli(tmp_path / "missing.json", monkeypatch, capsys, keys.public)
    assert code == 1
    assert "missing.json" in out


def test_html_and_pdf_show_the_words_address_charges_and_seal(signed: dict[str, Any]) -> None:
    html = render_html(signed)
    for words in (
        "Hi Ada, 1,899.00 USD for #1042 is unpaid.",
        "10115",
        "Free shipping",
        signed["signature"]["record_sha256"],
        "owed = order_total - paid + refunded",
    ):
        assert words in html
    assert render_pdf(signed).startswith(b"%PDF")
