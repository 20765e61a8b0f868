"""A scripted Shopify for the HTTP transport the OAuth exchange and the Admin client use, and
the Admin API's answers with their cost extension."""

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


def cost(requested: int, available: float, rate: float = 50.0) -> dict[str, Any]:
    """The cost extension of an Admin GraphQL answer: what the query cost and the bucket left."""
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": 1000.0,
                "currentlyAvailable": available,
                "restoreRate": rate,
            },
        }
    }


def answer(data: dict[str, Any], *, requested: int = 10, available: float = 990.0) -> HttpResponse:
    """An Admin GraphQL answer with `data`, as Shopify sends it."""
    body = {"data": data, "extensions": cost(requested, available)}
    return HttpResponse(200, json.dumps(body).encode())
