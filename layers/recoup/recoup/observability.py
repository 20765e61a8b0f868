"""The one place the Logger and Metrics are created (Powertools reads its own env vars).

There is no Powertools Tracer: instantiating it imports the X-Ray SDK (about 350 ms of cold
start, see docs/performance.md); template.yaml turns on Lambda's active tracing instead,
which records each invocation and its AWS calls' latency at the service level.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="recoup")
metrics = Metrics(namespace="Recoup", service="recoup")

# Metrics that template.yaml alarms on (>= 1 in five minutes notifies the alarm topic); the
# alarms' dimensions match what `metrics` emits (service=recoup), which a test checks.
ALARMED_METRICS = (
    "ReminderOutcomeUnknown",
    "HandOverOverdue",
    "HandOverFailed",
    "HandOverOutcomeUnknown",
    "ShopifyWebhookFailed",
    "StripeWebhookFailed",
)
