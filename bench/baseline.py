"""Bare baseline: the same exports loaded with plain DuckDB and the compiled model SQL run directly.

The floor the pipeline's full refresh is compared with: what a careful analyst would script by hand
to get the same marts out of DuckDB as fast as it allows. No orchestration, no contract checks, no
quarantine, no tests, no publish.

1. **Load** (``load_seconds``). Every export file of every contract entity in the landing folder
   (``data_contracts.landing.discover``) is read by DuckDB's own readers, in place: ``read_csv``
   for CSV (UTF-8 with or without BOM; the header row is read in Python, so no sniffing: fixed
   dialect, every column VARCHAR), ``read_json`` for JSON arrays and NDJSON (keys of the first
   record, every value VARCHAR). Only CSV files that are not UTF-8 (GBK / GB18030, told from a
   bounded sniff as the pipeline's reader does) are transcoded first, streamed through Python's
   incremental decoder into a temporary UTF-8 file; the one XLSX goes through openpyxl into one.
   Headers are mapped to canonical names with the contracts' alias table (first match wins, as
   ``Contract.map_headers``); values are typed in SQL: trimmed, blank markers (values.yml) NULL in
   text columns, dates and timestamps by cast (ISO, ``T``, ``2024/7/1 9:05``), Excel serials, then
   ``strptime`` formats (``2024年7月1日``, dotted, compact); money by cast after removing ¥ / ￥ and
   thousands separators, then 万 and other marks; enums, booleans and spelling tables by CASE;
   contact columns masked and hashed; lineage columns as the raw layer has them (``_source_file``,
   ``_export_date``, ``_row_number`` in the file, ``_load_id``, ``_loaded_at``). One statement per
   entity creates ``baseline_raw.<source>__<entity>``. Both cores: entities load concurrently
   (``--workers``, largest first, a cursor each) and every statement runs on DuckDB's threads
   (``--threads``). No SQL here becomes a join (constant ``IN`` lists do in DuckDB, and a join in
   the plan also costs the order-preserving parallel insert).
2. **Models** (``marts_seconds``). The compiled SQL of every dbt model (``dbt compile``, done before
   timing), with each raw-layer ``read_parquet(...)`` replaced by the entity's table, executed as
   views / tables as dbt materialises them, in dependency order, ``--model-workers`` at a time (dbt
   runs two threads).
3. **Write** (``persist_seconds``). The work happens in an in-memory database (beyond
   ``--memory-limit`` DuckDB spills it to ``<out>/duckdb_tmp``): writing every intermediate table
   to a database file costs DuckDB more than building it. The marts are then written to
   ``<out>/baseline.duckdb``. ``--database file`` does everything in that file instead (as the old
   baseline and dbt do); ``--raw-format parquet`` lands the raw layer as Parquet files (the
   pipeline's layout) instead of tables.

Setup before timing (``setup_seconds``): copying the dbt seeds from ``--seed-db`` and the
non-export raw folders (``--extra-raw``, e.g. CLV outputs).

    python bench/baseline.py --landing DIR --out DIR --manifest target/manifest.json
        --raw-placeholder <raw dir the manifest was compiled with> [--seed-db work.duckdb]
        [--extra-raw DIR ...] [--workers 2] [--threads N] [--model-workers 2]
        [--database memory|file] [--raw-format duckdb|parquet] [--memory-limit 8GB]

Prints one line ``BASELINE=<json>``: seconds and CPU seconds of each phase, the rows loaded per
entity (with files, transcoded files and seconds), the rows of every table model, the slowest models.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402


def _import_contracts():
    """``data_contracts.contract`` without pandera: the module imports ``pandera.polars`` for the
    pipeline's checks (2-3 s of start-up, more than the whole load at S) and the baseline checks
    nothing. A placeholder stands in while it is imported; the real import if that fails."""
    import types

    if "pandera" in sys.modules:
        import data_contracts.contract as module
        return module
    stub, stub_polars = types.ModuleType("pandera"), types.ModuleType("pandera.polars")
    stub.polars = stub_polars
    sys.modules.update({"pandera": stub, "pandera.polars": stub_polars})
    try:
        import data_contracts.contract as module
    except Exception:
        sys.modules.pop("data_contracts.contract", None)
        module = None
    finally:
        for name in ("pandera", "pandera.polars"):
            if sys.modules.get(name) in (stub, stub_polars):
                del sys.modules[name]
    if module is None:
        import data_contracts.contract as module
    return module


_contract = _import_contracts()
blank_markers, contracts, normalise_header = _contract.blank_markers, _contract.contracts, _contract.normalise_header
from data_contracts.landing import discover  # noqa: E402

RAW_SCHEMA = "baseline_raw"
#: strptime formats tried after a plain cast to TIMESTAMP (which reads 2024-07-01[ 09:05[:03]], the 'T'
#: form and 2024/7/1[ 9:05[:03]]) and the Excel serial check.
DATE_FORMATS = ["%Y年%m月%d日 %H:%M", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日", "%Y.%m.%d %H:%M:%S",
                "%Y.%m.%d %H:%M", "%Y.%m.%d", "%Y%m%d%H%M%S", "%Y%m%d"]
EXCEL_MIN, EXCEL_MAX = 20_000, 80_000  # serial day numbers read as dates (1954-10-03 .. 2119-01-10), as the pipeline
TRUE = ("true", "yes", "y", "1", "t", "是", "真", "√", "✓")
FALSE = ("false", "no", "n", "0", "f", "否", "假", "×", "✗")
SNIFF_CHUNK = 1 << 20  # encoding sniff: leading pure-ASCII MiBs skipped, then one MiB decoded strictly
COPY_CHUNK = 1 << 22  # transcoding: characters per read


def q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- typing ---------------------------------------------------------------------------------------

def markers() -> list[str]:
    """Blank markers (values.yml) as listed and in lower, upper and capitalised case."""
    return sorted({s for m in blank_markers() for s in (m, m.lower(), m.upper(), m.capitalize())})


def markers_sql(text: str) -> str:
    """``text`` or NULL when it is a blank marker. Only text columns need it (a marker in a typed
    column does not parse either). A first-character test spares the full match to nearly every
    value; regular expressions rather than ``IN`` lists, which DuckDB plans as a join per column."""
    first = sorted({m[0] for m in markers()})
    prefix = "^[" + "".join(re.escape(ch) for ch in first) + "]"
    full = "|".join(re.escape(m) for m in markers())
    return (f"(CASE WHEN regexp_matches({text}, {q(prefix)}) AND regexp_full_match({text}, {q(full)}) "
            f"THEN NULL ELSE {text} END)")


def trim_sql(text: str) -> str:
    """Trimmed, NULL when empty (the readers already give NULL for empty fields; trim() only where a
    value starts or ends with a space: a full trim of every value costs more than the typing)."""
    return (f"(CASE WHEN {text} = '' OR prefix({text}, ' ') OR suffix({text}, ' ') THEN nullif(trim({text}), '') "
            f"ELSE {text} END)")


def lookup_sql(text: str, values: dict) -> str:
    """Case-insensitive lookup of ``text`` (a CASE: constant ``IN`` lists become joins)."""
    whens = " ".join(f"WHEN {q(k)} THEN {c if isinstance(c, bool) else q(c)}" for k, c in values.items())
    return f"(CASE lower({text}) {whens} END)"


def parse_sql(column, text: str) -> str:
    """DuckDB expression typing ``text`` (trimmed, empty already NULL) as the contract column says."""
    t = column.type
    if t == "str":  # (blank markers already NULL: see load_entity)
        return f"coalesce({lookup_sql(text, column.values)}, {text})" if column.values else text
    if t == "enum":
        return lookup_sql(text, column.values)
    if t in ("date", "datetime"):
        fmts = "[" + ", ".join(q(f) for f in DATE_FORMATS) + "]"
        serial = (f"CASE WHEN regexp_full_match({text}, '\\d{{5}}(\\.\\d+)?') AND TRY_CAST({text} AS DOUBLE) "
                  f"BETWEEN {EXCEL_MIN} AND {EXCEL_MAX} THEN TIMESTAMP '1899-12-30' + "
                  f"to_milliseconds(CAST(round(TRY_CAST({text} AS DOUBLE) * 86400000) AS BIGINT)) END")
        ts = f"coalesce(TRY_CAST({text} AS TIMESTAMP), {serial}, try_strptime({text}, {fmts}))"
        return f"CAST({ts} AS {'DATE' if t == 'date' else 'TIMESTAMP'})"
    if t == "money":  # plain, ¥ / ￥ and thousands separators; then 万 and other marks
        simple = f"TRY_CAST(replace(replace(replace({text}, ',', ''), '¥', ''), '￥', '') AS DECIMAL(18, 2))"
        digits = f"regexp_replace({text}, '[^0-9.\\-]', '', 'g')"
        return (f"coalesce({simple}, CAST(CASE WHEN {text} LIKE '%万%' "
                f"THEN TRY_CAST({digits} AS DECIMAL(18, 6)) * 10000 ELSE TRY_CAST({digits} AS DECIMAL(18, 2)) END "
                f"AS DECIMAL(18, 2)))")
    if t == "int":
        return (f"coalesce(TRY_CAST({text} AS BIGINT), "
                f"TRY_CAST(TRY_CAST(replace({text}, ',', '') AS DOUBLE) AS BIGINT))")
    if t == "float":
        number = f"TRY_CAST(replace({text}, ',', '') AS DOUBLE)"
        return f"(CASE WHEN isfinite({number}) THEN {number} END)"
    if t == "bool":
        return lookup_sql(text, {**dict.fromkeys(TRUE, True), **dict.fromkeys(FALSE, False)})
    raise ValueError(t)


def pii_sql(column, v: str) -> str:
    """A contact column as the raw layer holds it: ``<col>_masked`` and ``<col>_hash`` (here a plain
    sha256, DuckDB having no HMAC; the pipeline's is keyed, data_contracts/privacy.py)."""
    masked = (f"CASE WHEN {v} IS NULL THEN NULL WHEN {v} LIKE '%@%' THEN left({v}, 1) || '***' || "
              f"substr({v}, strpos({v}, '@')) ELSE left({v}, 3) || '****' || right({v}, 4) END")
    return (f"{masked} AS {ident(column.name + '_masked')}, "
            f"CASE WHEN {v} IS NULL THEN NULL ELSE sha256(lower({v})) END AS {ident(column.name + '_hash')}")


CATALOG = "baseline"  # the compiled SQL names it (dbt compile ran against a database file of this name)


def cursor(con):
    """A cursor (own connection, for a worker thread) on the work database, without DuckDB's
    progress bar in the log."""
    cur = con.cursor()
    cur.execute(f"USE {CATALOG}")
    cur.execute("SET enable_progress_bar = false")
    return cur


# --- reading --------------------------------------------------------------------------------------

def sniff_encoding(path: Path) -> str:
    """'utf-8-sig' (BOM), 'utf-8' or 'gb18030', from a bounded window: leading pure-ASCII chunks are
    skipped, the first chunk holding a non-ASCII byte is decoded strictly as UTF-8."""
    with open(path, "rb") as fh:
        if fh.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        fh.seek(0)
        for chunk in iter(lambda: fh.read(SNIFF_CHUNK), b""):
            if not chunk.isascii():
                try:
                    codecs.getincrementaldecoder("utf-8")("strict").decode(chunk, final=False)
                    return "utf-8"
                except UnicodeDecodeError:
                    return "gb18030"
    return "utf-8"


def transcode(path: Path, tmp: Path, encoding: str) -> Path:
    """Non-UTF-8 text -> a temporary UTF-8 file, streamed (Python's incremental decoder)."""
    out = tmp / f"{path.parent.parent.name}-{path.parent.name}-{path.name}"
    with open(path, encoding=encoding, newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, COPY_CHUNK)
    return out


def csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def csv_source(path: Path, names: list[str]) -> str:
    """``read_csv`` of a UTF-8 (BOM or not) CSV with a header row: no sniffing, every column VARCHAR."""
    columns = "{" + ", ".join(f"{q(n)}: 'VARCHAR'" for n in names) + "}"
    return (f"read_csv({q(path)}, header = false, skip = 1, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {columns}, null_padding = true, strict_mode = false)")


def xlsx_cell(value) -> str | None:
    """A cell as the text a user sees (ISO dates, integral numbers without '.0')."""
    import datetime as dt

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def xlsx_to_csv(path: Path, tmp: Path) -> Path:
    import openpyxl

    out = tmp / f"{path.parent.parent.name}-{path.parent.name}-{path.stem}.csv"
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            for row in workbook.worksheets[0].iter_rows(values_only=True):
                if any(v is not None for v in row):
                    writer.writerow([xlsx_cell(v) for v in row])
    finally:
        workbook.close()
    return out


def json_keys(path: Path) -> tuple[list[str], str]:
    """Keys of the first record and the read_json format ('array' or 'newline_delimited')."""
    with open(path, encoding="utf-8-sig") as fh:
        head = fh.read(1 << 20)
    text = head.lstrip()
    array = text.startswith("[")
    if array:
        text = text[1:].lstrip()
    if not text or text.startswith("]"):
        return [], "array" if array else "newline_delimited"
    record, _ = json.JSONDecoder().raw_decode(text)
    return list(record), "array" if array else "newline_delimited"


def file_select(con, f, contract, tmp: Path, stats: dict) -> str | None:
    """SELECT of one export file: the contract's columns as text (canonical names) + lineage."""
    path = f.path
    suffix = path.suffix.lower()
    if suffix == ".csv":
        encoding = sniff_encoding(path)
        readable = path
        if encoding == "gb18030":
            started = time.perf_counter()
            readable = transcode(path, tmp, encoding)
            stats["transcode_seconds"] = stats.get("transcode_seconds", 0.0) + time.perf_counter() - started
            stats["transcoded_files"] = stats.get("transcoded_files", 0) + 1
        header = csv_header(readable)
        if not header:
            return None
        names = [f"c{i}" for i in range(len(header))]
        source = csv_source(readable, names)
    elif suffix in (".json", ".ndjson", ".jsonl"):
        header, fmt = json_keys(path)
        if not header:
            return None
        names = header
        columns = "{" + ", ".join(f"{q(n)}: 'VARCHAR'" for n in names) + "}"
        source = f"read_json({q(path)}, format = {q(fmt)}, columns = {columns})"
    elif suffix == ".xlsx":  # first sheet -> a temporary UTF-8 CSV, then as any CSV
        readable = xlsx_to_csv(path, tmp)
        header = csv_header(readable)
        if not header:
            return None
        names = [f"c{i}" for i in range(len(header))]
        source = csv_source(readable, names)
    else:
        raise ValueError(path)
    mapping: dict[str, str] = {}
    for name, cell in zip(names, header, strict=True):
        canonical = contract.header_lookup.get(normalise_header(cell))
        if canonical and canonical not in mapping:  # first header wins, as the pipeline's map_headers
            mapping[canonical] = name
    select = ", ".join((trim_sql(f"CAST({ident(mapping[c])} AS VARCHAR)") if c in mapping else "CAST(NULL AS VARCHAR)")
                       + f" AS {ident(c)}" for c in contract.column_names)
    return (f"SELECT {select}, {q(f.relative)} AS _source_file, DATE {q(f.export_date.isoformat())} AS _export_date, "
            f"row_number() OVER () AS _row_number FROM {source}")


def load_entity(con, contract, files, tmp: Path, raw: Path, raw_format: str) -> dict:
    """Read, type and store every export file of one entity (one cursor, one statement)."""
    started = time.perf_counter()
    cur = cursor(con)
    stats: dict = {"files": len(files)}
    selects = [s for s in (file_select(cur, f, contract, tmp, stats) for f in files) if s]
    typed = ", ".join(pii_sql(c, ident(c.name)) if c.pii else f"{parse_sql(c, ident(c.name))} AS {ident(c.name)}"
                      for c in contract.columns)
    lineage = "_source_file, _export_date, _row_number"
    if selects:
        union = " UNION ALL ".join(f"({s})" for s in selects)
        # blank markers -> NULL in text columns (typed columns do not parse them anyway), then typing
        blanked = ", ".join((markers_sql(ident(c.name)) if c.type == "str" else ident(c.name)) + f" AS {ident(c.name)}"
                            for c in contract.columns)
        body = (f"SELECT {typed}, {lineage}, 'baseline' AS _load_id, now()::TIMESTAMP AS _loaded_at "
                f"FROM (SELECT {blanked}, {lineage} FROM ({union}))")
    else:  # no export yet: an empty table of the raw layer's columns
        nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c)}" for c in contract.column_names)
        body = (f"SELECT {typed}, CAST(NULL AS VARCHAR) AS _source_file, CAST(NULL AS DATE) AS _export_date, "
                f"CAST(NULL AS BIGINT) AS _row_number, 'baseline' AS _load_id, now()::TIMESTAMP AS _loaded_at "
                f"FROM (SELECT {nulls}) WHERE false")
    table = f"{RAW_SCHEMA}.{ident(contract.source + '__' + contract.entity)}"
    if raw_format == "parquet":
        target = raw / contract.source / contract.entity
        target.mkdir(parents=True, exist_ok=True)
        out = target / "data.parquet"
        cur.execute(f"COPY ({body}) TO {q(out)} (FORMAT parquet)")
        rows = cur.execute(f"SELECT count(*) FROM read_parquet({q(out)})").fetchall()[0][0]
    else:
        cur.execute(f"CREATE TABLE {table} AS {body}")
        rows = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    cur.close()
    stats.update(rows=rows, seconds=round(time.perf_counter() - started, 2))
    return stats


