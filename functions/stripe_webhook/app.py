"""POST /webhooks/stripe: verify the signature, normalise, enqueue, answer 200.

Bad signature: 401. Not JSON or missing what is needed: 400. Neither writes anything.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.http import webhook_app
from recoup.observability import logger, metrics
from recoup.services import intake
from recoup.settings import configure

configure("stripe_webhook")
app = webhook_app("/webhooks/stripe", intake.accept_stripe, "stripe")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
