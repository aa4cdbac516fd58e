"""Retake the README's screenshots: ``.venv/bin/python docs/screenshots.py``.

Starts ``portal demo`` on a free loopback port, waits until the technician is on the way, and
photographs the tracking page at a phone's size and a staff console job page with Chromium.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import ViewportSize, sync_playwright

IMAGES = Path(__file__).resolve().parent / "images"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PHONE: ViewportSize = {"width": 390, "height": 844}  # a common phone viewport, CSS pixels
DESKTOP: ViewportSize = {"width": 1100, "height": 900}
WAIT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(check: Callable[[], object], what: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return str(found)
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    port = free_port()
    out = Path(tempfile.mkdtemp()) / "demo.out"
    env = {**os.environ, "PORTAL_MAP_TILES": "none", "PORTAL_COMPANY_NAME": "Acme Plumbing & Heating"}
    with out.open("wb") as sink:
        demo = subprocess.Popen([sys.executable, "-m", "portal", "demo", "--port", str(port)], env=env, stdout=sink)
    try:
        text = wait(lambda: "Demo phone:" in out.read_text() and out.read_text(), "the demo")
        links = re.findall(r"(http://127\.0\.0\.1:\d+/t/\S+)", text)
        login = re.search(r"password (\S+)", text)
        if login is None:
            raise SystemExit("the demo printed no staff password")
        password = login.group(1)
        english_drive = links[1]  # DEMO-102 sets off a few minutes in; DEMO-103 drives at once
        wait(lambda: httpx.get(links[2] + "/state").json()["eta"], "an ETA")
        time.sleep(20)  # a few pings, so the estimate has a measured speed
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport=PHONE, device_scale_factor=2)
            page.goto(links[2])
            page.screenshot(path=str(IMAGES / "tracking-phone.png"))
            staff = browser.new_page(viewport=DESKTOP)
            base = f"http://127.0.0.1:{port}"
            staff.goto(f"{base}/staff/login")
            staff.fill("input[name=username]", "demo")
            staff.fill("input[name=password]", password)
            staff.click("button[type=submit]")
            staff.goto(f"{base}/staff/jobs/DEMO-103")
            staff.screenshot(path=str(IMAGES / "staff-console.png"))
            browser.close()
        print(f"saved in {IMAGES} (English driving link for manual looks: {english_drive})")
    finally:
        demo.terminate()
        demo.wait(15)


if __name__ == "__main__":
    main()
