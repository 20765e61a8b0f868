"""POST /referrals/report: an agency's or lawyer's signed report on a referral."""

import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock
from recoup.http import raw_body
from recoup.observability import logger, metrics
from recoup.services import referral_report

app = APIGatewayHttpResolver()


@app.post("/referrals/report")
def report() -> Response[str]:
    answer = referral_report.receive(
        raw_body(app.current_event), app.current_event.headers, now=clock.now()
    )
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(answer.body),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
