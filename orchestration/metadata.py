"""Dagster metadata values as plain Python, for code that must not know Dagster's classes
(crm_pulse/alerting/samples.py, data_contracts/health.py)."""

from __future__ import annotations

import json
from typing import Mapping


def plain(value):
    """Metadata value -> plain Python (ints, strings, JSON)."""
    inner = getattr(value, "value", value)
    if isinstance(inner, (int, float, str, bool)) or inner is None:
        return inner
    try:
        return json.loads(json.dumps(inner, default=str))
    except (TypeError, ValueError):
        return str(inner)


def plain_metadata(metadata: Mapping | None) -> dict:
    """A check's or materialisation's metadata with every value as plain Python."""
    return {key: plain(value) for key, value in (metadata or {}).items()}
