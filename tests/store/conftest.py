"""The store contract suite runs against every backend: parametrise ``store`` by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.store.base import Store
from portal.store.sqlite.store import SQLiteStore

BACKENDS = ["sqlite", "redis"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        backend: Store = SQLiteStore(tmp_path / "contract.db")
    elif request.param == "redis":
        from portal.store.redis.store import RedisStore

        backend = RedisStore(request.getfixturevalue("redis_url"))
    else:  # pragma: no cover - other backends register themselves in BACKENDS
        raise LookupError(request.param)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
