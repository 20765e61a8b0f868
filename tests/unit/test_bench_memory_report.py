"""What the peak-memory report (benchmarks/report_memory.py) says: every function has its
row, the verdicts and bullets follow the figures, and the causes it names are the ones
measured (the DynamoDB clients, the PDF library no function loads)."""

from __future__ import annotations

from benchmarks import memory, report_memory

FUNCTIONS = (
    "shopify_webhook",
    "stripe_webhook",
    "event_worker",
    "scheduler",
    "sender",
    "feedback",
    "admin_api",
    "escalation",
    "handover",
    "privacy",
    "shopify_auth",
    "shopify_tasks",
    "pay_link",
    "unsubscribe",
    "referral_report",
)


def _peak(function: str, mb: float, **clients: int) -> memory.Peak:
    return memory.Peak(
        function=function,
        work="1 request",
        peak_mb=mb,
        maxrss_mb=mb,
        import_mb=40.0,
        loaded=("boto3",),
        answer={"status": 200},
        note="work seen done",
        clients=clients,
    )


def _result(peaks: list[memory.Peak], **memory_fields: object) -> memory.Result:
    result = memory.MemoryResult(
        peaks=peaks,
        bare_mb=10.5,
        packages={"boto3": 28.5},
        built=True,
        python="python3.12 -S",
        **memory_fields,  # type: ignore[arg-type]
    )
    return memory.Result(memory=result, timings=())


def _section(result: memory.Result) -> str:
    return "\n".join(report_memory.section(result))


def test_every_function_has_a_row_and_none_is_left_undriven() -> None:
    peaks = [_peak(name, 60.0 + n, dynamodb=1) for n, name in enumerate(FUNCTIONS)]
    text = _section(_result(peaks))
    rows = [line for line in text.splitlines() if line.startswith("| ") and " MB** |" in line]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == list(FUNCTIONS)
    assert "not driven" not in text
    assert "dynamodb ×1" in rows[0]
    # all within the goal: the bullet says so and names the highest, with the margin
    assert "All 15 functions stay within 128 MB; the highest: referral_report 74 MB" in text


def test_a_function_over_the_goal_is_named_with_what_it_loads() -> None:
    text = _section(_result([_peak("privacy", 131.2, dynamodb=7), _peak("sender", 85.0)]))
    assert "| **131.2 MB** | NOT met |" in text
    assert "- privacy peaks at 131 MB, over the goal" in text
    assert "stay within" not in text


def test_extra_dynamodb_clients_are_named_with_their_measured_cost() -> None:
    many = [_peak("privacy", 120.0, dynamodb=7, s3=1), _peak("escalation", 110.0, dynamodb=5)]
    text = _section(_result(many, client_mb=10.7))
    assert "more than one DynamoDB client: privacy ×7, escalation ×5" in text
    assert "about 11 MB each" in text
    # and with one client each, nothing is said about them
    single = _section(_result([_peak("privacy", 80.0, dynamodb=1)], client_mb=10.7))
    assert "more than one DynamoDB client" not in single


def test_the_pdf_library_left_unloaded_is_reported_with_its_cost() -> None:
    result = _result([_peak("escalation", 117.0, dynamodb=1)], unused={"fpdf": 45.8})
    text = _section(result)
    assert "In the layer but loaded by no function: `fpdf` 45.8 MB." in text
    assert "without fpdf2's 46 MB" in text
    lines = "\n".join(report_memory.text_lines(result))
    assert "in the layer, loaded by no function: fpdf 46 MB" in lines


def test_a_run_without_the_timing_has_no_timing_section() -> None:
    result = _result([_peak("sender", 85.0, dynamodb=1)])
    assert "## Worker and sender" not in _section(result)
    assert not any("Per-event time" in line for line in report_memory.text_lines(result))
