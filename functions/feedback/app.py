"""SNS: SES bounces and complaints, and inbound SMS keywords, applied to contacts."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock
from recoup.observability import logger, metrics
from recoup.services import feedback


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    results = [
        feedback.apply_sns_message(record["Sns"]["Message"], now=clock.now())
        for record in event["Records"]
    ]
    for result in results:
        logger.info("Feedback", extra={"kind": result.kind, "detail": result.detail})
    return {"applied": len(results)}
