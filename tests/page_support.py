"""Helpers for tests of the customer's page: its form token, and its forms posted as a
browser posts them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode


def form_token(html: str) -> str:
    """The page's CSRF form token."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found[1]


def post_form(
    local: Any,
    token: str,
    action: str,
    fields: dict[str, Any],
    *,
    csrf: str | None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /c/<token>/<action> with `fields` (and the form token `csrf`, when given)."""
    form = {**fields, **({"csrf": csrf} if csrf is not None else {})}
    body = urlencode(form, doseq=True).encode()
    sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    answer = local.lambdas.invoke_http("POST", f"/c/{token}/{action}", sent, body)
    assert answer is not None
    return answer
