"""EventBridge, every five minutes: queue one job per reminder step that is due."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.observability import logger, metrics
from recoup.services import reminders


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # The event's own time, not the clock: a late or retried run catches up to its slot.
    at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).astimezone(UTC)
    return {"queued": reminders.queue_due(at)}
