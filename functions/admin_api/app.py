"""The admin API (`/admin/api/*`, authenticated by App Bridge session tokens) and the
embedded admin page (`/app`, static files beside this module)."""

from pathlib import Path

from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup.admin.api import admin_app
from recoup.observability import logger, metrics
from recoup.settings import configure

configure("admin_api")
app = admin_app(Path(__file__).parent / "static")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
