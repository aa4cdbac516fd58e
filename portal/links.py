"""Capability links: ``/t/{token}`` where the token is a signed, random per-job link key.

The key is random (not the field system's job id) so that revoking a link is rotating the
key, and short so that the whole link fits an SMS: 12 characters of key, a dot and a
27-character HMAC.
"""

from __future__ import annotations

import re
import secrets

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_decode, base64_encode

LINK_SALT = "portal.link"
LINK_KEY_BYTES = 9  # 12 URL-safe characters: 72 random bits, unguessable and short for SMS
# The only spelling of a token: key, dot, signature, all in the URL-safe alphabet. itsdangerous
# skips characters outside it when decoding, which would give one token many spellings.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{20,64}")


def new_link_key() -> str:
    """A fresh random link key; every store issues its keys with this."""
    return secrets.token_urlsafe(LINK_KEY_BYTES)


class LinkSigner:
    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed to sign links")
        # itsdangerous signs with the last key; our setting lists the signing key first.
        self._signer = Signer(list(reversed(secret_keys)), salt=LINK_SALT)

    def token(self, link_key: str) -> str:
        return self._signer.sign(link_key).decode()

    def link_key(self, token: str) -> str | None:
        """The link key inside a genuine token, or None for a forged, tampered or respelled one."""
        if not TOKEN_PATTERN.fullmatch(token) or not _canonical(token.rpartition(".")[2]):
            return None
        try:
            return self._signer.unsign(token).decode()
        except (BadSignature, UnicodeError):
            return None

    def url(self, public_url: str, link_key: str) -> str:
        return f"{public_url.rstrip('/')}/t/{self.token(link_key)}"


def _canonical(signature: str) -> bool:
    """True when the signature is spelled as it is encoded: its last character's spare bits zero."""
    return base64_encode(base64_decode(signature)).decode() == signature
