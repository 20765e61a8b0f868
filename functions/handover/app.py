"""SQS consumer: make the due attempt of a referral's hand-over (email or signed webhook);
a failed one comes due again from the case's due index after the backoff."""

from recoup.jobs import sqs_handler
from recoup.services import handover
from recoup.settings import configure

configure("handover")
lambda_handler = sqs_handler(
    handover, "deliver_job", job="Hand-over", failure_metric="HandOverJobFailed"
)
