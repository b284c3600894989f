"""The dbt project, as Dagster sees it."""

from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_ROOT, Settings, apply_environment

apply_environment(Settings.from_env())

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)
dbt_project.prepare_if_dev()


def ensure_manifest() -> Path:
    """Parse the dbt project when no manifest exists yet (fresh clone, CLI, tests)."""
    if not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path
