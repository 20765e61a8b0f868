"""One error convention for every HTTP function: the codes raised are the codes documented
(docs/api-errors.md), every exception reaches one mapping (`recoup.http.error_response`),
which answers faults of ours without their text, and the admin edge reaches the table only
through services."""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from recoup import http
from recoup.errors import ConfigurationError, HttpProblem, InvalidInput, NotFound
from recoup.http import Edge, error_response, html_error, json_error, text_error

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "recoup" / "recoup"
DOCS = ROOT / "docs" / "api-errors.md"
_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.MULTILINE)
# Where a code is passed through rather than written: the referral report service answers
# refusals as `{"error": code, ...}` (its codes are its `_error(status, code, message)`
# calls, below), and its function raises them as problems.
PASSED_THROUGH = frozenset({"functions/referral_report/app.py"})


def sources() -> Iterator[tuple[str, ast.Module]]:
    paths = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "functions").glob("*/app.py"))
    for path in paths:
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def problem_classes(trees: list[tuple[str, ast.Module]]) -> set[str]:
    """The names of HttpProblem and every class that derives from it, by the source."""
    bases: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_name(b) for b in node.bases)
    found = {"HttpProblem"}
    while more := {name for name, parents in bases.items() if parents & found} - found:
        found |= more
    return found


def raised_codes() -> dict[str, str]:
    """Every code the package can answer with, and where it is written: a problem class's
    `code`, a `code=` given to one, or the referral report service's `_error(...)`."""
    trees = list(sources())
    problems = problem_classes(trees)
    codes: dict[str, str] = {}
    for where, tree in trees:
        for node in ast.walk(tree):
            for code in _codes_at(node, problems, where):
                codes.setdefault(code, where)
    return codes


def _codes_at(node: ast.AST, problems: set[str], where: str) -> list[str | None]:
    if isinstance(node, ast.ClassDef) and node.name in problems:
        return [
            _text(stmt.value)
            for stmt in node.body
            if isinstance(stmt, ast.Assign) and [_name(t) for t in stmt.targets] == ["code"]
        ]
    if not isinstance(node, ast.Call):
        return []
    if _name(node.func) == "_error" and len(node.args) >= 2:
        return [_text(node.args[1])]
    if _name(node.func) not in problems:
        return []
    found = [_text(k.value) for k in node.keywords if k.arg == "code"]
    assert None not in found or where in PASSED_THROUGH, f"{where}: a code= that is not a literal"
    return [code for code in found if code is not None]


def documented() -> dict[str, int]:
    return {code: int(status) for code, status in _ROW.findall(DOCS.read_text())}


def test_every_code_raised_is_documented_and_every_documented_code_is_raised() -> None:
    raised, listed = raised_codes(), documented()
    assert "internal_error" in raised and "token_expired" in raised and "malformed_report" in raised
    missing = {code: where for code, where in raised.items() if code not in listed}
    assert missing == {}, "add these codes to docs/api-errors.md"
    assert sorted(set(listed) - set(raised)) == [], "docs/api-errors.md lists codes never raised"


def test_the_documented_status_is_the_status_of_each_problem_class() -> None:
    for module in ("recoup.errors", "recoup.admin.auth", "recoup.services.actions"):
        importlib.import_module(module)
    listed = documented()
    pending = list(HttpProblem.__subclasses__())
    while pending:
        kind = pending.pop()
        pending += kind.__subclasses__()
        if kind.__module__.startswith("recoup."):
            assert listed[kind.code] == kind.status, kind.__qualname__


def test_every_foreign_refusal_names_a_class_that_exists() -> None:
    for name in http._FOREIGN:
        module, _, qualname = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), qualname), type), name


@pytest.mark.parametrize("package", ["admin", "http.py"])
def test_the_admin_edge_reaches_the_table_only_through_services(package: str) -> None:
    forbidden = ("recoup.store", "boto3", "botocore", "pynamodb")
    target = PACKAGE / package
    for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            assert not [n for n in names if n.startswith(forbidden)], f"{path.name}: {names}"


# ---------------------------------------------------------------- the one mapping


