"""Staff sign-in: the guard on every route, CSRF, throttling, idle expiry, cookies, passwords."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from portal.staff.auth import (
    CLIENT_FAILURE_LIMIT,
    COOKIE_NAME,
    USER_FAILURE_LIMIT,
    CookieState,
    StaffAuth,
)
from portal.staff.passwords import Cost, WeakPassword, check_password_rules, hash_password, verify_password
from portal.store.sqlite.store import SQLiteStore
from tests.helpers import job_updated, make_settings, post_event, sample_job
from tests.staff_support import PASSWORD, TEST_COST, add_staff, csrf_of, login, page_csrf, staff_auth

PAGES = ["/staff", "/staff/?q=maria", "/staff/jobs/WO-1", "/staff/rejected", "/staff/audit", "/staff/nowhere"]
FORMS = ["/staff/logout", "/staff/jobs/WO-1/resend", "/staff/jobs/WO-1/revoke"]
API = ["/staff/api/jobs/WO-1", "/staff/api/jobs/missing", "/staff/api/anything"]


@pytest.fixture
def staff_client(client: TestClient) -> TestClient:
    add_staff(client)
    assert post_event(client, job_updated(sample_job())).status_code == 202
    return client


# -- the guard --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_without_a_session_redirect_to_the_login(staff_client: TestClient, path: str) -> None:
    response = staff_client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", FORMS)
def test_forms_without_a_session_redirect_and_change_nothing(staff_client: TestClient, path: str) -> None:
    response = staff_client.post(path, data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login"
    portal = staff_client.app.state.runtime  # type: ignore[attr-defined]
    assert staff_client.portal.call(portal.store.link_history, "WO-1")[0].revoked_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize("path", API)
def test_the_json_api_without_a_session_answers_401(staff_client: TestClient, path: str) -> None:
    response = staff_client.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_the_redirect_remembers_the_page_and_sign_in_returns_to_it(staff_client: TestClient) -> None:
    response = staff_client.get("/staff/jobs/WO-1", follow_redirects=False)
    assert response.headers["location"] == "/staff/login?next=%2Fjobs%2FWO-1"
    form = staff_client.get(response.headers["location"])
    answer = staff_client.post(
        "/staff/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/jobs/WO-1"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/staff/jobs/WO-1"


def test_next_cannot_leave_the_console(staff_client: TestClient) -> None:
    form = staff_client.get("/staff/login")
    answer = staff_client.post(
        "/staff/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "//evil.example"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/staff/attention"  # the landing page, never elsewhere


def test_a_signed_in_member_reaches_every_page(staff_client: TestClient) -> None:
    assert login(staff_client).status_code == 303
    for path in PAGES[:-1]:
        assert staff_client.get(path).status_code == 200, path
    assert staff_client.get("/staff/nowhere").status_code == 404
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 200
    assert staff_client.get("/staff/login", follow_redirects=False).headers["location"] == "/staff/attention"


def test_a_tampered_cookie_is_no_session(staff_client: TestClient) -> None:
    login(staff_client)
    cookie = staff_client.cookies[COOKIE_NAME]
    staff_client.cookies.clear()
    staff_client.cookies.set(COOKIE_NAME, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), path="/staff")
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401


# -- sign-in and its failures ---------------------------------------------------------------


def test_failure_message_does_not_say_which_part_was_wrong(staff_client: TestClient) -> None:
    wrong_password = login(staff_client, "ann", "not the password at all")
    unknown_user = login(staff_client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 401
    message = "That username and password do not match an account."
    assert message in wrong_password.text and message in unknown_user.text
    assert _notice(wrong_password.text) == _notice(unknown_user.text) == message
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401


def _notice(html: str) -> str:
    found = re.search(r'<p class="notice error"[^>]*>(.*?)</p>', html, re.S)
    assert found
    return found.group(1).strip()


def test_usernames_are_case_insensitive(staff_client: TestClient) -> None:
    assert login(staff_client, "  ANN ").status_code == 303


def test_login_without_or_with_a_wrong_csrf_token_is_403(staff_client: TestClient) -> None:
    staff_client.get("/staff/login")
    missing = staff_client.post("/staff/login", data={"username": "ann", "password": PASSWORD})
    wrong = staff_client.post("/staff/login", data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert missing.status_code == wrong.status_code == 403
    fresh = TestClient(staff_client.app)  # a token from another browser's cookie does not transfer
    token = page_csrf(staff_client, "/staff/login")
    foreign = fresh.post("/staff/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    assert foreign.status_code == 403
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401


def test_signed_in_forms_need_the_session_csrf_token(staff_client: TestClient) -> None:
    login(staff_client)
    for path in FORMS:
        assert staff_client.post(path, data={}).status_code == 403, path
        assert staff_client.post(path, data={"csrf_token": "forged"}).status_code == 403, path
    portal = staff_client.app.state.runtime  # type: ignore[attr-defined]
    assert staff_client.portal.call(portal.store.link_history, "WO-1")[0].revoked_at is None  # type: ignore[union-attr]
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 200  # logout without a token did nothing


def test_failed_logins_are_throttled_per_client_and_account(staff_client: TestClient) -> None:
    for _ in range(USER_FAILURE_LIMIT):
        assert login(staff_client, "ann", "wrong password here").status_code == 401
    refused = login(staff_client, "ann", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
    assert refused.headers["retry-after"] == "900"
    add_staff(staff_client, "bob")
    assert login(staff_client, "bob").status_code == 303  # another user from the same client still may


def test_failed_logins_are_throttled_per_client(staff_client: TestClient) -> None:
    users = [f"user{i}" for i in range(CLIENT_FAILURE_LIMIT // (USER_FAILURE_LIMIT - 1) + 1)]
    for name in [*users, "last"]:
        add_staff(staff_client, name)
    failures = 0
    for name in users:
        for _ in range(USER_FAILURE_LIMIT - 1):
            if failures < CLIENT_FAILURE_LIMIT:
                assert login(staff_client, name, "wrong password here").status_code == 401
                failures += 1
    assert login(staff_client, "last").status_code == 429


def test_sign_in_and_failures_are_audited(staff_client: TestClient) -> None:
    login(staff_client, "ann", "wrong password here")
    login(staff_client)
    portal = staff_client.app.state.runtime  # type: ignore[attr-defined]
    entries = staff_client.portal.call(lambda: portal.store.list_audit(limit=10))  # type: ignore[union-attr]
    assert [(e.username, e.action) for e in entries] == [("ann", "login"), ("ann", "login_failed")]
    assert entries[0].client == "testclient"


# -- sessions ---------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_lax_and_scoped(staff_client: TestClient) -> None:
    header = login(staff_client).headers["set-cookie"]
    assert header.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/staff" in header
    assert "Secure" not in header  # http public URL in tests


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://portal.example.com")
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        add_staff(client)
        header = login(client).headers["set-cookie"]
    assert "Secure" in header and "HttpOnly" in header


def test_logout_ends_the_session_even_for_a_copied_cookie(staff_client: TestClient) -> None:
    login(staff_client)
    copied = staff_client.cookies[COOKIE_NAME]
    response = staff_client.post("/staff/logout", data={"csrf_token": page_csrf(staff_client)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/staff/login?signed_out=1"
    staff_client.cookies.clear()
    staff_client.cookies.set(COOKIE_NAME, copied, path="/staff")
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401
    portal = staff_client.app.state.runtime  # type: ignore[attr-defined]
    entries = staff_client.portal.call(lambda: portal.store.list_audit(limit=1))  # type: ignore[union-attr]
    assert entries[0].action == "logout"


def test_a_password_reset_signs_the_account_out(staff_client: TestClient) -> None:
    login(staff_client)
    add_staff(staff_client, "ann", "a brand new passphrase")
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401
    assert login(staff_client, "ann", PASSWORD).status_code == 401
    assert login(staff_client, "ann", "a brand new passphrase").status_code == 303


def test_an_idle_session_expires(staff_client: TestClient, settings: Settings) -> None:
    auth = staff_auth(staff_client.app)  # type: ignore[arg-type]
    start = time.time()
    auth.clock = lambda: start
    login(staff_client)
    idle = settings.staff_idle_minutes * 60
    auth.clock = lambda: start + idle - 1
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 200  # activity slides the limit ...
    auth.clock = lambda: start + 2 * idle - 2
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 200
    auth.clock = lambda: start + 3 * idle  # ... until a whole idle period passes without any
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401
    page = staff_client.get("/staff", follow_redirects=False)
    assert page.headers["location"] == "/staff/login?expired=1"
    shown = staff_client.get(page.headers["location"])
    assert f"after {settings.staff_idle_minutes} minutes without activity" in shown.text


def test_sessions_end_after_a_working_day_even_when_active(staff_client: TestClient) -> None:
    auth = staff_auth(staff_client.app)  # type: ignore[arg-type]
    start = time.time()
    now = start
    auth.clock = lambda: now
    login(staff_client)
    step = auth.idle_seconds - 60
    while now < start + 12 * 3600 - step:
        now += step
        assert staff_client.get("/staff/api/jobs/WO-1").status_code == 200
    now = start + 12 * 3600 + 1
    assert staff_client.get("/staff/api/jobs/WO-1").status_code == 401


def test_the_cookie_key_rotates_like_links(tmp_path: Path) -> None:
    old, new = "old-secret-key-0123456789", "new-secret-key-0123456789"
    store = SQLiteStore(tmp_path / "unused.db")
    before = StaffAuth(replace(make_settings(tmp_path), secret_keys=(old,)), store)
    after = StaffAuth(replace(make_settings(tmp_path), secret_keys=(new, old)), store)
    state = CookieState(csrf="c", seen=1, issued=1, sid="s", username="ann")
    assert after.decode(before.encode(state)) == state  # old cookies still verify
    assert before.decode(after.encode(state)) is None  # the first key signs


# -- passwords --------------------------------------------------------------------------------


def test_passwords_are_scrypt_hashes_with_salt_and_parameters() -> None:
    encoded = hash_password(PASSWORD, TEST_COST)
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert salt and key and PASSWORD not in encoded
    assert hash_password(PASSWORD, TEST_COST) != encoded  # a fresh salt every time
    assert verify_password(PASSWORD, encoded)
    assert not verify_password(PASSWORD + "x", encoded)


def test_the_default_cost_is_memory_hard() -> None:
    assert Cost().n * Cost().r * 128 >= 32 * 1024 * 1024


@pytest.mark.parametrize("encoded", ["", "plain", "scrypt$3$8$1$AA$AA", "scrypt$1024$8$1$!!$AA", "bcrypt$1$2$3$4$5"])
def test_malformed_hashes_never_match(encoded: str) -> None:
    assert not verify_password(PASSWORD, encoded)


def test_password_rules() -> None:
    with pytest.raises(WeakPassword, match="at least 12"):
        check_password_rules("short")
    check_password_rules(PASSWORD)
