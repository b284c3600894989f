"""Masking of personal data (SPEC "Access and privacy"): nothing published carries raw phone or e-mail."""

from __future__ import annotations

import re


def mask_value(value: str | None) -> str | None:
    """Mask a phone number or e-mail address for display: ``138****5678``, ``z***@example.com``."""
    if value is None:
        return None
    text = str(value).strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(text) >= 7:
        return f"{text[:3]}****{text[-4:]}"
    return "****"


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: mainland mobile numbers (optionally +86, 3-4-4 groups) and landlines with an area code.
_PHONE = re.compile(r"(?<![\d.])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![\d.])|(?<![\d.])0\d{2,3}-\d{7,8}(?![\d.])")


def scrub(text: str | None) -> str | None:
    """Mask anything that looks like an e-mail address or phone number inside free text
    (quarantined values, check samples) before it is published."""
    if text is None:
        return None
    text = _EMAIL.sub(lambda m: mask_value(m.group(0)), str(text))
    return _PHONE.sub(lambda m: mask_value(m.group(0)), text)
