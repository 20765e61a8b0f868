"""The shape every SQS-triggered function shares: one job per record, a failed job reported
back alone (partial batch response) so SQS retries it and, after the queue's maximum
receives, moves it to the dead-letter queue, where an alarm fires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from types import ModuleType
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.observability import logger, metrics

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def sqs_handler(service: ModuleType, run: str, *, job: str, failure_metric: str) -> Handler:
    """A Lambda handler calling `service.<run>(body)` for each record; it returns a dataclass
    of words about what it did (no personal data), which is logged. The function is looked
    up on each call, so the local stack's benchmarks can wrap it."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> None:
        try:
            result = getattr(service, run)(record.body)
        except Exception:
            # Bodies may hold personal data: log the message id; the DLQ keeps the job.
            logger.exception(f"{job} failed", extra={"message_id": record.message_id})
            metrics.add_metric(name=failure_metric, unit="Count", value=1)
            raise
        logger.info(job, extra=asdict(result) if is_dataclass(result) else {})  # type: ignore[arg-type]

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    return lambda_handler
