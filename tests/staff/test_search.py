"""Search from whatever the caller says: id, reference, phone in any format, email, name."""

from __future__ import annotations

import re
import sqlite3

import pytest
from starlette.testclient import TestClient

from portal.staff.console import PAGE_SIZE, prepare_search
from portal.store.sqlite.migrations import migrate
from portal.store.sqlite.staff import SEARCH_SQL, like_pattern
from tests.helpers import job_updated, post_event, sample_job
from tests.staff_support import add_staff, login

HOSTILE = "<script>alert(1)</script>"


def _customer(name: str, phone: str, email: str) -> dict[str, object]:
    return {"name": name, "phone": phone, "email": email, "locale": "en", "channels": ["sms", "email"]}


@pytest.fixture
def console(client: TestClient) -> TestClient:
    jobs = [
        sample_job(
            "WO-10442", reference="ACME-77", customer=_customer("Maria Lopez", "(312) 555-0142", "maria@example.com")
        ),
        sample_job("WO-20001", reference="ACME-78", customer=_customer("John Smith", "773 555 0199", "JS@Example.org")),
        sample_job(
            "WO-30003", reference="BETA-1", customer=_customer("Mariam O'Neil", "+1 646 555 0110", "mo@example.net")
        ),
    ]
    for job in jobs:
        assert post_event(client, job_updated(job)).status_code == 202
    add_staff(client)
    login(client)
    return client


def found(client: TestClient, query: str, page: int = 1) -> list[str]:
    html = client.get("/staff", params={"q": query, "page": page}).text
    return re.findall(r'<a href="/staff/jobs/([^"]+)">', html)


@pytest.mark.parametrize(
    "query", ["(312) 555-0142", "312.555.0142", "+13125550142", "312-555-0142", "1 312 555 0142", "3125550142"]
)
def test_a_phone_number_in_any_format_finds_the_job(console: TestClient, query: str) -> None:
    assert found(console, query) == ["WO-10442"]


def test_the_last_digits_of_a_phone_find_the_job(console: TestClient) -> None:
    assert found(console, "0199") == ["WO-20001"]
    assert found(console, "555-0110") == ["WO-30003"]


def test_job_id_and_reference_exact_and_partial(console: TestClient) -> None:
    assert found(console, "WO-10442") == ["WO-10442"]
    assert found(console, "ACME-78") == ["WO-20001"]
    assert found(console, "acme") == ["WO-20001", "WO-10442"]  # newest first
    assert found(console, "10442") == ["WO-10442"]


def test_email_case_insensitive_and_partial(console: TestClient) -> None:
    assert found(console, "MARIA@EXAMPLE.COM") == ["WO-10442"]
    assert found(console, "js@example.org") == ["WO-20001"]
    assert found(console, "example.net") == ["WO-30003"]


def test_customer_name_case_insensitive_and_partial(console: TestClient) -> None:
    assert found(console, "lopez") == ["WO-10442"]
    assert found(console, "MARIA") == ["WO-30003", "WO-10442"]  # Mariam too; newest first
    assert found(console, "o'neil") == ["WO-30003"]
    assert found(console, "smith") == ["WO-20001"]


def test_wildcards_in_the_query_are_literal(console: TestClient) -> None:
    assert found(console, "%%") == []
    assert found(console, "_a") == []


def test_no_match_shows_what_to_try(console: TestClient) -> None:
    page = console.get("/staff", params={"q": "nobody-like-this"})
    assert page.status_code == 200
    assert "No job matches" in page.text and "last four digits" in page.text and "part of the customer" in page.text
    blank = console.get("/staff")
    assert "Find a customer" in blank.text and "any format" in blank.text


def test_results_are_paginated(client: TestClient) -> None:
    for n in range(PAGE_SIZE + 5):
        job = sample_job(f"P-{n:03}", customer=_customer(f"Pat Example {n}", "(312) 555-0100", f"p{n}@example.com"))
        assert post_event(client, job_updated(job)).status_code == 202
    add_staff(client)
    login(client)
    first, second = found(client, "pat example"), found(client, "pat example", 2)
    assert len(first) == PAGE_SIZE and len(second) == 5
    assert first[0] == f"P-{PAGE_SIZE + 4:03}" and second[-1] == "P-000"  # newest first across pages
    assert not set(first) & set(second)
    assert 'rel="next"' in client.get("/staff", params={"q": "pat example"}).text
    assert 'rel="prev"' in client.get("/staff", params={"q": "pat example", "page": 2}).text


def test_hostile_customer_text_is_escaped_in_results(client: TestClient) -> None:
    job = sample_job("WO-X", customer=_customer(HOSTILE, "(312) 555-0142", "x@example.com"), reference='"><b>ref')
    assert post_event(client, job_updated(job)).status_code == 202
    add_staff(client)
    login(client)
    page = client.get("/staff", params={"q": "script"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert HOSTILE not in page.text and "<b>ref" not in page.text
    echoed = client.get("/staff", params={"q": HOSTILE})
    assert HOSTILE not in echoed.text


def test_prepare_search_reads_the_query() -> None:
    prepared = prepare_search("  (312) 555-0142 ", "US")
    assert prepared is not None
    assert prepared.phone == "+13125550142" and prepared.digits == "3125550142"
    words = prepare_search("Maria Lopez", "US")
    assert words is not None and words.pattern == "maria lopez" and words.phone is None and words.digits is None
    assert prepare_search("   ", "US") is None
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_search_is_one_statement_using_only_indexes() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    params = {"exact": "x", "phone": "+1", "digits": "%1%", "pattern": "%x%", "limit": 21, "offset": 0}
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + SEARCH_SQL, params)]
    reads = [step for step in plan if step.startswith(("SCAN", "SEARCH"))]
    assert reads and all("INDEX" in step or "PRIMARY KEY" in step for step in reads), plan
