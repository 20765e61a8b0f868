"""SES events and inbound SMS keywords (SNS), and SMS delivery status (CloudWatch Logs),
applied to contacts and to the trails of the reminders they report on."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock, correlation
from recoup.observability import logger, metrics
from recoup.services import feedback
from recoup.settings import configure

configure("feedback")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@correlation.handler()  # the request id; each SNS notification runs under its MessageId
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "awslogs" in event:
        results = feedback.sms_delivery_logs(event["awslogs"]["data"], now=clock.now())
        for result in results:
            log(result)
        return {"applied": len(results)}
    for record in event["Records"]:
        with correlation.scope(record["Sns"].get("MessageId")):
            log(feedback.apply_sns_message(record["Sns"]["Message"], now=clock.now()))
    return {"applied": len(event["Records"])}


def log(result: feedback.FeedbackResult) -> None:
    logger.info(
        "Feedback", extra={"kind": result.kind, "detail": result.detail, "trail": result.trail}
    )
