"""Capability links: forged 404, revoked or expired 410, repeated bad tokens 429."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from starlette.testclient import TestClient

from portal.app import create_app
from portal.links import LinkSigner
from portal.runtime import BAD_LINK_LIMIT, Runtime
from portal.settings import Settings
from tests.helpers import job_updated, post_event, sample_job, status_changed


def portal_of(client: TestClient) -> Runtime:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return portal


def path_of(client: TestClient, job_id: str = "WO-1") -> str:
    url: str = client.portal.call(portal_of(client).link_url, job_id)  # type: ignore[attr-defined]
    return url.removeprefix("http://testserver")


def test_links_are_short_enough_for_sms() -> None:
    signer = LinkSigner(("k" * 32,))
    url = signer.url("https://track.example-plumbing.com", "AbCdEfGhIjKl")
    assert len(url) <= 80


def test_rotated_secret_keys_still_verify_old_links() -> None:
    old = LinkSigner(("old-key-0123456789",))
    token = old.token("AbCdEfGhIjKl")
    rotated = LinkSigner(("new-key-0123456789", "old-key-0123456789"))
    assert rotated.link_key(token) == "AbCdEfGhIjKl"
    assert rotated.token("AbCdEfGhIjKl") != token  # the new key signs
    assert LinkSigner(("new-key-0123456789",)).link_key(token) is None


def test_a_token_has_exactly_one_spelling() -> None:
    signer = LinkSigner(("k" * 32,))
    token = signer.token("AbCdEfGhIjKl")
    key, _, signature = token.partition(".")
    assert signer.link_key(token) == "AbCdEfGhIjKl"
    respelled = [
        f"{key}.{signature[:5]}!!!!{signature[5:]}",
        f"{key}.{signature[:5]}~~~~{signature[5:]}",
        f"{key}.{signature}====",
        f"{key}.{signature[:5]} {signature[5:]}",
    ]
    # The last character carries two spare bits: the other three values decode alike.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    base = alphabet.index(signature[-1]) & ~3
    respelled += [
        f"{key}.{signature[:-1]}{alphabet[base + n]}" for n in range(4) if alphabet[base + n] != signature[-1]
    ]
    assert [signer.link_key(t) for t in respelled] == [None] * len(respelled)


def test_a_tampered_token_answers_404(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    path = path_of(client)
    # Change a character in the middle: the last base64 character of the signature carries
    # two padding bits, so some changes to it decode to the very same signature.
    middle = len(path) - 10
    tampered = path[:middle] + ("A" if path[middle] != "A" else "B") + path[middle + 1 :]
    assert client.get(tampered).status_code == 404
    assert client.get(tampered + "/state").status_code == 404
    assert client.get(tampered + "/events").status_code == 404
    key_changed = "/t/" + ("A" if path[3] != "A" else "B") + path[4:]  # another job's key, same signature
    assert client.get(key_changed).status_code == 404
    assert client.get("/t/not-a-token").status_code == 404


def test_a_token_signed_with_another_key_answers_404(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    record = client.portal.call(portal_of(client).store.get_job, "WO-1")  # type: ignore[attr-defined]
    forged = LinkSigner(("someone-elses-key-000",)).token(record.link_key)
    assert client.get(f"/t/{forged}").status_code == 404


def test_revoking_makes_every_earlier_link_410(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    old = path_of(client)
    new_key = client.portal.call(portal_of(client).store.rotate_link_key, "WO-1")  # type: ignore[attr-defined]
    assert new_key
    gone = client.get(old)
    assert gone.status_code == 410
    assert "no longer active" in gone.text
    assert client.get(path_of(client)).status_code == 200


def test_links_expire_ttl_days_after_completion(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, link_ttl_days=14))) as client:
        month_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
        post_event(client, job_updated(sample_job(), month_ago))
        path = path_of(client)
        long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=15)).isoformat()
        recently = (dt.datetime.now(dt.UTC) - dt.timedelta(days=13)).isoformat()
        post_event(client, job_updated(sample_job("WO-2"), month_ago))
        post_event(client, status_changed("WO-2", "completed", recently))
        assert client.get(path_of(client, "WO-2")).status_code == 200
        post_event(client, status_changed("WO-1", "completed", long_ago))
        assert client.get(path).status_code == 410
        assert client.get(path + "/state").status_code == 410


def test_repeated_bad_tokens_from_one_client_are_throttled(client: TestClient) -> None:
    post_event(client, job_updated(sample_job()))
    good = path_of(client)
    for attempt in range(BAD_LINK_LIMIT):
        assert client.get(f"/t/guess{attempt}.xyz").status_code == 404
    throttled = client.get("/t/guess-again.xyz")
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert client.get(good).status_code == 429  # the client is slowed down, whatever it asks
