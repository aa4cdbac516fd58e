"""Storage backends behind one protocol (see ``base.Store``), retention, throttles and transfer.

Never imports ``portal.web``, a channel or a service: everything above the store calls it.
"""

from __future__ import annotations

from portal.settings import ConfigError, Settings
from portal.store.base import Store


def open_store(settings: Settings) -> Store:
    """The store named by ``PORTAL_STORE`` (not yet opened)."""
    path = settings.sqlite_path
    if path is not None:
        from portal.store.sqlite.store import SQLiteStore

        return SQLiteStore(path)
    if settings.store_url.startswith(("redis://", "rediss://")):
        from portal.store.redis.store import RedisStore

        return RedisStore(settings.store_url)
    raise ConfigError("PORTAL_STORE must look like sqlite:///path/to/file.db or redis://host:port/db")
