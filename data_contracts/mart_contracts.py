"""Mart contracts: one YAML expectation suite per published mart in ``data_contracts/marts/``.

A suite holds Great Expectations (1.x) expectations, run on a pandas frame of the mart, and SQL
checks, run inside DuckDB against the working database (for invariants across tables, and for
big facts that should not be pulled into pandas). Each item has a ``severity``: ``error`` blocks
the publish, ``warn`` is reported only. Its ``reason`` says why the rule exists.

File layout (see README "Data contracts")::

    mart: customer_rfm
    description: ...
    expectations:               # Great Expectations, on pandas (only the columns they use are read)
      - expect: expect_column_values_to_be_between
        kwargs: {column: r_score, min_value: 1, max_value: 5}
        severity: error
        reason: quintile scores
    sql_checks:                 # DuckDB, schema ``marts``; the query returns the failing rows
      - name: customers_in_dim_customers
        sql: select customer_id from marts.customer_rfm where customer_id not in (...)
        severity: error
        reason: every scored customer is a known customer

One home per rule: keys, never-null columns and accepted values are dbt tests on the model
(``column_rules`` in dbt_project/models/marts/_models.yml, relationships beside them); a suite holds
what dbt's tests do not express (ranges, distributions, masks, cross-mart reconciliations), and a
suite that repeats a dbt rule is refused (:data:`DBT_RULES`).

GX runs offline and quietly: an ephemeral context, analytics and progress bars off, no Data Docs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from data_contracts.privacy import scrub

MARTS_DIR = Path(__file__).parent / "marts"
SEVERITIES = ("error", "warn")


@dataclass(frozen=True)
class Expectation:
    """One GX expectation of a suite."""

    expect: str  # snake_case GX expectation type, e.g. expect_column_values_to_not_be_null
    kwargs: dict
    severity: str = "error"
    reason: str = ""

    @property
    def name(self) -> str:
        target = self.kwargs.get("column") or self.kwargs.get("column_list") or ""
        if isinstance(target, list):
            target = ",".join(target)
        return f"{self.expect}({target})" if target else self.expect

    @property
    def columns(self) -> set[str]:
        cols = set()
        for key in ("column", "column_A", "column_B"):
            if self.kwargs.get(key):
                cols.add(self.kwargs[key])
        for key in ("column_list", "column_set"):
            cols.update(self.kwargs.get(key) or ())
        return cols


@dataclass(frozen=True)
class SqlCheck:
    """A query returning the rows that break an invariant (zero rows = pass)."""

    name: str
    sql: str
    severity: str = "error"
    reason: str = ""


@dataclass(frozen=True)
class MartSuite:
    mart: str
    description: str
    expectations: tuple[Expectation, ...] = ()
    sql_checks: tuple[SqlCheck, ...] = ()
    path: Path | None = None

    @property
    def columns(self) -> list[str]:
        """Columns the GX expectations need (``[]`` = the frame is not read at all)."""
        return sorted(set().union(*(e.columns for e in self.expectations))) if self.expectations else []

    @property
    def needs_frame(self) -> bool:
        return bool(self.expectations)


@dataclass(frozen=True)
class Outcome:
    """Result of one expectation or SQL check."""

    mart: str
    name: str
    kind: str  # gx | sql
    severity: str
    success: bool
    failing_count: int
    observed: str = ""
    reason: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "severity": self.severity, "success": self.success,
                "failing_count": self.failing_count, "observed": self.observed}


@dataclass
class SuiteResult:
    mart: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.failed if o.severity == "error"]

    @property
    def failing_count(self) -> int:
        return sum(o.failing_count for o in self.failed)

    def summary(self) -> str:
        if not self.failed:
            return f"{self.mart}: all {len(self.outcomes)} expectations passed"
        return f"{self.mart}: " + "; ".join(f"{o.name} [{o.severity}] failing {o.failing_count} ({o.observed})"
                                           for o in self.failed)


#: expectations that are dbt tests on the model (column_rules), never mart-contract items
DBT_RULES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_unique",
             "expect_column_values_to_be_in_set")


def _check_severity(value: str, where: str) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"{where}: severity must be one of {', '.join(SEVERITIES)}, got {value!r}")
    return value


def load_suite(path: Path) -> MartSuite:
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if "mart" not in spec:
        raise ValueError(f"{path}: missing 'mart'")
    expectations = []
    for i, item in enumerate(spec.get("expectations") or (), start=1):
        where = f"{path}: expectation {i}"
        if not str(item.get("expect", "")).startswith("expect_"):
            raise ValueError(f"{where}: 'expect' must name a GX expectation (expect_...)")
        if item["expect"] in DBT_RULES:
            raise ValueError(f"{where}: {item['expect']} is a dbt test: put the column in the model's column_rules "
                             "(not_null, unique or accepted_values) in dbt_project/models/marts/_models.yml")
        expectations.append(Expectation(item["expect"], dict(item.get("kwargs") or {}),
                                        _check_severity(item.get("severity", "error"), where),
                                        item.get("reason", "")))
    sql_checks = []
    for i, item in enumerate(spec.get("sql_checks") or (), start=1):
        where = f"{path}: sql check {i}"
        if not item.get("name") or not item.get("sql"):
            raise ValueError(f"{where}: needs 'name' and 'sql'")
        sql_checks.append(SqlCheck(item["name"], item["sql"], _check_severity(item.get("severity", "error"), where),
                                   item.get("reason", "")))
    return MartSuite(spec["mart"], spec.get("description", ""), tuple(expectations), tuple(sql_checks), Path(path))


def load_suites(directory: Path | None = None) -> dict[str, MartSuite]:
    """All suites by mart name."""
    directory = Path(directory or MARTS_DIR)
    suites = [load_suite(p) for p in sorted(directory.glob("*.yml"))]
    return {s.mart: s for s in suites}


# --- Great Expectations --------------------------------------------------------------------------

def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


@functools.cache
def _gx():
    """Import GX offline and quietly (analytics off before the import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # quiet: GX imports optional integrations such as pyspark, which warn and print when installed
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _main_with_file():
        warnings.simplefilter("ignore")
        import great_expectations as gx

    return gx


@contextlib.contextmanager
def _main_with_file():
    """GX imports pyspark's Spark Connect module when pyspark is installed; that module calls
    ``sys.exit(0)`` ("Skipping doctests") when ``__main__`` has neither ``__spec__`` nor
    ``__file__``, as in forkserver step processes, ``python -c`` and pytest-xdist workers. Give
    ``__main__`` a placeholder ``__file__`` for the import so pyspark runs its normal checks."""
    main = sys.modules.get("__main__")
    patch = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if patch:
        main.__file__ = "<crm-pulse>"
    try:
        yield
    finally:
        if patch:
            del main.__file__


def _gx_class(expect: str, where: str = ""):
    cls = getattr(_gx().expectations, _camel(expect), None)
    if cls is None:
        raise ValueError(f"{where}: unknown GX expectation {expect!r}")
    return cls


@functools.cache
def _context():
    """One ephemeral GX context per process: in memory, no analytics, no progress bars, no Data Docs."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={},
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.data_sources.add_pandas("marts")
    return context


def _observed(result: dict) -> str:
    if result.get("partial_missing_list"):
        text = "missing " + ", ".join(str(v) for v in result["partial_missing_list"][:10])
    elif result.get("observed_value") is not None:
        text = str(result["observed_value"])
    elif result.get("partial_unexpected_list"):
        text = "e.g. " + ", ".join(str(v) for v in result["partial_unexpected_list"][:5])
    else:
        text = ""
    return scrub(text)[:300]


def validate_frame(suite: MartSuite, frame) -> list[Outcome]:
    """Run the suite's GX expectations on a pandas frame of the mart."""
    if not suite.expectations:
        return []
    context = _context()
    source = context.data_sources.get("marts")
    name = re.sub(r"\W", "_", suite.mart)
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name=name)
    try:
        definition = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    # the whole suite in one validation: GX computes the metrics the expectations share once
    # (results come back in no fixed order: each carries its expectation's index in ``meta``)
    gx_suite = _gx().ExpectationSuite(name=name, expectations=[
        _gx_class(e.expect)(**e.kwargs, meta={"index": i}) for i, e in enumerate(suite.expectations)])
    results = {r.expectation_config.meta["index"]: r
               for r in batch.validate(gx_suite, result_format="SUMMARY").results}
    outcomes = []
    for index, expectation in enumerate(suite.expectations):
        result = results[index]
        details = result.result or {}
        failing = 0
        if not result.success:
            failing = int(details.get("unexpected_count") or 0) if "unexpected_count" in details else 1
            if "partial_missing_list" in details:  # set expectations: expected values that are absent
                failing += int(details.get("missing_count") or 0)
            if result.exception_info and result.exception_info.get("raised_exception"):
                message = str(result.exception_info.get("exception_message", ""))
                details = {"observed_value": f"error: {message}"}
                failing = max(failing, 1)
        outcomes.append(Outcome(suite.mart, expectation.name, "gx", expectation.severity, bool(result.success),
                                failing, _observed(details), expectation.reason))
    return outcomes


