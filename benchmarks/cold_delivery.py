"""A cold container's first Shopify delivery, as a ratio to a bare `import boto3`.

The span runs from just before `import app` to just after the handler has answered one
delivery: the handler's imports, verification, and for an accepted delivery whatever
enqueueing costs the first time (importing boto3, creating the SQS client, one SendMessage).

The AWS side is moto's server on loopback, started in the benchmark's own process, rather
than `mock_aws` inside the measured process: importing moto imports boto3 and botocore (over
a hundred modules), so with `mock_aws` in the process the span could never include the SDK's
import, which is exactly the cost this figure is about. With the server, the measured
process holds nothing but what Lambda would load, and moto's import is outside it entirely.

Four variants: valid and forged, each with secrets read from the environment (the local
stack's setting) and from SSM Parameter Store (template.yaml's setting, what is deployed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks import fresh
from benchmarks.fresh import BenchError, Probe, Sample
from benchmarks.import_time import BOTO3
from benchmarks.payloads import WRONG_SECRET, Deliveries

FUNCTION = "shopify_webhook"
ROUNDS = 5  # at most; each probe takes about a second
LOGICAL_ID = "ShopifyWebhookFunction"
SHOPIFY_SECRET = "bench-shopify-client-secret"  # noqa: S105 - local emulator only
STRIPE_SECRET = "whsec_bench_local_only"  # noqa: S105 - local emulator only
PARAMS = {
    "RECOUP_SHOPIFY_API_SECRET_PARAM": ("/recoup/bench/shopify-api-secret", SHOPIFY_SECRET),
    "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM": ("/recoup/bench/stripe-webhook-secret", STRIPE_SECRET),
}


@dataclass(frozen=True)
class Variant:
    name: str
    valid: bool
    secrets: str  # "env" or "ssm"
    expected_status: int


VARIANTS = (
    Variant("first delivery, valid, secrets from env", True, "env", 200),
    Variant("first delivery, forged, secrets from env", False, "env", 401),
    Variant("first delivery, valid, secrets from SSM", True, "ssm", 200),
    Variant("first delivery, forged, secrets from SSM", False, "ssm", 401),
)


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    queue_url: str


@contextmanager
def emulator() -> Iterator[Emulator]:
    """moto's server on 127.0.0.1 with the events queue and the two SSM parameters."""
    import boto3.session
    from moto.server import ThreadedMotoServer

    from recoup_local.stack import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(
            aws_access_key_id=fresh.FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=fresh.FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=fresh.REGION,
        )
        queue_url = session.client("sqs", endpoint_url=endpoint).create_queue(
            QueueName="recoup-bench-events"
        )["QueueUrl"]
        ssm = session.client("ssm", endpoint_url=endpoint)
        for name, value in PARAMS.values():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        yield Emulator(endpoint, queue_url)
    finally:
        server.stop()


def _env(emu: Emulator, secrets: str) -> dict[str, str]:
    extra = {
        "AWS_ENDPOINT_URL": emu.endpoint,
        "RECOUP_STAGE": "dev",  # settings refuse any other stage name
        "RECOUP_TABLE_NAME": "recoup-bench",  # not read by the webhook functions
        "RECOUP_EVENTS_QUEUE_URL": emu.queue_url,
        "RECOUP_SECRETS_SOURCE": secrets,
        # Declared by the function (checked at its cold start), not used by a small delivery.
        "RECOUP_PRIVACY_QUEUE_URL": emu.queue_url,
        "RECOUP_QUEUE_BODIES_BUCKET": "recoup-bench-queue-bodies",
        "RECOUP_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/bench",
    }
    # The parameters' names are declared either way; with secrets from env they are not read.
    extra.update({variable: name for variable, (name, _) in PARAMS.items()})
    if secrets == "env":
        extra["RECOUP_SHOPIFY_API_SECRET"] = SHOPIFY_SECRET
        extra["RECOUP_STRIPE_WEBHOOK_SECRET"] = STRIPE_SECRET
    return fresh.lambda_env(FUNCTION, extra)


_CONTEXT = f"""
class _Context:
    function_name = {LOGICAL_ID!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:{LOGICAL_ID}"
    memory_limit_in_mb = 512
    aws_request_id = "bench-request"
    log_group_name = "/aws/lambda/{LOGICAL_ID}"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 10_000
"""


def _script(variant: Variant, deliveries: Deliveries) -> Callable[[int], str]:
    from recoup_local.lambdas import http_event

    def script(round_index: int) -> str:
        # Each round its own order and webhook id, as separate cold containers would see.
        index = 1_000_000 + round_index + 1
        delivery = deliveries.shopify(index, SHOPIFY_SECRET if variant.valid else WRONG_SECRET)
        event = http_event("POST", delivery.path, delivery.headers, delivery.body)
        return fresh.span_script(
            "import app\n_response = app.lambda_handler(EVENT, _Context())",
            setup=f"EVENT = {event!r}\n{_CONTEXT}",
            after="_facts['status'] = _response['statusCode']\n"
            "_facts['loaded'] = sorted(m for m in ('boto3', 'botocore.client', 'stripe') "
            "if m in sys.modules)",
        )

    return script


def probes(emu: Emulator, deliveries: Deliveries) -> list[Probe]:
    return [
        Probe(
            variant.name,
            _script(variant, deliveries),
            _env(emu, variant.secrets),
            fresh.function_dir(FUNCTION),
            rounds=ROUNDS,
        )
        for variant in VARIANTS
    ]


@dataclass(frozen=True)
class ColdResult:
    variant: Variant
    seconds: float
    ratio: float  # span / span of import boto3
    loaded: Sequence[str]  # of boto3, botocore.client, stripe: which were loaded afterwards
    rounds: int


def summarise(samples: Mapping[str, list[Sample]]) -> list[ColdResult]:
    boto3 = fresh.best(samples[BOTO3]).span
    results = []
    for variant in VARIANTS:
        for sample in samples[variant.name]:
            if sample.facts.get("status") != variant.expected_status:
                raise BenchError(
                    f"{variant.name}: answered {sample.facts.get('status')}, "
                    f"expected {variant.expected_status}"
                )
        sample = fresh.best(samples[variant.name])
        results.append(
            ColdResult(
                variant=variant,
                seconds=sample.span,
                ratio=sample.span / boto3,
                loaded=tuple(sample.facts.get("loaded", ())),
                rounds=len(samples[variant.name]),
            )
        )
    return results
