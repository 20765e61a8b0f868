"""SES events and inbound SMS keywords (SNS), and SMS delivery status (CloudWatch Logs),
applied to contacts and to the trails of the reminders they report on."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock
from recoup.observability import logger, metrics
from recoup.services import feedback


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "awslogs" in event:
        results = feedback.sms_delivery_logs(event["awslogs"]["data"], now=clock.now())
    else:
        results = [
            feedback.apply_sns_message(record["Sns"]["Message"], now=clock.now())
            for record in event["Records"]
        ]
    for result in results:
        logger.info(
            "Feedback",
            extra={"kind": result.kind, "detail": result.detail, "trail": result.trail},
        )
    return {"applied": len(results)}
