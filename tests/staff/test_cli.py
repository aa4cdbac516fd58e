"""``portal staff add USERNAME --password-stdin``, run as a process the way an operator would."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import PortalProcess, portal_env
from tests.staff_support import login

PORTAL = shutil.which("portal", path=str(Path(sys.executable).parent)) or "portal"
PASSWORD = "a long and private passphrase"


def staff_add(tmp_path: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTAL, "staff", "add", *args],
        cwd=tmp_path,
        env=portal_env(tmp_path),
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_staff_add_creates_then_resets_an_account(tmp_path: Path) -> None:
    created = staff_add(tmp_path, "Ann", "--password-stdin")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "created staff account 'ann'"
    with sqlite3.connect(tmp_path / "portal.db") as conn:
        (stored,) = conn.execute("SELECT password_hash FROM staff_accounts WHERE username = 'ann'").fetchone()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    reset = staff_add(
        tmp_path, "ann", "--password-stdin", "--timezone", "America/Chicago", password="another passphrase"
    )
    assert reset.returncode == 0 and "reset the password" in reset.stdout


@pytest.mark.long(2)
def test_the_account_signs_in_to_a_served_console(tmp_path: Path) -> None:
    assert staff_add(tmp_path, "ann", "--password-stdin").returncode == 0
    with PortalProcess([PORTAL], tmp_path, portal_env(tmp_path)) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"
        assert login(http, "ann", PASSWORD).status_code == 303
        assert "Find a customer" in http.get("/staff").text


def test_staff_add_refuses_bad_input(tmp_path: Path) -> None:
    short = staff_add(tmp_path, "ann", "--password-stdin", password="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    bad_name = staff_add(tmp_path, "ann smith", "--password-stdin")
    assert bad_name.returncode == 2 and "USERNAME must be" in bad_name.stderr
    bad_zone = staff_add(tmp_path, "ann", "--password-stdin", "--timezone", "Mars/Olympus")
    assert bad_zone.returncode == 2 and "--timezone" in bad_zone.stderr
    no_stdin_flag = subprocess.run(
        [PORTAL, "staff", "add", "ann"],
        cwd=tmp_path,
        env=portal_env(tmp_path),
        input="",
        capture_output=True,
        text=True,
    )
    assert no_stdin_flag.returncode == 2 and "--password-stdin" in no_stdin_flag.stderr
