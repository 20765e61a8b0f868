"""POST /referrals/report: an agency's or lawyer's signed report on a referral."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock
from recoup.errors import HttpProblem
from recoup.http import Edge, Resolver, answer_errors, json_error, json_response, raw_body
from recoup.observability import logger, metrics
from recoup.services import referral_report
from recoup.settings import configure

configure("referral_report")
app = Resolver()


@app.post("/referrals/report")
def report() -> Response[str]:
    answer = referral_report.receive(
        raw_body(app.current_event), app.current_event.headers, now=clock.now()
    )
    if answer.status >= 400:  # the service answers refusals in the error shape: raise it
        body = answer.body
        raise HttpProblem(body["message"], status=answer.status, code=body["error"])
    return json_response(answer.status, answer.body)


answer_errors(app, Edge("ReportBack", "Referral report", json_error))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