class Counted:
    def __init__(self) -> None:
        self.names: list[str] = []

    def add_metric(self, *, name: str, unit: str, value: float) -> None:
        self.names.append(name)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    metrics = Counted()
    monkeypatch.setattr(http, "metrics", metrics)
    return metrics


EDGE = Edge("Sample", "Sample request", json_error)


def answer(exc: Exception, edge: Edge = EDGE) -> tuple[int, Any, dict[str, str]]:
    response = error_response(exc, edge, "GET /somewhere")
    body = response.body
    if response.content_type == "application/json":
        body = json.loads(body or "")
    return response.status_code, body, response.headers


def test_a_problem_is_answered_with_its_status_code_message_and_field(counted: Counted) -> None:
    status, body, headers = answer(InvalidInput("must be an object", field="policy"))
    assert (status, body) == (
        400,
        {"error": "invalid", "message": "must be an object", "field": "policy"},
    )
    assert headers["Cache-Control"] == "no-store"
    assert answer(NotFound("no case 7 in this shop"))[1] == {
        "error": "not_found",
        "message": "no case 7 in this shop",
    }
    assert counted.names == ["SampleRejected", "SampleRejected"]


def test_a_fault_of_ours_is_a_500_logged_by_type_and_place_not_text(
    counted: Counted, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise KeyError("ann@example.com")

    try:
        fail()
    except KeyError as exc:
        status, body, _ = answer(exc)
    assert (status, body["error"]) == (500, "internal_error")
    [failed] = [r for r in caplog.records if r.getMessage() == "Sample request failed"]
    assert failed.__dict__["error"] == "KeyError"
    assert any(frame.startswith("test_api_errors.py:") for frame in failed.__dict__["trace"])
    assert "ann@example.com" not in repr([vars(r) for r in caplog.records])
    assert counted.names == ["SampleFailed"]


def test_a_missing_setting_is_a_500_that_does_not_say_which(counted: Counted) -> None:
    status, body, _ = answer(ConfigurationError("RECOUP_SECRET_PARAM /prod/secret is not set"))
    assert (status, body) == (
        500,
        {"error": "configuration_error", "message": "service misconfigured"},
    )
    assert counted.names == ["SampleFailed"]


def test_foreign_refusals_map_to_their_codes(counted: Counted) -> None:
    from recoup.integrations.shopify_oauth import BadOAuthRequest, OAuthForbidden
    from recoup.links import InvalidLink
    from recoup.services.sample_sends import SampleRefused
    from recoup.services.stripe_connect import ConnectRefused, ConnectUnavailable

    cases: list[tuple[Exception, int, str]] = [
        (NotFoundError(), 404, "not_found"),
        (InvalidLink("the link has expired"), 400, "invalid_link"),
        (BadOAuthRequest("shop is missing"), 400, "oauth_refused"),
        (OAuthForbidden("state is missing"), 403, "oauth_forbidden"),
        (ConnectRefused("already used"), 400, "stripe_connect_refused"),
        (ConnectUnavailable("not configured"), 503, "stripe_connect_unavailable"),
        (SampleRefused(400, "to", "must be a string"), 400, "invalid"),
        (SampleRefused(429, None, "at most 10 a day"), 429, "rate_limited"),
        (SampleRefused(503, None, "not configured"), 503, "unavailable"),
    ]
    for exc, status, code in cases:
        answered, body, _ = answer(exc)
        assert (answered, body["error"]) == (status, code), exc
    assert answer(NotFoundError())[1]["message"] == "no route GET /somewhere"
    assert answer(SampleRefused(400, "to", "must be a string"))[1]["field"] == "to"


def test_customers_get_a_page_and_merchants_plain_text(counted: Counted) -> None:
    from recoup.links import InvalidLink

    page = Edge("PayLink", "Pay link", html_error)
    status, body, _ = answer(InvalidLink("the link has expired"), page)
    assert status == 400
    assert "This link cannot be used" in body and "The link has expired." in body
    status, body, _ = answer(RuntimeError("boom"), page)
    assert status == 500 and "Something went wrong" in body and "boom" not in body
    text = Edge("OAuth", "OAuth request", text_error)
    status, body, headers = answer(HttpProblem("hmac is missing", status=401), text)
    assert (status, body, headers["Cache-Control"]) == (401, "hmac is missing\n", "no-store")
