"""Send an SMS through SNS (transactional: delivered even to numbers on promotional
do-not-disturb lists, and priced as such), from the stack's origination identity when one is
configured (template parameter SmsOriginationIdentity): a number in E.164 goes as
`AWS.MM.SMS.OriginationNumber`, anything else as the alphanumeric `AWS.SNS.SMS.SenderID`.

One attempt per call (`recoup.aws`: no SDK retries on a send); a failure is raised as
`aws.NotSent`, `aws.OutcomeUnknown` or `aws.Rejected` (the number, for good).
"""

from __future__ import annotations

from typing import Any

from recoup import aws
from recoup.settings import get_settings

# SNS codes that refuse the number itself (not a valid, reachable mobile number).
REJECTED_CODES = frozenset({"InvalidParameter", "InvalidParameterValue"})
ORIGINATION_NUMBER = "AWS.MM.SMS.OriginationNumber"
SENDER_ID = "AWS.SNS.SMS.SenderID"


def message_attributes(origination_identity: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
    }
    if origination_identity:
        name = ORIGINATION_NUMBER if origination_identity.startswith("+") else SENDER_ID
        attributes[name] = {"DataType": "String", "StringValue": origination_identity}
    return attributes


def send_sms(phone_e164: str, body: str) -> str:
    attributes = message_attributes(get_settings().sms_origination_identity)
    try:
        response = aws.send_client("sns").publish(
            PhoneNumber=phone_e164, Message=body, MessageAttributes=attributes
        )
    except Exception as error:
        raise aws.send_failure(error, REJECTED_CODES) from error
    return str(response["MessageId"])
