"""SSE frames are encoded once per event and shared; a different event never gets another's frame."""

from __future__ import annotations

from sse_starlette import ServerSentEvent

from portal.customer.tracking import PageEvent
from portal.web.frames import FrameCache, encode


def test_one_event_fanned_out_is_encoded_once_and_matches_sse_starlette() -> None:
    cache = FrameCache()
    data = {"lat": 41.9, "lon": -87.6, "note": "<b>&</b>"}
    first = cache.frame(PageEvent("location", 7, data))
    again = cache.frame(PageEvent("location", 7, data))  # another page's copy of the same stored event
    assert again is first
    expected = ServerSentEvent(data='{"lat":41.9,"lon":-87.6,"note":"<b>&</b>"}', event="location", id="7").encode()
    assert first == expected


def test_an_equal_but_different_dict_is_encoded_for_itself() -> None:
    cache = FrameCache()
    cache.frame(PageEvent("status", 3, {"status": "en_route", "status_label": "On the way"}))
    relabelled = {"status": "en_route", "status_label": "En camino"}
    assert b"En camino" in cache.frame(PageEvent("status", 3, relabelled))


def test_the_cache_is_bounded_oldest_first() -> None:
    cache = FrameCache(size=2)
    events = [PageEvent("location", n, {"n": n}) for n in range(3)]
    for event in events:
        cache.frame(event)
    assert len(cache) == 2
    assert cache.frame(events[0]) == encode(events[0])  # re-encoded after eviction, still right
