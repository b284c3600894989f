"""dbt in this process: imported once, the project parsed once per run, then one or more builds.

A dbt process per Dagster step cost ~10 s each (Python start, dbt import, manifest load); in
process, a build of a few models costs what its SQL costs. The project is parsed without run
vars, so dbt's partial-parse state (``target/partial_parse.msgpack``) stays valid from run to run:
the vars (analysis date, business parameters) only reach the SQL when each node is compiled at
build time (vars are used in model SQL only, never in configs or test arguments, which dbt
renders while parsing: README "Business parameters").

dbt keeps global state (flags, adapters), so invocations in one process are serialised, and the
DuckDB file dbt-duckdb opened is closed after each invocation so the next steps of the run (which
may share this process) can open the working database themselves.

dbt reads locations and run values from the environment (``env_var()`` in profiles.yml, the
sources and the ``run_value`` macro). The caller passes them (``Settings.dbt_environment()``, from
the settings of its run); they are set for the one invocation and restored after it, so importing
or running the pipeline never changes the process environment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crm_pulse.config.env import temporary
from data_contracts.files import replacing

#: dbt events that carry a node's result (the ones dagster-dbt turns into Dagster events).
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})

_LOCK = threading.Lock()


@dataclass
class Invocation:
    """What one in-process dbt command did."""

    success: bool
    events: list[dict] = field(default_factory=list)  # result events, as dbt's JSON log writes them
    error: str | None = None  # an error that stopped dbt itself (compilation, connection ...)
    result: object = None  # dbt's own result object (a Manifest for ``parse``)

    def failures(self) -> list[str]:
        """One line per node that errored or failed, as dbt printed it."""
        bad = ("error", "fail", "runtime error")
        return [e["info"]["msg"] for e in self.events
                if (e["data"].get("status") or e["data"].get("node_info", {}).get("node_status", "")).lower() in bad]


def invoke(args: list[str], *, project_dir: Path, manifest=None, env: Mapping[str, str] | None = None,
           unset: Iterable[str] = ()) -> Invocation:
    """Run ``dbt <args>`` in this process (with a preloaded ``manifest``: no parsing at all), with
    ``env`` set and ``unset`` removed in the environment while it runs."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    events: list[dict] = []

    def collect(msg) -> None:
        if msg.info.name in RESULT_EVENTS:
            events.append(msg_to_dict(msg))

    project_dir = Path(project_dir).resolve()
    common = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
              "--log-path", str(project_dir / "logs"), "--quiet", "--log-level-file", "info"]
    with _LOCK, temporary(env or {}, unset):
        try:
            res = dbtRunner(manifest=manifest, callbacks=[collect]).invoke([*args, *common])
        finally:
            _release_duckdb()
    error = None if res.exception is None else f"{type(res.exception).__name__}: {res.exception}"
    return Invocation(success=bool(res.success), events=events, error=error, result=res.result)


#: Environment variables that only shape the connection profile (dbt_project/profiles.yml). dbt
#: re-parses the whole project (~10 s) when the profile it parsed with changes; parsing does not
#: connect, so the project is parsed with the profile's defaults and built with the real values
#: (the working database is always named work.duckdb, so relations name the same database).
PROFILE_ONLY_ENV = ("CRM_PULSE_WORK_DB", "CRM_PULSE_DBT_THREADS", "CRM_PULSE_DUCKDB_MEMORY_LIMIT")


def parse(project_dir: Path, env: Mapping[str, str] | None = None) -> Invocation:
    """Parse the project (partial parsing: only changed files) with ``env`` but for PROFILE_ONLY_ENV;
    ``result`` is the Manifest."""
    env = {name: value for name, value in (env or {}).items() if name not in PROFILE_ONLY_ENV}
    # no target/manifest.json here: another process may be loading the definitions from it
    return invoke(["parse", "--no-write-json"], project_dir=project_dir, env=env, unset=PROFILE_ONLY_ENV)


def write_manifest(manifest, path: Path) -> None:
    """Write ``manifest`` (from :func:`parse`) as manifest.json, atomically (readers see old or new)."""
    with replacing(path) as tmp:
        manifest.writable_manifest().write(str(tmp))


def build(project_dir: Path, manifest, selection: list[str], run_vars: dict, target_path: Path,
          full_refresh: bool = False, env: Mapping[str, str] | None = None) -> Invocation:
    """``dbt build`` of exactly ``selection`` (dbt selectors; no tests are added indirectly, and unit
    tests, which dbt adds to every selected model, are left to ``make test``) with ``env``."""
    args = ["build", "--select", *selection, "--indirect-selection", "empty", "--exclude-resource-type", "unit_test",
            "--vars", json.dumps(run_vars),
            "--target-path", str(target_path)]
    if full_refresh:
        args.append("--full-refresh")
    return invoke(args, project_dir=project_dir, manifest=manifest, env=env)


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the process (it would otherwise hold the
    working database with a configuration other connections of this process cannot share)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter (Spark)
        return
    with DuckDBConnectionManager._LOCK:
        env, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if env is not None:
        try:
            env.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the next open replaces it
            pass
