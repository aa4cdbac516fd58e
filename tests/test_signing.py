"""All signing lives in ``portal/links.py``: each purpose keeps its salt and token format.

Tokens are made here with itsdangerous directly, the way the portal made them before signing
moved into one module, so links already sent and cookies already set keep verifying.
"""

from __future__ import annotations

from itsdangerous import Signer, URLSafeSerializer, URLSafeTimedSerializer

from portal.links import FormTokens, LinkSigner, SessionSigner

SIGNING, OLDER = "signing-key-0123456789abcdef", "older-key-0123456789abcdef"
KEYS = (SIGNING, OLDER)  # PORTAL_SECRET_KEY order: the first signs, every one verifies


def test_links_keep_their_salt_and_format() -> None:
    made_before = Signer(OLDER, salt="portal.link").sign("AbCdEfGhIjKl").decode()
    assert LinkSigner(KEYS).link_key(made_before) == "AbCdEfGhIjKl"
    assert LinkSigner(KEYS).token("AbCdEfGhIjKl") == Signer(SIGNING, salt="portal.link").sign("AbCdEfGhIjKl").decode()


def test_form_tokens_keep_their_salt_and_format() -> None:
    made_before = URLSafeTimedSerializer(OLDER, salt="portal.tracking-form").dumps("AbCdEfGhIjKl")
    assert FormTokens(KEYS).valid("AbCdEfGhIjKl", made_before)
    assert not FormTokens(KEYS).valid("another-key", made_before)


def test_session_cookies_keep_their_salt_and_format() -> None:
    data = {"c": "csrf", "t": 1, "i": 1}
    made_before = URLSafeSerializer(OLDER, salt="portal.staff.session").dumps(data)
    assert SessionSigner(KEYS).loads(made_before) == data
    assert SessionSigner(KEYS).dumps(data) == URLSafeSerializer(SIGNING, salt="portal.staff.session").dumps(data)


def test_a_token_for_one_purpose_is_refused_for_every_other() -> None:
    link = LinkSigner(KEYS).token("AbCdEfGhIjKl")
    form = FormTokens(KEYS).issue("AbCdEfGhIjKl")
    session = SessionSigner(KEYS).dumps({"c": "csrf"})
    assert LinkSigner(KEYS).link_key(form) is None and LinkSigner(KEYS).link_key(session) is None
    assert not FormTokens(KEYS).valid("AbCdEfGhIjKl", link) and not FormTokens(KEYS).valid("AbCdEfGhIjKl", session)
    assert SessionSigner(KEYS).loads(link) is None and SessionSigner(KEYS).loads(form) is None


def test_unknown_keys_verify_nothing() -> None:
    link = LinkSigner(("someone-else-entirely-0123456789",)).token("AbCdEfGhIjKl")
    assert LinkSigner(KEYS).link_key(link) is None


def test_a_form_token_is_signed_once_a_minute_per_link_and_each_one_verifies() -> None:
    now = [1000.0]
    tokens = FormTokens(KEYS, clock=lambda: now[0])
    first = tokens.issue("AbCdEfGhIjKl")
    assert tokens.issue("AbCdEfGhIjKl") == first  # the page viewed again within the minute
    other = tokens.issue("ZyXwVuTsRqPo")
    assert other != first and tokens.valid("ZyXwVuTsRqPo", other) and not tokens.valid("AbCdEfGhIjKl", other)
    now[0] += 61
    later = URLSafeTimedSerializer(SIGNING, salt="portal.tracking-form")
    fresh = tokens.issue("AbCdEfGhIjKl")
    assert tokens.valid("AbCdEfGhIjKl", fresh) and tokens.valid("AbCdEfGhIjKl", first)
    assert later.loads(fresh) == "AbCdEfGhIjKl"  # a newly signed token, in the same format


def test_a_link_verified_before_is_known_again_and_nothing_else_is() -> None:
    links = LinkSigner(KEYS)
    token = links.token("AbCdEfGhIjKl")
    assert links.link_key(token) == links.link_key(token) == "AbCdEfGhIjKl"
    key, _, signature = token.rpartition(".")
    forged = f"{key}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert links.link_key(forged) is None and links.link_key(forged) is None
    assert LinkSigner(("another-key-0123456789abcdef",)).link_key(token) is None
