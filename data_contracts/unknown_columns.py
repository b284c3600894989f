"""Unknown columns: headers of an export that no alias of its contract names. Ingest ignores them and
records them in the load log (``unknown_columns``, a JSON list per file); this module reads them back
for one load (:func:`of_load`, e.g. a run's summary) or for each entity's latest load (:func:`latest`,
``crm-pulse status``)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from data_contracts.contract import contracts
from data_contracts.layout import RawLayout


def of_load(raw_dir: Path, load_id: str) -> list[dict]:
    """``{entity, source_file, load_id, columns}`` for every file ``load_id`` landed with unknown columns."""
    layout = RawLayout(raw_dir)
    return [found for entity in contracts()
            for found in _files(layout.read_load_log(entity).filter(pl.col("load_id") == load_id))]


def latest(raw_dir: Path) -> list[dict]:
    """The same for each entity's latest load (the newest ``loaded_at`` in its load log)."""
    layout = RawLayout(raw_dir)
    found = []
    for entity in contracts():
        log = layout.read_load_log(entity)
        if log.height:
            newest = log.sort("loaded_at", maintain_order=True)["load_id"][-1]
            found += _files(log.filter(pl.col("load_id") == newest))
    return found


def _files(log: pl.DataFrame) -> list[dict]:
    rows = [{"entity": r["entity"], "source_file": r["source_file"], "load_id": r["load_id"],
             "columns": json.loads(r["unknown_columns"] or "[]")}
            for r in log.sort("source_file").iter_rows(named=True)]
    return [r for r in rows if r["columns"]]
