"""``/readyz`` from a probe in the background, so a busy store cannot make it slow.

Probing the store on each request made readiness as slow as the store under load (2.6 s
was measured), and load balancers that time out at 1-2 s then took a working portal out.
A background task pings the store every ``PROBE_INTERVAL`` seconds and ``/readyz`` reads the
last answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from portal.store.base import Store, StoreUnavailable

log = logging.getLogger("portal.store.readiness")

PROBE_INTERVAL = 2.0  # seconds; a balancer checking every 5-10 s sees an answer at most this old
PROBE_TIMEOUT = 2.0  # a ping slower than this counts as unavailable: the store is not serving


@dataclass(frozen=True)
class Probe:
    ready: bool
    detail: str
    at: float  # time.monotonic() of the probe

    def age(self) -> float:
        return time.monotonic() - self.at


class Readiness:
    def __init__(self, store: Store, interval: float = PROBE_INTERVAL) -> None:
        self._store = store
        self.interval = interval
        self.last = Probe(False, "not probed yet", time.monotonic())

    async def probe(self) -> Probe:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self._store.ping()
        except StoreUnavailable as exc:
            self.last = Probe(False, str(exc), time.monotonic())
        except TimeoutError:
            self.last = Probe(False, f"no answer within {PROBE_TIMEOUT:g} s", time.monotonic())
        else:
            self.last = Probe(True, "ready", time.monotonic())
        return self.last

    async def run(self) -> None:
        """Probe forever (``probe`` ran once at start); log only changes, not every 2 s."""
        while True:
            await asyncio.sleep(self.interval)
            was = self.last.ready
            now = await self.probe()
            if now.ready != was:
                log.log(logging.INFO if now.ready else logging.WARNING, "store readiness: %s", now.detail)
