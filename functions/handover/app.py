"""SQS consumer: deliver one referral hand-over (email or signed webhook), re-queued with
backoff on failure."""

from recoup.jobs import sqs_handler
from recoup.services import handover

lambda_handler = sqs_handler(
    handover, "deliver_job", job="Hand-over", failure_metric="HandOverJobFailed"
)
