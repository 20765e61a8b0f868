"""SQS consumer: an instalment plan's due job (charge the instalment, or end the plan that
was never set up or stayed unpaid past its grace days). A charge Stripe did not confirm
raises: SQS retries the job, which replays the same idempotency key."""

from recoup.jobs import sqs_handler
from recoup.services import instalment_plans
from recoup.settings import configure

configure("plan_charges")
lambda_handler = sqs_handler(
    instalment_plans, "charge_job", job="Instalment plan job", failure_metric="PlanJobFailed"
)
