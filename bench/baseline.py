"""Bare baseline: the same exports loaded with plain DuckDB and the mart SQL run directly.

No orchestration, no contracts enforcement, no quarantine, no tests, no publish: what a careful
analyst would script by hand in DuckDB. Per entity, every export file is read as text
(``read_csv(all_varchar)`` for CSV; GBK files are transcoded to UTF-8 in Python first, DuckDB
having no encodings extension; ``read_json`` for JSON/NDJSON; pandas/openpyxl for the one XLSX),
headers are renamed with the contracts' alias table, values are typed with DuckDB SQL (a list of
``try_strptime`` formats plus Excel serials for dates, a regex for money, CASE lookups for enums),
and one Parquet file per entity is written in the raw-layer layout. Then the compiled SQL of every
dbt model (from ``dbt compile``, done before timing) is executed in dependency order as views and
tables, exactly as dbt materialises them.

    python bench/baseline.py --landing DIR --out DIR --manifest target/manifest.json
        --raw-placeholder <raw dir the manifest was compiled with> [--seed-db work.duckdb]
        [--extra-raw DIR ...]

Prints one line ``BASELINE=<json>`` with the seconds of each phase.
"""

from __future__ import annotations

import argparse
import codecs
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from data_contracts.contract import contracts, normalise_header  # noqa: E402
from data_contracts.landing import discover  # noqa: E402

DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y/%m/%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日"]
TRUE = ("true", "yes", "y", "1", "t", "是", "真")
FALSE = ("false", "no", "n", "0", "f", "否", "假")


def q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parse_sql(column, v: str) -> str:
    """DuckDB expression typing the text expression ``v`` as the contract column says."""
    t = column.type
    text = f"nullif(trim({v}), '')"
    if t == "str":
        return text
    if t == "enum":
        whens = " ".join(f"WHEN {q(k)} THEN {q(c)}" for k, c in column.values.items())
        return f"(CASE lower({text}) {whens} END)"
    if t in ("date", "datetime"):
        fmts = "[" + ", ".join(q(f) for f in DATE_FORMATS) + "]"
        ts = (f"coalesce(try_strptime({text}, {fmts}), CASE WHEN regexp_full_match({text}, '\\d{{5}}(\\.\\d+)?') "
              f"THEN TIMESTAMP '1899-12-30' + to_milliseconds(CAST(round(TRY_CAST({text} AS DOUBLE) * 86400000) AS BIGINT)) END)")
        return f"CAST({ts} AS {'DATE' if t == 'date' else 'TIMESTAMP'})"
    if t == "money":
        digits = f"regexp_replace({text}, '[^0-9.\\-]', '', 'g')"
        return (f"CAST(CASE WHEN {text} LIKE '%万%' THEN TRY_CAST({digits} AS DECIMAL(18, 4)) * 10000 "
                f"ELSE TRY_CAST({digits} AS DECIMAL(18, 2)) END AS DECIMAL(18, 2))")
    if t == "int":
        return f"CAST(TRY_CAST(replace({text}, ',', '') AS DOUBLE) AS BIGINT)"
    if t == "float":
        return f"TRY_CAST(replace({text}, ',', '') AS DOUBLE)"
    if t == "bool":
        return (f"(CASE WHEN lower({text}) IN ({', '.join(map(q, TRUE))}) THEN true "
                f"WHEN lower({text}) IN ({', '.join(map(q, FALSE))}) THEN false END)")
    raise ValueError(t)


def pii_sql(column) -> str:
    """A contact column as the raw layer holds it: ``<col>_masked`` and ``<col>_hash`` (here a plain
    sha256, DuckDB having no HMAC; the pipeline's is keyed, data_contracts/privacy.py)."""
    v = f"nullif(trim({ident(column.name)}), '')"
    masked = (f"CASE WHEN {v} IS NULL THEN NULL WHEN {v} LIKE '%@%' THEN left({v}, 1) || '***' || "
              f"substr({v}, strpos({v}, '@')) ELSE left({v}, 3) || '****' || right({v}, 4) END")
    return (f"{masked} AS {ident(column.name + '_masked')}, "
            f"CASE WHEN {v} IS NULL THEN NULL ELSE sha256(lower({v})) END AS {ident(column.name + '_hash')}")


