"""A field system's callback endpoint on a loopback port (uvicorn): records requests, answers from a script.

It verifies nothing itself: tests verify each request with the ``standardwebhooks`` library,
as a field system would. It can go down and come back on the same port (``down``/``up``), so
the worker meets refused connections, not error answers.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import ThreadedServer, free_port


@dataclass(frozen=True)
class Answer:
    status: int = 204
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Arrived:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records requests to ``/hooks`` and answers them from a script (204 once it is empty)."""

    def __init__(self) -> None:
        self.arrived: list[Arrived] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self.port = free_port()
        self._server: ThreadedServer | None = None
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def __enter__(self) -> Receiver:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        """Listen on the port (again)."""
        if self._server is None:
            app = Starlette(routes=[Route("/hooks", self._hook, methods=["POST"])])
            self._server = ThreadedServer(app, port=self.port).__enter__()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up``; what arrived is kept."""
        if self._server is not None:
            self._server.__exit__(None, None, None)
            self._server = None

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

    def unscript(self) -> None:
        """Forget the answers not given yet: from now on every request gets 204."""
        with self._lock:
            self._script.clear()

    def requests(self) -> list[Arrived]:
        with self._lock:
            return list(self.arrived)

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.arrived.append(Arrived(dict(request.headers), body))
            answer = self._script.popleft() if self._script else Answer()
        return Response(status_code=answer.status, headers=dict(answer.headers))
