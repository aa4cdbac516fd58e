"""Properties over a running app: any stamp or text either answers 400 or shows in every view.

The examples that once broke a job for good (years below 1000, offsets at the edges of
datetime, dates past 2038, lone surrogates) are all inside these strategies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from portal.core.plausible import implausible_json
from portal.intake import _loads
from tests.helpers import event, job_updated, make_settings, now_iso, post_event, sample_job, signed_headers
from tests.staff_support import add_staff, job_id_url, login

EXAMPLES = 25  # each example posts twice and reads five views
OFFSETS = st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59))
STAMPS = st.builds(
    lambda moment, offset: moment.replace(tzinfo=dt.timezone(offset)).isoformat(),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    OFFSETS.map(lambda d: dt.timedelta(minutes=int(d.total_seconds() // 60))),
)
RUNS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("properties")))) as client:
        assert post_event(client, job_updated(sample_job("P-1"), now_iso(-60))).status_code == 202
        add_staff(client)
        login(client)
        yield client


def post_raw(client: TestClient, payload: dict[str, Any]) -> int:
    body = json.dumps(payload)  # lone surrogates go out as \\ud800 escapes, as a sender's would
    return client.post("/webhooks/field", content=body, headers=signed_headers(body)).status_code


def every_view(client: TestClient, job_id: str = "P-1") -> dict[str, Any]:
    path = job_id_url(client, job_id)
    for url in (path, f"{path}/calendar.ics", f"/staff/jobs/{job_id}", f"/staff/api/jobs/{job_id}"):
        assert client.get(url).status_code == 200, url
    state = client.get(f"{path}/state")
    assert state.status_code == 200
    found: dict[str, Any] = state.json()
    return found


@RUNS
@given(stamp=STAMPS)
def test_any_stamp_is_refused_or_shows_in_every_view(portal: TestClient, stamp: str) -> None:
    start = dt.datetime.fromisoformat(stamp)
    end = (start + dt.timedelta(hours=2)).isoformat() if start.year < 9999 else stamp
    window = post_raw(portal, job_updated({"id": "P-1", "window": {"start": stamp, "end": end}}))
    status = post_raw(portal, event("job.status_changed", {"job_id": "P-1", "status": "dispatched"}, stamp))
    ping = post_raw(portal, event("job.eta", {"job_id": "P-1", "eta": stamp}))
    assert {window, status, ping} <= {202, 400}
    state = every_view(portal)
    if window == 202:
        shown = dt.datetime.fromisoformat(state["window"]["start"])
        assert shown == start  # the same moment, shown in the job's zone


@RUNS
@given(text=st.text(st.characters() | st.sampled_from(["\ud800", "\udfff", "\u202e", "<"]), min_size=1, max_size=60))
def test_any_text_is_refused_or_shows_in_every_view(portal: TestClient, text: str) -> None:
    answer = post_raw(portal, job_updated({"id": "P-1", "service": text, "customer": {"name": text}}))
    assert answer in (202, 400)
    state = every_view(portal)
    if answer == 202:
        assert state["service"] == text
    else:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)  # only text that is not Unicode is refused


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()  # lone surrogates included
    | st.integers(30, 40).map(lambda depth: json.loads("[" * depth + "]" * depth)),  # near the depth limit
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES, st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_fast_json_reader_reads_any_body_as_the_standard_one(value: Any, ascii_only: bool) -> None:
    """orjson reads the usual body; whatever it reads must come out as the standard parser's would
    (an integer stays an integer, however wide: the plausibility check refuses the wide ones)."""
    body = json.dumps({"data": value}, ensure_ascii=ascii_only).encode()
    fast, plausible = _loads(body)
    assert fast == json.loads(body) and repr(fast) == repr(json.loads(body))
    if plausible:  # the walk is skipped: it must have found nothing
        assert implausible_json(fast) == []
