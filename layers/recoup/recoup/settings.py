"""Configuration, read once from the environment into a typed object.

Each function declares what it reads (`FUNCTION_SETTINGS`, keyed by its functions/<dir>):
template.yaml gives it those environment variables and no others (tests/unit/test_template.py
holds the two together), and its app.py calls `configure("<dir>")` once at import. A declared
variable that is missing or malformed then fails the cold start, naming the variable, instead
of the first request that needs it; and `Settings.require`, or a secret read, of a setting the
function did not declare raises, so that tests find such a use before production does.

Without `configure` (tests and tools calling services directly) nothing is checked, as before.
Where several functions share one process (the local stack), each invocation runs inside
`invocation("<dir>")`, which checks that function's declaration; outside an invocation, any
setting some configured function declares is allowed.

Names and ARNs come from the environment; secrets come from SSM Parameter Store through
Powertools' cached parameters in the cloud, or from environment variables on the local stack.
Nothing else in the project reads os.environ.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Literal, cast, get_args

from recoup.errors import ConfigurationError

SECRET_CACHE_SECONDS = 300

# ---------------------------------------------------------------- what a function may declare

QueueSetting = Literal[
    "events_queue_url",
    "privacy_queue_url",
    "reminder_queue_url",
    "escalation_queue_url",
    "handover_queue_url",
    "shopify_tasks_queue_url",
    "plan_charges_queue_url",
    "events_dlq_url",
    "privacy_dlq_url",
]
# The SSM parameters a function reads (their names; the values are read on use, cached).
SecretSetting = Literal[
    "shopify_secret_param",
    "stripe_secret_param",
    "link_secret_param",
    "stripe_api_key_param",
    "identity_hash_key_param",
    "public_url_param",
    "handover_secret_prefix",
]
SettingName = Literal[
    QueueSetting,
    SecretSetting,
    "sender_address",
    "ses_configuration_set",
    "sms_origination_identity",
    "shopify_api_key",
    "stripe_connect_client_id",
    "kms_key_arn",
    "token_key_arn",
    "casefile_signing_key_id",
    "case_files_bucket",
    "queue_bodies_bucket",
]
FunctionName = Literal[
    "admin_api",
    "customer_page",
    "escalation",
    "event_worker",
    "feedback",
    "handover",
    "pay_link",
    "plan_charges",
    "privacy",
    "referral_report",
    "scheduler",
    "sender",
    "shopify_auth",
    "shopify_tasks",
    "shopify_webhook",
    "stripe_webhook",
    "unsubscribe",
]


@dataclass(frozen=True, slots=True)
class Variable:
    """An environment variable and the shape its value must have."""

    name: str
    pattern: str
    expected: str  # what the pattern means, for the error
    optional: bool = False  # may be empty: a template parameter left blank is a supported setup

    def problem(self) -> str | None:
        raw = os.environ.get(self.name)
        if raw is None:
            return f"environment variable {self.name} is not set"
        value = raw.strip()
        if not value:
            return None if self.optional else f"environment variable {self.name} is empty"
        if not re.fullmatch(self.pattern, value):
            return f"environment variable {self.name} must be {self.expected}, got {value!r}"
        return None


_QUEUE_URL = (r"https?://[^\s/]+/\S+", "an http(s) SQS queue URL")
_ARN = (r"arn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:\S+", "an ARN (arn:...)")
_BUCKET = (r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name")
_SSM_NAME = (r"/[A-Za-z0-9_.\-/]+", "an SSM parameter path (/...)")


def _variable(name: str, shape: tuple[str, str], *, optional: bool = False) -> Variable:
    return Variable(name, shape[0], shape[1], optional)


# Every setting a function may declare, and the variable it comes from.
VARIABLES: Mapping[SettingName, Variable] = {
    "events_queue_url": _variable("RECOUP_EVENTS_QUEUE_URL", _QUEUE_URL),
    "privacy_queue_url": _variable("RECOUP_PRIVACY_QUEUE_URL", _QUEUE_URL),
    "reminder_queue_url": _variable("RECOUP_REMINDER_QUEUE_URL", _QUEUE_URL),
    "escalation_queue_url": _variable("RECOUP_ESCALATION_QUEUE_URL", _QUEUE_URL),
    "handover_queue_url": _variable("RECOUP_HANDOVER_QUEUE_URL", _QUEUE_URL),
    "shopify_tasks_queue_url": _variable("RECOUP_SHOPIFY_TASKS_QUEUE_URL", _QUEUE_URL),
    "plan_charges_queue_url": _variable("RECOUP_PLAN_CHARGES_QUEUE_URL", _QUEUE_URL),
    "events_dlq_url": _variable("RECOUP_EVENTS_DLQ_URL", _QUEUE_URL),
    "privacy_dlq_url": _variable("RECOUP_PRIVACY_DLQ_URL", _QUEUE_URL),
    "shopify_secret_param": _variable("RECOUP_SHOPIFY_API_SECRET_PARAM", _SSM_NAME),
    "stripe_secret_param": _variable("RECOUP_STRIPE_WEBHOOK_SECRET_PARAM", _SSM_NAME),
    "link_secret_param": _variable("RECOUP_LINK_SECRET_PARAM", _SSM_NAME),
    "stripe_api_key_param": _variable("RECOUP_STRIPE_API_KEY_PARAM", _SSM_NAME),
    "identity_hash_key_param": _variable("RECOUP_IDENTITY_HASH_KEY_PARAM", _SSM_NAME),
    "public_url_param": _variable("RECOUP_PUBLIC_URL_PARAM", _SSM_NAME),
    "handover_secret_prefix": _variable("RECOUP_HANDOVER_SECRET_PREFIX", _SSM_NAME),
    "sender_address": _variable("RECOUP_SENDER_ADDRESS", (r"[^@\s]+@[^@\s]+", "an email address")),
    "ses_configuration_set": _variable(
        "RECOUP_SES_CONFIGURATION_SET", (r"[A-Za-z0-9_-]{1,64}", "an SES configuration set name")
    ),
    "sms_origination_identity": _variable(
        "RECOUP_SMS_ORIGINATION_IDENTITY",
        (
            r"\+[1-9][0-9]{1,14}|(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,11}",
            "an E.164 number or an alphanumeric sender ID",
        ),
        optional=True,
    ),
    "shopify_api_key": _variable(
        "RECOUP_SHOPIFY_API_KEY", (r"\S+", "the app's client id"), optional=True
    ),
    "stripe_connect_client_id": _variable(
        "RECOUP_STRIPE_CONNECT_CLIENT_ID",
        (r"ca_[A-Za-z0-9_]+", "a client id (ca_...)"),
        optional=True,
    ),
    "kms_key_arn": _variable("RECOUP_KMS_KEY_ARN", _ARN),
    "token_key_arn": _variable("RECOUP_TOKEN_KEY_ARN", _ARN),
    "casefile_signing_key_id": _variable("RECOUP_CASEFILE_SIGNING_KEY_ID", _ARN),
    "case_files_bucket": _variable("RECOUP_CASE_FILES_BUCKET", _BUCKET),
    "queue_bodies_bucket": _variable("RECOUP_QUEUE_BODIES_BUCKET", _BUCKET),
}
# What every function reads (template.yaml's Globals, besides Powertools' own variables).
GLOBAL_VARIABLES = (
    Variable("RECOUP_STAGE", "dev|staging|prod", "dev, staging or prod"),
    Variable("RECOUP_TABLE_NAME", r"[A-Za-z0-9_.-]{3,255}", "a DynamoDB table name"),
    Variable("RECOUP_SECRETS_SOURCE", "ssm|env", "ssm or env"),
)

# Settings that go together. Buckets come with the data key: what a function writes there
# is encrypted with it (SSE-KMS), and reading needs nothing more than the bucket's name.
_EMAIL: tuple[SettingName, ...] = ("sender_address", "ses_configuration_set")
_SMS: tuple[SettingName, ...] = ("sms_origination_identity",)
_LINKS: tuple[SettingName, ...] = ("public_url_param", "link_secret_param")
_QUEUE_BODIES: tuple[SettingName, ...] = ("queue_bodies_bucket", "kms_key_arn")
_CASE_FILES: tuple[SettingName, ...] = ("case_files_bucket", "kms_key_arn")
_SIGNED_CASE_FILES: tuple[SettingName, ...] = (*_CASE_FILES, "casefile_signing_key_id")
# The app's client id and secret: OAuth, session tokens, token exchange and refresh.
_SHOPIFY_APP: tuple[SettingName, ...] = ("shopify_api_key", "shopify_secret_param")
_IDENTITY_HASH: tuple[SettingName, ...] = ("identity_hash_key_param",)
_HAND_OVER_SECRETS: tuple[SettingName, ...] = ("handover_secret_prefix",)


def _declares(*groups: tuple[SettingName, ...]) -> frozenset[SettingName]:
    return frozenset(name for group in groups for name in group)


# What each function reads, by its functions/<dir> name. Direct reads count too (a service
# reading `get_settings().sender_address` in the function's code path): outside this entry,
# the function's environment does not have the variable.
FUNCTION_SETTINGS: Mapping[FunctionName, frozenset[SettingName]] = {
    # Enqueue (privacy requests too); an event too large for SQS goes to the bucket.
    "shopify_webhook": _declares(
        ("events_queue_url", "privacy_queue_url", "shopify_secret_param"), _QUEUE_BODIES
    ),
    "stripe_webhook": _declares(
        ("events_queue_url", "privacy_queue_url", "stripe_secret_param"), _QUEUE_BODIES
    ),
    # Flags a customer for tagging (Shopify tasks); dead-letters a reference, body to the bucket.
    "event_worker": _declares(
        ("events_dlq_url", "shopify_tasks_queue_url"), _QUEUE_BODIES, _IDENTITY_HASH
    ),
    # Due reminder steps, referral checks, hand-overs and instalment plans' jobs.
    "scheduler": _declares(
        (
            "reminder_queue_url",
            "escalation_queue_url",
            "handover_queue_url",
            "plan_charges_queue_url",
        )
    ),
    # The app's client id: links in the merchants' notices open the app in the Shopify admin.
    "sender": _declares(_EMAIL, _SMS, _LINKS, _IDENTITY_HASH, ("shopify_api_key",)),
    # HELP is answered by SMS.
    "feedback": _declares(_SMS, _IDENTITY_HASH),
    "unsubscribe": _declares(("link_secret_param",)),
    "pay_link": _declares(("link_secret_param", "stripe_api_key_param"), _IDENTITY_HASH),
    # The page's links (its own, the pay link, the form tokens); a fresh link by email or
    # SMS; a customer's request is a case write (its listing keys are keyed hashes); Stripe
    # Checkout for an instalment plan's card or payment and for a settlement offer.
    "customer_page": _declares(_LINKS, _EMAIL, _SMS, _IDENTITY_HASH, ("stripe_api_key_param",)),
    # Session tokens and token exchange; Stripe Connect; the onboarding checklist (sender
    # address, SMS identity); test messages, fraud tags and hand-overs queued; a referral by
    # hand writes the signed case files (and a case's available actions name their bucket).
    "admin_api": _declares(
        _SHOPIFY_APP,
        _IDENTITY_HASH,
        _SIGNED_CASE_FILES,
        _SMS,
        (
            "stripe_api_key_param",
            "stripe_connect_client_id",
            "public_url_param",
            "token_key_arn",
            "sender_address",
            "reminder_queue_url",
            "handover_queue_url",
            "shopify_tasks_queue_url",
        ),
    ),
    "shopify_auth": _declares(
        _SHOPIFY_APP, ("public_url_param", "stripe_api_key_param", "token_key_arn")
    ),
    # Decrypts the shop's token, and refreshes an expiring one with the app's credentials.
    "shopify_tasks": _declares(_SHOPIFY_APP, ("token_key_arn",)),
    # Exports (emailed links) and erasure of case files and queued bodies.
    "privacy": _declares(("privacy_dlq_url",), _QUEUE_BODIES, _CASE_FILES, _EMAIL, _IDENTITY_HASH),
    "escalation": _declares(
        _SIGNED_CASE_FILES, _IDENTITY_HASH, ("handover_queue_url", "shopify_tasks_queue_url")
    ),
    # An instalment's charge or a payment's retry at Stripe (off-session, on the shop's
    # connected account), an unpaid order's cancellation through the Admin API (the shop's
    # token); each outcome is a case write (its listing keys are keyed hashes).
    "plan_charges": _declares(
        ("stripe_api_key_param", "token_key_arn"), _SHOPIFY_APP, _IDENTITY_HASH
    ),
    # Presigned links to the case files, by email or a signed webhook.
    "handover": _declares(("case_files_bucket",), _EMAIL, _HAND_OVER_SECRETS, _IDENTITY_HASH),
    "referral_report": _declares(_HAND_OVER_SECRETS, _IDENTITY_HASH),
}


def environment_of(function: FunctionName) -> frozenset[str]:
    """The variables template.yaml gives the function itself (besides the Globals)."""
    return frozenset(VARIABLES[name].name for name in FUNCTION_SETTINGS[function])


# ---------------------------------------------------------------- which function is running

_configured: frozenset[FunctionName] = frozenset()  # replaced whole under the lock, never mutated
_configuring = threading.Lock()
_invoked: ContextVar[FunctionName | None] = ContextVar("recoup_invoked_function", default=None)


def configure(function: FunctionName) -> Settings:
    """Called once by functions/<function>/app.py at import: fail the cold start if a variable
    the function declares is missing or malformed, then hold its code to that declaration."""
    global _configured
    needs = FUNCTION_SETTINGS.get(function)
    if needs is None:
        raise ConfigurationError(
            f"function {function!r} declares no settings (recoup.settings.FUNCTION_SETTINGS)"
        )
    for variable in (*GLOBAL_VARIABLES, *(VARIABLES[name] for name in sorted(needs))):
        problem = variable.problem()
        if problem is not None:
            raise ConfigurationError(f"{function}: {problem}")
    settings = get_settings()
    with _configuring:
        _configured = _configured | {function}
    return settings


@contextmanager
def invocation(function: str) -> Iterator[None]:
    """One invocation of `function` in a process that hosts several (the local stack): what
    it reads is checked against its own declaration, as in its own Lambda."""
    if function not in FUNCTION_SETTINGS:
        raise ConfigurationError(f"function {function!r} declares no settings")
    token = _invoked.set(cast(FunctionName, function))
    try:
        yield
    finally:
        _invoked.reset(token)


def _declared() -> tuple[str, frozenset[SettingName]] | None:
    """Who is running and what they declared; None when no function is configured."""
    invoked = _invoked.get()
    if invoked is not None:
        return invoked, FUNCTION_SETTINGS[invoked]
    configured = _configured
    if not configured:
        return None
    union = frozenset[SettingName]().union(*(FUNCTION_SETTINGS[f] for f in configured))
    return ", ".join(sorted(configured)), union


def _check_declared(name: SettingName) -> None:
    if name not in VARIABLES:
        raise ConfigurationError(f"{name!r} is not a setting (recoup.settings.SettingName)")
    declared = _declared()
    if declared is not None and name not in declared[1]:
        raise ConfigurationError(
            f"{declared[0]} did not declare {name} ({VARIABLES[name].name}): add it to its "
            "entry in recoup.settings.FUNCTION_SETTINGS and to its Environment in template.yaml"
        )


# ---------------------------------------------------------------- the settings


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    region: str
    table_name: str
    events_queue_url: str | None  # only the webhook functions enqueue events
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
    plan_charges_queue_url: str | None = None  # instalment plans' charges, ends and lapses
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

    def require(self, name: SettingName) -> str:
        """A setting's value; ConfigurationError when it is empty, or when the running
        function did not declare it."""
        _check_declared(name)
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"{name.upper()} is not configured ({VARIABLES[name].name})")
        return str(value)

    def public_base_url(self) -> str:
        """The https base (no trailing slash) of the pay and unsubscribe links and of the
        Shopify and Stripe OAuth redirect URIs. RECOUP_PUBLIC_URL wins when set; otherwise, in
        the cloud, the String parameter RECOUP_PUBLIC_URL_PARAM names, which the stack writes
        in the same deploy as the API (PublicBaseUrl, else the custom domain, else the API's
        own URL), read through the same five-minute cache as the secrets."""
        _check_declared("public_url_param")
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
        _check_declared("link_secret_param")
        return self._secret("RECOUP_LINK_SECRET", self.link_secret_env, self.link_secret_param)

    def identity_hash_key(self) -> bytes:
        """Keys the hashes of emails, phone numbers, cards and IPs in the table's keys
        (`recoup.store.identity`). One value, never rotated in place: records keyed with the
        old value would no longer be found (an opt-out among them would be lost)."""
        _check_declared("identity_hash_key_param")
        return self._secret(
            "RECOUP_IDENTITY_HASH_KEY", self.identity_hash_key_env, self.identity_hash_key_param
        )[0].encode()

    def stripe_api_key(self) -> str | None:
        """The platform's Stripe secret key, for Checkout pay links; None: not configured
        (no such environment variable or SSM parameter), which is a supported setup."""
        _check_declared("stripe_api_key_param")
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
        _check_declared("handover_secret_prefix")
        env_name = "RECOUP_HANDOVER_SECRET_" + "".join(
            c if c.isalnum() else "_" for c in secret_ref.upper()
        )
        if self.secrets_source == "env":
            return self._secret(env_name, os.environ.get(env_name), None)
        prefix = self.require("handover_secret_prefix").rstrip("/")
        return self._secret(env_name, None, f"{prefix}/{shop}/{secret_ref}")

    def local_session_token_lifetime(self) -> int | None:
        """A longer `exp - iat` for admin session tokens than Shopify's one minute, or None.
        Only the served local stack (secrets from the environment, tokens minted by
        `recoup admin-url` with a public development secret, no App Bridge to mint fresh
        ones) may allow longer links; a stack that reads its secrets from SSM never does."""
        local = self.local_session_token_max_seconds
        if self.secrets_source == "env" and local is not None:
            return local
        return None

    def shopify_secrets(self) -> tuple[str, ...]:
        """The app's client secret(s); a comma-separated list allows rotation."""
        _check_declared("shopify_secret_param")
        return self._secret(
            "RECOUP_SHOPIFY_API_SECRET", self.shopify_secret_env, self.shopify_secret_param
        )

    def stripe_secrets(self) -> tuple[str, ...]:
        """The webhook endpoint's signing secret(s) (whsec_...)."""
        _check_declared("stripe_secret_param")
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


