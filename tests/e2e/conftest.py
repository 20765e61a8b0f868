"""The local stack as a person runs it: `recoup serve` in its own process, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recoup_local.stack import free_port

RECOUP = [sys.executable, "-m", "recoup_local.cli"]
ROOT = Path(__file__).resolve().parents[2]


def recoup_env() -> dict[str, str]:
    """This environment without AWS or Recoup settings, with the project on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECOUP_"))}
    paths = [str(ROOT / "layers" / "recoup"), str(ROOT / "infra"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("serve")
    port, aws_port = free_port(), free_port()
    process = subprocess.Popen(
        [*RECOUP, "serve", "--port", str(port), "--aws-port", str(aws_port)],
        cwd=workdir,
        env=recoup_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    started = time.monotonic()
    banner = ""
    while "Stop with Ctrl-C" not in banner:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            pytest.fail(f"recoup serve exited: {banner}")
        banner += line
        if time.monotonic() - started > 60:
            process.kill()
            pytest.fail(f"recoup serve did not start: {banner}")
    # Keep reading what it logs: a full pipe would block its writes, and with them its exit.
    logged: list[str] = []
    reader = threading.Thread(target=lambda: logged.extend(process.stdout or ()), daemon=True)
    reader.start()
    yield {"front": f"http://127.0.0.1:{port}", "cwd": workdir, "process": process}
    process.send_signal(signal.SIGTERM)
    # It finishes the queue poll it is in (the consumers' work of the module's last
    # requests) before it stops: 3 s on an idle machine, but on a loaded two-core machine
    # (a test run beside another) that has taken over 60 s.
    assert process.wait(timeout=120) == 0, "".join(logged[-20:])
    assert not (workdir / ".recoup-local.json").exists()
