"""A scripted Shopify for the HTTP transport the OAuth exchange and the Admin client use."""

from __future__ import annotations

import json
from typing import Any

from recoup.integrations.shopify_http import HttpRequest, HttpResponse


class FakeShopify:
    """Answers each request with the next scripted response (or raises the next error) and
    keeps the requests."""

    def __init__(self, *answers: HttpResponse | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[HttpRequest] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sent(self, index: int = -1) -> dict[str, Any]:
        """The JSON body of a request that was sent (the newest by default)."""
        body: dict[str, Any] = json.loads(self.requests[index].body)
        return body
