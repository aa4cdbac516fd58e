"""Delivery errors in words, so staff can tell a customer what happened to a message.

The codes are Twilio's (error dictionary, https://www.twilio.com/docs/api/errors); a message's
``error`` may hold a bare code, a code with text, or the portal's own words (e.g. "not sent:
no provider"), which are shown as they are.
"""

from __future__ import annotations

import re

ERROR_MEANINGS = {
    "21211": "The phone number is not valid.",
    "21408": "Sending to this country or region is not enabled on the Twilio account.",
    "21610": "The customer replied STOP: they have opted out of text messages.",
    "21612": "Twilio cannot route a message from this sender to this number.",
    "21614": "The number is not a mobile phone (it cannot receive texts).",
    "21617": "The message is too long.",
    "30001": "Twilio's queue overflowed; the message was not sent.",
    "30002": "The Twilio account is suspended.",
    "30003": "The phone is switched off or out of coverage.",
    "30004": "The message was blocked (the customer or their carrier blocks it).",
    "30005": "The number does not exist or is no longer in service.",
    "30006": "A landline, or a carrier that cannot receive texts.",
    "30007": "The carrier filtered the message as possible spam.",
    "30008": "Unknown error from the carrier.",
    "30032": "The sending toll-free number is not verified.",
    "30034": "The sending number is not registered for A2P 10DLC messaging.",
    "20429": "Too many requests to Twilio; the portal retries.",
}
CODE = re.compile(r"\b(\d{5})\b")


def error_code(error: str | None) -> str | None:
    """The first five-digit provider code in an error, if it has one."""
    if not error:
        return None
    found = CODE.search(error)
    return found.group(1) if found else None


def error_meaning(error: str | None) -> str | None:
    """The error in words: the known meaning of its code, else the recorded text itself."""
    if not error:
        return None
    code = error_code(error)
    if code in ERROR_MEANINGS:
        return ERROR_MEANINGS[code]
    return error if code is None else f"Provider error {code}."