def is_utf8(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return True
    except UnicodeDecodeError:
        return False


def transcode(path: Path, tmp: Path) -> Path:
    """GBK/GB18030 -> UTF-8 (streamed)."""
    out = tmp / f"{path.parent.parent.name}-{path.parent.name}-{path.name}"
    with open(path, encoding="gb18030", newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    return out


def file_relation(con, f, contract, tmp: Path) -> str:
    """SELECT of one export file: canonical text columns + lineage."""
    path = f.path
    suffix = path.suffix.lower()
    if suffix == ".csv":
        readable = path if is_utf8(path) else transcode(path, tmp)
        source = f"read_csv({q(readable)}, header = true, all_varchar = true, auto_detect = true)"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    elif suffix in (".json", ".ndjson", ".jsonl"):
        source = f"read_json({q(path)}, format = 'auto')"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    elif suffix == ".xlsx":
        import pandas as pd

        frame = pd.read_excel(path, dtype=str)
        name = f"xlsx_{abs(hash(str(path)))}"
        con.register(name, frame)
        source, cols = name, list(frame.columns)
    else:
        raise ValueError(path)
    mapping = {}
    for col in cols:
        canonical = contract.header_lookup.get(normalise_header(col))
        if canonical and canonical not in mapping:
            mapping[canonical] = col
    select = ", ".join(
        (f"CAST({ident(mapping[c])} AS VARCHAR)" if c in mapping else "CAST(NULL AS VARCHAR)") + f" AS {ident(c)}"
        for c in contract.column_names)
    return (f"SELECT {select}, {q(f.relative)} AS _source_file, DATE {q(f.export_date.isoformat())} AS _export_date, "
            f"row_number() OVER () AS _row_number FROM {source}")


def load(con, landing: Path, raw: Path, tmp: Path) -> dict:
    counts = {}
    for entity, contract in contracts().items():
        files = discover(landing, contract.source, entity)
        target = raw / contract.source / entity
        target.mkdir(parents=True, exist_ok=True)
        out = target / "data.parquet"
        if not files:
            import polars as pl

            contract.arrow_schema().to_frame().write_parquet(out)
            counts[entity] = 0
            continue
        started = time.perf_counter()
        union = " UNION ALL ".join(f"({file_relation(con, f, contract, tmp)})" for f in files)
        prepared = time.perf_counter()
        typed = ", ".join(pii_sql(c) if c.pii else f"{parse_sql(c, ident(c.name))} AS {ident(c.name)}"
                          for c in contract.columns)
        con.execute(f"COPY (SELECT {typed}, _source_file, _export_date, _row_number, 'baseline' AS _load_id, "
                    f"now()::TIMESTAMP AS _loaded_at FROM ({union})) TO {q(out)} (FORMAT parquet)")
        counts[entity] = con.execute(f"SELECT count(*) FROM read_parquet({q(out)})").fetchall()[0][0]
        print(f"{entity}: {counts[entity]} rows, {len(files)} files, transcode/describe "
              f"{prepared - started:.1f}s, load {time.perf_counter() - prepared:.1f}s", flush=True)
    return counts


def build_models(con, manifest: dict, raw_placeholder: str, raw: Path) -> dict:
    nodes = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] == "model" and n.get("language", "sql") == "sql"
             and n["config"].get("materialized") != "ephemeral" and n["config"].get("enabled", True)}
    done, order = set(), []

    def visit(uid):
        if uid in done or uid not in nodes:
            return
        done.add(uid)
        for dep in nodes[uid]["depends_on"]["nodes"]:
            visit(dep)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    rows = {}
    for uid in order:
        node = nodes[uid]
        sql = node["compiled_code"].replace(raw_placeholder, raw.as_posix())
        schema, alias = node["schema"], node.get("alias") or node["name"]
        kind = "VIEW" if node["config"].get("materialized") == "view" else "TABLE"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        con.execute(f"CREATE OR REPLACE {kind} {ident(schema)}.{ident(alias)} AS {sql}")
        if kind == "TABLE":
            rows[f"{schema}.{alias}"] = con.execute(f"SELECT count(*) FROM {ident(schema)}.{ident(alias)}").fetchall()[0][0]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--raw-placeholder", required=True)
    parser.add_argument("--seed-db", type=Path, help="database to copy dbt seeds from")
    parser.add_argument("--extra-raw", type=Path, nargs="*", default=[],
                        help="non-export raw folders (e.g. raw/analytics) to copy before timing")
    parser.add_argument("--memory-limit", default="")
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    raw = args.out / "raw"
    raw.mkdir(parents=True)
    for extra in args.extra_raw:
        shutil.copytree(extra, raw / extra.name)
    manifest = json.loads(args.manifest.read_text())
    db = args.out / "baseline.duckdb"
    con = duckdb.connect(str(db), config={"autoinstall_known_extensions": "false", "TimeZone": "Asia/Shanghai"})
    if args.memory_limit:
        con.execute(f"SET memory_limit = {q(args.memory_limit)}")
    if args.seed_db and args.seed_db.exists():
        con.execute(f"ATTACH {q(args.seed_db)} AS seedsrc (READ_ONLY)")
        for (schema, table) in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'seedsrc' "
                "AND schema_name = 'seeds'").fetchall():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            con.execute(f"CREATE TABLE {ident(schema)}.{ident(table)} AS SELECT * FROM seedsrc.{ident(schema)}.{ident(table)}")
        con.execute("DETACH seedsrc")

    timings = {}
    tmp = Path(tempfile.mkdtemp(prefix="baseline-", dir=args.out))
    start = time.perf_counter()
    counts = load(con, args.landing, raw, tmp)
    timings["load_seconds"] = time.perf_counter() - start
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    rows = build_models(con, manifest, args.raw_placeholder, raw)
    timings["marts_seconds"] = time.perf_counter() - start
    con.close()
    timings["total_seconds"] = timings["load_seconds"] + timings["marts_seconds"]
    print("BASELINE=" + json.dumps({**{k: round(v, 2) for k, v in timings.items()},
                                    "rows_loaded": counts, "table_rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
