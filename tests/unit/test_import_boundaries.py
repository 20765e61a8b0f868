"""Only the adapters touch the AWS SDK and PynamoDB: the store, the integrations, and the AWS
clients, queue and SQS consumer modules. Everything else reaches AWS through them, so a
client's configuration, its retries and the translation of its errors live in one place.
Imports under `if TYPE_CHECKING:` count: a type coupling to the SDK is the same coupling."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "layers" / "recoup" / "recoup"
SDK = frozenset({"boto3", "botocore", "mypy_boto3", "pynamodb"})
ADAPTER_PACKAGES = ("store", "integrations")
ADAPTER_MODULES = frozenset({"aws.py", "queue.py", "jobs.py"})


def sdk_imports(path: Path) -> list[str]:
    """The SDK modules a source file imports, anywhere in it."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if _top(name) in SDK]
    return found


def _top(module: str) -> str:
    top = module.split(".")[0]
    return "mypy_boto3" if top.startswith("mypy_boto3") else top


def is_adapter(relative: Path) -> bool:
    return relative.parts[0] in ADAPTER_PACKAGES or relative.as_posix() in ADAPTER_MODULES


def test_only_the_adapters_import_the_aws_sdk_or_pynamodb() -> None:
    offenders = {
        relative.as_posix(): imports
        for path in sorted(PACKAGE.rglob("*.py"))
        if not is_adapter(relative := path.relative_to(PACKAGE)) and (imports := sdk_imports(path))
    }
    assert offenders == {}


def test_the_check_finds_every_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "import boto3\n"
        "from botocore.exceptions import ClientError\n"
        "from pynamodb.models import Model\n"
        "from . import boto3_like\n"
        "if TYPE_CHECKING:\n"
        "    from mypy_boto3_sqs import SQSClient\n"
        "def lazy():\n"
        "    import botocore.config\n"
    )
    assert sorted(sdk_imports(source)) == [
        "boto3",
        "botocore.config",
        "botocore.exceptions",
        "mypy_boto3_sqs",
        "pynamodb.models",
    ]


def test_the_adapters_are_the_store_the_integrations_and_the_aws_modules() -> None:
    assert is_adapter(Path("store/keys.py"))
    assert is_adapter(Path("integrations/ses.py"))
    assert is_adapter(Path("queue.py"))
    assert not is_adapter(Path("services/scheduling.py"))
    assert not is_adapter(Path("admin/queue.py"))
