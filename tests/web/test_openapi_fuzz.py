"""Schemathesis against a running portal: every operation of ``/openapi.json``, every check.

The portal runs as an operator runs it (``portal serve`` in a subprocess, SQLite); the hooks
in ``schemathesis_hooks.py`` sign field and Twilio webhooks, and half the tracking paths use
a real link. A fixed seed and a few examples per operation keep it short and repeatable; a
longer hunt is the same command with a bigger ``--max-examples``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import SECRET_KEY, free_port, job_updated, post_event, sample_job
from tests.processes import PORTAL, PortalProcess, portal_env
from tests.staff_support import login

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SEED = 20261126
EXAMPLES = 2  # per operation and phase: a few hundred requests in all
TWILIO_TOKEN = "fuzz-twilio-auth-token"
STAFF_PASSWORD = "a long fuzzing passphrase"
# Every check: where one does not apply to an operation, schemathesis.toml says why.
CHECKS = "all"
START_TIMEOUT = 120  # seconds; a loaded CI machine can take most of a minute to import and start


@pytest.mark.long(11)
@pytest.mark.timeout(600)  # seconds on an idle machine; shared CI runners are slower
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a test dependency: pip install -e '.[test]'"
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = portal_env(
        tmp_path,
        PORTAL_SECRET_KEY=SECRET_KEY,
        PORTAL_PUBLIC_URL=public_url,
        PORTAL_QUIET_HOURS="",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_FROM="+15005550006",
        TWILIO_API_URL="http://127.0.0.1:9",  # the discard port: nothing leaves the machine
    )
    portal = PortalProcess([PORTAL], tmp_path, env, port=port).start(timeout=START_TIMEOUT)
    try:
        # A staff account signed in: the console and its API are fuzzed behind the session too.
        add = [PORTAL, "staff", "add", "fuzz", "--password-stdin"]
        subprocess.run(
            add, cwd=tmp_path, env=env, input=STAFF_PASSWORD + "\n", text=True, capture_output=True, check=True
        )
        with httpx.Client(base_url=portal.url, timeout=15) as http:
            assert post_event(http, job_updated(sample_job())).status_code == 202
            assert login(http, "fuzz", STAFF_PASSWORD).status_code == 303
            session = http.cookies["portal_staff"]
        link = subprocess.run([PORTAL, "link", "WO-1"], cwd=tmp_path, env=env, capture_output=True, text=True)
        token = link.stdout.strip().rsplit("/t/", 1)[1]
        fuzz_env = {
            **env,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.web.schemathesis_hooks",
            "PORTAL_FUZZ_PUBLIC_URL": public_url,
            "PORTAL_FUZZ_TWILIO_TOKEN": TWILIO_TOKEN,
            "PORTAL_FUZZ_TOKEN": token,
            "PORTAL_FUZZ_SESSION": session,
        }
        command = [
            cli, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{portal.url}/openapi.json",
            "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(EXAMPLES),
            "--phases", "examples,coverage,fuzzing", "--no-color", "--workers", "1",
        ]  # fmt: skip
        result = subprocess.run(command, cwd=tmp_path, env=fuzz_env, capture_output=True, text=True, timeout=600)
    finally:
        portal.stop()
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
