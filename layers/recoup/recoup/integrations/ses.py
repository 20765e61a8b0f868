"""Send a raw MIME email through SES v2 with the stack's configuration set.

One attempt per call (`recoup.aws`: no SDK retries on a send). A failure is raised as what
it means for the message: `aws.NotSent` (safe to try again), `aws.OutcomeUnknown` (SES may
have accepted it: do not send again) or `aws.Rejected` (SES refuses this recipient for good).
"""

from __future__ import annotations

from collections.abc import Mapping

from recoup import aws
from recoup.settings import get_settings

# SES v2 codes that refuse the message or its recipient: sending it again cannot help.
REJECTED_CODES = frozenset({"MessageRejected", "BadRequestException"})
# A refusal naming an identity that is not verified (the sender's domain, or a recipient
# while the account is in the SES sandbox) is the operator's to fix, not the address's.
_NOT_VERIFIED = ("not verified", "sandbox")


def send_raw(raw: bytes, *, from_address: str, to_address: str, tags: Mapping[str, str]) -> str:
    """Send and return SES's message id. Raw content keeps every header we set
    (List-Unsubscribe included); the configuration set routes bounces and complaints back."""
    settings = get_settings()
    try:
        response = aws.send_client("sesv2").send_email(
            FromEmailAddress=from_address,
            Destination={"ToAddresses": [to_address]},
            Content={"Raw": {"Data": raw}},
            ConfigurationSetName=settings.require("ses_configuration_set"),
            EmailTags=[{"Name": k, "Value": v} for k, v in tags.items()],
        )
    except Exception as error:
        failure = aws.send_failure(error, REJECTED_CODES)
        if isinstance(failure, aws.Rejected) and any(
            words in str(error).lower() for words in _NOT_VERIFIED
        ):
            failure = aws.NotSent(failure.code)
        raise failure from error
    return str(response["MessageId"])
