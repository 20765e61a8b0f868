"""GET /unsubscribe shows a confirmation page; POST /unsubscribe opts out (RFC 8058
one-click: mail clients POST `List-Unsubscribe=One-Click` to the link itself)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.http import unsubscribe_app
from recoup.observability import logger, metrics
from recoup.settings import configure

configure("unsubscribe")
app = unsubscribe_app()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
