"""SQS consumer: apply each verified event to its case.

One record's failure is its own (partial batch response): the queue is standard and the
case a join of facts, so no event waits for another. An event that fails its last allowed
attempt is moved aside: its body to the queue bodies bucket, a reference to the DLQ.
"""

from recoup.jobs import sqs_handler
from recoup.services import cases
from recoup.settings import configure

configure("event_worker")
lambda_handler = sqs_handler(
    cases,
    "apply_job",
    job="Event",
    failure_metric="EventFailed",
    dead_letter_queue="events_dlq_url",
)
