"""SQL text built in Python: configuration values (paths) reach DuckDB only as escaped literals."""

from __future__ import annotations

from pathlib import Path


def sql_literal(value: str | Path) -> str:
    """``value`` as a DuckDB (standard SQL) string literal: ``/data/o'brien`` -> ``'/data/o''brien'``."""
    return "'" + str(value).replace("'", "''") + "'"
