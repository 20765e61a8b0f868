"""Send a raw MIME email through SES v2 with the stack's configuration set, and read what SES
says of a sending identity.

One attempt per send (`recoup.aws`: no SDK retries on a send). A failure is raised as what
it means for the message: `aws.NotSent` (safe to try again), `aws.OutcomeUnknown` (SES may
have accepted it: do not send again) or `aws.Rejected` (SES refuses this recipient for good).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from recoup import aws
from recoup.settings import get_settings

# SES v2 codes that refuse the message or its recipient: sending it again cannot help.
REJECTED_CODES = frozenset({"MessageRejected", "BadRequestException"})
# A refusal naming an identity that is not verified (the sender's domain, or a recipient
# while the account is in the SES sandbox) is the operator's to fix, not the address's.
_NOT_VERIFIED = ("not verified", "sandbox")
# What SES accepts in a message tag's name and value; it refuses the whole send otherwise.
_TAG_REFUSED = re.compile(r"[^A-Za-z0-9_-]")
TAG_MAX_LENGTH = 256


def send_raw(raw: bytes, *, from_address: str, to_address: str, tags: Mapping[str, str]) -> str:
    """Send and return SES's message id. Raw content keeps every header we set
    (List-Unsubscribe included); the configuration set routes bounces and complaints back,
    with the tags (each character SES does not allow in one becomes "_")."""
    settings = get_settings()
    try:
        response = aws.send_client("sesv2").send_email(
            FromEmailAddress=from_address,
            Destination={"ToAddresses": [to_address]},
            Content={"Raw": {"Data": raw}},
            ConfigurationSetName=settings.require("ses_configuration_set"),
            EmailTags=[{"Name": tag_text(k), "Value": tag_text(v)} for k, v in tags.items()],
        )
    except Exception as error:
        failure = aws.send_failure(error, REJECTED_CODES)
        if isinstance(failure, aws.Rejected) and any(
            words in str(error).lower() for words in _NOT_VERIFIED
        ):
            failure = aws.NotSent(failure.code)
        raise failure from error
    return str(response["MessageId"])


def tag_text(value: str) -> str:
    """A tag's name or value as SES accepts it: ASCII letters, digits, "_" and "-", at most
    256 characters."""
    return _TAG_REFUSED.sub("_", value)[:TAG_MAX_LENGTH] or "_"


@dataclass(frozen=True, slots=True)
class Identity:
    """What SES says of a sending identity (a domain)."""

    verified: bool  # verified for sending
    dkim_status: str | None  # SUCCESS once SES signs with DKIM
    mail_from_status: str | None  # the custom MAIL FROM domain's, when one is set


def identity(domain: str) -> Identity | None:
    """The identity as SES has it, None if SES has no such identity. A read: the SDK's
    retries apply. Raises `aws.CallFailed` (naming SES's code) when it cannot be read."""
    try:
        with aws.failures_as(aws.CallFailed):
            found = aws.client("sesv2").get_email_identity(EmailIdentity=domain)
    except aws.CallFailed as failed:
        if failed.code == "NotFoundException":
            return None
        raise
    return Identity(
        verified=bool(found.get("VerifiedForSendingStatus")),
        dkim_status=(found.get("DkimAttributes") or {}).get("Status"),
        mail_from_status=(found.get("MailFromAttributes") or {}).get("MailFromDomainStatus"),
    )
