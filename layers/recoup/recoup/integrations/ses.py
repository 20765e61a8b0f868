"""Send a raw MIME email through SES v2 with the stack's configuration set."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

from recoup.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


@cache
def _client() -> SESV2Client:
    import boto3

    return boto3.client("sesv2", region_name=get_settings().region)


def send_raw(raw: bytes, *, from_address: str, to_address: str, tags: Mapping[str, str]) -> str:
    """Send and return SES's message id. Raw content keeps every header we set
    (List-Unsubscribe included); the configuration set routes bounces and complaints back."""
    settings = get_settings()
    response = _client().send_email(
        FromEmailAddress=from_address,
        Destination={"ToAddresses": [to_address]},
        Content={"Raw": {"Data": raw}},
        ConfigurationSetName=settings.require("ses_configuration_set"),
        EmailTags=[{"Name": k, "Value": v} for k, v in tags.items()],
    )
    return str(response["MessageId"])
