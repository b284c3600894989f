"""Profile the ingest of one entity outside Dagster (pyinstrument), for finding hot paths.

    .venv/bin/python bench/profile_ingest.py LANDING ENTITY [--html out.html]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_contracts.contract import contracts  # noqa: E402
from data_contracts.ingest import ingest_entity  # noqa: E402
from data_contracts.landing import discover  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("landing", type=Path)
    parser.add_argument("entity")
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    from pyinstrument import Profiler

    contract = contracts()[args.entity]
    files = discover(args.landing, contract.source, args.entity)
    with tempfile.TemporaryDirectory() as raw:
        profiler = Profiler(interval=0.005)
        start = time.perf_counter()
        profiler.start()
        result = ingest_entity(args.entity, files, Path(raw), "profile", dt.datetime.now(), full_refresh=True)
        profiler.stop()
        seconds = time.perf_counter() - start
    print(f"{args.entity}: {len(files)} files, {result.rows}, {seconds:.1f}s")
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
