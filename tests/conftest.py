from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from tests.helpers import make_settings

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# The tests' own database on the shared server; each test also gets its own key prefix, so
# test runs in parallel never see each other's keys.
REDIS_TEST_DB = 15


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Two workers per core for ``-n auto``: most long tests wait on servers, browsers and
    sockets rather than compute, so one worker per core leaves the cores half idle (on the
    two-core reference machine the suite took 166 s with two workers and 132 s with four)."""
    return 2 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest tests first, so the parallel run does not end with one worker finishing a
    forty-second test while the others wait. ``@pytest.mark.long(seconds)`` gives a test's rough
    duration on the reference machine; the rest keep their order after them."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("long")
        return float(marker.args[0]) if marker and marker.args else 0.0

    items.sort(key=lambda item: -seconds(item))  # a stable sort: equal tests keep their order


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis store URL with a key prefix of its own, emptied afterwards.

    Skips when Redis is not answering, except in CI (``CI=true``), where that fails.
    """
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_TEST_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        message = f"Redis is not answering on {REDIS_HOST}:{REDIS_PORT}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_TEST_DB}?prefix={prefix}"
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium as root on a machine without internet: no sandbox, no GPU, and none of
# the background connections to Google's services that would only fail.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_path() -> str:
    """The system Chromium for browser tests: skipped when missing locally, a failure in CI."""
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"browser tests need Chromium at {CHROMIUM} (CI=true)")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    return str(CHROMIUM)


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (never a downloaded browser build)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
