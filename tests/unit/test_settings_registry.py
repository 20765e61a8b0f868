"""Each function declares the settings it reads (recoup.settings.FUNCTION_SETTINGS): its cold
start fails on a declared variable that is missing or malformed, naming it, and afterwards a
setting it did not declare is refused. Without configure() nothing is checked, as before."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoup import settings
from recoup.errors import ConfigurationError
from recoup.settings import (
    FUNCTION_NAMES,
    FUNCTION_SETTINGS,
    GLOBAL_VARIABLES,
    SETTING_NAMES,
    VARIABLES,
    Settings,
    configure,
    get_settings,
    invocation,
)

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# Well-formed values of every variable, as the template gives them in the cloud.
QUEUES = "https://sqs.us-east-1.amazonaws.com/123456789012/recoup-dev"
ARN = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CLOUD = {
    "RECOUP_STAGE": "dev",
    "RECOUP_TABLE_NAME": "recoup-dev",
    "RECOUP_SECRETS_SOURCE": "ssm",
    "RECOUP_EVENTS_QUEUE_URL": f"{QUEUES}-events",
    "RECOUP_PRIVACY_QUEUE_URL": f"{QUEUES}-privacy",
    "RECOUP_REMINDER_QUEUE_URL": f"{QUEUES}-reminders",
    "RECOUP_ESCALATION_QUEUE_URL": f"{QUEUES}-escalation",
    "RECOUP_HANDOVER_QUEUE_URL": f"{QUEUES}-handover",
    "RECOUP_SHOPIFY_TASKS_QUEUE_URL": f"{QUEUES}-shopify-tasks",
    "RECOUP_PLAN_CHARGES_QUEUE_URL": f"{QUEUES}-plan-charges",
    "RECOUP_EVENTS_DLQ_URL": f"{QUEUES}-events-dlq",
    "RECOUP_PRIVACY_DLQ_URL": f"{QUEUES}-privacy-dlq",
    "RECOUP_SHOPIFY_API_SECRET_PARAM": "/recoup/dev/shopify-api-secret",
    "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM": "/recoup/dev/stripe-webhook-secret",
    "RECOUP_LINK_SECRET_PARAM": "/recoup/dev/link-signing-secret",
    "RECOUP_STRIPE_API_KEY_PARAM": "/recoup/dev/stripe-api-key",
    "RECOUP_IDENTITY_HASH_KEY_PARAM": "/recoup/dev/identity-hash-key",
    "RECOUP_PUBLIC_URL_PARAM": "/recoup/dev/public-base-url",
    "RECOUP_HANDOVER_SECRET_PREFIX": "/recoup/dev/handover",
    "RECOUP_SENDER_ADDRESS": "reminders@recoup.example",
    "RECOUP_SES_CONFIGURATION_SET": "recoup-dev",
    "RECOUP_SMS_ORIGINATION_IDENTITY": "+12065550100",
    "RECOUP_SHOPIFY_API_KEY": "0123456789abcdef",
    "RECOUP_STRIPE_CONNECT_CLIENT_ID": "ca_0123456789",
    "RECOUP_KMS_KEY_ARN": ARN,
    "RECOUP_TOKEN_KEY_ARN": ARN,
    "RECOUP_CASEFILE_SIGNING_KEY_ID": ARN,
    "RECOUP_CASE_FILES_BUCKET": "recoup-dev-casefilesbucket-1a2b3c",
    "RECOUP_QUEUE_BODIES_BUCKET": "recoup-dev-queuebodiesbucket-1a2b3c",
}
LOCAL_ONLY = (
    "RECOUP_PUBLIC_URL",
    "RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS",
    "RECOUP_LINK_SECRET",
    "RECOUP_IDENTITY_HASH_KEY",
)


@pytest.fixture(autouse=True)
def no_function_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process where no app.py was imported yet (another test's local stack may have)."""
    monkeypatch.setattr(settings, "_configured", frozenset())
    for name in (*CLOUD, *LOCAL_ONLY):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def given_the_environment_of(
    monkeypatch: pytest.MonkeyPatch, function: settings.FunctionName, **changes: str | None
) -> None:
    """The variables template.yaml gives `function` (Globals and its own), then `changes`
    (None: unset)."""
    names = {v.name for v in GLOBAL_VARIABLES} | settings.environment_of(function)
    for name in names:
        monkeypatch.setenv(name, CLOUD[name])
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_a_function_starts_and_reads_what_it_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the sender's environment as the template gives it
    given_the_environment_of(monkeypatch, "sender")
    # When the sender's app.py configures it at import
    loaded = configure("sender")
    # Then it starts, and reads what it declared
    assert loaded is get_settings()
    assert loaded.require("sender_address") == "reminders@recoup.example"
    assert loaded.require("ses_configuration_set") == "recoup-dev"
    # but a setting it did not declare is refused, naming it and where to declare it
    with pytest.raises(ConfigurationError, match="sender did not declare events_queue_url"):
        loaded.require("events_queue_url")
    with pytest.raises(ConfigurationError, match="FUNCTION_SETTINGS"):
        loaded.require("token_key_arn")


