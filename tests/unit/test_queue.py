"""The queue port: the bodies the workers read, one SendMessageBatch answer split into what
may be sent again and what SQS refused for good, and SQS's errors raised as `NotQueued`."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from recoup import aws, queue


class FakeSqs:
    """Records the calls; answers a batch with `failed`, or raises `error`."""

    def __init__(self, failed: list[dict[str, Any]] | None = None) -> None:
        self.failed = failed or []
        self.error: BaseException | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_message(self, **call: Any) -> dict[str, Any]:
        self.calls.append(("SendMessage", call))
        if self.error:
            raise self.error
        return {"MessageId": "m-1"}

    def send_message_batch(self, **call: Any) -> dict[str, Any]:
        self.calls.append(("SendMessageBatch", call))
        if self.error:
            raise self.error
        return {"Successful": [], "Failed": self.failed}


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    fake = FakeSqs()
    settings = SimpleNamespace(require=lambda name: f"https://sqs.example/{name}")
    monkeypatch.setattr(queue, "get_settings", lambda: settings)
    monkeypatch.setattr(aws, "client", lambda service: fake)
    return fake


def test_case_jobs_carry_the_fields_their_workers_read() -> None:
    assert json.loads(queue.CaseJob("s", "c", step=2).to_json()) == {
        "shop": "s",
        "case_id": "c",
        "step": 2,
    }
    assert json.loads(queue.CaseJob("s", "c").to_json()) == {"shop": "s", "case_id": "c"}
    assert json.loads(queue.CaseJob("s", "c", referral_id="agency-1").to_json()) == {
        "shop": "s",
        "case_id": "c",
        "referral_id": "agency-1",
    }


def test_a_job_goes_to_the_queue_its_setting_names(sqs: FakeSqs) -> None:
    assert queue.send(queue.Queue.HANDOVERS, queue.CaseJob("s", "c")) == "m-1"
    [(operation, call)] = sqs.calls
    assert operation == "SendMessage"
    assert call["QueueUrl"] == "https://sqs.example/handover_queue_url"
    assert json.loads(call["MessageBody"]) == {"shop": "s", "case_id": "c"}


def test_a_batch_answer_separates_what_may_be_sent_again_from_what_is_refused(
    sqs: FakeSqs,
) -> None:
    sqs.failed = [
        {"Id": "1", "SenderFault": False, "Code": "InternalError"},
        {"Id": "2", "SenderFault": True, "Code": "InvalidParameterValue"},
    ]
    jobs = {str(n): queue.CaseJob("s", f"c{n}", step=0) for n in range(4)}
    answer = queue.send_batch(queue.Queue.REMINDERS, jobs)
    assert answer == queue.BatchAnswer(retry=frozenset({"1"}), refused=frozenset({"2"}))
    [(_, call)] = sqs.calls
    assert [entry["Id"] for entry in call["Entries"]] == ["0", "1", "2", "3"]


def test_a_batch_over_sqs_limit_is_refused_before_any_call(sqs: FakeSqs) -> None:
    jobs = {str(n): queue.CaseJob("s", f"c{n}") for n in range(queue.BATCH_LIMIT + 1)}
    with pytest.raises(ValueError, match="at most 10"):
        queue.send_batch(queue.Queue.ESCALATION_CHECKS, jobs)
    assert sqs.calls == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                "SendMessageBatch",
            ),
            "ThrottlingException",
        ),
        (EndpointConnectionError(endpoint_url="https://sqs.example"), "EndpointConnectionError"),
    ],
)
def test_sqs_failing_is_raised_as_not_queued_naming_its_code(
    sqs: FakeSqs, error: BaseException, code: str
) -> None:
    sqs.error = error
    with pytest.raises(queue.NotQueued) as batch:
        queue.send_batch(queue.Queue.REMINDERS, {"0": queue.CaseJob("s", "c", step=0)})
    with pytest.raises(queue.NotQueued) as single:
        queue.send(queue.Queue.SHOPIFY_TASKS, queue.CaseJob("s", "c"))
    assert batch.value.code == single.value.code == code
    assert single.value.__cause__ is error
