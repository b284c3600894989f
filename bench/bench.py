"""``make bench``: full and incremental refresh at S / M / L scale against a bare DuckDB baseline.

    .venv/bin/python bench/bench.py [--scales S,M,L] [--seed 42] [--work bench/work]

Per scale: generate the demo exports (cached in ``<work>/<scale>/generated``; generation is not
timed), hold back the last export day, run ``crm-pulse run --full-refresh`` on the rest, time the
bare baseline on the same exports, link the held-back day in and run ``crm-pulse run`` (the
incremental refresh: already-loaded files must be skipped). Each run is the real entry point in a
subprocess whose process tree is sampled for RSS; stage times come from the run's Dagster event
log. Results are merged into ``bench/results.json`` (other scales' results are kept) and the table
in ``bench/README.md`` is regenerated from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from datasets import SCALES, ensure_generated, last_export_day, link_landing  # noqa: E402
from measure import run_measured  # noqa: E402
from report import write_readme  # noqa: E402
from stages import run_stages, step_groups  # noqa: E402

RESULTS = HERE / "results.json"
BIN = Path(sys.executable).parent
TARGETS = {"full_vs_baseline_max": 2.0, "incremental_vs_full_max": 0.05, "peak_rss_mb_max": 4096}


def machine() -> dict:
    import duckdb
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "polars", "pyarrow", "pandera"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "duckdb": duckdb.__version__, **versions}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pipeline_env(scale_dir: Path, processes: int) -> dict[str, str]:
    return {
        "CRM_PULSE_MAX_PROCESSES": str(processes),
        "CRM_PULSE_LANDING_DIR": str(scale_dir / "landing"),
        "CRM_PULSE_WAREHOUSE_DIR": str(scale_dir / "warehouse"),
        "DAGSTER_HOME": str(scale_dir / "dagster_home"),
        "DO_NOT_TRACK": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }


def refresh(name: str, scale_dir: Path, env: dict, groups: dict, full: bool) -> dict:
    """One measured ``crm-pulse run`` with its stage timings."""
    cmd = [str(BIN / "crm-pulse"), "run"] + (["--full-refresh"] if full else [])
    before = loadavg()
    print(f"  {name}: {' '.join(cmd[1:])} ...", flush=True)
    m = run_measured(cmd, env, scale_dir / "logs" / f"{name}.log", cwd=ROOT)
    stages = run_stages(Path(env["DAGSTER_HOME"]), env, groups)
    rows = stages.get("ingest", {}).get("rows_read", 0)
    out = {
        "exit_code": m.exit_code, "wall_seconds": round(m.wall_seconds, 2), "peak_rss_mb": round(m.peak_rss_mb),
        "peak_pss_mb": round(m.peak_pss_mb), "cpu_seconds": round(m.cpu_seconds, 1), "rows_read": rows, "rows_per_second": round(rows / m.wall_seconds) if m.wall_seconds else None,
        "startup_and_engine_seconds": round(m.wall_seconds - stages.get("steps_busy_seconds", 0.0), 2),
        "loadavg_before": before, "loadavg_after": loadavg(), "log": str(m.log.relative_to(ROOT)),
        **stages,
    }
    status = "ok" if m.exit_code == 0 else f"FAILED (exit {m.exit_code}, see {out['log']})"
    print(f"  {name}: {m.wall_seconds:.1f}s, peak {m.peak_rss_mb:.0f} MB, {status}; stages "
          + ", ".join(f"{k} {v:.1f}s" for k, v in out.get("stage_seconds", {}).items()), flush=True)
    return out


def compile_models(scale_dir: Path, as_of: str) -> tuple[Path, str]:
    """``dbt compile`` into a private target path; returns (manifest, raw dir it was compiled with)."""
    raw = scale_dir / "baseline" / "raw"
    target = scale_dir / "dbt_target"
    shutil.rmtree(target, ignore_errors=True)
    (scale_dir / "compile").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CRM_PULSE_RAW_DIR": str(raw), "CRM_PULSE_WORK_DB": str(scale_dir / "compile" / "baseline.duckdb"),  # catalog name = baseline's
           "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    run_vars = {"as_of": as_of, "load_id": "baseline", "refreshed_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}
    subprocess.run([str(BIN / "dbt"), "compile", "--quiet", "--project-dir", str(ROOT / "dbt_project"),
                    "--profiles-dir", str(ROOT / "dbt_project"), "--target-path", str(target),
                    "--log-path", str(scale_dir / "logs"), "--vars", json.dumps(run_vars)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return target / "manifest.json", raw.as_posix()


def baseline(scale_dir: Path, as_of: str) -> dict:
    manifest, placeholder = compile_models(scale_dir, as_of)
    warehouse = scale_dir / "warehouse"
    extra = [p for p in (warehouse / "raw").iterdir()
             if p.is_dir() and p.name not in ("crm", "erp", "ticketing", "_quarantine", "_loads", "_tmp")]
    cmd = [sys.executable, str(HERE / "baseline.py"), "--landing", str(scale_dir / "landing"),
           "--out", str(scale_dir / "baseline"), "--manifest", str(manifest), "--raw-placeholder", placeholder,
           "--seed-db", str(warehouse / "work.duckdb"), "--extra-raw", *map(str, extra)]
    before = loadavg()
    print("  baseline: DuckDB read_csv/read_json, typing in SQL, compiled model SQL ...", flush=True)
    m = run_measured(cmd, {}, scale_dir / "logs" / "baseline.log", cwd=ROOT)
    text = m.log.read_text(errors="replace")
    found = [line for line in text.splitlines() if line.startswith("BASELINE=")]
    out = {"exit_code": m.exit_code, "wall_seconds": round(m.wall_seconds, 2), "peak_rss_mb": round(m.peak_rss_mb),
           "peak_pss_mb": round(m.peak_pss_mb), "cpu_seconds": round(m.cpu_seconds, 1), "loadavg_before": before, "loadavg_after": loadavg(), "log": str(m.log.relative_to(ROOT))}
    if found:
        out.update(json.loads(found[-1][len("BASELINE="):]))
    print(f"  baseline: {m.wall_seconds:.1f}s (load {out.get('load_seconds', '?')}s, marts "
          f"{out.get('marts_seconds', '?')}s, write {out.get('persist_seconds', '?')}s), peak {m.peak_rss_mb:.0f} MB, "
          f"exit {m.exit_code}", flush=True)
    return out


def bench_scale(scale: str, work: Path, seed: int, groups_cache: dict, processes: int) -> dict:
    from data_contracts.landing import latest_export_date

    print(f"[{scale}] {SCALES[scale]:,} customers", flush=True)
    ds = ensure_generated(work, scale, seed)
    scale_dir = work / scale
    for sub in ("warehouse", "dagster_home", "baseline", "logs"):
        shutil.rmtree(scale_dir / sub, ignore_errors=True)
    held_day = last_export_day(ds.generated)
    history = link_landing(ds.generated, scale_dir / "landing", include_last_day=False)
    env = pipeline_env(scale_dir, processes)
    result = {
        "customers": ds.customers, "seed": seed, "export_files": ds.files, "export_bytes": ds.bytes,
        "export_rows": ds.rows, "export_rows_total": sum(ds.rows.values()),
        "generate_seconds": round(ds.generate_seconds, 1) if ds.generate_seconds else None,
        "held_back_day": held_day, "history_files": len(history), "max_processes": processes,
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if "groups" not in groups_cache:
        groups_cache["groups"] = step_groups(env)
    groups = groups_cache["groups"]
    result["full"] = refresh("full", scale_dir, env, groups, full=True)
    as_of = latest_export_date(scale_dir / "landing").isoformat()
    if (scale_dir / "warehouse" / "work.duckdb").exists():  # also after a failed step: time what can be timed
        result["baseline"] = baseline(scale_dir, as_of)
    new = link_landing(ds.generated, scale_dir / "landing", include_last_day=True)
    result["new_day_files"] = len(new)
    result["new_day_bytes"] = sum(p.stat().st_size for p in new)
    result["incremental"] = refresh("incremental", scale_dir, env, groups, full=False)
    ing = result["incremental"].get("ingest", {})
    result["incremental"]["skip_check"] = {
        "files_loaded": ing.get("files_loaded"), "expected_loaded": len(new),
        "files_skipped": ing.get("files_skipped"), "expected_skipped": len(history),
        "ok": ing.get("files_loaded") == len(new) and ing.get("files_skipped") == len(history),
    }
    full_s = result["full"]["wall_seconds"]
    base_s = result.get("baseline", {}).get("wall_seconds")
    result["ratios"] = {
        "full_vs_baseline": round(full_s / base_s, 2) if base_s else None,
        "incremental_vs_full": round(result["incremental"]["wall_seconds"] / full_s, 3) if full_s else None,
        "full_vs_baseline_cpu": (round(result["full"]["cpu_seconds"] / result["baseline"]["cpu_seconds"], 2)
                                 if result.get("baseline", {}).get("cpu_seconds") else None),
    }
    peak = max(result["full"]["peak_rss_mb"], result["incremental"]["peak_rss_mb"])
    result["targets"] = {
        "full_within_2x_baseline": (result["ratios"]["full_vs_baseline"] or 99) <= TARGETS["full_vs_baseline_max"],
        "incremental_within_5pct_of_full": (result["ratios"]["incremental_vs_full"] or 99) <= TARGETS["incremental_vs_full_max"],
        "peak_memory_under_4gb": peak < TARGETS["peak_rss_mb_max"],
    }
    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return result


def save(results: dict, scale: str) -> None:
    """Merge this scale's results into results.json as it is now (another bench may have written)."""
    on_disk = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    on_disk.setdefault("scales", {})[scale] = results["scales"][scale]
    results = {**on_disk, "machine": results["machine"], "targets": results["targets"]}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(RESULTS)
    write_readme(results, HERE / "README.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="S,M,L", help="comma-separated subset of S,M,L (default all)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--processes", type=int, default=2,
                        help="CRM_PULSE_MAX_PROCESSES for the runs (Dagster step processes; 1 = in process)")
    parser.add_argument("--note", default="", help="free-text note stored with these results (e.g. machine load)")
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    scales = [s.strip().upper() for s in args.scales.split(",") if s.strip()]
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        parser.error(f"unknown scale(s) {unknown}; choose from {', '.join(SCALES)}")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # the dbt manifest Dagster loads must match the models on disk (what `make install` does once)
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(ROOT / "dbt_project"),
                    "--profiles-dir", str(ROOT / "dbt_project")], check=True, stdout=subprocess.DEVNULL)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = machine()
    results["targets"] = TARGETS
    results.setdefault("scales", {})
    groups_cache: dict = {}
    failed = False
    for scale in scales:
        result = bench_scale(scale, args.work, args.seed, groups_cache, args.processes)
        if args.note:
            result["note"] = args.note
        results["scales"][scale] = result
        save(results, scale)
        failed |= result["full"]["exit_code"] != 0 or result["incremental"]["exit_code"] != 0
    print(f"results: {RESULTS.relative_to(ROOT)}, table: bench/README.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
