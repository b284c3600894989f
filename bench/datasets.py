"""Benchmark datasets: demo exports at a scale, with the last export day held back.

``<work>/<scale>/generated`` holds the exports of ``generate_demo`` (reused while its stamp file
matches the customers and seed). The landing folder the pipeline reads is rebuilt from it with
hard links (no copy of gigabytes): first every export day but the last ("history", for the full
refresh), then the last day is linked in ("one new export day", for the incremental refresh).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from data_contracts.landing import EXTENSIONS

SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
STAMP = ".bench-complete.json"


@dataclass
class Dataset:
    scale: str
    customers: int
    seed: int
    generated: Path
    rows: dict[str, int]
    files: int
    bytes: int
    generate_seconds: float | None  # None when reused


def ensure_generated(work: Path, scale: str, seed: int) -> Dataset:
    """Generate the exports of ``scale`` unless an identical generation is already there."""
    from crm_pulse.demo import generate_demo

    customers = SCALES[scale]
    out = work / scale / "generated"
    stamp = out / STAMP
    if stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("customers") == customers and info.get("seed") == seed:
            return _dataset(scale, customers, seed, out, info["rows"], None)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = generate_demo(out, customers=customers, seed=seed)
    seconds = time.perf_counter() - started
    stamp.write_text(json.dumps({"customers": customers, "seed": seed, "rows": summary.rows, "seconds": seconds}))
    return _dataset(scale, customers, seed, out, summary.rows, seconds)


def _dataset(scale, customers, seed, out: Path, rows, seconds) -> Dataset:
    files = export_files(out)
    return Dataset(scale, customers, seed, out, rows, len(files), sum(f.stat().st_size for f in files), seconds)


def export_files(root: Path, day: str | None = None) -> list[Path]:
    """Export files under ``root`` (``<source>/<YYYY-MM-DD>/<file>``), optionally of one day only."""
    pattern = f"*/{day}/*" if day else "*/*/*"
    return sorted(p for p in root.glob(pattern)
                  if p.is_file() and p.name.lower().endswith(EXTENSIONS) and not p.name.startswith("."))


def last_export_day(root: Path) -> str:
    return max(p.parent.name for p in export_files(root))


def link_landing(generated: Path, landing: Path, include_last_day: bool) -> list[Path]:
    """(Re)build ``landing`` from hard links to ``generated``; returns the files linked in."""
    last = last_export_day(generated)
    if not include_last_day:
        shutil.rmtree(landing, ignore_errors=True)
    linked = []
    for src in export_files(generated):
        if (src.parent.name == last) != include_last_day:
            continue  # first call: every day but the last; second call: only the held-back day
        target = landing / src.relative_to(generated)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            continue
        try:
            os.link(src, target)
        except OSError:
            shutil.copy2(src, target)
        linked.append(target)
    return linked
