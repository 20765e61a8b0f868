"""Every SMS goes from the stack's origination identity when one is configured: a number as
AWS.MM.SMS.OriginationNumber, a sender ID as AWS.SNS.SMS.SenderID; checked on the Publish
request as botocore serializes it for SNS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from botocore.awsrequest import AWSResponse

from recoup import aws
from recoup.integrations import sns
from recoup.settings import get_settings

PUBLISHED = b"""<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult><MessageId>sms-1</MessageId></PublishResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</PublishResponse>"""


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def publish_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, list[str]]]]:
    """The form fields of every SNS request the send client makes (answered here, never sent)."""
    monkeypatch.setenv("RECOUP_TABLE_NAME", "recoup-test")
    monkeypatch.setenv("RECOUP_EVENTS_QUEUE_URL", "https://sqs.example/events")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests: list[dict[str, list[str]]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body or b""
        requests.append(parse_qs(body.decode() if isinstance(body, bytes) else body))
        return AWSResponse(request.url, 200, {}, _Raw(PUBLISHED))  # type: ignore[arg-type]

    get_settings.cache_clear()
    aws.reset()
    aws.send_client("sns").meta.events.register("before-send.sns", answer)
    yield requests
    aws.reset()
    get_settings.cache_clear()


def _attributes(fields: dict[str, list[str]]) -> dict[str, str]:
    """MessageAttributes.entry.N.Name / .Value.StringValue as a plain mapping."""
    names = {
        key.split(".")[2]: value[0]
        for key, value in fields.items()
        if key.startswith("MessageAttributes.entry.") and key.endswith(".Name")
    }
    return {
        name: fields[f"MessageAttributes.entry.{n}.Value.StringValue"][0]
        for n, name in names.items()
    }


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("+12065550100", {"AWS.MM.SMS.OriginationNumber": "+12065550100"}),
        ("Recoup", {"AWS.SNS.SMS.SenderID": "Recoup"}),
        ("", {}),
    ],
)
def test_the_origination_identity_reaches_the_publish_request(
    monkeypatch: pytest.MonkeyPatch,
    publish_requests: list[dict[str, list[str]]],
    identity: str,
    expected: dict[str, str],
) -> None:
    # Given the stack's origination identity (template parameter SmsOriginationIdentity)
    monkeypatch.setenv("RECOUP_SMS_ORIGINATION_IDENTITY", identity)
    get_settings.cache_clear()
    # When an SMS is sent
    message_id = sns.send_sms("+14155550123", "Your payment for order #1001 is due.")
    # Then one Publish went to the phone number, transactional, from that identity (a number
    # as the origination number, anything else as the sender ID), and none when it is empty
    (fields,) = publish_requests
    assert fields["Action"] == ["Publish"]
    assert fields["PhoneNumber"] == ["+14155550123"]
    assert _attributes(fields) == {"AWS.SNS.SMS.SMSType": "Transactional", **expected}
    assert message_id == "sms-1"
    assert get_settings().sms_origination_identity == (identity or None)
