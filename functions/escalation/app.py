"""SQS consumer: one referral check per job (wait, refer, write off or nothing)."""

from recoup.jobs import sqs_handler
from recoup.services import escalation
from recoup.settings import configure

configure("escalation")
lambda_handler = sqs_handler(
    escalation, "check_job", job="Referral check", failure_metric="EscalationFailed"
)
