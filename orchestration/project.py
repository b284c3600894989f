"""The dbt project, as Dagster sees it."""

import json
from pathlib import Path

from dagster_dbt import DbtProject

from crm_pulse.config.settings import PROJECT_ROOT, Settings

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)

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


def ensure_manifest(settings: Settings | None = None) -> Path:
    """Parse the dbt project when the manifest is missing or older than any model, macro or seed
    (fresh clone, a `git pull`, an edited model), so the asset graph always matches the project.
    dbt runs in this process (no `dbt` on PATH needed, e.g. under `make dev` or cron), with the dbt
    environment of ``settings`` (default: read from the environment)."""
    manifest = dbt_project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_change(Path(dbt_project.project_dir)):
        from orchestration import dbt_invoke

        env = (settings or Settings.from_env()).dbt_environment()
        parsed = dbt_invoke.parse(Path(dbt_project.project_dir), env)
        if not parsed.success:
            raise RuntimeError(f"dbt could not parse {dbt_project.project_dir}: {parsed.error}")
        manifest.parent.mkdir(parents=True, exist_ok=True)
        dbt_invoke.write_manifest(parsed.result, manifest)
    return manifest


def load_manifest(path: Path) -> dict:
    """The parsed manifest.json."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
