"""The dbt seeds (``dbt_project/seeds/<seed>.csv``) as rows, for the checks that read them before dbt
loads them: contract references (data_contracts/contract.py) and the reporting currency's rate
(crm_pulse/config/dbt_vars.py)."""

from __future__ import annotations

import csv
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"


def seed_rows(seed: str, folder: Path = SEEDS_DIR) -> list[dict[str, str]]:
    """The rows of ``<folder>/<seed>.csv`` (header = keys)."""
    with (Path(folder) / f"{seed}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
