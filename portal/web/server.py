"""How ``portal serve`` and ``portal demo`` run uvicorn: its limits, and no proxy handling of its own.

Forwarded headers are handled inside the app (``PORTAL_TRUSTED_PROXIES``, see ``portal/app.py``),
so uvicorn must not rewrite the client address first from its own, different list.
"""

from __future__ import annotations

import resource
from typing import Any

# Idle keep-alive connections are closed after this long: a browser reopens one in a few ms,
# while each idle socket held open costs a file descriptor.
KEEP_ALIVE_SECONDS = 5
# The largest request head (request line and headers) accepted; browsers send 1-4 KiB, and a
# staff cookie is well under 1 KiB. Larger heads are refused before they are buffered further.
MAX_HEADER_BYTES = 32 * 1024
# File descriptors kept back from the concurrency cap for the store, Redis, SMTP, Twilio and logs.
FD_RESERVE = 64
MIN_CONCURRENCY = 64  # never below this, even with a tiny descriptor limit


def concurrency_limit() -> int:
    """Connections and tasks uvicorn serves at once before answering 503: what descriptors allow.

    Past this the process would fail to accept (or to open its store) for lack of descriptors,
    taking health checks down with it; a 503 to the surplus keeps everyone else served.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(MIN_CONCURRENCY, soft - FD_RESERVE)


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``.

    h11 is chosen because it enforces a header size limit (httptools buffers any size).
    Slow senders (a byte every few seconds) are the proxy's to cut off: uvicorn has no
    header or body read timeout; docs/deployment.md says what the proxy must set.
    """
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": concurrency_limit(),
        "proxy_headers": False,
        "server_header": False,
    }
