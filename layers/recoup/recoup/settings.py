"""Configuration, read once from the environment into a typed object.

Names and ARNs come from the environment (template.yaml sets them); secrets come from SSM
Parameter Store through Powertools' cached parameters in the cloud, or from environment
variables on the local stack. Nothing else in the project reads os.environ.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache

from recoup.errors import ConfigurationError

SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    region: str
    table_name: str
    events_queue_url: str
    secrets_source: str  # "ssm" (cloud) or "env" (local stack, tests)
    shopify_secret_param: str | None
    stripe_secret_param: str | None
    shopify_secret_env: str | None
    stripe_secret_env: str | None
    reminder_queue_url: str | None = None
    sender_address: str | None = None
    ses_configuration_set: str | None = None
    # The https base of links and redirects: RECOUP_PUBLIC_URL when set (the local stack,
    # tests), else the SSM String parameter the stack writes (`public_base_url`).
    public_url_env: str | None = None
    public_url_param: str | None = None
    link_secret_param: str | None = None
    link_secret_env: str | None = None
    stripe_api_key_param: str | None = None
    stripe_api_key_env: str | None = None
    stripe_connect_client_id: str | None = None  # the platform's Connect client id (ca_...)
    stripe_api_base: str | None = None  # the local stack's Stripe stand-in; never in the cloud
    shopify_api_key: str | None = None  # the app's client id (public; the session token's aud)
    kms_key_arn: str | None = None  # the data key: the table and the case files
    token_key_arn: str | None = None  # shops' Shopify access tokens, and nothing else
    shopify_tasks_queue_url: str | None = None  # customer tagging and other Admin API calls
    escalation_queue_url: str | None = None  # referral jobs and hand-overs
    case_files_bucket: str | None = None  # referral case files (private, encrypted)
    casefile_signing_key_id: str | None = None  # asymmetric KMS key that signs case files
    privacy_queue_url: str | None = None  # privacy webhooks and app/uninstalled jobs
    handover_queue_url: str | None = None  # referral hand-overs to agencies and lawyers
    handover_secret_prefix: str | None = None  # SSM path of shops' hand-over secrets
    identity_hash_key_param: str | None = None
    identity_hash_key_env: str | None = None
    # The served local stack only: how long `recoup admin-url` links may live (seconds).
    local_session_token_max_seconds: int | None = None
    events_dlq_url: str | None = None  # events whose retries are spent (references only)
    privacy_dlq_url: str | None = None  # privacy jobs whose retries are spent (references only)
    queue_bodies_bucket: str | None = None  # oversized events and dead-lettered bodies
    # The number (E.164) or alphanumeric sender ID every SMS goes from; None: SNS chooses.
    sms_origination_identity: str | None = None

    def public_base_url(self) -> str:
        """The https base (no trailing slash) of the pay and unsubscribe links and of the
        Shopify and Stripe OAuth redirect URIs. RECOUP_PUBLIC_URL wins when set; otherwise, in
        the cloud, the String parameter RECOUP_PUBLIC_URL_PARAM names, which the stack writes
        in the same deploy as the API (PublicBaseUrl, else the custom domain, else the API's
        own URL), read through the same five-minute cache as the secrets."""
        if self.public_url_env:
            return self.public_url_env
        if self.secrets_source == "env" or not self.public_url_param:
            raise ConfigurationError(
                "the public base URL is not configured "
                "(RECOUP_PUBLIC_URL, or RECOUP_PUBLIC_URL_PARAM in the cloud)"
            )
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = _ssm_secret(self.public_url_param)
        except GetParameterError as error:
            raise ConfigurationError(
                f"the public base URL could not be read from SSM parameter "
                f"{self.public_url_param} (RECOUP_PUBLIC_URL_PARAM): {error}"
            ) from error
        base = value.strip().rstrip("/")
        if not base:
            raise ConfigurationError(f"SSM parameter {self.public_url_param} is empty")
        return base

    def link_secrets(self) -> tuple[str, ...]:
        """Signs unsubscribe links; the first signs, all verify (rotation)."""
        return self._secret("RECOUP_LINK_SECRET", self.link_secret_env, self.link_secret_param)

    def identity_hash_key(self) -> bytes:
        """Keys the hashes of emails, phone numbers, cards and IPs in the table's keys
        (`recoup.store.identity`). One value, never rotated in place: records keyed with the
        old value would no longer be found (an opt-out among them would be lost)."""
        return self._secret(
            "RECOUP_IDENTITY_HASH_KEY", self.identity_hash_key_env, self.identity_hash_key_param
        )[0].encode()

    def stripe_api_key(self) -> str | None:
        """The platform's Stripe secret key, for Checkout pay links; None: not configured
        (no such environment variable or SSM parameter), which is a supported setup."""
        if self.secrets_source == "env":
            return (self.stripe_api_key_env or "").strip() or None
        if not self.stripe_api_key_param:
            return None
        return _optional_ssm_secret(self.stripe_api_key_param)

    def handover_secrets(self, shop: str, secret_ref: str) -> tuple[str, ...]:
        """The secret(s) a shop's hand-over webhook and its agency's report-backs are signed
        with; `secret_ref` is the policy's name for it (validated: plain path segments). In
        the cloud, the SSM parameter `<prefix>/<shop>/<secret_ref>`; on the local stack, the
        environment variable RECOUP_HANDOVER_SECRET_<REF> (REF upper-cased, '/' and '-' as
        '_'). A comma-separated value allows rotation."""
        env_name = "RECOUP_HANDOVER_SECRET_" + "".join(
            c if c.isalnum() else "_" for c in secret_ref.upper()
        )
        if self.secrets_source == "env":
            return self._secret(env_name, os.environ.get(env_name), None)
        prefix = self.require("handover_secret_prefix").rstrip("/")
        return self._secret(env_name, None, f"{prefix}/{shop}/{secret_ref}")

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"{name.upper()} is not configured (RECOUP_{name.upper()})")
        return str(value)

    def session_token_max_lifetime(self) -> int:
        """The longest `exp - iat` of an admin session token: Shopify's one minute plus
        leeway. The served local stack (secrets from the environment, tokens minted by
        `recoup admin-url` with a public development secret, no App Bridge to mint fresh
        ones) may allow longer links; a stack that reads its secrets from SSM never does."""
        from recoup.admin.auth import MAX_LIFETIME_SECONDS

        local = self.local_session_token_max_seconds
        if self.secrets_source == "env" and local is not None:
            return local
        return MAX_LIFETIME_SECONDS

    def shopify_secrets(self) -> tuple[str, ...]:
        """The app's client secret(s); a comma-separated list allows rotation."""
        return self._secret(
            "RECOUP_SHOPIFY_API_SECRET", self.shopify_secret_env, self.shopify_secret_param
        )

    def stripe_secrets(self) -> tuple[str, ...]:
        """The webhook endpoint's signing secret(s) (whsec_...)."""
        return self._secret(
            "RECOUP_STRIPE_WEBHOOK_SECRET", self.stripe_secret_env, self.stripe_secret_param
        )

    def _secret(self, env_name: str, env_value: str | None, param: str | None) -> tuple[str, ...]:
        if self.secrets_source == "env":
            value = env_value
            if not value:
                raise ConfigurationError(f"{env_name} is not set")
        else:
            if not param:
                raise ConfigurationError(f"{env_name}_PARAM is not set")
            value = _ssm_secret(param)
        secrets = tuple(part.strip() for part in value.split(",") if part.strip())
        if not secrets:
            raise ConfigurationError(f"{env_name} is empty")
        return secrets


