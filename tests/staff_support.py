"""Helpers for the staff console tests: accounts, sign-in, CSRF tokens, the console's auth."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portal.staff.auth import StaffAuth
from portal.staff.passwords import Cost, hash_password

PASSWORD = "correct horse battery staple"
# Cheap hashing for accounts made by tests; the stored hash names its own cost.
TEST_COST = Cost(n=2**10, r=8, p=1)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_staff(client: TestClient, username: str = "ann", password: str = PASSWORD, timezone: str = "UTC") -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    client.portal.call(store.save_staff_account, username, hash_password(password, TEST_COST), timezone)  # type: ignore[union-attr]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def login(client: Any, username: str = "ann", password: str = PASSWORD) -> httpx.Response:
    """Sign in through the form (GET for the CSRF token, then POST); returns the POST answer."""
    form = client.get("/staff/login")
    response: httpx.Response = client.post(
        "/staff/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    return response


def page_csrf(client: Any, path: str = "/staff") -> str:
    return csrf_of(client.get(path).text)


def staff_auth(app: Starlette) -> StaffAuth:
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/staff":
            auth: StaffAuth = route.app.state.auth  # type: ignore[attr-defined]
            return auth
    raise AssertionError("no /staff mount")


def job_id_url(client: TestClient, job_id: str) -> str:
    portal = client.app.state.runtime  # type: ignore[attr-defined]
    url: str = client.portal.call(portal.link_url, job_id)  # type: ignore[union-attr]
    return url.removeprefix("http://testserver")
