"""SSE frames for page events, encoded once per event and shared by every page that shows it.

One location ping on a job with several open pages reaches each page's stream as the same
``data`` dict (the bus hands every subscriber the one stored event). Encoding it to JSON and
to an SSE frame once, rather than once per page, takes the per-subscriber cost of fan-out down
to a dict lookup; profiles under load showed that encoding among the top costs of a ping.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from sse_starlette import ServerSentEvent

from portal.customer.tracking import PageEvent

# Frames kept: a ping is fanned out to all its pages within a few loop turns, so a few
# thousand recent events cover every job pinging at once on a busy morning.
FRAME_CACHE_SIZE = 4096
# A comment line keeps proxies from closing an idle stream; one constant frame for every
# stream rather than a freshly formatted one each time.
PING_FRAME = ServerSentEvent(comment="ping").encode()


class FrameCache:
    """Encoded frames by (data object, kind, seq), bounded, oldest dropped first.

    The key holds the data object's ``id``; the entry keeps a reference to that object, so
    the id cannot be reused by another dict while the entry lives, and a hit is checked with
    ``is``. A relabelled or redacted event is a new dict: it misses and is encoded for itself.
    """

    def __init__(self, size: int = FRAME_CACHE_SIZE) -> None:
        self._size = size
        self._frames: OrderedDict[tuple[int, str, int], tuple[dict[str, Any], bytes]] = OrderedDict()

    def frame(self, event: PageEvent) -> bytes:
        key = (id(event.data), event.kind, event.seq)
        found = self._frames.get(key)
        if found is not None and found[0] is event.data:
            return found[1]
        encoded = encode(event)
        self._frames[key] = (event.data, encoded)
        if len(self._frames) > self._size:
            self._frames.popitem(last=False)
        return encoded

    def __len__(self) -> int:
        return len(self._frames)


def encode(event: PageEvent) -> bytes:
    """Compact JSON data, the kind as ``event``, ``seq`` as ``id``."""
    data = json.dumps(event.data, separators=(",", ":"))
    return ServerSentEvent(data=data, event=event.kind, id=str(event.seq)).encode()
