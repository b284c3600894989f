"""dbt tests of the staging layer: severity is a deliberate, explained choice for every test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

STAGING = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "staging"
SOURCES = ("crm", "erp", "ticketing", "analytics")


@pytest.mark.parametrize("source", SOURCES)
def test_every_staging_test_states_its_severity_and_why(source):
    path = STAGING / source / "_models.yml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    tests = 0
    for model in spec["models"]:
        placed = [(model["name"], test) for test in model.get("data_tests", [])]  # e.g. not_null_columns
        placed += [(f"{model['name']}.{column['name']}", test)
                   for column in model.get("columns", []) for test in column.get("data_tests", [])]
        for where, test in placed:
            assert isinstance(test, dict), f"{where}: {test} has no explicit severity"
            [(name, body)] = test.items()
            assert body["config"]["severity"] in ("error", "warn"), f"{where}.{name}"
            tests += 1
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "severity:" in line]
    assert len(lines) == tests > 0
    for line in lines:
        severity = line.split("severity:")[1].split("}")[0].strip()
        reason = line.split("#", 1)[1].strip() if "#" in line else ""
        assert reason.startswith(f"{severity} - ") and len(reason) > 30, line


def test_warn_is_reserved_for_cross_export_consistency():
    """Invariants the pipeline guarantees block (error); gaps between separately exported systems warn."""
    warn = []
    for source in SOURCES:
        spec = yaml.safe_load((STAGING / source / "_models.yml").read_text(encoding="utf-8"))
        for model in spec["models"]:
            for column in model.get("columns", []):
                for test in column.get("data_tests", []):
                    [(name, body)] = test.items()
                    if body["config"]["severity"] == "warn":
                        warn.append((model["name"], column["name"], name))
    assert warn and all(name == "relationships" for _, _, name in warn), warn
