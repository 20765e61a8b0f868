"""Send an SMS through SNS (transactional: delivered even to numbers on promotional
do-not-disturb lists, and priced as such)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


@cache
def _client() -> SNSClient:
    import boto3

    return boto3.client("sns", region_name=get_settings().region)


def send_sms(phone_e164: str, body: str) -> str:
    response = _client().publish(
        PhoneNumber=phone_e164,
        Message=body,
        MessageAttributes={
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        },
    )
    return str(response["MessageId"])