def test_a_secret_it_did_not_declare_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the unsubscribe function, started with secrets from the environment
    given_the_environment_of(monkeypatch, "unsubscribe", RECOUP_SECRETS_SOURCE="env")
    monkeypatch.setenv("RECOUP_LINK_SECRET", "link-secret")
    monkeypatch.setenv("RECOUP_IDENTITY_HASH_KEY", "hash-key")
    loaded = configure("unsubscribe")
    # When it reads the link secret it declared / Then it gets it
    assert loaded.link_secrets() == ("link-secret",)
    # and the identity-hash key, which it did not declare (nor may its role read), is refused
    with pytest.raises(ConfigurationError, match="identity_hash_key_param"):
        loaded.identity_hash_key()
    with pytest.raises(ConfigurationError, match="stripe_api_key_param"):
        loaded.stripe_api_key()


@pytest.mark.parametrize(
    ("function", "variable", "value", "message"),
    [
        ("scheduler", "RECOUP_REMINDER_QUEUE_URL", "recoup-dev-reminders", "queue URL"),
        ("scheduler", "RECOUP_HANDOVER_QUEUE_URL", "sqs://recoup-dev-handover", "queue URL"),
        ("shopify_tasks", "RECOUP_TOKEN_KEY_ARN", "alias/recoup-dev-tokens", "ARN"),
        ("escalation", "RECOUP_CASEFILE_SIGNING_KEY_ID", "0a1b2c3d", "ARN"),
        ("privacy", "RECOUP_CASE_FILES_BUCKET", "Case_Files", "bucket"),
        ("sender", "RECOUP_SENDER_ADDRESS", "reminders", "email address"),
        ("sender", "RECOUP_LINK_SECRET_PARAM", "link-signing-secret", "SSM parameter"),
        ("feedback", "RECOUP_SMS_ORIGINATION_IDENTITY", "2065550100", "E.164"),
        ("admin_api", "RECOUP_STRIPE_CONNECT_CLIENT_ID", "sk_live_123", "ca_"),
        ("pay_link", "RECOUP_STAGE", "production", "dev, staging or prod"),
        ("pay_link", "RECOUP_SECRETS_SOURCE", "vault", "ssm or env"),
    ],
)
def test_a_malformed_variable_fails_the_cold_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    function: settings.FunctionName,
    variable: str,
    value: str,
    message: str,
) -> None:
    # Given a function whose environment has one malformed variable
    given_the_environment_of(monkeypatch, function, **{variable: value})
    # When it starts / Then it fails, naming the function, the variable and what it must be
    with pytest.raises(ConfigurationError, match=message) as failed:
        configure(function)
    assert f"{function}: environment variable {variable} must be" in str(failed.value)
    # and nothing holds the process to its declaration
    assert settings._configured == frozenset()


@pytest.mark.parametrize(
    ("function", "variable"),
    [
        ("shopify_webhook", "RECOUP_EVENTS_QUEUE_URL"),
        ("event_worker", "RECOUP_EVENTS_DLQ_URL"),
        ("handover", "RECOUP_HANDOVER_SECRET_PREFIX"),
        ("admin_api", "RECOUP_SHOPIFY_API_KEY"),  # may be empty, but must be given
        ("referral_report", "RECOUP_TABLE_NAME"),
    ],
)
def test_a_missing_variable_fails_the_cold_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, function: settings.FunctionName, variable: str
) -> None:
    given_the_environment_of(monkeypatch, function, **{variable: None})
    with pytest.raises(ConfigurationError, match=f"{function}: environment variable {variable}"):
        configure(function)


