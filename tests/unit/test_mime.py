"""The raw MIME message of a reminder: headers, parts, encodings, and refused injections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from recoup.channels.mime import address_problem, build_email
from recoup.channels.render import MessageContext, RenderedEmail, render_email
from recoup.domain.money import Money

UNSUBSCRIBE = "https://recoup.example/u/tok_1042?shop=demo&case=1042"
MAILTO = "mailto:unsubscribe+tok_1042@recoup.example?subject=unsubscribe"
RENDERED = RenderedEmail(
    subject="Bücher & Söhne: Zahlung für Bestellung #1042 — bitte prüfen",
    html='<p>Hallo Zoë, offen: <strong>2.191,46\xa0€</strong></p>\n<a href="x">Zahlen</a>\n',
    text="Hallo Zoë,\noffen: 2.191,46\xa0€\n",
    template="email/firm",
)


def build(rendered: RenderedEmail = RENDERED, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_address": "reminders@mail.recoup.example",
        "from_name": "Bücher & Söhne",
        "to_address": "kunde@example.de",
        "reply_to": "hilfe@buecher-soehne.example",
        "list_unsubscribe_url": UNSUBSCRIBE,
        "list_unsubscribe_mailto": MAILTO,
        "message_id_domain": "mail.recoup.example",
        "extra_headers": {"X-Recoup-Case": "1042"},
    }
    arguments.update(changes)
    return build_email(rendered, **arguments)


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_survive_a_round_trip() -> None:
    # Given a rendered reminder / When built and parsed back
    raw = build()
    message = parse(raw)
    # Then every header reads back as given
    assert message["From"].addresses[0].display_name == "Bücher & Söhne"
    assert message["From"].addresses[0].addr_spec == "reminders@mail.recoup.example"
    assert str(message["To"]) == "kunde@example.de"
    assert str(message["Reply-To"]) == "hilfe@buecher-soehne.example"
    assert str(message["Subject"]) == RENDERED.subject
    assert str(message["List-Unsubscribe"]) == f"<{UNSUBSCRIBE}>, <{MAILTO}>"
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["X-Recoup-Case"]) == "1042"
    assert str(message["MIME-Version"]) == "1.0"
    # And the Date is now, with a time zone
    sent = parsedate_to_datetime(str(message["Date"]))
    assert sent.tzinfo is not None
    assert abs(datetime.now(UTC) - sent) < timedelta(minutes=1)
    # And the Message-ID is unique and in our domain
    assert str(message["Message-ID"]).startswith("<")
    assert str(message["Message-ID"]).endswith("@mail.recoup.example>")
    assert parse(build())["Message-ID"] != message["Message-ID"]


def test_non_ascii_name_and_subject_are_encoded_words() -> None:
    # Given a shop name and subject with umlauts and a dash
    raw = build()
    # Then the raw message is 7-bit ASCII with CRLF line ends
    assert raw.isascii()
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    # And the name and subject are RFC 2047 encoded, never raw UTF-8
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"From: =?utf-8?")
    assert b"Subject: =?utf-8?" in head
    # And no header line exceeds the 998 characters SMTP allows
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_body_is_multipart_alternative_text_then_html() -> None:
    # Given a rendered reminder / When built and parsed back
    message = parse(build())
    # Then it is multipart/alternative with the text first and the HTML last
    assert message.get_content_type() == "multipart/alternative"
    text, html = list(message.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    # And both are UTF-8, quoted-printable, and decode to exactly what was rendered
    for part, expected in ((text, RENDERED.text), (html, RENDERED.html)):
        assert isinstance(part, EmailMessage)
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content().replace("\r\n", "\n") == expected


def test_optional_headers_are_left_out() -> None:
    # Given no Reply-To, no mailto unsubscribe and no extra headers
    message = parse(build(reply_to=None, list_unsubscribe_mailto=None, extra_headers={}))
    # Then there is no Reply-To and List-Unsubscribe holds the https link only
    assert message["Reply-To"] is None
    assert str(message["List-Unsubscribe"]) == f"<{UNSUBSCRIBE}>"
    assert message["X-Recoup-Case"] is None


def test_a_long_unsubscribe_link_is_written_verbatim() -> None:
    # Given an unsubscribe link longer than a folded header line
    url = "https://recoup.example/u/" + "t" * 400
    raw = build(list_unsubscribe_url=url)
    # Then it is in the raw header whole (not encoded words, which clients do not decode)
    assert f"List-Unsubscribe: <{url}>,\r\n <{MAILTO}>\r\n".encode() in raw
    assert str(parse(raw)["List-Unsubscribe"]) == f"<{url}>, <{MAILTO}>"


def test_internationalised_domain_is_written_as_idna() -> None:
    # Given a recipient at a non-ASCII domain / When built
    message = parse(build(to_address="kunde@bücher.example"))
    # Then the domain is in its ASCII (punycode) form, as SES requires
    assert str(message["To"]) == "kunde@xn--bcher-kva.example"


def test_a_rendered_reminder_builds_end_to_end() -> None:
    # Given a reminder rendered from the shipped templates
    ctx = MessageContext(
        shop_name="Démo Électronique",
        order_name="#1042",
        amount_owed=Money("EUR", 219146),
        unsubscribe_url=UNSUBSCRIBE,
        tone="firm",
        locale="de-DE",
        pay_url="https://pay.example/p/1042",
    )
    rendered = render_email(ctx)
    # When built and parsed back
    message = parse(build(rendered, from_name=ctx.shop_name))
    # Then the subject (in the customer's German) and both parts are the rendered ones
    assert str(message["Subject"]) == "Démo Électronique: Bestellung #1042 ist noch nicht bezahlt"
    text, html = list(message.iter_parts())
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert "2.191,46\xa0€" in text.get_content()
    assert "https://pay.example/p/1042" in html.get_content()


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"from_name": "Shop\r\nBcc: victim@example.com"}, "from_name"),
        ({"from_name": "Shop\nBcc: victim@example.com"}, "from_name"),
        ({"to_address": "a@example.com\r\nBcc: victim@example.com"}, "to_address"),
        ({"from_address": "a@example.com\nX: y"}, "from_address"),
        ({"reply_to": "a@example.com\rBcc: victim@example.com"}, "reply_to"),
        ({"list_unsubscribe_url": "https://x.example/u\r\nBcc: v@example.com"}, "list_unsub"),
        ({"list_unsubscribe_mailto": "mailto:u@x.example\nBcc: v@example.com"}, "list_unsub"),
        ({"message_id_domain": "x.example\r\nBcc: v@example.com"}, "message_id_domain"),
        ({"extra_headers": {"X-Case": "1\r\nBcc: victim@example.com"}}, "X-Case"),
        ({"extra_headers": {"X-Case\r\nBcc": "victim@example.com"}}, "extra header name"),
    ],
)
def test_line_breaks_in_any_header_value_are_refused(changes: dict[str, Any], what: str) -> None:
    # Given a value with a CR or LF that would start a new header / Then it is refused
    with pytest.raises(ValueError, match="header injection refused") as refused:
        build(**changes)
    assert what in str(refused.value)


def test_line_break_in_the_subject_is_refused() -> None:
    # Given a rendered email whose subject carries a header
    rendered = RenderedEmail(
        subject="Hello\r\nBcc: victim@example.com", html="<p>x</p>", text="x\n", template="t"
    )
    # When built / Then it is refused
    with pytest.raises(ValueError, match="header injection refused: subject"):
        build(rendered)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"to_address": "not-an-address"}, "not a valid email address"),
        ({"from_address": "reminders@"}, "not a valid email address"),
        ({"to_address": "zoë@example.com"}, "not a valid email address"),
        ({"reply_to": "a b@example.com"}, "not a valid email address"),
        ({"list_unsubscribe_url": "http://recoup.example/u/1"}, "must start with 'https://'"),
        ({"list_unsubscribe_url": "https://recoup.example/u/1>, <https://evil"}, "ASCII without"),
        ({"list_unsubscribe_url": "https://recoup.example/u/a b"}, "ASCII without"),
        ({"list_unsubscribe_url": "https://recoup.example/" + "u" * 900}, "the maximum is 900"),
        ({"list_unsubscribe_mailto": "u@recoup.example"}, "must start with 'mailto:'"),
        ({"message_id_domain": "not a domain"}, "is not a host name"),
        ({"extra_headers": {"From": "evil@example.com"}}, "would replace a header"),
        ({"extra_headers": {"list-unsubscribe": "<https://evil>"}}, "would replace a header"),
        ({"extra_headers": {"Bad Name": "x"}}, "not a valid header name"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build(**changes)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("ada@example.com", None),
        ("ada@bücher.example", None),  # the domain goes out as IDNA
        ("josé@example.com", "non-ASCII characters before the @"),
        ("not-an-address", "not a valid email address"),
        ("ada@example.com\r\nBcc: x@example.com", "a line break or NUL character"),
    ],
)
def test_address_problem_says_why_an_address_cannot_be_sent_to_without_repeating_it(
    address: str, problem: str | None
) -> None:
    # Given a recipient / When checked before sending / Then the reason, or None when
    # build_email takes it; the reason never contains the address (it goes on the trail)
    found = address_problem(address)
    if problem is None:
        assert found is None
        build(to_address=address)
    else:
        assert found is not None and found.startswith(problem)
        assert address.split("@")[0] not in found
        with pytest.raises(ValueError, match=r"not a valid email address|header injection"):
            build(to_address=address)
