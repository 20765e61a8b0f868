"""The case file as a printable PDF, laid out from the JSON record.

The core Helvetica and Courier hold Latin-1 only: the layer ships no Unicode font, and a
system font would make the bytes depend on the machine. Text outside Latin-1 is
transliterated where Unicode allows ("ﬁ" -> "fi", "–" -> "-", "€" -> "EUR") and otherwise
shown as "?"; the JSON and HTML keep the exact text. The PDF's creation date is the record's
`generated_at`, so the same record always gives the same bytes.

The file is written by `recoup.casefile.pdf_writer`, which makes the bytes fpdf2 2.8 made for
these calls, without importing a PDF library (fpdf2 cost about 30 MB of the escalation
function's memory: docs/performance.md). The page helpers (`CaseFileLayout`) use only the
calls the two share, so tests/unit/test_casefile_pdf.py can draw the same file with fpdf2 and
compare the bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from recoup.casefile.pdf_writer import LMARGIN, NEXT, Document
from recoup.casefile.render import format_when as when

if TYPE_CHECKING:
    _Canvas = Document
else:
    _Canvas = object

_FALLBACK_DATE = datetime(2000, 1, 1, tzinfo=UTC)  # a record without a valid generated_at
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u20ac": "EUR",
        "\u2265": ">=",
        "\u2264": "<=",
        "\u2022": "*",
        "\u2192": "->",
        "\u202f": " ",
    }
)


def latin1(text: object) -> str:
    """`text` as the PDF core fonts can show it: Latin-1, no control characters but newline."""
    out: list[str] = []
    for ch in str(text).translate(_TYPOGRAPHY):
        if ch == "\n" or (ord(ch) < 256 and ch.isprintable()):
            out.append(ch)
        elif ord(ch) < 256 or unicodedata.category(ch).startswith(("C", "Z")):
            out.append(" ")  # control characters and exotic spaces
        else:
            base = unicodedata.normalize("NFKD", ch)
            kept = "".join(c for c in base if ord(c) < 256 and not unicodedata.combining(c))
            out.append(kept if kept.isprintable() and kept else "?")
    return "".join(out)


class CaseFileLayout(_Canvas):
    """The case file's page furniture and text helpers, on a canvas with fpdf2's calls (the
    writer's `Document`, or fpdf2's `FPDF` in the tests)."""

    footer_text = ""

    def setup(self, footer_text: str) -> None:
        self.footer_text = footer_text
        self.set_margins(16, 16, 16)
        self.set_auto_page_break(auto=True, margin=16)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.cell(0, 5, f"{self.footer_text} - page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("helvetica", style="B", size=12)
        self.multi_cell(0, 7, latin1(text), new_x=LMARGIN, new_y=NEXT, align="L")
        self.set_draw_color(150, 150, 150)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1)

    def line_of_text(self, text: object, *, size: float = 10, mono: bool = False) -> None:
        self.set_font("courier" if mono else "helvetica", size=size)
        self.multi_cell(0, size * 0.5, latin1(text), new_x=LMARGIN, new_y=NEXT, align="L")

    def fields(self, pairs: Iterable[tuple[str, object]]) -> None:
        for label, value in pairs:
            shown = "-" if value is None or value == "" else value
            self.line_of_text(f"{label}: {shown}")


class _CaseFilePdf(CaseFileLayout, Document):
    pass


def render_pdf(record: Mapping[str, Any]) -> bytes:
    """The printable PDF of a case-file record (A4, page numbers, reproducible bytes)."""
    pdf = _CaseFilePdf()
    draw(pdf, record)
    return bytes(pdf.output())


def draw(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    """Lay the record out on `pdf` (a fresh canvas), its metadata included."""
    order, merchant, referral = (
        _map(record, "order"),
        _map(record, "merchant"),
        _map(record, "referral"),
    )
    order_name = order.get("order_name") or order.get("case_id")
    pdf.setup(latin1(f"Case file, order {order_name}, {merchant.get('name')}"))
    pdf.set_creation_date(_generated_at(record))
    pdf.set_title(latin1(f"Case file: order {order_name}"))
    pdf.set_author(latin1(merchant.get("name") or ""))
    pdf.set_producer("Recoup")
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=16)
    pdf.multi_cell(
        0,
        9,
        latin1(f"Case file: {referral.get('kind')} referral"),
        new_x=LMARGIN,
        new_y=NEXT,
    )
    pdf.line_of_text(
        f"Order {order_name} (case {order.get('case_id')}) of {merchant.get('name')}. "
        f"Generated {when(record.get('generated_at'))}; format {record.get('schema')}.",
        size=9,
    )
    for section in (
        _referral,
        _parties,
        _order,
        _attempts,
        _messages,
        _reachability,
        _fraud,
        _events,
        _chain,
    ):
        section(pdf, record)


def _map(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    return value if isinstance(value, Mapping) else {}


def _list(record: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = record.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _money(value: object) -> str:
    return str(value.get("formatted")) if isinstance(value, Mapping) else "-"


def _generated_at(record: Mapping[str, Any]) -> datetime:
    try:
        at = datetime.fromisoformat(str(record.get("generated_at")))
    except ValueError:
        return _FALLBACK_DATE
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _referral(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    referral = _map(record, "referral")
    pdf.heading("Referral")
    pdf.fields(
        [
            ("Referred to", referral.get("kind")),
            ("Status", referral.get("status")),
            ("Referred at", when(referral.get("referred_at"))),
            ("Reason", referral.get("reason")),
            ("Amount owed when referred", _money(referral.get("owed"))),
            ("Recovered since", _money(referral.get("recovered"))),
        ]
    )
    for entry in _list(referral, "history"):
        note = f": {entry.get('note')}" if entry.get("note") else ""
        amount = f" {_money(entry.get('amount'))}" if entry.get("amount") else ""
        pdf.line_of_text(f"- {when(entry.get('at'))} {entry.get('status')}{amount}{note}", size=9)


def _parties(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    merchant, customer = _map(record, "merchant"), _map(record, "customer")
    pdf.heading("Merchant")
    pdf.fields(
        [
            ("Name", merchant.get("name")),
            ("Shop", merchant.get("shop_domain")),
            ("Contact", merchant.get("contact_email")),
        ]
    )
    pdf.heading("Customer")
    if not customer.get("known"):
        pdf.line_of_text("The platforms reported no customer details for this order.")
        return
    address = customer.get("postal_address")
    parts = ("line1", "line2", "city", "zip", "province", "country")
    place = (
        ", ".join(str(address[k]) for k in parts if address.get(k))
        if isinstance(address, Mapping)
        else ""
    )
    pdf.fields(
        [
            ("Name", customer.get("name")),
            ("Email", customer.get("email")),
            ("Phone", customer.get("phone")),
            ("Postal address", place),
            ("Language", customer.get("locale")),
            ("Customer id", customer.get("customer_id")),
        ]
    )


def _order(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    order, amounts = _map(record, "order"), _map(record, "amounts")
    pdf.heading("Order and amounts")
    pdf.fields(
        [
            ("Order", f"{order.get('order_name') or '-'} (case {order.get('case_id')})"),
            ("Case status", order.get("status")),
            ("Unpaid since", when(order.get("opened_at"))),
            ("Payment status", order.get("financial_status")),
            ("Order total", _money(order.get("order_total"))),
            ("Owed", _money(amounts.get("owed"))),
            ("Paid", _money(amounts.get("paid"))),
            ("Refunded", _money(amounts.get("refunded"))),
        ]
    )
    for item in _list(order, "items"):
        sku = f" [{item.get('sku')}]" if item.get("sku") else ""
        pdf.line_of_text(
            f"- {item.get('quantity')} x {item.get('title')}{sku}: "
            f"{_money(item.get('unit_price'))} each, {_money(item.get('line_total'))}",
            size=9,
        )


def _attempts(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    pdf.heading("Payment attempts")
    attempts = _list(record, "payment_attempts")
    if not attempts:
        pdf.line_of_text("No payment attempt was reported.")
    for a in attempts:
        result = "succeeded" if a.get("succeeded") else "failed"
        code = f", decline code {a.get('decline_code')}" if a.get("decline_code") else ""
        message = f" ({a.get('message')})" if a.get("message") else ""
        pdf.line_of_text(
            f"- {when(a.get('at'))} {a.get('provider')} {result} {_money(a.get('amount'))}"
            f"{code}{message}; attempt {a.get('attempt_id')}",
            size=9,
        )


def _messages(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    pdf.heading("Messages sent")
    messages = _list(record, "messages")
    if not messages:
        pdf.line_of_text("No reminder was sent.")
    for m in messages:
        pdf.line_of_text(
            f"- step {m.get('step')}, {when(m.get('at'))}, {m.get('channel')} "
            f"({m.get('template')}), stating {_money(m.get('amount'))}: {m.get('outcome')}; "
            f"provider message id {m.get('provider_message_id') or '-'}",
            size=9,
        )
        if m.get("text"):
            subject = f"Subject: {m.get('subject')}\n" if m.get("subject") else ""
            pdf.line_of_text(f"{subject}{m.get('text')}", size=8)
            pdf.line_of_text(f"({m.get('text_source')})", size=7)


def _reachability(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    reach = _map(record, "reachability")
    pdf.heading("Opt-outs and delivery")
    pdf.line_of_text(reach.get("statement"))
    pdf.fields(
        [
            ("Opted out of email", _yes(reach.get("email_opted_out"))),
            ("Email suppressed", _yes(reach.get("email_suppressed"))),
            ("Opted out of SMS", _yes(reach.get("sms_opted_out"))),
        ]
    )
    reasons = reach.get("reasons")
    for reason in reasons if isinstance(reasons, list) else ():
        pdf.line_of_text(f"- {reason}", size=9)


def _fraud(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    fraud = _map(record, "fraud")
    pdf.heading("Fraud")
    decision = fraud.get("decision") or "none"
    if fraud.get("decided_at"):
        decision += f", {when(fraud.get('decided_at'))}"
    if fraud.get("decided_by"):
        decision += f" by {fraud.get('decided_by')}"
    if fraud.get("note"):
        decision += f": {fraud.get('note')}"
    pdf.fields(
        [
            ("Dispute open", _yes(fraud.get("dispute_open"))),
            ("Issuer fraud warning", _yes(fraud.get("issuer_fraud_warning"))),
            ("Merchant's decision", decision),
        ]
    )
    if not fraud.get("screened"):
        pdf.line_of_text("The order was not screened.")
    for score in _list(fraud, "history"):
        reasons = "; ".join(f"{r.get('text')} ({r.get('weight')})" for r in _list(score, "reasons"))
        pdf.line_of_text(
            f"- {when(score.get('at'))}: score {score.get('score')} ({score.get('level')})"
            + (f": {reasons}" if reasons else ""),
            size=9,
        )


def _events(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    pdf.heading("Event history")
    for event in _list(record, "events"):
        body = event.get("body")
        body = body if isinstance(body, Mapping) else {}
        effect = f" - {body.get('effect')}" if body.get("effect") else ""
        pdf.line_of_text(
            f"#{event.get('seq')} {when(body.get('occurred_at'))} {body.get('source')} "
            f"{body.get('kind')}: {body.get('summary')}{effect}",
            size=9,
        )
        pdf.line_of_text(f"hash {event.get('hash')}", size=7, mono=True)


def _chain(pdf: CaseFileLayout, record: Mapping[str, Any]) -> None:
    chain = _map(record, "chain")
    pdf.heading("Verifying this file")
    pdf.line_of_text(
        "Each event carries the hash of the one before it, so changing, removing or reordering "
        "any of them changes every hash after it and the last one, the chain head."
    )
    pdf.fields([("Entries", chain.get("entries")), ("Algorithm", chain.get("algorithm"))])
    pdf.line_of_text(f"Chain head: {chain.get('head')}", size=8, mono=True)
    pdf.line_of_text(f"Check: {chain.get('verify_command')}", size=8, mono=True)
    verified = chain.get("verified_when_generated")
    problem = chain.get("problem_when_generated")
    pdf.fields([("When generated", "verified" if verified else f"NOT verified: {problem}")])
    seal = _map(record, "signature")
    if seal:
        pdf.line_of_text(
            "The whole record (the JSON without its signature) has one SHA-256 digest; the "
            "digest and the chain head are signed (record.signed, record.sig) with this key."
        )
        pdf.line_of_text(f"Record SHA-256: {seal.get('record_sha256')}", size=8, mono=True)
        pdf.line_of_text(f"Key: {seal.get('key_id')} ({seal.get('algorithm')})", size=8, mono=True)


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


__all__ = ["CaseFileLayout", "draw", "latin1", "render_pdf"]
