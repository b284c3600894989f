"""Stage timings of one real pipeline run, from the Dagster event log and dbt's run_results.json.

Every Dagster step (op) runs the assets of one group; a step's interval is STEP_START ..
STEP_SUCCESS/FAILURE. A stage's time is the union of its steps' intervals (wall time while the
stage was busy; with a multiprocess executor stages may overlap). The dbt step runs ``dbt build``:
its data tests are the "mart checks" of the pipeline, so the time during which only tests ran (no
model or seed) is moved from "dbt build" to "mart checks", from the per-node timings dbt writes to
``run_results.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

STAGES = {  # stage id -> label in the table
    "ingest": "ingest + validation",
    "dbt": "dbt build",
    "checks": "mart checks",
    "analytics": "CLV model",
    "publish": "publish",
    "report": "report",
    "other": "other steps",
}
GROUP_STAGE = {"ingest": "ingest", "transform": "dbt", "quality": "checks", "analytics": "analytics",
               "publish": "publish", "report": "report"}
ROOT = Path(__file__).resolve().parent.parent

_GROUPS_SCRIPT = """
import json
from orchestration.definitions import defs
out = {}
graph = defs.resolve_asset_graph()
for ad in graph.assets_defs:
    try:
        name = ad.node_def.name
    except Exception:
        continue
    groups = set(ad.group_names_by_key.values()) if ad.keys else set()
    if not ad.keys and ad.check_keys:
        groups = {"quality"}
    out.setdefault(name, set()).update(groups)
print("GROUPS=" + json.dumps({k: sorted(v) for k, v in out.items()}))
"""


def step_groups(env: dict[str, str]) -> dict[str, list[str]]:
    """Op name -> asset groups, read from the project's Definitions in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", _GROUPS_SCRIPT], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("GROUPS="):
            return json.loads(line[len("GROUPS="):])
    return {}


def stage_of(step_key: str, groups: dict[str, list[str]]) -> str:
    op = step_key.split("[")[0]
    if op.endswith(("_contract", "_freshness", "_check", "_checks")):
        return "checks"  # check-only steps (mart contracts, export freshness) whatever their asset's group
    if op == "dbt_models":
        return "dbt"  # the one dbt step, which also fits the CLV models (their group is analytics)
    for group in groups.get(op, []):
        if group in GROUP_STAGE:
            return GROUP_STAGE[group]
    # fallback when the Definitions could not be loaded: step-key conventions
    if op.startswith("raw__") and "analytics" not in op:
        return "ingest"
    if op.startswith("dbt"):
        return "dbt"
    for stage in ("publish", "report", "quality", "clv"):
        if stage in op:
            return {"quality": "checks", "clv": "analytics"}.get(stage, stage)
    return "other"


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def subtract(intervals: list[tuple[float, float]], minus: list[tuple[float, float]]) -> float:
    """Length of union(intervals) minus union(minus)."""
    both = union_seconds(intervals + minus)
    return both - union_seconds(minus)


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def dbt_test_only_seconds(run_id: str, op_name: str) -> tuple[float, dict]:
    """Seconds of the dbt step during which only data tests ran, and node counts."""
    target = ROOT / "dbt_project" / "target"
    files = sorted(target.glob(f"{op_name}-{run_id[:7]}-*/run_results.json"))
    if not files:
        return 0.0, {}
    tests, models = [], []
    slowest = []
    elapsed = 0.0
    for path in files:
        data = json.loads(path.read_text())
        elapsed += data.get("elapsed_time") or 0.0
        results = data.get("results", [])
        for r in results:
            spans = [(_ts(t["started_at"]), _ts(t["completed_at"])) for t in r.get("timing", [])
                     if t.get("started_at") and t.get("completed_at")]
            if not spans:
                continue
            span = (min(a for a, _ in spans), max(b for _, b in spans))
            (tests if r["unique_id"].startswith(("test.", "unit_test.")) else models).append(span)
            slowest.append((r.get("execution_time") or 0.0, r["unique_id"]))
    slowest.sort(reverse=True)
    info = {"dbt_elapsed_seconds": round(elapsed, 2), "dbt_models_and_seeds": len(models), "dbt_tests": len(tests),
            "dbt_test_seconds_sum": round(sum(b - a for a, b in tests), 2),
            "dbt_slowest_nodes": [{"node": n, "seconds": round(s, 2)} for s, n in slowest[:8]]}
    return subtract(tests, models), info


def run_stages(dagster_home: Path, env: dict[str, str], groups: dict[str, list[str]]) -> dict:
    """Stage seconds, ingest counters and step details of the latest run in ``dagster_home``."""
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            runs = instance.get_runs(limit=1)
            if not runs:
                return {}
            run = runs[0]
            records = instance.all_logs(run.run_id)
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved

    starts, steps = {}, {}
    counters = {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0, "files_loaded": 0, "files_skipped": 0}
    per_entity = {}
    run_window = [None, None]
    for rec in records:
        if not rec.is_dagster_event:
            continue
        kind = rec.dagster_event.event_type_value
        if kind == "RUN_START":
            run_window[0] = rec.timestamp
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            run_window[1] = rec.timestamp
        elif kind == "STEP_START":
            starts[rec.step_key] = rec.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and rec.step_key in starts:
            steps[rec.step_key] = {"start": starts[rec.step_key], "end": rec.timestamp,
                                   "ok": kind == "STEP_SUCCESS"}
        elif kind == "ASSET_MATERIALIZATION":
            mat = rec.asset_materialization
            meta = {k: getattr(v, "value", v) for k, v in (mat.metadata or {}).items()}
            if "rows_read" in meta and mat.asset_key.path[0] == "raw":
                entity = mat.asset_key.path[-1]
                per_entity[entity] = {k: int(meta[k]) for k in counters if k in meta}
                for k in counters:
                    counters[k] += int(meta.get(k, 0) or 0)

    by_stage: dict[str, list[tuple[float, float]]] = {}
    details = []
    for key, s in sorted(steps.items(), key=lambda kv: kv[1]["start"]):
        stage = stage_of(key, groups)
        by_stage.setdefault(stage, []).append((s["start"], s["end"]))
        details.append({"step": key, "stage": stage, "seconds": round(s["end"] - s["start"], 2), "ok": s["ok"]})
    seconds = {stage: union_seconds(spans) for stage, spans in by_stage.items()}
    dbt_info = {}
    dbt_ops = {d["step"].split("[")[0] for d in details if d["stage"] == "dbt"}
    test_only = 0.0
    for op in sorted(dbt_ops):
        t, info = dbt_test_only_seconds(run.run_id, op)
        test_only += t
        if info:
            dbt_info[op] = {**info, "test_only_seconds": round(t, 2)}
    if test_only:
        seconds["dbt"] = seconds.get("dbt", 0.0) - test_only
        seconds["checks"] = seconds.get("checks", 0.0) + test_only
    all_steps = [(s["start"], s["end"]) for s in steps.values()]
    return {
        "run_id": run.run_id,
        "run_status": str(run.status.value),
        "stage_seconds": {k: round(seconds[k], 2) for k in STAGES if k in seconds},
        "steps_busy_seconds": round(union_seconds(all_steps), 2),
        "run_seconds": round(run_window[1] - run_window[0], 2) if all(run_window) else None,
        "ingest": counters,
        "ingest_by_entity": per_entity,
        "steps": details,
        "dbt": dbt_info,
    }
