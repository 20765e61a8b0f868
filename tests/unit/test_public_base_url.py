"""The https base of links and redirects: RECOUP_PUBLIC_URL when set (the local stack, tests),
else the SSM parameter the stack writes in the same deploy as the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from recoup import settings as settings_module
from recoup.errors import ConfigurationError
from recoup.settings import get_settings

PARAM = "/recoup/dev/public-base-url"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RECOUP_TABLE_NAME", "recoup-test")
    monkeypatch.setenv("RECOUP_EVENTS_QUEUE_URL", "https://sqs.example/events")
    monkeypatch.setenv("RECOUP_SECRETS_SOURCE", "ssm")
    monkeypatch.setenv("RECOUP_PUBLIC_URL_PARAM", PARAM)
    monkeypatch.delenv("RECOUP_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ssm(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> list[str]:
    reads: list[str] = []

    def read(name: str) -> str:
        reads.append(name)
        if name not in values:
            raise GetParameterError(f"ParameterNotFound: {name}")
        return values[name]

    monkeypatch.setattr(settings_module, "_ssm_secret", read)
    return reads


def test_the_cloud_reads_the_parameter_the_stack_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the parameter as the stack writes it (the API's own URL), or an override with a "/"
    reads = _ssm(monkeypatch, {PARAM: "https://abc123.execute-api.us-east-1.amazonaws.com/ "})
    # When the base is asked for
    base = get_settings().public_base_url()
    # Then it is the parameter's value without the trailing slash, read by its name
    assert base == "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert reads == [PARAM]


def test_an_explicit_url_wins_and_ssm_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given RECOUP_PUBLIC_URL (the local stack sets it)
    monkeypatch.setenv("RECOUP_PUBLIC_URL", "http://127.0.0.1:3000/")
    reads = _ssm(monkeypatch, {PARAM: "https://elsewhere.example"})
    get_settings.cache_clear()
    # Then it is the base, and SSM is not asked
    assert get_settings().public_base_url() == "http://127.0.0.1:3000"
    assert reads == []


@pytest.mark.parametrize(
    ("variables", "ssm", "message"),
    [
        # no parameter name at all
        ({"RECOUP_PUBLIC_URL_PARAM": ""}, {}, "RECOUP_PUBLIC_URL"),
        # secrets from the environment (the local stack) never reach for SSM
        ({"RECOUP_SECRETS_SOURCE": "env"}, {PARAM: "https://x.example"}, "RECOUP_PUBLIC_URL"),
        # the parameter is missing or unreadable
        ({}, {}, PARAM),
        # the parameter is empty
        ({}, {PARAM: " / "}, PARAM),
    ],
)
def test_without_a_base_the_error_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], ssm: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    _ssm(monkeypatch, ssm)
    # When the base is asked for, Then a ConfigurationError names the setting to fix
    with pytest.raises(ConfigurationError, match=message):
        get_settings().public_base_url()
