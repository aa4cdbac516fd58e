"""A real SMTP server (aiosmtpd) on a loopback port that keeps what it receives.

It can be told to refuse the next recipients with a permanent (5xx) or temporary (4xx) reply,
and be stopped and started again on the same port (``down``/``up``), as a mail server restarts.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections import deque
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class _Handler:
    def __init__(self, server: FakeSMTP) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        refusal = self.server.next_refusal()
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.server.add(parsed, list(envelope.rcpt_tos), envelope.mail_from)
        return "250 Message accepted for delivery"


class FakeSMTP:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[EmailMessage, list[str]]] = []
        self.senders: list[str] = []  # the envelope sender (MAIL FROM) of each message received
        self._refusals: deque[str] = deque()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def __enter__(self) -> FakeSMTP:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        """Listen on the port (again): a stopped controller cannot restart, so a new one is made."""
        if self._controller is None:
            self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up``; what was received is kept."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, *replies: str) -> None:
        """Answer the next RCPT commands with ``replies`` such as ``550 5.1.1 No such user``."""
        with self._lock:
            self._refusals.extend(replies)

    def next_refusal(self) -> str | None:
        with self._lock:
            return self._refusals.popleft() if self._refusals else None

    def add(self, message: EmailMessage, recipients: list[str], sender: str) -> None:
        with self._lock:
            self.received.append((message, recipients))
            self.senders.append(sender)

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for m, _ in self.received]
