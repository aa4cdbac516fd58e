"""Failed sign-ins are counted before the password is checked, so parallel tries cannot pass the
limit; the limit is per client address and account, so nobody can lock a colleague out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.settings import Settings
from portal.staff.auth import CLIENT_FAILURE_LIMIT, USER_FAILURE_LIMIT, LoginRefused, StaffAuth
from portal.staff.passwords import hash_password
from portal.store import open_store
from portal.store.base import Store
from tests.helpers import make_settings
from tests.staff_support import PASSWORD, TEST_COST

pytestmark = pytest.mark.anyio
ATTACKER = "198.51.100.66"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "redis"])
def settings_for(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return make_settings(tmp_path)
    redis_url: str = request.getfixturevalue("redis_url")
    return make_settings(tmp_path, store_url=redis_url)


@pytest.fixture
async def store(settings_for: Settings) -> AsyncIterator[Store]:
    opened = open_store(settings_for)
    await opened.open()
    hashed = hash_password(PASSWORD, TEST_COST)
    for name in ["ann", *(f"user{i}" for i in range(20))]:
        await opened.save_staff_account(name, hashed, "UTC")
    yield opened
    await opened.close()


async def attempt(auth: StaffAuth, username: str, password: str, client: str = ATTACKER) -> int:
    try:
        await auth.login(username, password, client)
    except LoginRefused as refused:
        return refused.status
    return 200


async def test_parallel_wrong_passwords_get_at_most_the_limit_of_tries(settings_for: Settings, store: Store) -> None:
    auth = StaffAuth(settings_for, store)
    tries = [attempt(auth, "ann", f"wrong guess {n}") for n in range(59)]
    answers = await asyncio.gather(*tries, attempt(auth, "ann", PASSWORD))
    assert Counter(answers[:-1]) == {401: USER_FAILURE_LIMIT, 429: 59 - USER_FAILURE_LIMIT}
    assert answers[-1] == 429  # the right password, sent 60th, does not sign in


async def test_parallel_tries_from_one_address_across_accounts_stop_at_its_limit(
    settings_for: Settings, store: Store
) -> None:
    auth = StaffAuth(settings_for, store)
    tries = [attempt(auth, f"user{n % 20}", f"wrong guess {n}") for n in range(200)]
    assert Counter(await asyncio.gather(*tries))[401] == CLIENT_FAILURE_LIMIT


async def test_failing_on_purpose_does_not_lock_the_account_for_others(settings_for: Settings, store: Store) -> None:
    auth = StaffAuth(settings_for, store)
    for n in range(USER_FAILURE_LIMIT):
        assert await attempt(auth, "ann", f"wrong guess {n}") == 401
    assert await attempt(auth, "ann", PASSWORD) == 429  # from the guessing address: refused
    assert await attempt(auth, "ann", PASSWORD, "203.0.113.5") == 200  # from her own: signed in


async def test_signing_in_starts_the_count_afresh(settings_for: Settings, store: Store) -> None:
    auth = StaffAuth(settings_for, store)
    for _ in range(3):
        for n in range(USER_FAILURE_LIMIT - 1):
            assert await attempt(auth, "ann", f"typo {n}", "203.0.113.5") == 401
        assert await attempt(auth, "ann", PASSWORD, "203.0.113.5") == 200