def load(con, landing: Path, raw: Path, tmp: Path, workers: int, raw_format: str) -> dict:
    """Every entity, ``workers`` at a time, the largest (in bytes) first."""
    jobs = []
    for entity, contract in contracts().items():
        files = discover(landing, contract.source, entity)
        jobs.append((sum(f.path.stat().st_size for f in files), entity, contract, files))
    jobs.sort(key=lambda j: -j[0])
    lock = threading.Lock()
    results: dict[str, dict] = {}

    def run(job):
        size, entity, contract, files = job
        stats = load_entity(con, contract, files, tmp, raw, raw_format)
        transcoded = (f" (transcoding {stats['transcoded_files']} files {stats['transcode_seconds']:.1f}s)"
                      if "transcoded_files" in stats else "")
        with lock:
            results[entity] = stats
            print(f"{entity}: {stats['rows']} rows, {len(files)} files ({size / 2**20:.0f} MB), "
                  f"{stats['seconds']:.1f}s{transcoded}", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result()
    return {e: results[e] for e in contracts() if e in results}


# --- models ---------------------------------------------------------------------------------------

def build_models(con, manifest: dict, raw_placeholder: str, raw: Path, raw_format: str,
                 workers: int) -> tuple[dict, dict]:
    """Rows of every table model and seconds of every model (slowest first)."""
    nodes = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] == "model" and n.get("language", "sql") == "sql"
             and n["config"].get("materialized") != "ephemeral" and n["config"].get("enabled", True)}
    deps = {uid: {d for d in n["depends_on"]["nodes"] if d in nodes} for uid, n in nodes.items()}
    entities = {(c.source, c.entity) for c in contracts().values()}
    location = re.compile(r"read_parquet\('" + re.escape(raw_placeholder)
                          + r"/([A-Za-z0-9_]+)/([A-Za-z0-9_]+)/\*\.parquet'(?:,\s*union_by_name\s*=\s*true)?\)")

    def raw_table(match: re.Match) -> str:
        if raw_format == "duckdb" and (match.group(1), match.group(2)) in entities:
            return f"{RAW_SCHEMA}.{ident(match.group(1) + '__' + match.group(2))}"
        return match.group(0)

    for schema in sorted({n["schema"] for n in nodes.values()}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}
    lock = threading.Lock()

    def build(uid: str) -> None:
        node = nodes[uid]
        sql = location.sub(raw_table, node["compiled_code"]).replace(raw_placeholder, raw.as_posix())
        schema, alias = node["schema"], node.get("alias") or node["name"]
        kind = "VIEW" if node["config"].get("materialized") == "view" else "TABLE"
        started = time.perf_counter()
        cur = cursor(con)
        cur.execute(f"CREATE OR REPLACE {kind} {ident(schema)}.{ident(alias)} AS {sql}")
        if kind == "TABLE":
            count = cur.execute(f"SELECT count(*) FROM {ident(schema)}.{ident(alias)}").fetchall()[0][0]
            with lock:
                rows[f"{schema}.{alias}"] = count
        cur.close()
        with lock:
            seconds[f"{schema}.{alias}"] = round(time.perf_counter() - started, 2)

    done: set[str] = set()
    running: dict = {}
    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while len(done) < len(nodes):
            for uid in sorted(nodes):
                if uid not in done and uid not in running.values() and deps[uid] <= done and len(running) < workers:
                    running[pool.submit(build, uid)] = uid
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future))
    return dict(sorted(rows.items())), dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def default_memory_limit() -> str:
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "8GB"
    return f"{min(8 << 10, ram // 2 >> 20)}MB"


