"""SQS consumer: Shopify's privacy requests (data export, customer and shop erasure) and
app/uninstalled, one job per record; a job's body names the customer, so one that fails its
last allowed attempt is moved aside (body to the queue bodies bucket, reference to the DLQ)."""

from recoup.jobs import sqs_handler
from recoup.services import privacy
from recoup.settings import configure

configure("privacy")
lambda_handler = sqs_handler(
    privacy,
    "handle",
    job="Privacy job",
    failure_metric="PrivacyJobFailed",
    dead_letter_queue="privacy_dlq_url",
)
