"""SQS consumer: Shopify's privacy requests (data export, customer and shop erasure) and
app/uninstalled, one job per record."""

from recoup.jobs import sqs_handler
from recoup.services import privacy

lambda_handler = sqs_handler(
    privacy, "handle", job="Privacy job", failure_metric="PrivacyJobFailed"
)