def persist_marts(con, db: Path) -> list[str]:
    """Write the mart tables (schema ``marts``) of the in-memory database into ``db``."""
    con.execute(f"ATTACH {q(db)} AS out")
    con.execute("CREATE SCHEMA IF NOT EXISTS out.marts")
    tables = [t for (t,) in con.execute(f"SELECT table_name FROM duckdb_tables() WHERE database_name = {q(CATALOG)} "
                                        "AND schema_name = 'marts' ORDER BY 1").fetchall()]
    for table in tables:
        con.execute(f"CREATE TABLE out.marts.{ident(table)} AS SELECT * FROM {CATALOG}.marts.{ident(table)}")
    con.execute("DETACH out")
    return tables


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--raw-placeholder", required=True)
    parser.add_argument("--seed-db", type=Path, help="database to copy dbt seeds from")
    parser.add_argument("--extra-raw", type=Path, nargs="*", default=[],
                        help="non-export raw folders (e.g. raw/_analytics) to copy before timing")
    parser.add_argument("--database", choices=("memory", "file"), default="memory",
                        help="work in an in-memory database (spilling to <out>/duckdb_tmp beyond --memory-limit) "
                             "and write the marts to <out>/baseline.duckdb (default), or do everything in that file")
    parser.add_argument("--memory-limit", default=default_memory_limit(),
                        help="DuckDB memory_limit (default: 8 GB or half the RAM, whichever is less)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="DuckDB threads (default: cores)")
    parser.add_argument("--workers", type=int, default=2, help="entities loaded at the same time")
    parser.add_argument("--model-workers", type=int, default=2, help="models built at the same time (dbt threads)")
    parser.add_argument("--raw-format", choices=("duckdb", "parquet"), default="duckdb",
                        help="raw layer as tables in the work database (default) or Parquet files")
    args = parser.parse_args()

    setup_started = time.perf_counter()
    shutil.rmtree(args.out, ignore_errors=True)
    raw = args.out / "raw"
    raw.mkdir(parents=True)
    for extra in args.extra_raw:
        shutil.copytree(extra, raw / extra.name)
    manifest = json.loads(args.manifest.read_text())
    db = args.out / "baseline.duckdb"
    config = {"autoinstall_known_extensions": "false", "TimeZone": "Asia/Shanghai", "threads": args.threads,
              "temp_directory": str(args.out / "duckdb_tmp")}
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    if args.database == "memory":
        base = duckdb.connect(":memory:", config=config)
        base.execute(f"ATTACH ':memory:' AS {CATALOG}")
    else:
        base = duckdb.connect(str(db), config=config)
    con = cursor(base)
    if args.seed_db and args.seed_db.exists():
        con.execute(f"ATTACH {q(args.seed_db)} AS seedsrc (READ_ONLY)")
        for (schema, table) in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'seedsrc' "
                "AND schema_name = 'seeds'").fetchall():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            con.execute(f"CREATE TABLE {ident(schema)}.{ident(table)} AS "
                        f"SELECT * FROM seedsrc.{ident(schema)}.{ident(table)}")
        con.execute("DETACH seedsrc")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    if args.database == "file":
        con.execute("CHECKPOINT")
    timings = {"setup_seconds": time.perf_counter() - setup_started}

    tmp = Path(tempfile.mkdtemp(prefix="baseline-", dir=args.out))
    start, cpu = time.perf_counter(), time.process_time()
    loaded = load(con, args.landing, raw, tmp, args.workers, args.raw_format)
    shutil.rmtree(tmp, ignore_errors=True)
    timings["load_seconds"] = time.perf_counter() - start
    timings["load_cpu_seconds"] = time.process_time() - cpu

    start, cpu = time.perf_counter(), time.process_time()
    rows, model_seconds = build_models(con, manifest, args.raw_placeholder, raw, args.raw_format, args.model_workers)
    timings["marts_seconds"] = time.perf_counter() - start
    timings["marts_cpu_seconds"] = time.process_time() - cpu

    start = time.perf_counter()
    if args.database == "memory":
        persist_marts(con, db)
    con.close()
    base.close()  # a database file: its last checkpoint
    timings["persist_seconds"] = time.perf_counter() - start
    timings["total_seconds"] = timings["load_seconds"] + timings["marts_seconds"] + timings["persist_seconds"]
    print("BASELINE=" + json.dumps({
        **{k: round(v, 2) for k, v in timings.items()},
        "settings": {"database": args.database, "threads": args.threads, "workers": args.workers,
                     "model_workers": args.model_workers, "raw_format": args.raw_format,
                     "memory_limit": args.memory_limit or "default"},
        "rows_loaded": {e: s["rows"] for e, s in loaded.items()},
        "load_detail": loaded, "table_rows": rows, "slowest_models": dict(list(model_seconds.items())[:8])},
        ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
