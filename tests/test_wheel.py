"""The wheel carries templates/, static/ and webhooks/: install it alone and serve a page."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from tests.helpers import job_updated, post_event, sample_job
from tests.processes import PortalProcess, portal_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.long(4)
def test_an_installed_wheel_serves_a_page(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    # Dependencies come from this environment; the portal itself only from the wheel.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (Path(purelib) / "deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    where = subprocess.run(
        [str(python), "-c", "import portal; print(portal.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert where.startswith(str(venv))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    portal_bin = str(venv / "bin" / "portal")
    with PortalProcess([portal_bin], run_dir, portal_env(run_dir)) as server, httpx.Client(base_url=server.url) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        link = subprocess.run(
            [portal_bin, "link", "WO-1"],
            cwd=run_dir,
            env=portal_env(run_dir),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        page = http.get("/t/" + link.split("/t/", 1)[1])
        assert page.status_code == 200 and "Water heater repair" in page.text
        assert http.get("/static/js/tracking.js").status_code == 200
        assert "job.updated" in http.get("/openapi.json").text
