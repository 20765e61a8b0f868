"""GET /pay/<token>: the pay link of every reminder, decided on the click (a Checkout Session
for what is owed now, the order's payment page, or a page saying there is nothing to pay)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.http import pay_app
from recoup.observability import logger, metrics
from recoup.settings import configure

configure("pay_link")
app = pay_app()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