def test_blank_is_a_supported_value_only_for_optional_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the admin API with the template parameters that may be left blank left blank
    given_the_environment_of(
        monkeypatch,
        "admin_api",
        RECOUP_SHOPIFY_API_KEY="",
        RECOUP_STRIPE_CONNECT_CLIENT_ID="",
        RECOUP_SMS_ORIGINATION_IDENTITY="",
    )
    # When it starts / Then it does, and those settings are simply not configured
    loaded = configure("admin_api")
    assert loaded.stripe_connect_client_id is None
    with pytest.raises(ConfigurationError, match="RECOUP_SHOPIFY_API_KEY"):
        loaded.require("shopify_api_key")
    # but a blank sender address is a broken deployment
    monkeypatch.setenv("RECOUP_SENDER_ADDRESS", " ")
    with pytest.raises(ConfigurationError, match="RECOUP_SENDER_ADDRESS is empty"):
        configure("admin_api")


def test_a_variable_it_does_not_declare_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the scheduler's environment plus another function's variable, malformed
    given_the_environment_of(monkeypatch, "scheduler", RECOUP_KMS_KEY_ARN="not an arn")
    # When it starts / Then it does: the variable is none of its business
    configure("scheduler")


def test_a_local_setting_that_is_not_a_whole_number_fails_the_cold_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given_the_environment_of(monkeypatch, "admin_api")
    monkeypatch.setenv("RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS", "a day")
    with pytest.raises(ConfigurationError, match="RECOUP_LOCAL_SESSION_TOKEN_MAX_SECONDS"):
        configure("admin_api")


def test_without_configure_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a process no app.py configured (tests and tools calling services directly), and
    # only the table and one queue in its environment
    monkeypatch.setenv("RECOUP_TABLE_NAME", "recoup-dev")
    monkeypatch.setenv("RECOUP_HANDOVER_QUEUE_URL", "not checked")
    # Then any setting that is there can be read, and one that is not says which variable
    assert get_settings().require("handover_queue_url") == "not checked"
    with pytest.raises(ConfigurationError, match="RECOUP_EVENTS_QUEUE_URL"):
        get_settings().require("events_queue_url")


def test_where_functions_share_a_process_each_invocation_is_held_to_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the local stack's one process: every function's variables, two functions loaded
    for name, value in CLOUD.items():
        monkeypatch.setenv(name, value)
    configure("scheduler")
    configure("stripe_webhook")
    loaded = get_settings()
    # When no invocation runs / Then what either declares may be read, and nothing else
    assert loaded.require("reminder_queue_url") and loaded.require("events_queue_url")
    with pytest.raises(ConfigurationError, match="scheduler, stripe_webhook did not declare"):
        loaded.require("sender_address")
    # When the scheduler runs / Then only its own settings
    with invocation("scheduler"):
        assert loaded.require("reminder_queue_url")
        with pytest.raises(ConfigurationError, match="scheduler did not declare events_queue"):
            loaded.require("events_queue_url")
    # and a function the registry does not know cannot run
    with pytest.raises(ConfigurationError, match="declares no settings"), invocation("mailer"):
        pass


def test_an_unknown_function_or_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    given_the_environment_of(monkeypatch, "sender")
    with pytest.raises(ConfigurationError, match="'mailer' declares no settings"):
        configure("mailer")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a setting"):
        get_settings().require("sender")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- registry


def test_the_registry_names_every_function_directory_and_nothing_else() -> None:
    directories = {p.parent.name for p in FUNCTIONS_DIR.glob("*/app.py")}
    assert set(FUNCTION_SETTINGS) == FUNCTION_NAMES == directories


def test_every_setting_is_a_field_with_a_variable_and_some_function_declares_it() -> None:
    fields = {field.name for field in dataclasses.fields(Settings)}
    assert set(VARIABLES) == SETTING_NAMES
    assert fields >= SETTING_NAMES
    declared = set().union(*FUNCTION_SETTINGS.values())
    assert declared == SETTING_NAMES
    # and no two settings share a variable, nor one of the Globals'
    names = [variable.name for variable in VARIABLES.values()]
    assert len(set(names)) == len(names)
    assert not set(names) & {variable.name for variable in GLOBAL_VARIABLES}


def test_the_cloud_values_of_the_template_pass_and_the_local_stack_values_too() -> None:
    # Given every variable's check, the values the cloud gives and the local stack's (moto's
    # queue URLs on a loopback endpoint)
    local = {
        "RECOUP_EVENTS_QUEUE_URL": "http://127.0.0.1:5000/123456789012/recoup-dev-events",
        "RECOUP_CASE_FILES_BUCKET": "recoup-local-casefilesbucket",
        "RECOUP_STRIPE_CONNECT_CLIENT_ID": "ca_LocalPlatform",
    }
    for variable in (*VARIABLES.values(), *GLOBAL_VARIABLES):
        for value in (CLOUD[variable.name], local.get(variable.name, CLOUD[variable.name])):
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(variable.name, value)
                assert variable.problem() is None, (variable.name, value)
