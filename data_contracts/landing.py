"""The landing folder: ``<landing>/<source>/<YYYY-MM-DD>/<entity>.<ext>`` (folder date = export date).

:func:`scan` walks it once and sorts every entry into *exports* (files to load), *ignored* entries
(listed with the reason, never loaded) and *problems* (file problems of the entities they concern):

- only entries that stay inside the landing folder are read: a symlink (file, date folder or source
  folder) resolving outside it is a problem naming the link; an entity file must be a regular file;
- a file loads only when its name is exactly an entity of its source (``customers.csv``) or the
  split form ``<entity>_part<N>`` (``orders_part2.csv``), any case. Other names
  (``opportunities-backup.csv``, ``campaigns 副本.csv``, ``notes.txt``) are ignored with the reason;
  lock and system files (``~$x.xlsx``, ``.DS_Store`` and other dot files, ``Thumbs.db``,
  ``desktop.ini``) are skipped silently;
- a date-like folder that is not a date (``crm/2026-13-45``) is a problem of the entities whose
  files it holds (ignored with a note when it holds none); folders outside the contract sources
  (``archive/``) and entries that are not in a date folder are ignored with a note.

The default analysis date (:func:`analysis_date`) is the newest export date of a file that loads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data_contracts.files import replacing
from data_contracts.layout import RawLayout

EXTENSIONS = (".csv", ".xlsx", ".json", ".ndjson", ".jsonl")
#: picked up too, so the reader fails them with a clear message instead of silently ignoring them.
UNSUPPORTED = (".xls", ".xlsm", ".xlsb", ".tsv", ".txt")
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"^(?P<entity>[a-z][a-z0-9_]*?)(?:_part\d+)?\.(?P<ext>[a-z]+)$")
SILENT_NAMES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
SILENT_PREFIXES = (".", "~$")  # dot files (.DS_Store, ._x resource forks, .~lock.x#) and Office lock files


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


@dataclass(frozen=True)
class Problem:
    """A landing entry that fails the load of ``entities`` of ``source`` (a file problem)."""

    relative: str
    message: str  # one sentence, starting with ``relative``
    source: str
    entities: frozenset[str]
    problem: str = "landing"

    def error(self):
        from data_contracts.readers import FileProblem

        return FileProblem(self.relative, self.problem, self.message)


@dataclass
class Scan:
    """What :func:`scan` found: ``exports`` (by source, date, name), ``ignored`` (relative path,
    reason), ``problems``."""

    exports: list[LandingFile] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def files(self, source: str, entity: str) -> list[LandingFile]:
        return [f for f in self.exports if f.source == source and f.entity == entity]

    def problems_of(self, source: str, entity: str) -> list[Problem]:
        return [p for p in self.problems if p.source == source and entity in p.entities]

    def as_dict(self) -> dict:
        return {"ignored": [{"path": p, "reason": r} for p, r in self.ignored],
                "problems": [{"path": p.relative, "message": p.message} for p in self.problems]}


@functools.lru_cache(maxsize=1)
def contract_sources() -> dict[str, tuple[str, ...]]:
    """Entities per source, from the contracts (data_contracts/sources/*.yml)."""
    from data_contracts.contract import contracts

    sources: dict[str, list[str]] = {}
    for contract in contracts().values():
        sources.setdefault(contract.source, []).append(contract.entity)
    return {s: tuple(e) for s, e in sources.items()}


def silently_skipped(filename: str) -> bool:
    """Lock and system files nobody exported (``~$x.xlsx``, ``.DS_Store``, ``Thumbs.db`` ...)."""
    lower = filename.lower()
    return lower.startswith(SILENT_PREFIXES) or lower in SILENT_NAMES


def entity_of(filename: str, entities: Iterable[str] | None = None) -> str | None:
    """Entity a file name declares: ``orders.csv`` and split exports ``orders_part2.csv`` -> orders.

    ``None`` unless the name is exactly ``<entity>[_part<N>].<ext>`` with a known extension and, with
    ``entities`` (default: every contract entity), a known entity.
    """
    lower = filename.lower()
    if silently_skipped(lower) or not lower.endswith(EXTENSIONS + UNSUPPORTED):
        return None
    known = set(entities) if entities is not None else {e for es in contract_sources().values() for e in es}
    stem = lower.rsplit(".", 1)[0]
    if stem in known:
        return stem
    match = _NAME.match(lower)
    return match["entity"] if match and match["entity"] in known else None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):  # outside, or a symlink loop
        return False


def scan(landing_dir: Path, sources: Mapping[str, Iterable[str]] | None = None) -> Scan:
    """Walk the landing folder once (see the module doc). ``sources``: entities per source folder
    (default: the contracts')."""
    landing_dir = Path(landing_dir)
    sources = {s: tuple(e) for s, e in (contract_sources() if sources is None else sources).items()}
    result = Scan()
    if not landing_dir.is_dir():
        return result
    root = landing_dir.resolve()

    def rel(path: Path) -> str:
        return path.relative_to(landing_dir).as_posix()

    def escapes(path: Path) -> bool:
        return path.is_symlink() and not _inside(path, root)

    def link_problem(path: Path, source: str, entities: Iterable[str]) -> None:
        target = os.readlink(path)
        result.problems.append(Problem(rel(path), f"{rel(path)}: a symbolic link to {target}, outside the landing "
                                       "folder; only files inside the landing folder are read", source,
                                       frozenset(entities), "outside_landing"))

    for top in sorted(landing_dir.iterdir()):
        if silently_skipped(top.name):
            continue
        if top.name not in sources:
            what = "folder" if top.is_dir() else "file"
            result.ignored.append((rel(top) + ("/" if top.is_dir() else ""),
                                   f"a {what} that is not a source of the contracts ({', '.join(sources)})"))
            continue
        source, entities = top.name, sources[top.name]
        if escapes(top):
            link_problem(top, source, entities)
            continue
        if not top.is_dir():
            result.ignored.append((rel(top), "a file where the source folder should be"))
            continue
        for folder in sorted(top.iterdir()):
            if silently_skipped(folder.name):
                continue
            if not folder.is_dir() or not _DATE_DIR.match(folder.name):
                where = "a file directly in the source folder" if not folder.is_dir() else "a folder"
                result.ignored.append((rel(folder) + ("/" if folder.is_dir() else ""),
                                       f"{where}, not in a <YYYY-MM-DD> export-date folder"))
                continue
            if escapes(folder):
                link_problem(folder, source, entities)
                continue
            _scan_date_folder(folder, source, entities, root, rel, link_problem, result)
    return result


def _scan_date_folder(folder: Path, source: str, entities: tuple[str, ...], root: Path, rel, link_problem,
                      result: Scan) -> None:
    try:
        export_date = dt.date.fromisoformat(folder.name)
    except ValueError as err:
        export_date, bad_date = None, str(err)
    found: list[LandingFile] = []
    for path in sorted(folder.iterdir()):
        if silently_skipped(path.name):
            continue
        entity = entity_of(path.name, entities)
        if entity is None:
            result.ignored.append((rel(path), _stray_reason(path.name, source, entities)))
            continue
        if path.is_symlink() and not _inside(path, root):
            link_problem(path, source, [entity])
            continue
        try:
            mode = path.stat().st_mode
        except OSError as err:
            reason = "a broken symbolic link" if path.is_symlink() else (err.strerror or type(err).__name__)
            result.problems.append(Problem(rel(path), f"{rel(path)}: cannot read the file ({reason})", source,
                                           frozenset([entity]), "unreadable"))
            continue
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            result.problems.append(Problem(rel(path), f"{rel(path)}: {kind}; only regular files are read", source,
                                           frozenset([entity]), "unreadable"))
            continue
        found.append(LandingFile(path, rel(path), source, entity, export_date or dt.date.min))
    if export_date is not None:
        result.exports += found
    elif found:
        result.problems.append(Problem(
            rel(folder), f"{rel(folder)}: the folder name is not a valid export date ({bad_date}); rename it "
                         "to the export date as YYYY-MM-DD", source, frozenset(f.entity for f in found), "bad_date_folder"))
    else:
        result.ignored.append((rel(folder) + "/", f"not a valid date ({bad_date}) and holds no export file"))


def _stray_reason(name: str, source: str, entities: tuple[str, ...]) -> str:
    lower = name.lower()
    if not lower.endswith(EXTENSIONS + UNSUPPORTED):
        return "not an export file (expected .csv, .xlsx, .json, .ndjson or .jsonl)"
    stem = lower.rsplit(".", 1)[0]
    like = next((e for e in sorted(entities, key=len, reverse=True) if stem.startswith(e)), None)
    if like:
        return (f"the name is not exactly '{like}' (or '{like}_part<N>'): a copy or backup? "
                f"rename it to {like}{lower[len(stem):]} to load it")
    return f"not an entity of source '{source}' ({', '.join(entities)})"


def discover(landing_dir: Path, source: str, entity: str, strict: bool = True) -> list[LandingFile]:
    """Export files of one entity, oldest export date first. ``strict``: raise the entity's first
    landing problem (:class:`Problem`) as a ``FileProblem`` (else leave those entries out)."""
    entities = contract_sources().get(source, ())
    found = scan(landing_dir, {source: tuple(dict.fromkeys((*entities, entity)))})
    problems = found.problems_of(source, entity)
    if problems and strict:
        raise problems[0].error()
    return found.files(source, entity)


def analysis_date(landing_dir: Path, found: Scan | None = None) -> tuple[dt.date | None, str]:
    """(The newest export date of a file that loads, why): stray files, empty or invalid date
    folders and folders outside the contract sources never move it."""
    found = found or scan(landing_dir)
    if not found.exports:
        return None, f"no export file of the contract sources under {landing_dir}"
    newest = max(found.exports, key=lambda f: (f.export_date, f.relative))
    return newest.export_date, f"newest export date in the landing folder: {newest.relative}"


def latest_export_date(landing_dir: Path, source: str | None = None) -> dt.date | None:
    """The newest export date of a file that loads: of ``source`` (export freshness), else of any
    source (the default analysis date, see :func:`analysis_date`)."""
    return max((f.export_date for f in scan(landing_dir).exports if source is None or f.source == source), default=None)


def describe_ignored(found: Scan, limit: int = 20) -> list[str]:
    """One line per ignored entry (at most ``limit``, then a count)."""
    lines = [f"{path}: {reason}" for path, reason in found.ignored[:limit]]
    if len(found.ignored) > limit:
        lines.append(f"... and {len(found.ignored) - limit} more")
    return lines


def write_landing_record(raw_dir: Path, landing_dir: Path, found: Scan | None = None) -> dict:
    """Record the ignored entries, problems and default analysis date of the landing folder
    (:attr:`RawLayout.landing_record`, ``raw/_loads/_landing.json``)."""
    found = found or scan(landing_dir)
    date, reason = analysis_date(landing_dir, found)
    record = {"scanned_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "analysis_date": date.isoformat() if date else None, "analysis_date_reason": reason,
              **found.as_dict()}
    path = RawLayout(raw_dir).landing_record
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return record


def read_landing_record(raw_dir: Path) -> dict | None:
    """The record of the latest scan (see :func:`write_landing_record`), if any."""
    try:
        return json.loads(RawLayout(raw_dir).landing_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def analysis_date_reason(as_of: dt.date | None, landing_dir: Path) -> str:
    """Why the analysis date is what it is: ``as_of`` (CRM_PULSE_AS_OF), else :func:`analysis_date`."""
    if as_of is not None:
        return "set by CRM_PULSE_AS_OF"
    date, reason = analysis_date(landing_dir)
    return reason if date else f"today: {reason}"


def ignored_lines(landing_dir: Path, limit: int = 20) -> list[str]:
    """For the run summary and ``crm-pulse status``: what the landing folder holds that is not loaded."""
    found = scan(landing_dir)
    if not found.ignored:
        return []
    return [f"ignored {len(found.ignored)} entr{'y' if len(found.ignored) == 1 else 'ies'} of the landing folder "
            "(not loaded):"] + [f"  {line}" for line in describe_ignored(found, limit)]
