"""Static files and page weight: fingerprinted names served immutable, compression, the favicon,
the brand colour inline, and the page within its size budget."""

from __future__ import annotations

import gzip
import re
from dataclasses import replace

from starlette.testclient import TestClient

from portal.app import GZIP_MINIMUM_BYTES, create_app
from portal.settings import Settings
from portal.web.assets import IMMUTABLE
from portal.web.brand import brand_style
from portal.web.security import style_source
from tests.helpers import event, job_updated, post_event, sample_job

# HTML + CSS + our own JavaScript of the richest page, uncompressed; the map library is extra.
PAGE_BUDGET_BYTES = 40 * 1024
ASSET = re.compile(r'(?:href|src)="(/static/(?:css|js)/[^"]+)"')


def page_of(client: TestClient) -> str:
    url: str = client.portal.call(client.app.state.runtime.link_url, "WO-1")  # type: ignore[attr-defined,union-attr]
    return url.removeprefix("http://testserver")


def busy_job(client: TestClient) -> None:
    """A completed visit with every section filled: the heaviest page a customer gets."""
    post_event(client, job_updated(sample_job(status="completed", invoice_url="https://pay.example.com/i/1")))
    for n in range(6):
        data = {"job_id": "WO-1", "id": f"s{n}", "title": f"Step {n} of the work on the heater", "percent": n * 12,
                "note": "Replaced the valve and tested for leaks.", "photo_url": f"https://photos.example.com/{n}.jpg",
                "recorded_at": f"2026-03-03T15:{n:02d}:00Z"}  # fmt: skip
        assert post_event(client, event("job.progress", data)).status_code == 202


def test_pages_link_fingerprinted_files_served_immutable_for_a_year(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    page = client.get(page_of(client)).text
    linked = ASSET.findall(page)
    assert {"/static/js/tracking.js", "/static/css/portal.css"}.isdisjoint(linked)
    assert any(re.fullmatch(r"/static/css/portal\.[0-9a-f]{10}\.css", u) for u in linked)
    for url in linked:
        response = client.get(url)
        assert response.status_code == 200 and response.headers["cache-control"] == IMMUTABLE
    plain = client.get("/static/css/portal.css")
    assert plain.status_code == 200 and "immutable" not in plain.headers["cache-control"]
    assert client.get("/static/css/portal.0000000000.css").status_code == 404


def test_html_css_and_js_are_compressed(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    page = client.get(page_of(client), headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    for url in ASSET.findall(page.text):
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        expected = "gzip" if len(response.content) > GZIP_MINIMUM_BYTES else None  # tiny files are not worth it
        assert response.headers.get("content-encoding") == expected, url
    assert len(gzip.compress(page.content)) < len(page.content) / 2  # worth it: pages shrink by half or more


def test_the_favicon_exists_in_the_brand_colour(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, brand_color="#aa3300"))) as client:
        ico = client.get("/favicon.ico")
        assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
        assert ico.content[:4] == b"\x00\x00\x01\x00" and b"\x89PNG" in ico.content
        svg = client.get("/favicon.svg")
        assert 'fill="#aa3300"' in svg.text


def test_the_brand_colour_is_inline_and_allowed_by_its_hash_alone(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, brand_color="#aa3300"))) as client:
        post_event(client, job_updated(sample_job()))
        page = client.get(page_of(client))
        assert f"<style>{brand_style('#aa3300')}</style>" in page.text
        csp = page.headers["content-security-policy"]
        assert f"style-src 'self' {style_source(brand_style('#aa3300'))};" in csp
        assert "unsafe-inline" not in csp
        assert page.text.count('rel="stylesheet"') == 1 + page.text.count("<noscript><link")


def test_the_richest_page_stays_within_its_budget(client: TestClient) -> None:
    busy_job(client)
    page = client.get(page_of(client)).text
    own = [u for u in ASSET.findall(page) if "/vendor/" not in u and "nojs" not in u]
    total = len(page.encode()) + sum(len(client.get(u).content) for u in own)
    assert total <= PAGE_BUDGET_BYTES, f"{total} bytes"
    assert "<script>" not in page and " on" + "error=" not in page
