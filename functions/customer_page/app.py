"""GET /c/<token>: the customer's own page of a case; POST /c/<token>/<action>: its forms
(a promise to pay, a problem reported, contact preferences, a fresh link)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.http import customer_page_app
from recoup.observability import logger, metrics
from recoup.settings import configure

configure("customer_page")
app = customer_page_app()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
