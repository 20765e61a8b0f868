"""SQS consumer: send one reminder step per job (claim, guardrails, render, SES or SNS).

A job that fails is reported back alone (partial batch response); after five receives it
moves to the dead-letter queue.
"""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.observability import logger, metrics
from recoup.services import reminders

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    try:
        result = reminders.send_job(record.body)
    except Exception:
        logger.exception("Reminder job failed", extra={"message_id": record.message_id})
        metrics.add_metric(name="ReminderFailed", unit="Count", value=1)
        raise
    logger.info("Reminder job", extra={"outcome": result.outcome, "detail": result.detail})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
