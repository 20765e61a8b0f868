"""The raw MIME message of a reminder email, as SES v2 `SendEmail` (`Content.Raw`) sends it.

multipart/alternative with the plain text first and the HTML second (clients show the last
part they can render), both UTF-8 and quoted-printable (so no line exceeds SMTP's limit),
with the RFC 8058 one-click unsubscribe headers. Every value that ends up in a header is
checked first: a CR or LF anywhere (addresses, names, subject, URLs, extra headers) is
refused, so a shop name or template can never add a header or a body of its own.

Addresses are validated with email_validator and written in ASCII (the domain as IDNA):
SES does not accept SMTPUTF8, so a non-ASCII local part is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid

from email_validator import EmailNotValidError, validate_email

from recoup.channels.render import RenderedEmail

__all__ = ["address_problem", "build_email", "build_notice"]

# RFC 5321 allows 998 characters on a line; keep a URL well inside it with its header name.
MAX_URL_CHARS = 900
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ':'
_URL_FORBIDDEN = re.compile(r"[\s<>,\"\x00-\x1f\x7f]")
# Headers build_email sets itself: extra_headers may not replace them.
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "sender",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


class _UrlListHeader(UnstructuredHeader, BaseHeader):
    """`List-Unsubscribe`: a list of `<URL>`s (RFC 2369), written verbatim.

    The standard folding would turn a URL longer than a line into RFC 2047 encoded words,
    which no mailbox provider decodes in this header: here the header is only folded between
    its URLs, and each URL is checked to be ASCII and short enough for one line.
    """

    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        separator = "," + policy.linesep + " "
        return f"{self.name}: {separator.join(value.split(', '))}{policy.linesep}"


def _policy() -> Policy:
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", _UrlListHeader)
    return email_policy.SMTP.clone(header_factory=registry)


_SMTP = _policy()


def _no_line_breaks(what: str, value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    if "\r" in value or "\n" in value:
        raise ValueError(f"header injection refused: {what} contains a line break")
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value


def _address(what: str, value: str) -> str:
    _no_line_breaks(what, value)
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"{what} {value!r} is not a valid email address: {error}") from None
    return info.ascii_email or info.normalized


def address_problem(value: str) -> str | None:
    """Why `value` cannot be a recipient of `build_email` (None: it can), in words that do
    not repeat the address (they go on the case's trail and into logs)."""
    try:
        _address("to_address", value)
    except ValueError:
        local = value.rpartition("@")[0]
        if not local.isascii():
            return "non-ASCII characters before the @, which SES cannot send (no SMTPUTF8)"
        if any(c in value for c in "\r\n\x00"):
            return "a line break or NUL character in the address"
        return "not a valid email address"
    return None


# RFC 8058 wants https; the local stack serves its unsubscribe page on loopback http.
_LOOPBACK = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


def _url(what: str, value: str, scheme: str) -> str:
    _no_line_breaks(what, value)
    loopback = scheme == "https://" and value.lower().startswith(_LOOPBACK)
    if not value.lower().startswith(scheme) and not loopback:
        raise ValueError(f"{what} must start with {scheme!r}, got {value!r}")
    if not value.isascii() or _URL_FORBIDDEN.search(value):
        raise ValueError(
            f"{what} must be ASCII without spaces, quotes, '<', '>' or ',' (percent-encode them)"
        )
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"{what} is {len(value)} characters; the maximum is {MAX_URL_CHARS}")
    return value


def build_email(
    rendered: RenderedEmail,
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    reply_to: str | None,
    list_unsubscribe_url: str,
    list_unsubscribe_mailto: str | None,
    message_id_domain: str,
    extra_headers: Mapping[str, str] = {},  # read only, never mutated
) -> bytes:
    """The reminder as RFC 5322 bytes (CRLF line ends); ValueError on any unsafe value."""
    message = _envelope(rendered, from_address, from_name, to_address, message_id_domain)
    reply = _address("reply_to", reply_to) if reply_to is not None else None
    unsubscribe = _url("list_unsubscribe_url", list_unsubscribe_url, "https://")
    mailto = (
        _url("list_unsubscribe_mailto", list_unsubscribe_mailto, "mailto:")
        if list_unsubscribe_mailto is not None
        else None
    )
    extras = _extra_headers(extra_headers)
    if reply is not None:
        message["Reply-To"] = Address(addr_spec=reply)
    message["List-Unsubscribe"] = ", ".join(
        f"<{url}>" for url in (unsubscribe, mailto) if url is not None
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for header, value in extras:
        message[header] = value
    return _with_parts(message, rendered)


def build_notice(
    rendered: RenderedEmail,
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    message_id_domain: str,
) -> bytes:
    """A one-to-one service email to a merchant (a data export is ready): the checks and
    encodings of a reminder, without the list headers, which are for bulk mail (RFC 8058)."""
    message = _envelope(rendered, from_address, from_name, to_address, message_id_domain)
    return _with_parts(message, rendered)


def _envelope(
    rendered: RenderedEmail,
    from_address: str,
    from_name: str,
    to_address: str,
    message_id_domain: str,
) -> EmailMessage:
    """From, To, Subject, Date and Message-ID, each checked first."""
    sender = _address("from_address", from_address)
    recipient = _address("to_address", to_address)
    name = _no_line_breaks("from_name", from_name).strip()
    subject = _no_line_breaks("subject", rendered.subject).strip()
    if not subject:
        raise ValueError("subject is empty")
    _no_line_breaks("message_id_domain", message_id_domain)
    if not _HOSTNAME.fullmatch(message_id_domain):
        raise ValueError(f"message_id_domain {message_id_domain!r} is not a host name")
    message = EmailMessage(policy=_SMTP)
    message["From"] = Address(display_name=name, addr_spec=sender)
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    return message


def _with_parts(message: EmailMessage, rendered: RenderedEmail) -> bytes:
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes(policy=_SMTP)


def _extra_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    checked: list[tuple[str, str]] = []
    for header, value in headers.items():
        _no_line_breaks("extra header name", header)
        if not _HEADER_NAME.fullmatch(header):
            raise ValueError(f"extra header name {header!r} is not a valid header name")
        if header.lower() in _OWN_HEADERS:
            raise ValueError(f"extra header {header!r} would replace a header build_email sets")
        checked.append((header, _no_line_breaks(f"extra header {header!r}", value)))
    return checked
