"""docs/architecture.md stays true: every import of the project's code, at module level or inside a
function, goes to the module's own layer or a lower one, and only orchestration/ (and the CLI on top)
imports Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data_contracts", "crm_pulse", "orchestration")

#: lowest first; a module belongs to the longest prefix that names it (docs/architecture.md)
LAYERS = (
    ("data_contracts",),
    ("crm_pulse.alerting.channels", "crm_pulse.alerting.message"),
    ("crm_pulse.config",),
    ("crm_pulse.warehouse",),
    ("crm_pulse.alerting", "crm_pulse.clv", "crm_pulse.demo", "crm_pulse.freshness", "crm_pulse.report"),
    ("orchestration",),
    ("crm_pulse.cli",),
)
DAGSTER = ("dagster", "dagster_dbt", "dagster_webserver")


def layer(module: str) -> int | None:
    """The layer of ``module`` (longest matching prefix); None for a package's own ``__init__``."""
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    return found


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` counts as ``a.b`` when that
    is a module of the project, else as ``a``)."""
    names, project = set(), modules()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: relative import (the project uses absolute imports)"
            base = node.module
            for alias in node.names:
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in project else base)
    return names


def test_every_module_has_a_layer():
    missing = [name for name in modules() if name not in PACKAGES and name != "crm_pulse" and layer(name) is None]
    assert not missing, f"modules outside docs/architecture.md's layers: {missing}"


def test_no_import_reaches_a_higher_layer():
    project = modules()
    upward = []
    for name, path in project.items():
        own = layer(name)
        if own is None:
            continue
        for target in imports(path, name):
            if target.split(".")[0] not in PACKAGES:
                continue
            other = layer(target)
            if other is not None and other > own:
                upward.append(f"{name} (layer {own}) imports {target} (layer {other})")
    assert not upward, "\n".join(upward)


def test_only_orchestration_and_the_cli_import_dagster():
    offenders = [f"{name} imports {target}" for name, path in modules().items()
                 if not name.startswith(("orchestration", "crm_pulse.cli"))
                 for target in imports(path, name) if target.split(".")[0] in DAGSTER]
    assert not offenders, offenders


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check is not vacuous: a config module importing the report is reported."""
    bad = tmp_path / "settings.py"
    bad.write_text("from crm_pulse.report import generate_report\n")
    targets = imports(bad, "crm_pulse.config.settings")
    assert "crm_pulse.report" in targets or "crm_pulse.report.generate_report" in targets
    assert layer("crm_pulse.report") > layer("crm_pulse.config.settings")
