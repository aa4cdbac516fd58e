"""A customer's email address: exactly one plain address, or none.

Field systems send what their users typed. A list (``a@x.example, b@y.example``) would send
the tracking link to every address in it, a display name or a line break can reshape the
message's headers. Anything but one addr-spec is treated like a phone number that cannot be
parsed: the job is stored and the email channel is unreachable for it (CONTRACT §3).
"""

from __future__ import annotations

from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path


def single_address(raw: object) -> str | None:
    """The address itself when ``raw`` is exactly one ``local@domain.tld``, else None."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_EMAIL_LENGTH or raw != raw.strip():
        return None
    if any(c in raw for c in "\r\n,;<>") or not raw.isascii():
        return None
    try:
        address = Address(addr_spec=raw)
    except (ValueError, HeaderParseError, MessageDefect, IndexError):
        return None
    if address.addr_spec != raw or not address.username or "." not in address.domain.strip("."):
        return None
    return address.addr_spec
