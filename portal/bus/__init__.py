"""Live-event fan-out to open tracking streams (see ``base.Bus``): in-process, or Redis pub/sub.

Never imports ``portal.web``, a channel, or a service (``customer``, ``notify``, ``staff``):
services publish through it, and the stored event log is the store's.
"""

from __future__ import annotations

from portal.bus.base import Bus
from portal.store.base import Store


def open_bus(store: Store) -> Bus:
    """Redis pub/sub between processes when the store is Redis, else in-process fan-out."""
    from portal.store.redis.store import RedisStore

    if isinstance(store, RedisStore):
        from portal.bus.redis import RedisBus

        return RedisBus(store)
    from portal.bus.memory import MemoryBus

    return MemoryBus()
