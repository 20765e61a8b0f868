"""SQS consumer: send one reminder step per job (claim, guardrails, render, SES or SNS)."""

from recoup.jobs import sqs_handler
from recoup.services import sending
from recoup.settings import configure

configure("sender")
lambda_handler = sqs_handler(
    sending, "send_job", job="Reminder job", failure_metric="ReminderFailed"
)
