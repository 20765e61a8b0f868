"""EventBridge Scheduler, every five minutes: queue one job per due entry of the due index
(reminder steps, referral checks, hand-over deliveries) that no earlier run queued, and the
merchants' notice jobs (services/notifications.py)."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import correlation
from recoup.observability import logger, metrics
from recoup.services import notifications, scheduling
from recoup.settings import configure

configure("scheduler")


def run_id(event: dict, context: LambdaContext) -> str | None:
    """The run's correlation id, which every job it queues carries: the schedule's execution
    id when its input passes one (`<aws.scheduler.execution-id>`), an EventBridge event's
    id, else the Lambda request id."""
    return event.get("execution_id") or event.get("id") or correlation.request_id(context)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@correlation.handler(run_id)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # The heartbeat: its alarm fires when no run has started for 15 minutes.
    metrics.add_metric(name="SchedulerRuns", unit="Count", value=1)
    # The schedule's own time, not the clock: a late or retried run catches up to its slot.
    at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).astimezone(UTC)
    run = scheduling.queue_due(at, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    # The merchants' notices: immediate ones every run, each shop's digest job hourly.
    return {**run.as_dict(), "notices_queued": notifications.queue_notices(at)}
