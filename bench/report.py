"""Render bench/results.json as the tables in bench/README.md (between the results markers)."""

from __future__ import annotations

from pathlib import Path

from stages import STAGES

START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def _s(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _flag(ok) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def render(results: dict) -> str:
    m = results.get("machine", {})
    lines = [
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gb', '?')} GB RAM, "
        f"{m.get('os', '')}; Python {m.get('python', '?')}, DuckDB {m.get('duckdb', '?')}, "
        f"dagster {m.get('dagster', '?')}, dbt-core {m.get('dbt-core', '?')}, polars {m.get('polars', '?')}.",
        "",
        "| scale | customers | input rows | full refresh | baseline | full / baseline | incremental (1 day) "
        "| incremental / full | CPU s full / baseline | rows/s (full) | peak RSS (PSS) full / incr. | load avg (1 min) before → after full |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    scales = results.get("scales", {})
    for name in ("S", "M", "L"):
        r = scales.get(name)
        if not r:
            continue
        full, inc, base = r.get("full", {}), r.get("incremental", {}), r.get("baseline", {})
        ratios, targets = r.get("ratios", {}), r.get("targets", {})
        failed = " (FAILED)" if full.get("exit_code") else ""
        inc_failed = " (FAILED)" if inc.get("exit_code") else ""
        lines.append(
            f"| {name} | {r['customers']:,} | {full.get('rows_read') or r.get('export_rows_total', 0):,} "
            f"| {_s(full.get('wall_seconds'))} s{failed} | {_s(base.get('wall_seconds'))} s "
            f"| {ratios.get('full_vs_baseline') or '–'}x{_flag(targets.get('full_within_2x_baseline'))} "
            f"| {_s(inc.get('wall_seconds'))} s{inc_failed} "
            f"| {100 * (ratios.get('incremental_vs_full') or 0):.0f} %{_flag(targets.get('incremental_within_5pct_of_full'))} "
            f"| {_s(full.get('cpu_seconds'))} / {_s(base.get('cpu_seconds'))} "
            f"| {full.get('rows_per_second') or 0:,} "
            f"| {full.get('peak_rss_mb', 0):,} ({full.get('peak_pss_mb', '?')}) / {inc.get('peak_rss_mb', 0):,} "
            f"({inc.get('peak_pss_mb', '?')}) MB{_flag(targets.get('peak_memory_under_4gb'))} "
            f"| {full.get('loadavg_before', ['?'])[0]} → {full.get('loadavg_after', ['?'])[0]} |")
    lines += ["", "Wall time per stage, seconds (Dagster step durations; dbt tests moved from dbt build to mart "
              "checks; startup = process start, definitions load and executor overhead outside any step):", ""]
    present = [k for k in STAGES if any(k in (r.get(run, {}).get("stage_seconds") or {})
                                        for r in scales.values() for run in ("full", "incremental"))]
    lines.append("| scale | run | " + " | ".join(STAGES[k] for k in present) + " | startup | total |")
    lines.append("|---|---|" + "---:|" * (len(present) + 2))
    for name in ("S", "M", "L"):
        r = scales.get(name)
        if not r:
            continue
        for run in ("full", "incremental"):
            x = r.get(run, {})
            st = x.get("stage_seconds") or {}
            lines.append(f"| {name} | {run} | " + " | ".join(_s(st.get(k)) for k in present)
                         + f" | {_s(x.get('startup_and_engine_seconds'))} | {_s(x.get('wall_seconds'))} |")
        base = r.get("baseline", {})
        if base:
            persist = f" + write {_s(base['persist_seconds'])}" if base.get("persist_seconds") is not None else ""
            lines.append(f"| {name} | baseline | load {_s(base.get('load_seconds'))} | marts {_s(base.get('marts_seconds'))}{persist} |"
                         + " |" * (len(present) - 2) + f" | {_s(base.get('wall_seconds'))} |")
    notes = [f"- {k}: {r['note']}" for k, r in scales.items() if r.get("note")]
    if notes:
        lines += ["", "Notes recorded with the runs:", *notes]
    return "\n".join(lines)


def write_readme(results: dict, path: Path) -> None:
    block = f"{START}\n{render(results)}\n{END}"
    text = path.read_text() if path.exists() else f"# Benchmark\n\n{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text += "\n" + block + "\n"
    path.write_text(text)
