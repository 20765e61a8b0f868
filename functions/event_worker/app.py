"""SQS FIFO consumer: apply each verified event to its case.

A record that fails is reported back (partial batch response), with the records after it
in the same message group, so one order's events are never applied out of queue order.
After the queue's maxReceiveCount a failing record moves to the dead-letter queue.
"""

from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.observability import logger, metrics
from recoup.services import cases

# A failing record fails the records after it in its own message group only (order within
# an order's events is kept), not the other orders' records in the batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def record_handler(record: SQSRecord) -> None:
    try:
        applied = cases.apply_message(record.body)
    except Exception:
        # Logged with the message id so ops can find it in the DLQ; SQS retries it.
        logger.exception("Event failed", extra={"message_id": record.message_id})
        metrics.add_metric(name="EventFailed", unit="Count", value=1)
        raise
    if applied is not None and not applied.duplicate:
        metrics.add_metric(name="EventApplied", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
