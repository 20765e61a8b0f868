"""SQS consumer: send one reminder step per job (claim, guardrails, render, SES or SNS)."""

from recoup.jobs import sqs_handler
from recoup.services import reminders

lambda_handler = sqs_handler(
    reminders, "send_job", job="Reminder job", failure_metric="ReminderFailed"
)
