"""Staff password hashing with scrypt, a memory-hard KDF from the standard library.

The encoded hash carries its own salt and cost parameters, so raising the cost later only
affects passwords set afterwards; older hashes still verify with the parameters they name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
# OWASP's scrypt guidance: N=2^15 (32 MiB per hash) with r=8 and p=3 is one of its equivalent
# minimum settings; about half a second per login on a small server, which also slows guessing.
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 3
SALT_BYTES = 16  # 128-bit random salt per password
KEY_BYTES = 32
MAX_N = 2**20  # refuse absurd parameters read from a tampered database (1 GiB of memory)
MIN_PASSWORD_LENGTH = 12  # long enough that offline guessing of a leaked hash stays expensive
MAX_PASSWORD_LENGTH = 1024  # bounds the work one login request can cause


class WeakPassword(ValueError):
    """The password does not meet the length rules; the message says what to fix."""


@dataclass(frozen=True)
class Cost:
    n: int = DEFAULT_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P

    @property
    def maxmem(self) -> int:
        # scrypt needs 128 * r * N bytes, plus headroom for OpenSSL's own bookkeeping.
        return 2 * 128 * self.r * self.n + 1024 * 1024


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


def hash_password(password: str, cost: Cost = Cost()) -> str:
    """``scrypt$N$r$p$salt$key`` with salt and key in unpadded URL-safe base64."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, cost)
    return "$".join((SCHEME, str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(key)))


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches; a malformed hash never matches and never raises."""
    parsed = _parse(encoded)
    if parsed is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    cost, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, cost), key)


def _derive(password: str, salt: bytes, cost: Cost) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=KEY_BYTES
    )


def _parse(encoded: str) -> tuple[Cost, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        cost = Cost(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if not (1 < cost.n <= MAX_N and cost.n & (cost.n - 1) == 0 and 0 < cost.r <= 32 and 0 < cost.p <= 16):
        return None
    return cost, salt, key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
