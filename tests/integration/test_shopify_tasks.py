"""The customer tagging worker against moto: a queued job becomes one tagsAdd call with the
shop's own token; without a token it is dropped; a failing API fails it for SQS to retry."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from recoup.integrations import shopify_admin, shopify_http
from recoup.integrations.shopify_http import HttpRequest, HttpResponse
from recoup.integrations.shopify_version import API_VERSION
from recoup.services import shopify_tasks
from tests.conftest import SHOP, save_expiring_token
from tests.shopify_fakes import answer

TOKEN = "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"
CUSTOMER_ID = "7001234567890"


class FakeAdminApi:
    """The shop's GraphQL endpoint, as a transport: answers `status` (200: tags added)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[HttpRequest] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if self.status != 200:
            return HttpResponse(self.status, b'{"errors":"unavailable"}')
        return answer({"tagsAdd": {"node": {"id": "x"}, "userErrors": []}})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeAdminApi:
    fake = FakeAdminApi()
    monkeypatch.setattr(shopify_http, "urllib_transport", fake)
    return fake


def queued(local: Any, queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=local.stack.region)
    messages = sqs.receive_message(
        QueueUrl=local.stack.refs[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def enqueue() -> None:
    shopify_tasks.enqueue_tag(SHOP, "5601234567890", CUSTOMER_ID, ["recoup:fraud"], "fraud: high")


def test_a_job_tags_the_customer_with_the_shops_token(local: Any, api: FakeAdminApi) -> None:
    # Given the shop's token, and a tagging job queued by the fraud check
    save_expiring_token(SHOP, TOKEN)
    enqueue()
    # When the worker runs
    local.lambdas.drain()
    # Then one tagsAdd went to the shop's Admin API with its token, for the customer's gid
    (request,) = api.requests
    assert request.url == f"https://{SHOP}/admin/api/{API_VERSION}/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    sent = json.loads(request.body)
    assert "tagsAdd" in sent["query"]
    assert sent["variables"] == {
        "id": f"gid://shopify/Customer/{CUSTOMER_ID}",
        "tags": ["recoup:fraud"],
    }
    # and the job is done: nothing left, nothing dead
    assert queued(local, "ShopifyTasksQueue") == []
    assert queued(local, "ShopifyTasksDeadLetterQueue") == []


def test_a_job_for_a_shop_without_a_token_is_dropped(local: Any, api: FakeAdminApi) -> None:
    # Given a shop that never finished OAuth (installed without a token) and a queued job
    enqueue()
    # When the worker runs
    local.lambdas.drain()
    # Then Shopify is not called, and the job is gone rather than retried into the DLQ
    assert api.requests == []
    assert queued(local, "ShopifyTasksQueue") == []
    assert queued(local, "ShopifyTasksDeadLetterQueue") == []


@pytest.mark.parametrize("status", [401, 503])
def test_a_failing_api_fails_the_job_for_sqs_to_retry(
    local: Any, api: FakeAdminApi, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    # Given Shopify failing every call (no real waiting between the client's own retries)
    monkeypatch.setattr(shopify_admin, "BACKOFF_FIRST", 0.0)
    api.status = status
    save_expiring_token(SHOP, TOKEN)
    enqueue()
    # When the worker runs until the queue is empty
    local.lambdas.drain()
    # Then each of the queue's five receives failed the job (a 5xx also after the client's
    # own retries), and it waits in the dead-letter queue, intact
    per_receive = 1 if status == 401 else shopify_admin.MAX_ATTEMPTS
    assert len(api.requests) == 5 * per_receive
    assert queued(local, "ShopifyTasksDeadLetterQueue") == [
        {
            "shop": SHOP,
            "case_id": "5601234567890",
            "customer_id": CUSTOMER_ID,
            "tags": ["recoup:fraud"],
            "reason": "fraud: high",
        }
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shop", "evil.com", "shop is not"),
        ("customer_id", "someone@example.com", "customer_id"),
        ("tags", [], "tags must be a list"),
        ("tags", ["a,b"], "tags[0] must have no comma"),
        ("reason", "", "reason is missing"),
    ],
)
def test_a_job_that_could_never_apply_is_refused_before_it_is_queued(
    local: Any, field: str, value: Any, message: str
) -> None:
    job: dict[str, Any] = {
        "shop": SHOP,
        "case_id": "5601234567890",
        "customer_id": CUSTOMER_ID,
        "tags": ["recoup:fraud"],
        "reason": "fraud: high",
        field: value,
    }
    with pytest.raises(shopify_tasks.MalformedJob, match=message.replace("[", r"\[")):
        shopify_tasks.enqueue_tag(**job)
    assert queued(local, "ShopifyTasksQueue") == []