def _ssm_secret(name: str) -> str:
    # Imported on first use: the parameters utility is not needed on the local stack.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=SECRET_CACHE_SECONDS)
    return str(value)


_absent: dict[str, float] = {}


def _optional_ssm_secret(name: str) -> str | None:
    """A parameter that may not exist: its absence is remembered as long as a value would be,
    so a shop without it costs one GetParameter per container every five minutes."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    if time.monotonic() < _absent.get(name, 0.0):
        return None
    try:
        return _ssm_secret(name).strip() or None
    except GetParameterError:
        _absent[name] = time.monotonic() + SECRET_CACHE_SECONDS
        return None


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _whole_number(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number of seconds, got {value!r}")
    return int(value)


@cache
def get_settings() -> Settings:
    source = os.environ.get("RECOUP_SECRETS_SOURCE", "ssm")
    if source not in ("ssm", "env"):
        raise ConfigurationError(f"RECOUP_SECRETS_SOURCE must be ssm or env, not {source!r}")
    return Settings(
        stage=os.environ.get("RECOUP_STAGE", "dev"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        table_name=_required("RECOUP_TABLE_NAME"),
        events_queue_url=_required("RECOUP_EVENTS_QUEUE_URL"),
        secrets_source=source,
        shopify_secret_param=os.environ.get("RECOUP_SHOPIFY_API_SECRET_PARAM"),
        stripe_secret_param=os.environ.get("RECOUP_STRIPE_WEBHOOK_SECRET_PARAM"),
        shopify_secret_env=os.environ.get("RECOUP_SHOPIFY_API_SECRET"),
        stripe_secret_env=os.environ.get("RECOUP_STRIPE_WEBHOOK_SECRET"),
        reminder_queue_url=os.environ.get("RECOUP_REMINDER_QUEUE_URL"),
        sender_address=os.environ.get("RECOUP_SENDER_ADDRESS"),
        ses_configuration_set=os.environ.get("RECOUP_SES_CONFIGURATION_SET"),
        public_url_env=(os.environ.get("RECOUP_PUBLIC_URL") or "").strip().rstrip("/") or None,
        public_url_param=os.environ.get("RECOUP_PUBLIC_URL_PARAM") or None,
        link_secret_param=os.environ.get("RECOUP_LINK_SECRET_PARAM"),
        link_secret_env=os.environ.get("RECOUP_LINK_SECRET"),
        stripe_api_key_param=os.environ.get("RECOUP_STRIPE_API_KEY_PARAM"),
        stripe_api_key_env=os.environ.get("RECOUP_STRIPE_API_KEY"),
        stripe_connect_client_id=os.environ.get("RECOUP_STRIPE_CONNECT_CLIENT_ID") or None,
        stripe_api_base=os.environ.get("RECOUP_STRIPE_API_BASE") or None,
        shopify_api_key=os.environ.get("RECOUP_SHOPIFY_API_KEY") or None,
        kms_key_arn=os.environ.get("RECOUP_KMS_KEY_ARN") or None,
        token_key_arn=os.environ.get("RECOUP_TOKEN_KEY_ARN") or None,
        shopify_tasks_queue_url=os.environ.get("RECOUP_SHOPIFY_TASKS_QUEUE_URL") or None,
        escalation_queue_url=os.environ.get("RECOUP_ESCALATION_QUEUE_URL") or None,
        case_files_bucket=os.environ.get("RECOUP_CASE_FILES_BUCKET") or None,
        casefile_signing_key_id=os.environ.get("RECOUP_CASEFILE_SIGNING_KEY_ID") or None,
        privacy_queue_url=os.environ.get("RECOUP_PRIVACY_QUEUE_URL") or None,
        handover_queue_url=os.environ.get("RECOUP_HANDOVER_QUEUE_URL") or None,
        handover_secret_prefix=os.environ.get("RECOUP_HANDOVER_SECRET_PREFIX") or None,
        identity_hash_key_param=os.environ.get("RECOUP_IDENTITY_HASH_KEY_PARAM") or None,
        identity_hash_key_env=os.environ.get("RECOUP_IDENTITY_HASH_KEY") or None,
        local_session_token_max_seconds=_whole_number("RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS"),
        events_dlq_url=os.environ.get("RECOUP_EVENTS_DLQ_URL") or None,
        privacy_dlq_url=os.environ.get("RECOUP_PRIVACY_DLQ_URL") or None,
        queue_bodies_bucket=os.environ.get("RECOUP_QUEUE_BODIES_BUCKET") or None,
        sms_origination_identity=(os.environ.get("RECOUP_SMS_ORIGINATION_IDENTITY") or "").strip()
        or None,
    )
