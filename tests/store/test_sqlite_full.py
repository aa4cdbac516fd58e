"""A full SQLite database answers 503 with nothing half-written, and works again once it has room.

SQLite's ``max_page_count`` pragma makes the database full without filling any real disk.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from starlette.testclient import TestClient

from portal.app import create_app
from tests.helpers import job_updated, make_settings, sample_job, signed_headers

NOTES = "n" * 2000  # the longest notes allowed: each job takes a few pages


def test_a_full_database_answers_503_and_keeps_nothing_of_the_refused_webhook(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    store = app.state.runtime.store
    with TestClient(app) as client:

        def limit(pages: int | None) -> int:
            def set_limit(conn: sqlite3.Connection) -> int:
                current = int(conn.execute("PRAGMA page_count").fetchone()[0])
                conn.execute(f"PRAGMA max_page_count = {current + 2 if pages is None else pages}")
                return current

            found: int = client.portal.call(store.write, set_limit)  # type: ignore[union-attr]
            return found

        limit(None)  # two pages of room left on the writer's connection
        answers: list[int] = []
        refused: tuple[str, dict[str, str]] | None = None
        for n in range(200):
            body = json.dumps(job_updated(sample_job(f"FULL-{n}", notes=NOTES)))
            headers = signed_headers(body)
            response = client.post("/webhooks/field", content=body, headers=headers)
            answers.append(response.status_code)
            if response.status_code != 202:
                refused = (body, headers)
                assert response.status_code == 503 and response.headers["retry-after"]
                assert response.json() == {"error": "store_unavailable"}
                break
        assert refused is not None, f"the database never filled up: {answers[-5:]}"
        job_id = json.loads(refused[0])["data"]["job"]["id"]
        assert client.portal.call(store.get_job, job_id) is None  # type: ignore[union-attr]
        assert client.portal.call(store.list_outbox, job_id) == []  # type: ignore[union-attr]
        assert client.get("/healthz").status_code == 200

        limit(1_000_000)  # room again: the sender's retry of the same webhook is stored once
        retried = client.post("/webhooks/field", content=refused[0], headers=refused[1])
        assert retried.status_code == 202
        assert client.portal.call(store.get_job, job_id) is not None  # type: ignore[union-attr]
        again = client.post("/webhooks/field", content=refused[0], headers=refused[1])
        assert again.json() == {"status": "duplicate"}
