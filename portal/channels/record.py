"""Record-only: no provider is configured, so messages are kept in the history, not sent.

This is what the embedded default runs with: staff still see every message and its text.
"""

from __future__ import annotations

from portal.channels.base import Outgoing, Receipt

NO_PROVIDER = "no provider"
# The demo's customers are made up: their messages are simulated, which is no fault to report.
SIMULATED = "simulated (demo)"


class RecordOnly:
    def __init__(self, name: str, reason: str = NO_PROVIDER) -> None:
        self.name = name
        self.reason = reason

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, message: Outgoing) -> Receipt:
        return Receipt(status="not_sent", error=self.reason)
