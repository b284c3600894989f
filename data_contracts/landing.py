"""The landing folder: ``<landing>/<source>/<YYYY-MM-DD>/<entity>.<ext>`` (folder date = export date)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = (".csv", ".xlsx", ".json", ".ndjson", ".jsonl")
#: picked up too, so the reader fails them with a clear message instead of silently ignoring them.
UNSUPPORTED = (".xls", ".xlsm", ".xlsb", ".tsv", ".txt")
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class LandingFile:
    """One export file in the landing folder."""

    path: Path
    relative: str  # path relative to the landing folder, posix style (used in messages and lineage)
    source: str
    entity: str
    export_date: dt.date

    def sha256(self) -> str:
        """Hash of the whole file (reads all of it: ingest calls it only when the file's size or
        modification time differ from its last load, see data_contracts/ingest.py)."""
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


def entity_of(filename: str) -> str | None:
    """Entity a file name declares: ``orders.csv`` and split exports ``orders_part2.csv`` -> orders."""
    lower = filename.lower()
    if not lower.endswith(EXTENSIONS + UNSUPPORTED) or lower.startswith((".", "~$")):
        return None
    stem = lower.rsplit(".", 1)[0]
    return re.split(r"[_.\-]part|[.\-]", stem, maxsplit=1)[0] if stem else None


def discover(landing_dir: Path, source: str, entity: str) -> list[LandingFile]:
    """Export files of one entity, oldest export date first."""
    found: list[LandingFile] = []
    source_dir = Path(landing_dir) / source
    if not source_dir.is_dir():
        return found
    for date_dir in sorted(p for p in source_dir.iterdir() if p.is_dir() and _DATE_DIR.match(p.name)):
        try:
            export_date = dt.date.fromisoformat(date_dir.name)
        except ValueError:
            continue
        for path in sorted(date_dir.iterdir()):
            if path.is_file() and entity_of(path.name) == entity:
                found.append(LandingFile(path, path.relative_to(landing_dir).as_posix(), source, entity, export_date))
    return found


def latest_export_date(landing_dir: Path) -> dt.date | None:
    """The newest export-date folder under any source (the default analysis date)."""
    dates = [
        dt.date.fromisoformat(p.name)
        for p in Path(landing_dir).glob("*/*")
        if p.is_dir() and _DATE_DIR.match(p.name) and any(p.iterdir())
    ]
    return max(dates, default=None)
