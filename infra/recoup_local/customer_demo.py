"""The demo's customer side: more orders whose customers open the page their first
reminder links to and answer on it, as a browser would (the page first, then its form with
the page's form token): one promises a date and pays before it, one promises and does not
pay, one says they already paid, one says they never placed the order, and one picks an
instalment plan, agrees to its schedule and pays the first instalment at (the stand-in for)
Stripe Checkout, which saves the card for the next ones."""

from __future__ import annotations

import copy
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from html import unescape
from typing import Any

from recoup_local import outbox
from recoup_local.stack import LocalStack

# A customer's page link as a message carries it: /c/ and the 24-character token.
_PAGE_LINK = re.compile(r"/c/([A-Za-z0-9_-]{24})(?![A-Za-z0-9_-])")
_FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def order_edit(
    number: int, first: str, last: str, city: str, province: str, *, paid: bool = False
) -> Callable[[dict[str, Any]], None]:
    """order_expired.json as another customer's order #`number`, placed on 10 November:
    its own ids, name, email, phone, address and browser (so no fraud rule sees one buyer
    placing five orders); `paid`: as its orders/paid webhook states it."""

    def edit(order: dict[str, Any]) -> None:
        order_id = 5960370000000000000 + number
        customer_id = 7412593000000000000 + number
        email = f"{first}.{last}@example.com".lower()
        phone = f"+1617555{number:04d}"
        ip = f"203.0.113.{number % 250}"
        placed = "2026-11-10T04:00:00-05:00"
        order.update(
            id=order_id,
            admin_graphql_api_id=f"gid://shopify/Order/{order_id}",
            name=f"#{number}",
            number=number - 1000,
            order_number=number,
            email=email,
            contact_email=email,
            browser_ip=ip,
            token=f"{number:032x}",
            cart_token=f"demo-cart-{number}",
            checkout_token=f"{number:032x}",
            checkout_id=37598271040000 + number,
            confirmation_number=f"DEMO{number}",
            created_at=placed,
            processed_at=placed,
            updated_at="2026-11-19T13:00:00-05:00" if paid else placed,
        )
        order["order_status_url"] = order["order_status_url"].replace(
            "1b3d5f7a9c0e2d4f6a8b1c3e5d7f9a2b", f"{number:032x}"
        )
        order["client_details"] = {**order["client_details"], "browser_ip": ip}
        person = {"first_name": first, "last_name": last, "name": f"{first} {last}"}
        street = f"{number - 1000} Elm St"
        place = {"address1": street, "city": city, "province": province, "phone": phone}
        for kind in ("shipping_address", "billing_address"):
            order[kind] = {**order[kind], **person, **place}
        customer = copy.deepcopy(order["customer"])
        customer.update(id=customer_id, email=email, first_name=first, last_name=last)
        customer["admin_graphql_api_id"] = f"gid://shopify/Customer/{customer_id}"
        customer["default_address"] = {
            **customer["default_address"],
            **person,
            **place,
            "customer_id": customer_id,
        }
        order["customer"] = customer
        if paid:
            order["financial_status"] = "paid"
            order["total_outstanding"] = "0.00"

    return edit


def act(
    front: str, local: LocalStack, order: dict[str, Any], action: str, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """The customer of `order` opens the page their newest message links to and sends
    `action`'s form; the answer as the demo prints it."""
    token = _newest_page_token(local, order["email"])
    if token is None:
        return 404, {"error": "no_link", "message": "no message with a page link reached them"}
    page = f"{front}/c/{token}"
    status, html = _fetch(page)
    found = _FORM_TOKEN.search(html)
    if status != 200 or found is None:
        return status, {"error": "page", "message": f"the page answered {status}"}
    fields = {"csrf": found[1], **form}
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": front}
    status, html = _fetch(f"{page}/{action}", body, headers)
    if status != 200:
        return status, {"error": "refused", "message": f"the page answered {status}"}
    return status, {"status": f"answered on their page ({action})"}


def plan(
    front: str, local: LocalStack, order: dict[str, Any], form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """The customer of `order` previews the plan `form` asks for (`plan_interval`,
    `plan_count`), ticks "I agree", and pays the first instalment on the Checkout page the
    agreement leads to, with the test card that succeeds."""
    token = _newest_page_token(local, order["email"])
    if token is None:
        return 404, {"error": "no_link", "message": "no message with a page link reached them"}
    page = f"{front}/c/{token}"
    status, html = _fetch(f"{page}?{urllib.parse.urlencode(form)}")
    agreement = _form(html, f"/c/{token}/plan")
    if status != 200 or agreement is None:
        return status, {"error": "page", "message": f"the plan's preview answered {status}"}
    body = urllib.parse.urlencode({**agreement, "agree": "yes"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": front}
    status, checkout = _no_redirect(f"{page}/plan", body, headers)
    if status != 303 or not checkout:
        return status, {"error": "refused", "message": f"agreeing answered {status}"}
    session = urllib.parse.urlsplit(checkout).path.rsplit("/", 1)[-1]
    card = urllib.parse.urlencode({"card": "visa"}).encode()
    stand_in = local.stripe
    if stand_in is None:
        return 503, {"error": "checkout", "message": "no stand-in for Stripe on this stack"}
    status, _ = _no_redirect(f"{stand_in.url}/checkout/{session}/complete", card, {})
    if status != 303:
        return status, {"error": "checkout", "message": f"Checkout answered {status}"}
    return 200, {"status": "agreed to a plan on their page, first instalment paid at Checkout"}


_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def _form(html: str, action: str) -> dict[str, str] | None:
    """The hidden fields of the page's form that posts to `action`."""
    start = html.find(f'action="{action}"')
    if start < 0:
        return None
    end = html.find("</form>", start)
    return {name: unescape(value) for name, value in _HIDDEN.findall(html[start:end])}


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _no_redirect(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """A POST whose redirect is read, not followed: (status, Location)."""
    opener = urllib.request.build_opener(_Stay)
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Location") or ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location") or ""


def _newest_page_token(local: LocalStack, email: str) -> str | None:
    for message in reversed(outbox.sent_messages(local.stack.region)):
        if message.kind == "email" and message.to == email:
            found = _PAGE_LINK.search(_text_of(message.content))
            if found:
                return found[1]
    return None


def _text_of(raw: bytes) -> str:
    parsed = message_from_bytes(raw, policy=policy.default)
    parts = parsed.walk() if parsed.is_multipart() else iter([parsed])
    return "\n".join(
        str(part.get_content()) for part in parts if part.get_content_maintype() == "text"
    )


def _fetch(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """A GET, or a POST of `body`; the page's redirect after a POST is followed (303 -> GET)."""
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


__all__ = ["act", "at", "order_edit", "plan"]
