"""dbt's unit tests (given / expect rows for the tricky mart logic, dbt_project/models/*/_unit_tests.yml).

A refresh does not run them (dbt advises CI only: they test the SQL, not the data); this does, in
process as the pipeline runs dbt, against a copy of the demo run's working database (dbt reads the
column types of the models they mock from there).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestration import dbt_invoke
from orchestration.project import dbt_project, load_manifest
from tests.harness import environment


def test_every_dbt_unit_test_passes(demo_run, tmp_path):
    work = tmp_path / "work.duckdb"
    shutil.copy(demo_run.warehouse / "work.duckdb", work)
    project = Path(dbt_project.project_dir)
    with environment(CRM_PULSE_WORK_DB=str(work), CRM_PULSE_RAW_DIR=str(demo_run.warehouse / "raw")):
        parsed = dbt_invoke.parse(project)
        assert parsed.success, parsed.error
        result = dbt_invoke.invoke(["test", "--select", "test_type:unit", "--target-path", str(tmp_path / "target")],
                                   project_dir=project, manifest=parsed.result)
    expected = set(load_manifest(dbt_project.manifest_path)["unit_tests"])
    ran = {e["data"]["node_info"]["unique_id"]: e["data"]["status"] for e in result.events}
    assert len(expected) >= 9 and set(ran) == expected, (sorted(ran), sorted(expected))
    assert result.success and set(ran.values()) == {"pass"}, ran
