"""The cold-import harness (benchmarks/import_time.py) runs end to end: each probe a fresh
process that imports the handler, timed with and without bytecode, broken down, and the
layer sized. Against the source tree (`make bench` builds the layer; that takes a pip
install)."""

from __future__ import annotations

import pytest

from benchmarks import import_time, memory, report_imports


@pytest.mark.slow  # fresh interpreters, each importing a handler
def test_the_harness_times_a_webhook_handler_with_and_without_bytecode() -> None:
    # Given the source tree laid out as a layer, and one webhook function
    layout = memory.source_layout()
    # When the benchmark runs two rounds, and one without bytecode
    result = import_time.run(rounds=2, old_rounds=1, only=["shopify_webhook"], layout=layout)
    # Then every run is kept, each figure is a ratio to boto3 from the same layer, the handler
    # loaded what it imports, the dataclasses it created were timed, and the breakdown and
    # sizes are there
    (function,) = result.functions
    assert function.logical_id == "ShopifyWebhookFunction"
    assert len(function.spans) == 2 and len(function.old_spans) == 1
    assert len(result.boto3_spans) == 2 and len(result.old_boto3_spans) == 1
    assert function.ratio == function.seconds / result.boto3_seconds > 0
    assert function.modules > 100
    assert "aws_lambda_powertools.event_handler" in function.loaded
    direct, packages = result.breakdown["shopify_webhook"]
    assert direct and packages
    assert len(result.tracer_spans) == 2
    assert 0 < result.layer.old_unzipped <= result.layer.unzipped
    assert function.code_bytes > 0
    assert function.classes is not None and function.classes.classes > 0
    assert 0 < function.classes.seconds < function.seconds * 2 and 0 < function.classes.share < 1
    assert not result.built
    assert "SOURCE tree" in "\n".join(report_imports.text_lines(result))
