"""The ``portal`` command, run as a process exactly as the README says."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from portal.cli import reference
from tests.helpers import ROOT, docs_generator, job_updated, post_event, sample_job
from tests.processes import PORTAL, PortalProcess, portal_env


def test_serve_then_link_then_page(tmp_path: Path) -> None:
    env = portal_env(tmp_path)
    env.pop("PORTAL_STORE")  # the README's command: the default store in the current directory
    with PortalProcess([PORTAL], tmp_path, env) as server, httpx.Client(base_url=server.url) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        link = subprocess.run(
            [PORTAL, "link", "WO-1"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert (tmp_path / "portal.db").exists()
        path = link.split("/t/", 1)[1]
        page = http.get(f"/t/{path}")
        assert page.status_code == 200
        assert "Water heater repair" in page.text
        assert http.get("/static/css/portal.css").status_code == 200
    output = server.log.read_text()
    assert f"http://127.0.0.1:{server.port}" in output
    assert str(tmp_path / "portal.db") in output


def test_link_for_an_unknown_job_fails_clearly(tmp_path: Path) -> None:
    env = portal_env(tmp_path)
    subprocess.run([PORTAL, "purge"], cwd=tmp_path, env=env, capture_output=True, check=True)  # makes the store
    result = subprocess.run([PORTAL, "link", "NOPE"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "no job with id 'NOPE'" in result.stderr


def test_link_without_a_database_says_so_and_creates_none(tmp_path: Path) -> None:
    env = portal_env(tmp_path)
    env.pop("PORTAL_STORE")  # beside a demo, without its PORTAL_STORE: the default portal.db here
    result = subprocess.run([PORTAL, "link", "DEMO-101"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"no database at {tmp_path / 'portal.db'}" in result.stderr and "PORTAL_STORE" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_configuration_stops_with_one_line(tmp_path: Path) -> None:
    env = portal_env(tmp_path, PORTAL_LINK_TTL_DAYS="soon")
    result = subprocess.run([PORTAL, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "PORTAL_LINK_TTL_DAYS" in line]
    assert len(lines) == 1 and "configuration error" in lines[0]


def test_version(tmp_path: Path) -> None:
    result = subprocess.run([PORTAL, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("portal ")
    assert json.dumps(result.stdout)  # printable


def test_the_cli_reference_is_current() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    assert page == reference(), "docs/cli.md is out of date: run python docs/generate.py"
    for command in ("serve", "worker", "demo", "link", "purge", "staff add", "migrate-store"):
        assert f"\n## portal {command}\n" in page
        assert f"$ portal {command} --help\nusage: portal {command} [-h]" in page


def test_the_docs_generator_finds_nothing_to_do() -> None:
    assert docs_generator().main(["--check"]) == 0
