"""Signed, expiring links: the unsubscribe link of every email (RFC 8058 one-click), and the
pay link of every reminder.

An unsubscribe token names the shop and the hash of the address (never the address itself);
a pay token names the shop and the case. Each expires, and is an HMAC-SHA256 under the link
secret, checked in constant time; a pay token's MAC covers a purpose prefix too, so one kind
of token never passes for the other.

A customer's page token (`sign_page`) names nothing by itself: 24 base64url characters, a
random link id and a truncated HMAC of it, short enough for an SMS; what it opens, and until
when, is kept server-side (store/case_pages.py). The page's forms carry a token bound to
that link id (`sign_form`), valid for two hours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets as random_bytes
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

UNSUBSCRIBE_LIFETIME = timedelta(days=90)
# Long enough for a customer who opens the first reminder weeks later; the page re-reads the
# case on every click, so a paid, cancelled or referred case answers with a page, not a payment.
PAY_LIFETIME = timedelta(days=180)
_PAY_CONTEXT = b"recoup-pay\n"
# The token of the links in previews and test messages (no case, no address): their pages say
# so instead of acting. No signed token can equal it (those hold a "." between two parts).
SAMPLE_TOKEN = "sample"  # noqa: S105 (a placeholder, not a secret)


class InvalidLink(ValueError):
    """The token was forged, changed or has expired."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    shop: str
    contact: str  # recoup.store.contacts.contact_hash of the address
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_unsubscribe(shop: str, contact: str, *, now: datetime, secret: str) -> str:
    payload = json.dumps(
        {"s": shop, "c": contact, "e": int((now + UNSUBSCRIBE_LIFETIME).timestamp())},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe?t={quote(token)}"


def verify_unsubscribe(token: str, *, now: datetime, secrets: Iterable[str]) -> Unsubscribe:
    data, expires = _verified(token, b"", now, secrets)
    return Unsubscribe(shop=str(data["s"]), contact=str(data["c"]), expires=expires)


def _verified(
    token: str, context: bytes, now: datetime, secrets: Iterable[str]
) -> tuple[dict[str, object], datetime]:
    """The token's payload and expiry, once its MAC (over `context` + payload) matches one of
    the secrets and it has not expired."""
    try:
        payload_text, mac_text = token.split(".", 1)
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidLink("the link is malformed") from None
    if not any(
        hmac.compare_digest(hmac.new(s.encode(), context + payload, hashlib.sha256).digest(), mac)
        for s in secrets
    ):
        raise InvalidLink("the link's signature does not match")
    data = json.loads(payload)
    expires = datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo)
    if expires < now:
        raise InvalidLink("the link has expired")
    return data, expires


@dataclass(frozen=True, slots=True)
class PayLink:
    shop: str
    case_id: str
    expires: datetime


def sign_pay(shop: str, case_id: str, *, now: datetime, secret: str) -> str:
    payload = json.dumps(
        {"s": shop, "c": case_id, "e": int((now + PAY_LIFETIME).timestamp())},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret.encode(), _PAY_CONTEXT + payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def pay_url(base_url: str, token: str) -> str:
    return f"{base_url}/pay/{quote(token)}"


def verify_pay(token: str, *, now: datetime, secrets: Iterable[str]) -> PayLink:
    data, expires = _verified(token, _PAY_CONTEXT, now, secrets)
    return PayLink(shop=str(data["s"]), case_id=str(data["c"]), expires=expires)


# ------------------------------------------------------------------ the customer's page

PAGE_ID_BYTES = 9  # 72 random bits: never guessed, never repeated
PAGE_MAC_BYTES = 9  # 72 bits of HMAC: a forged token is refused before any table read
PAGE_TOKEN_CHARS = 4 * (PAGE_ID_BYTES + PAGE_MAC_BYTES) // 3  # 24
_PAGE_CONTEXT = b"recoup-page\n"
_FORM_CONTEXT = b"recoup-page-form\n"
_PAGE_TOKEN = re.compile(f"[A-Za-z0-9_-]{{{PAGE_TOKEN_CHARS}}}")
FORM_LIFETIME = timedelta(hours=2)


def new_page_id() -> str:
    """A fresh link id (base64url, 12 characters)."""
    return _b64(random_bytes.token_bytes(PAGE_ID_BYTES))


def _page_mac(secret: str, link_id: bytes) -> bytes:
    return hmac.new(secret.encode(), _PAGE_CONTEXT + link_id, hashlib.sha256).digest()[
        :PAGE_MAC_BYTES
    ]


def sign_page(link_id: str, *, secret: str) -> str:
    raw = _unb64(link_id)
    if len(raw) != PAGE_ID_BYTES:
        raise ValueError("a page link id is 9 bytes")
    return _b64(raw + _page_mac(secret, raw))


def page_url(base_url: str, token: str) -> str:
    return f"{base_url}/c/{token}"


def verify_page(token: str, *, secrets: Iterable[str]) -> str:
    """The link id a page token stands for, once its MAC matches one of the secrets (no
    expiry here: the stored link says until when it opens its case)."""
    if not _PAGE_TOKEN.fullmatch(token):
        raise InvalidLink("the link is malformed")
    raw = base64.urlsafe_b64decode(token.encode())
    link_id, mac = raw[:PAGE_ID_BYTES], raw[PAGE_ID_BYTES:]
    if not any(hmac.compare_digest(_page_mac(s, link_id), mac) for s in secrets):
        raise InvalidLink("the link's signature does not match")
    return _b64(link_id)


def _form_mac(secret: str, link_id: str, issued: int) -> bytes:
    message = _FORM_CONTEXT + f"{link_id}|{issued}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def sign_form(link_id: str, *, now: datetime, secret: str) -> str:
    """The token a page's forms carry: bound to the link id and the time it was issued."""
    issued = int(now.timestamp())
    return f"{issued}.{_b64(_form_mac(secret, link_id, issued))}"


def verify_form(token: str, link_id: str, *, now: datetime, secrets: Iterable[str]) -> bool:
    """True when `token` was issued for this link id within FORM_LIFETIME (constant time)."""
    issued_text, _, mac_text = token.partition(".")
    if not issued_text.isdigit() or not mac_text:
        return False
    issued = int(issued_text)
    age = now.timestamp() - issued
    if not 0 <= age <= FORM_LIFETIME.total_seconds():
        return False
    try:
        mac = _unb64(mac_text)
    except (ValueError, TypeError):
        return False
    return any(hmac.compare_digest(_form_mac(s, link_id, issued), mac) for s in secrets)
