"""Masking of personal data (SPEC "Access and privacy"): nothing published carries raw phone or e-mail."""

from __future__ import annotations


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
