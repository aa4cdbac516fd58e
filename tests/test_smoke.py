from __future__ import annotations

from starlette.testclient import TestClient

from portal.cli import print_link  # noqa: F401  (the CLI module imports cleanly)
from tests.helpers import job_updated, post_event, sample_job


def test_a_posted_job_has_a_working_tracking_page(client: TestClient) -> None:
    assert post_event(client, job_updated(sample_job())).status_code == 202
    portal = client.app.state.runtime  # type: ignore[attr-defined]
    url = client.portal.call(portal.link_url, "WO-1")  # type: ignore[attr-defined]
    page = client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Water heater repair" in page.text
