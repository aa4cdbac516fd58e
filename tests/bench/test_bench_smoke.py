"""Each benchmark still runs: ``--smoke`` drives a few hundred requests through the portal and
its floor programs and must print its ratio table. No timing is asserted: a benchmark's
figures are read by people, beside the floors measured in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("webhooks.py", "sse_streams.py", "pages.py")
SMOKE_TIMEOUT = 600  # seconds: each starts three or four Python servers, slow on a busy machine
TABLE_HEAD = "| measure | portal | floor (same run) | portal / floor |"


@pytest.mark.timeout(SMOKE_TIMEOUT + 30)
def test_every_benchmark_runs_its_smoke_and_prints_its_table() -> None:
    # All at once: each mostly waits for its servers to start.
    runs = {
        name: subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / name), "--smoke"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in BENCHMARKS
    }
    failures = []
    for name, proc in runs.items():
        output, _ = proc.communicate(timeout=SMOKE_TIMEOUT)
        text = output.decode(errors="replace")
        if proc.returncode != 0 or TABLE_HEAD not in text or "nan" in text.split(TABLE_HEAD, 1)[-1]:
            failures.append(f"{name} (exit {proc.returncode}):\n{text[-3000:]}")
    assert not failures, "\n\n".join(failures)