def run_sql_checks(suite: MartSuite, con) -> list[Outcome]:
    """Run the suite's SQL checks on a DuckDB connection to the working database."""
    outcomes = []
    for check in suite.sql_checks:
        try:
            failing = con.execute(f"select count(*) from ({check.sql}) as failing_rows").fetchone()[0]
            sample = con.execute(f"select * from ({check.sql}) as failing_rows limit 3").fetchall() if failing else []
            observed = "e.g. " + "; ".join(str(tuple(r)) for r in sample) if sample else ""
        except Exception as err:  # a broken query is a failed check, not a crash of the run
            failing, observed = 1, f"error: {str(err).splitlines()[0]}"
        outcomes.append(Outcome(suite.mart, check.name, "sql", check.severity, failing == 0, int(failing),
                                scrub(observed)[:300], check.reason))
    return outcomes


def validate_mart(suite: MartSuite, con, schema: str = "marts") -> SuiteResult:
    """Everything in one suite: GX on a pandas frame (only the needed columns), SQL in DuckDB."""
    result = SuiteResult(suite.mart)
    if suite.needs_frame:
        try:
            existing = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, suite.mart]).fetchall()}
        except Exception:
            existing = set()
        if not existing:
            result.outcomes.append(Outcome(suite.mart, "table_exists", "gx", "error", False, 1,
                                           f"{schema}.{suite.mart} not found in the working database"))
            return result
        missing = [c for c in suite.columns if c not in existing]
        for column in missing:
            result.outcomes.append(Outcome(suite.mart, f"column_exists({column})", "gx", "error", False, 1,
                                           f"column {column} not in {schema}.{suite.mart}"))
        cols = [c for c in suite.columns if c in existing] or ["1 as _row"]
        select = ", ".join(f'"{c}"' if c != "1 as _row" else c for c in cols)
        frame = con.execute(f'select {select} from {schema}."{suite.mart}"').df()
        runnable = MartSuite(suite.mart, suite.description,
                             tuple(e for e in suite.expectations if not (e.columns & set(missing))))
        result.outcomes += validate_frame(runnable, frame)
    result.outcomes += run_sql_checks(suite, con)
    return result
