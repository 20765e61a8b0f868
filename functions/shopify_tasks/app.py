"""SQS consumer: Shopify Admin API jobs (customer tags), one at a time; a job for a shop
without a token is dropped, not failed."""

from recoup.jobs import sqs_handler
from recoup.services import shopify_tasks
from recoup.settings import configure

configure("shopify_tasks")
lambda_handler = sqs_handler(
    shopify_tasks, "run_job", job="Shopify task", failure_metric="ShopifyTaskFailed"
)
