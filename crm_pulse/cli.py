"""``crm-pulse``: generate demo exports, run the pipeline in process, inspect it."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

# pandera imports pyspark.pandas when the [spark] extra is installed; its pandas-3 warning is noise here
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

from crm_pulse.config.settings import Settings, check_settings  # noqa: E402


def _dagster_home(settings: Settings) -> Path:
    """Use $DAGSTER_HOME, else a persistent one inside the warehouse (run history for `status`);
    created with crm-pulse's dagster.yaml (orchestration/instance_storage.py) when it has none."""
    from orchestration.instance_storage import ensure_dagster_home

    home = ensure_dagster_home(Path(os.environ.get("DAGSTER_HOME") or settings.warehouse_dir / "dagster_home"))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_demo(args: argparse.Namespace) -> int:
    from crm_pulse.demo import generate_demo

    out = Path(args.out or Settings.from_env().landing_dir)
    summary = generate_demo(out, customers=args.customers, seed=args.seed)
    print(f"wrote {len(summary.files)} export files to {out}")
    for entity, rows in summary.rows.items():
        print(f"  {entity:<17} {rows:>9} rows")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from crm_pulse.warehouse.lock import EXIT_BUSY, RefreshInProgress, acquire

    settings = Settings.from_env()
    try:  # before Dagster is even imported: a second refresh of this warehouse exits at once, touching nothing
        lock = acquire(settings.warehouse_dir)
    except RefreshInProgress as busy:
        print(f"crm-pulse: {busy}", file=sys.stderr)
        return EXIT_BUSY
    with lock:  # run_refresh takes it again (re-entrant) and records its run id
        from orchestration.runner import run_refresh

        _dagster_home(settings)
        return run_refresh(settings, full_refresh=args.full_refresh)


def cmd_status(args: argparse.Namespace) -> int:
    from orchestration.status import collect, render, render_json
    from orchestration.instance_storage import open_instance

    settings = Settings.from_env()
    _dagster_home(settings)
    with open_instance() as instance:
        status = collect(settings, instance)
    print(render_json(status) if args.json else render(status))
    return 0 if status.healthy else 1


def cmd_report(args: argparse.Namespace) -> int:
    from crm_pulse.report.command import report_command

    return report_command(Settings.from_env(), lang=args.lang, period=args.period, pdf=args.pdf)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    parser = argparse.ArgumentParser(prog="crm-pulse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write realistic demo exports in the landing layout")
    demo.add_argument("--out", help="landing folder to write (default: CRM_PULSE_LANDING_DIR)")
    demo.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="materialise every asset once, in process")
    run.add_argument("--full-refresh", action="store_true", help="reload every export and rebuild every model")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="last run, its checks, export freshness, quarantine, where the outputs are")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(func=cmd_status)

    report = sub.add_parser("report", help="regenerate the customer-analysis report from serving.duckdb (no refresh)")
    report.add_argument("--lang", choices=["en", "zh"], help="report language (default: CRM_PULSE_LANG)")
    report.add_argument("--period", choices=["month", "quarter"], help="analysis period (default: CRM_PULSE_REPORT_PERIOD)")
    report.add_argument("--pdf", choices=["auto", "on", "off"], help="PDF via Chromium (default: CRM_PULSE_REPORT_PDF)")
    report.set_defaults(func=cmd_report)

    args = parser.parse_args(argv)
    try:
        if args.command in ("run", "status", "report"):
            check_settings(args.command)  # every CRM_PULSE_* value, before any work
        return args.func(args)
    except ValueError as exc:  # configuration errors: one clear line each, no traceback
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"crm-pulse: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
