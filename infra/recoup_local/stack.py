"""Start the local stack: moto's server on loopback (or moto in-process for tests), the
resources of template.yaml, and the functions with their template environment."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recoup_local import moto_patches, powertools_patches
from recoup_local.lambdas import LocalLambdas, reset_caches
from recoup_local.provision import Stack, provision

if TYPE_CHECKING:
    from recoup_local.shopify_tokens import TokenEndpoint
    from recoup_local.stripe_platform import StripePlatform

REGION = "us-east-1"
# Development defaults, documented in README: anyone can sign a delivery by hand with them.
DEV_SECRETS = {
    "RECOUP_SHOPIFY_API_SECRET": "dev-shopify-client-secret-local-only",
    "RECOUP_STRIPE_WEBHOOK_SECRET": "whsec_dev_local_only",
    "RECOUP_LINK_SECRET": "dev-link-signing-secret",
    "RECOUP_IDENTITY_HASH_KEY": "dev-identity-hash-key",
}
# The app's API key (client id) is public: it is the audience of App Bridge session tokens.
# Locally any fixed value works, as long as the tokens `recoup admin-url` mints name it too.
DEV_SHOPIFY_API_KEY = "dev-shopify-api-key"
LOCAL_LINK_LIFETIME_VARIABLE = "RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS"
LOCAL_PUBLIC_URL = "http://127.0.0.1:3000"
# The platform's Stripe key and Connect client id on the served stack: the stand-in
# (recoup_local.stripe_platform) accepts these only.
LOCAL_STRIPE_KEYS = {
    "RECOUP_STRIPE_API_KEY": "sk_test_local_platform",
    "RECOUP_STRIPE_CONNECT_CLIENT_ID": "ca_LocalPlatform",
}
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass
class LocalStack:
    stack: Stack
    lambdas: LocalLambdas
    endpoint: str | None
    shopify_tokens: TokenEndpoint | None = None  # the stand-in for Shopify's token endpoint
    stripe: StripePlatform | None = None  # the stand-in for Stripe (Connect, Checkout, payments)

    @property
    def shopify_secret(self) -> str:
        return os.environ["RECOUP_SHOPIFY_API_SECRET"].split(",")[0]

    @property
    def link_secret(self) -> str:
        return os.environ["RECOUP_LINK_SECRET"].split(",")[0]

    @property
    def stripe_secret(self) -> str:
        return os.environ["RECOUP_STRIPE_WEBHOOK_SECRET"].split(",")[0]

    @property
    def shopify_api_key(self) -> str:
        return os.environ["RECOUP_SHOPIFY_API_KEY"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secrets() -> dict[str, str]:
    values = {name: os.environ.get(name) or default for name, default in DEV_SECRETS.items()}
    public = os.environ.get("RECOUP_LOCAL_PUBLIC_URL") or LOCAL_PUBLIC_URL
    api_key = os.environ.get("RECOUP_SHOPIFY_API_KEY") or DEV_SHOPIFY_API_KEY
    return {
        "RECOUP_SECRETS_SOURCE": "env",
        "RECOUP_PUBLIC_URL": public,
        "RECOUP_SHOPIFY_API_KEY": api_key,
        **values,
    }


def _verify_sender(stack: Stack) -> None:
    """SES refuses to send from an unverified identity; the emulator verifies at once."""
    import boto3

    env = {k: v for spec in stack.functions for k, v in spec.environment.items()}
    domain = env["RECOUP_SENDER_ADDRESS"].rsplit("@", 1)[1]
    boto3.client("ses", region_name=stack.region).verify_domain_identity(Domain=domain)
    boto3.client("ses", region_name=stack.region).verify_email_identity(
        EmailAddress=env["RECOUP_SENDER_ADDRESS"]
    )
    _mark_verified(domain, stack.region)


def _mark_verified(domain: str, region: str) -> None:
    """The domain as SES v2 reports it once its DKIM records are found (template.yaml
    declares Easy DKIM), which moto never finds: the admin page's checklist reads it."""
    from moto.backends import get_backend

    from recoup_local.provision import ACCOUNT

    identity = get_backend("ses")[ACCOUNT][region].email_identities.get(domain)
    if identity is None:  # a moto server in another process: the checklist shows a warning
        return
    identity.verified_for_sending_status = True
    identity.dkim_attributes.update(
        SigningEnabled=True, Status="SUCCESS", NextSigningKeyLength="RSA_2048_BIT"
    )


