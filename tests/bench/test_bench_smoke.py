"""Each benchmark still runs: ``--smoke`` drives a few hundred requests through the portal and
its floor programs and must print its ratio table. No timing is asserted: a benchmark's
figures are read by people, beside the floors measured in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("webhooks.py", "sse_streams.py", "pages.py", "notify_latency.py")
SMOKE_TIMEOUT = 600  # seconds: each starts two to four Python servers, slow on a busy machine
TABLE_HEAD = "| measure | portal | floor (same run) | portal / floor |"


@pytest.mark.long(10)
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


def smoke(script: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``bench/<script> --smoke`` run to its end, which must be a success."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.long(3)
@pytest.mark.timeout(SMOKE_TIMEOUT + 30)
def test_the_staff_views_benchmark_runs_on_both_stores_and_they_agree(redis_url: str) -> None:
    """500 jobs through each store's own writes: both must print the same queue and figures."""
    base = redis_url.split("?")[0]  # the benchmark adds its own key prefix and deletes its keys
    seen = []
    for extra in ([], ["--redis", base]):
        done = smoke("staff_views.py", *extra)
        assert "GET /staff/attention" in done.stdout and "GET /staff/api/stats (30 days)" in done.stdout
        seen.append(next(line for line in done.stdout.splitlines() if line.startswith("queue: ")))
    # 10 open jobs nobody can reach (n % 25 == 0, odd n) and 7 ratings of 2 (n % 66 == 0, but job
    # 0 was created just now: its visit, and so its rating, lie a day ahead, not yet due).
    assert seen[0] == seen[1] and seen[0].startswith("queue: 17 jobs waiting;")


@pytest.mark.timeout(SMOKE_TIMEOUT + 30)
def test_the_location_cost_script_runs_on_both_stores_and_every_ping_is_accepted(redis_url: str) -> None:
    """The in-process profile script: a smoke on SQLite under its profiler, and one on Redis."""
    base = redis_url.split("?")[0]  # the script adds its own key prefix and deletes its keys
    for extra in (["--profile", "--lines", "30"], ["--redis", base]):
        done = smoke("location_cost.py", *extra)
        assert "CPU per ping:" in done.stdout and "answers: {202: 200}" in done.stdout
        if "--profile" in extra:
            assert "_change_job" in done.stdout  # the writer thread's work is in the profile
