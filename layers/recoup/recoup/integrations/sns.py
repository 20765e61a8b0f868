"""Send an SMS through SNS (transactional: delivered even to numbers on promotional
do-not-disturb lists, and priced as such).

One attempt per call (`recoup.aws`: no SDK retries on a send); a failure is raised as
`aws.NotSent`, `aws.OutcomeUnknown` or `aws.Rejected` (the number, for good).
"""

from __future__ import annotations

from recoup import aws

# SNS codes that refuse the number itself (not a valid, reachable mobile number).
REJECTED_CODES = frozenset({"InvalidParameter", "InvalidParameterValue"})


def send_sms(phone_e164: str, body: str) -> str:
    try:
        response = aws.send_client("sns").publish(
            PhoneNumber=phone_e164,
            Message=body,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
            },
        )
    except Exception as error:
        raise aws.send_failure(error, REJECTED_CODES) from error
    return str(response["MessageId"])