def _start(endpoint: str | None, stripe: StripePlatform, *, stripe_keys: bool) -> LocalStack:
    """`stripe_keys`: the platform's Stripe key and Connect client id are set, so pay links
    open the stand-in's Checkout and the admin page can connect Stripe (tests opt in)."""
    os.environ.update(_FAKE_CREDENTIALS)
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    else:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    stack = provision(region=REGION)
    _verify_sender(stack)
    env = {**_secrets(), "RECOUP_STRIPE_API_BASE": stripe.url}
    for name, value in LOCAL_STRIPE_KEYS.items():
        if stripe_keys:
            env[name] = value
        elif os.environ.get(name) == value:  # left by a served stack earlier in this process
            del os.environ[name]
    if endpoint:
        # Served: the stand-in posts its events to the stack's front, signed with the stack's
        # secret (write_state points it at the front actually serving). In-process tests
        # deliver `stripe.events` themselves.
        stripe.webhook_url = f"{env['RECOUP_PUBLIC_URL']}/webhooks/stripe"
        stripe.webhook_secret = env["RECOUP_STRIPE_WEBHOOK_SECRET"].split(",")[0]
    else:
        stripe.webhook_url = ""
    local = LocalStack(stack, LocalLambdas(stack, env), endpoint)
    local.stripe = stripe
    return local


@contextmanager
def emulated(port: int | None = None) -> Iterator[LocalStack]:
    """moto's server on 127.0.0.1: other processes (curl, `recoup cases`) can reach it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
    moto_patches.apply()  # transactions that cost what they touch; one AWS call at a time
    powertools_patches.apply()  # concurrent HTTP invocations each see their own event
    # `recoup admin-url` links open the page for a working session: App Bridge, which would
    # mint a fresh one-minute token per request, does not run here (the admin API honours
    # this only with env secrets, never on a deployed stack).
    os.environ.setdefault(LOCAL_LINK_LIFETIME_VARIABLE, str(24 * 60 * 60))
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    from recoup_local import shopify_tokens
    from recoup_local.stripe_platform import StripePlatform

    stripe = StripePlatform().start()
    try:
        with shopify_tokens.installed() as tokens:
            local = _start(f"http://127.0.0.1:{port}", stripe, stripe_keys=True)
            local.shopify_tokens = tokens
            yield local
    finally:
        stripe.close()
        server.stop()


@contextmanager
def in_process() -> Iterator[LocalStack]:
    """moto in-process (mock_aws): the same resources, no sockets; for integration tests."""
    from moto import mock_aws

    from recoup_local import shopify_tokens
    from recoup_local.stripe_platform import StripePlatform

    moto_patches.apply()  # transactions that cost what they touch; one AWS call at a time
    powertools_patches.apply()  # concurrent HTTP invocations each see their own event
    os.environ.update(_FAKE_CREDENTIALS)
    stripe = StripePlatform().start()
    try:
        with mock_aws(), shopify_tokens.installed() as tokens:
            local = _start(None, stripe, stripe_keys=False)
            local.shopify_tokens = tokens
            yield local
    finally:
        stripe.close()


STATE_FILE = ".recoup-local.json"


def write_state(local: LocalStack, front_url: str) -> Path:
    """Tell other commands (`recoup cases`) where the running stack is; the Stripe stand-in
    posts its webhook events to that front."""
    if local.stripe is not None and local.stripe.webhook_secret:
        local.stripe.webhook_url = f"{front_url}/webhooks/stripe"
    env = {k: v for spec in local.stack.functions for k, v in spec.environment.items()}
    path = Path(STATE_FILE)
    path.write_text(json.dumps({"endpoint": local.endpoint, "front": front_url, "env": env}))
    return path


def connect() -> None:
    """Point this process at the stack `recoup serve` is running, through its state file."""
    path = Path(STATE_FILE)
    if not path.exists():
        raise SystemExit("no local stack is running here: start one with `make serve`")
    state = json.loads(path.read_text())
    os.environ.update(_FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = state["endpoint"]
    os.environ.update(state["env"])
    os.environ.update(_secrets())
    reset_caches()
