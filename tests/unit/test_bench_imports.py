"""The cold-import benchmark (benchmarks/import_time.py) gives each probe the environment
template.yaml gives the function, sizes the layer's archive right, and judges each function
against its own goal."""

from __future__ import annotations

import os
import zipfile
from dataclasses import replace
from pathlib import Path

from benchmarks import import_time, report_imports
from benchmarks.import_time import ClassCreation, FunctionImport, ImportResult, LayerSize


def test_every_function_of_the_template_is_probed_with_its_whole_environment(
    tmp_path: Path,
) -> None:
    # Given template.yaml's functions and a resolver for it
    functions = import_time.functions()
    resolve = import_time.resolver()
    assert len(functions) >= 15
    assert {f.directory for f in functions} >= set(import_time.WEBHOOKS)
    for function in functions:
        task_dir = tmp_path / function.directory
        # When a probe's environment is made
        env = import_time.lambda_env(function, task_dir, tmp_path / "python", resolve, tmp_path)
        # Then every variable the template sets is there, resolved to plain text
        assert set(function.variables) <= set(env), function.logical_id
        unresolved = {k: v for k, v in env.items() if "${" in v or "Fn::" in v or "'Ref'" in v}
        assert unresolved == {}, function.logical_id
        # with Lambda's own variables and layout: the function's directory, then the layer
        assert env["_HANDLER"] == function.handler
        assert env["LAMBDA_TASK_ROOT"] == str(task_dir)
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(function.memory_mb)
        assert env["PYTHONPATH"].split(os.pathsep) == [str(task_dir), str(tmp_path / "python")]
        assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    goals = {f.directory: f.goal for f in functions}
    assert goals["shopify_webhook"] == goals["stripe_webhook"] == import_time.GOAL_WEBHOOK
    assert goals["event_worker"] == import_time.GOAL_OTHER


def test_the_archive_size_without_bytecode_is_that_of_the_archive_less_its_pyc_files(
    tmp_path: Path,
) -> None:
    # Given a small layer with sources and their bytecode
    layer = tmp_path / "python"
    for name in ("a", "b"):
        package = layer / f"pkg_{name}"
        (package / "__pycache__").mkdir(parents=True)
        (package / "__init__.py").write_text(f"VALUE = {name!r} * 1000\n" * 50)
        (package / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(os.urandom(4000))
    (layer / "data.txt").write_text("x" * 5000)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # When it is sized
    size = import_time.layer_size(layer, scratch)
    # Then the figures without bytecode equal those of an archive made without it
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(layer.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, Path("python") / path.relative_to(layer))
    assert size.old_zipped == plain.stat().st_size
    assert size.files == 5 and size.bytecode_files == 2
    assert size.bytecode == 8000
    assert size.old_unzipped == size.unzipped - 8000
    assert size.zipped > size.old_zipped + 8000  # random bytes do not deflate


def _result(ratios: dict[str, float]) -> ImportResult:
    boto3 = 0.2
    found = [
        FunctionImport(
            function=name,
            logical_id=name.title().replace("_", "") + "Function",
            goal=import_time.GOAL_WEBHOOK if name in import_time.WEBHOOKS else 2.0,
            spans=(ratio * boto3,) * 3,
            old_spans=(ratio * boto3 * 3,),
            boto3=boto3,
            old_boto3=boto3 * 2,
            wall_ratio=ratio,
            modules=400,
            loaded=("botocore",),
            code_bytes=1000,
        )
        for name, ratio in ratios.items()
    ]
    return ImportResult(
        functions=tuple(found),
        boto3_spans=(boto3,) * 3,
        old_boto3_spans=(boto3 * 2,),
        bare_seconds=0.02,
        tracer_spans=(0.3,),
        layer=LayerSize(100_000_000, 40_000_000, 30_000_000, 9000, 3000, 70_000_000, 30_000_000),
        rounds=3,
        old_rounds=1,
        python="python3.12 -S",
        built=True,
    )


def test_each_function_is_judged_against_its_own_goal() -> None:
    # Given a webhook over its 1.5 and a worker under its 2.0
    result = _result({"shopify_webhook": 1.6, "event_worker": 1.9})
    # When the report is written
    rows = report_imports.summary_rows(result)
    section = "\n".join(report_imports.section(result))
    # Then the webhook misses its goal and the worker meets its own
    assert any("shopify_webhook" in r and "≤ 1.5: NOT met" in r for r in rows)
    assert any("event_worker" in r and "≤ 2.0: met" in r for r in rows)
    assert "| shopify_webhook | **1.60** |" in section
    assert "| event_worker | **1.90** |" in section
    # and the gain of shipping bytecode, the layer's sizes and each function's total appear
    assert "3.0×" in section
    assert "100,000,000 B" in section and "40,000,000 B" in section
    assert "100,001,000 B" in section
    assert report_imports.text_lines(result)


def test_the_dataclasses_each_function_creates_are_reported_with_their_share() -> None:
    # Given a worker that created 120 dataclasses in 90 ms of its 300 ms import, and one
    # whose classes were not measured
    result = _result({"event_worker": 1.9, "sender": 1.95})
    worker = replace(result.functions[0], classes=ClassCreation(120, 0.09, 0.3))
    result = replace(result, functions=(worker, result.functions[1]))
    # When the report is written
    section = "\n".join(report_imports.section(result))
    # Then the worker's row says so, the other's says nothing was measured, and the
    # explanation gives the cost of one class and the range over the functions measured
    assert "| 400 | 120 in 90 ms (30%) | botocore |" in section
    assert "| 400 | - | botocore |" in section
    assert "0.75 ms a class in this run" in section
    assert "within 0.3 of their goal create 120 dataclasses on import, 30% of it" in section