def _optional(name: str) -> str | None:
    return (os.environ.get(name) or "").strip() or None


def _whole_number(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number of seconds, got {value!r}")
    return int(value)


@cache
def get_settings() -> Settings:
    """The settings of this process's environment; a variable a function does not declare
    is absent from its environment, so its field is None (`require` says why)."""
    source = os.environ.get("RECOUP_SECRETS_SOURCE", "ssm")
    if source not in ("ssm", "env"):
        raise ConfigurationError(f"RECOUP_SECRETS_SOURCE must be ssm or env, not {source!r}")
    fields = {name: _optional(variable.name) for name, variable in VARIABLES.items()}
    return Settings(
        **fields,
        stage=os.environ.get("RECOUP_STAGE", "dev"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        table_name=_required("RECOUP_TABLE_NAME"),
        secrets_source=source,
        shopify_secret_env=os.environ.get("RECOUP_SHOPIFY_API_SECRET"),
        stripe_secret_env=os.environ.get("RECOUP_STRIPE_WEBHOOK_SECRET"),
        public_url_env=(os.environ.get("RECOUP_PUBLIC_URL") or "").strip().rstrip("/") or None,
        link_secret_env=os.environ.get("RECOUP_LINK_SECRET"),
        stripe_api_key_env=os.environ.get("RECOUP_STRIPE_API_KEY"),
        stripe_api_base=os.environ.get("RECOUP_STRIPE_API_BASE") or None,
        identity_hash_key_env=os.environ.get("RECOUP_IDENTITY_HASH_KEY") or None,
        local_session_token_max_seconds=_whole_number("RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS"),
    )


SETTING_NAMES: frozenset[SettingName] = frozenset(get_args(SettingName))
FUNCTION_NAMES: frozenset[FunctionName] = frozenset(get_args(FunctionName))
