"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

MOTO_REGION = "us-east-1"


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for moto's in-process mock, and no endpoint pointing the
    clients elsewhere (a served local stack's)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": MOTO_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
