"""The dbt project, as Dagster sees it."""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_ROOT, Settings, apply_environment

apply_environment(Settings.from_env())

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)
dbt_project.prepare_if_dev()

def dbt_executable() -> str:
    """The dbt installed beside this interpreter (the venv is not always on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


_SOURCES = ("models", "macros", "seeds", "tests", "dbt_project.yml")


def _newest_source_change(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCES:
        path = project_dir / name
        files = [path] if path.is_file() else path.rglob("*") if path.exists() else []
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def ensure_manifest() -> Path:
    """Parse the dbt project when the manifest is missing or older than any model, macro or seed
    (fresh clone, a `git pull`, an edited model), so the asset graph always matches the project."""
    manifest = dbt_project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_change(Path(dbt_project.project_dir)):
        # dagster-dbt's preparer runs `dbt` from PATH, which need not hold the venv (e.g.
        # `.venv/bin/crm-pulse run` from cron): put the folder of dbt_executable() first.
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = os.pathsep.join([str(Path(dbt_executable()).parent), path])
        try:
            dbt_project.preparer.prepare(dbt_project)
        finally:
            os.environ["PATH"] = path
    return manifest
