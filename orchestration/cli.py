"""``crm-pulse``: generate demo exports, run the pipeline in process, inspect it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestration.settings import Settings

DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def _dagster_home(settings: Settings) -> Path:
    """Use $DAGSTER_HOME, else a persistent one inside the warehouse (run history for `status`)."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.warehouse_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.demo import generate_demo

    out = Path(args.out or Settings.from_env().landing_dir)
    summary = generate_demo(out, customers=args.customers, seed=args.seed)
    print(f"wrote {len(summary.files)} export files to {out}")
    for entity, rows in summary.rows.items():
        print(f"  {entity:<17} {rows:>9} rows")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from orchestration.runner import run_refresh

    settings = Settings.from_env()
    _dagster_home(settings)
    return run_refresh(settings, full_refresh=args.full_refresh)


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

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # configuration errors: one clear line, no traceback
        print(f"crm-pulse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
