"""HTTPS calls to a shop's Admin endpoints, behind a replaceable transport.

Plain `urllib.request` rather than `requests`: one JSON POST per call needs nothing more,
the standard library is typed and always present, and `requests` would be an undeclared
dependency (it reaches the layer only through stripe). Tests and the local stack pass their
own transport instead of reaching Shopify.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class TransportError(Exception):
    """No HTTP answer at all: the connection failed or timed out."""


Transport = Callable[[HttpRequest], HttpResponse]


def urllib_transport(request: HttpRequest) -> HttpResponse:
    """POST the request; any HTTP status is an answer, only a failed exchange raises."""
    if not request.url.startswith("https://"):
        raise ValueError(f"only https URLs are called, not {request.url.split('/')[0]}")
    prepared = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        request.url, data=request.body, headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            return HttpResponse(answer.status, answer.read(), _lower(answer.headers.items()))
    except urllib.error.HTTPError as error:
        # A 4xx or 5xx is still an answer, with headers (Retry-After) the caller needs.
        with error:
            return HttpResponse(error.code, error.read(), _lower(error.headers.items()))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise TransportError(f"no answer from {_host(request.url)}: {reason}") from None


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def _host(url: str) -> str:
    return url.split("/", 3)[2] if url.count("/") >= 2 else url
