"""``portal demo``: a real process with a simulated field system, and the demo phone page."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.demo.roads import DRIVE_SPEED_MPS, roads
from portal.demo.scenario import DAYTIME, DRIVE_ADDRESS, build, daytime_zone, metres
from tests.helpers import free_port, job_updated, make_settings, post_event, sample_job, wait_until
from tests.processes import portal_env

DEADLINE_SECONDS = 45.0
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/t/\S+)")

# One worker runs this module, so its demo process (about four seconds to start) starts once.
pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("demo")
    env = portal_env(tmp)
    env.pop("PORTAL_WEBHOOK_SECRET")  # demo mode accepts webhooks with a secret of its own
    port = free_port()
    out = tmp / "demo.out"
    store = f"sqlite:///{tmp / 'd.db'}"
    command = [sys.executable, "-m", "portal", "demo", "--port", str(port), "--store", store, "--routing"]
    with out.open("wb") as sink:
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        text = wait_until(
            lambda: "Demo phone:" in out.read_text() and out.read_text(), "the demo's links", DEADLINE_SECONDS
        )
        yield {"url": f"http://127.0.0.1:{port}", "text": text, "links": LINK.findall(text), "proc": proc}
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_demo_prints_links_a_staff_login_and_the_phone(demo: dict[str, Any]) -> None:
    text = demo["text"]
    assert len(demo["links"]) == 4
    assert re.search(r"username demo\s+password \S{12,}", text)
    assert f"{demo['url']}/demo/phone" in text
    assert "d.db" in text  # says where its data is
    for link in demo["links"]:
        assert httpx.get(link, timeout=5).status_code == 200


def test_the_demo_prints_commands_that_work_as_pasted(demo: dict[str, Any], tmp_path: Path) -> None:
    [command] = [line.strip() for line in demo["text"].splitlines() if line.strip().endswith("portal link DEMO-101")]
    assert "PORTAL_STORE=sqlite:///" in command and "PORTAL_PUBLIC_URL=" in command
    bin_dir = str(Path(sys.executable).parent)
    env = {**portal_env(tmp_path), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    for name in ("PORTAL_STORE", "PORTAL_PUBLIC_URL", "PORTAL_SECRET_KEY"):
        env.pop(name, None)  # only what the printed command sets
    result = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == demo["links"][0], result.stderr
    assert "SECRET=whsec_" in demo["text"] and "webhook-signature: v1,$SIG" in demo["text"]
    assert "--password-stdin" in demo["text"]


def test_the_demo_has_a_brand_and_a_favicon(demo: dict[str, Any]) -> None:
    page = httpx.get(demo["links"][0], timeout=5).text
    assert "/static/demo/logo.svg" in page and 'alt="Acme Plumbing &amp; Heating"' in page
    assert "tel:+13125550100" in page and 'rel="icon"' in page
    icon = httpx.get(demo["url"] + "/favicon.ico", timeout=5, follow_redirects=True)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith(("image/x-icon", "image/svg+xml"))
    assert httpx.get(demo["url"] + "/static/demo/logo.svg", timeout=5).status_code == 200


@pytest.mark.long(7)
def test_the_technician_moves_toward_the_customer(demo: dict[str, Any]) -> None:
    state_url = demo["links"][2] + "/state"  # DEMO-103, the one being driven to

    def location() -> Any:
        return httpx.get(state_url, timeout=5).json()["location"]

    first = wait_until(location, "a first position", DEADLINE_SECONDS)
    second = wait_until(
        lambda: (loc := location()) and loc["updated_at"] != first["updated_at"] and loc, "a move", DEADLINE_SECONDS
    )
    target = (DRIVE_ADDRESS["lat"], DRIVE_ADDRESS["lon"])
    assert metres((second["lat"], second["lon"]), target) < metres((first["lat"], first["lon"]), target)
    state = httpx.get(state_url, timeout=5).json()
    assert state["status"] == "en_route" and state["status_label"] == "El técnico va en camino"


def test_with_routing_the_page_gets_the_road_and_a_road_eta(demo: dict[str, Any]) -> None:
    state_url = demo["links"][2] + "/state"  # DEMO-103
    assert f"road ETAs from {demo['url']}/demo/osrm" in demo["text"]

    def routed() -> Any:
        state = httpx.get(state_url, timeout=5).json()
        return state if state["route"] and state["eta"] and state["eta"]["source"] == "route" else None

    state = wait_until(routed, "a road ETA", DEADLINE_SECONDS)
    line = state["route"]["coordinates"]
    assert state["route"]["type"] == "LineString" and len(line) > 2
    assert metres((line[-1][1], line[-1][0]), (DRIVE_ADDRESS["lat"], DRIVE_ADDRESS["lon"])) < 1  # ends at the door


def test_the_routing_stub_answers_from_the_demo_roads(tmp_path: Path) -> None:
    road = roads()["DEMO-103"]
    start, end = road[3], road[-1]
    with TestClient(create_app(make_settings(tmp_path, demo=True))) as client:
        answer = client.get(f"/demo/osrm/route/v1/driving/{start[1]},{start[0]};{end[1]},{end[0]}")
        assert answer.status_code == 200
        found = answer.json()["routes"][0]
        assert found["geometry"]["coordinates"][-1] == [end[1], end[0]]
        assert found["duration"] == pytest.approx(found["distance"] / DRIVE_SPEED_MPS)
        elsewhere = client.get(f"/demo/osrm/route/v1/driving/{start[1]},{start[0]};-87.0,41.0")
        assert elsewhere.status_code == 400 and elsewhere.json()["code"] == "NoRoute"
        garbage = client.get("/demo/osrm/route/v1/driving/not;points")
        assert garbage.status_code == 400 and garbage.json()["code"] == "InvalidQuery"
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert client.get(f"/demo/osrm/route/v1/driving/{start[1]},{start[0]};{end[1]},{end[0]}").status_code == 404


def test_the_demo_phone_shows_messages_and_takes_replies(demo: dict[str, Any]) -> None:
    with httpx.Client(base_url=demo["url"], timeout=5) as http:
        expected = ("Visit booked", "Email", "Hola, Lucía:", "Sigalo en vivo")  # emails are on the phone too
        # The demo's messages go out one after another: wait for the last of them, the Spanish
        # customer's SMS (GSM-7 spelled), not only the first.

        def phone_with_all() -> str | None:
            text = http.get("/demo/phone").text
            return text if all(part in text for part in expected) else None

        page = wait_until(
            phone_with_all,
            "the booking SMS, the emails and the Spanish SMS on the demo phone",
            DEADLINE_SECONDS,
        )
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        refused = http.post("/demo/phone/reply", data={"job_id": "DEMO-101", "body": "HELP"})
        assert refused.status_code == 403
        answer = http.post(
            "/demo/phone/reply", data={"job_id": "DEMO-101", "body": "HELP", "csrf_token": token.group(1)}
        )
        assert answer.status_code == 303 and answer.headers["location"].startswith("/demo/phone")
        thread = http.get("/demo/phone").text
        assert "From Priya Shah" in thread and "Reply R to reschedule" in thread
        assert "Simulated: nothing was really sent" in thread
        stop = {"job_id": "DEMO-104", "body": "STOP", "csrf_token": token.group(1)}
        assert http.post("/demo/phone/reply", data=stop).status_code == 303
        thread = http.get("/demo/phone").text
        assert "Opted out of texts: nothing more is texted until START" in thread
        assert "opted out of texts</strong>" in thread
        assert "not_sent" not in thread and "no provider" not in thread


def test_the_demo_phone_exists_only_in_demo_mode(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert client.get("/demo/phone").status_code == 404
        post_event(client, job_updated(sample_job()))


def test_an_oversized_demo_reply_sent_without_a_length_is_refused(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, demo=True))) as client:
        client.get("/demo/phone")
        token = client.cookies.get("portal_demo_csrf")
        assert token, "the demo phone set no form token"

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to check up front
            yield f"csrf_token={token}&job_id=WO-1&body=".encode()
            for _ in range(4):
                yield b"a" * 8192

        headers = {"content-type": "application/x-www-form-urlencoded"}
        response = client.post("/demo/phone/reply", content=chunks(), headers=headers, follow_redirects=False)
        assert response.status_code == 413


def test_the_scenario_drives_steadily_closer_then_arrives() -> None:
    from datetime import UTC, datetime

    scenario = build(datetime(2030, 3, 3, 15, 0, tzinfo=UTC))
    pings = [s for s in scenario.steps if s.type == "technician.location" and s.data["job_id"] == "DEMO-103"]
    target = (DRIVE_ADDRESS["lat"], DRIVE_ADDRESS["lon"])
    distances = [metres((p.data["lat"], p.data["lon"]), target) for p in pings]
    assert len(pings) > 10 and all(a > b for a, b in itertools.pairwise(distances))
    statuses = [s.data.get("status") for s in scenario.steps if s.data.get("job_id") == "DEMO-103"]
    assert [s for s in statuses if s] == ["en_route", "in_progress", "completed"]
    locales = {j.job["customer"]["locale"] for j in scenario.jobs}
    assert locales == {"en", "es"}


@pytest.mark.parametrize("hour", range(24))
def test_demo_visits_are_placed_where_it_is_daytime(hour: int) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    now = datetime(2030, 3, 3, hour, 20, tzinfo=UTC)
    zone = daytime_zone(now, preferred="Etc/UTC")
    assert DAYTIME[0] <= now.astimezone(ZoneInfo(zone)).time() < DAYTIME[1]
    if DAYTIME[0].hour <= hour < DAYTIME[1].hour:
        assert zone == "Etc/UTC"  # the machine's own zone when it is daytime there
    scenario = build(now, zone_name=zone)
    assert scenario.timezone == zone and {j.job["timezone"] for j in scenario.jobs} == {zone}
    today = scenario.jobs[1].job["window"]
    start = datetime.fromisoformat(today["start"]).astimezone(ZoneInfo(zone))
    assert 7 <= start.hour < 19  # "booked for today" is in working hours, never at 3 AM
