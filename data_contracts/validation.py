"""The row rules of an entity's contract, applied to rows as read (all values text).

:func:`validate_batch` splits rows into typed good rows and failure records (:data:`FAILURE_SCHEMA`):
values that do not parse, required values missing, dates after the export date, unknown references,
control characters in strict columns, the Pandera schema (ranges, enums, cross-field rules) and
keys repeated within a file. :func:`check_columns` fails a file missing required columns (saying what
it accepts and what it found); :func:`displayable` makes failure records safe to keep in the quarantine.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.contract import Column, Contract, contracts
from data_contracts.landing import LandingFile
from data_contracts.parsing import CONTROL_CHARACTERS, CONTROL_PATTERN
from data_contracts.privacy import mask_value, scrub
from data_contracts.readers import FileProblem


#: headers a missing-column message lists at most (a wide file's header row would bury the message)
HEADERS_SHOWN = 12


def check_columns(contract: Contract, f: LandingFile, header: list[str], mapping: dict[str, str]) -> None:
    """Missing required columns fail the file. The message lists the accepted spellings of each missing
    column, the headers the file has (the first :data:`HEADERS_SHOWN`) and which entity the file looks
    like instead, if any."""
    missing = [c for c in contract.required if c not in mapping.values()]
    if not missing:
        return
    hint = ""
    for other in contracts().values():
        if other.entity != contract.entity and set(other.required) <= set(other.map_headers(header)[0].values()):
            hint = f"; its columns match a {other.entity} export: is it in the wrong place?"
            break
    spellings = {name: ", ".join(dict.fromkeys((name, *contract.column(name).aliases))) for name in missing}
    accepted = (spellings[missing[0]] if len(missing) == 1
                else "; ".join(f"{name}: {spelled}" for name, spelled in spellings.items()))
    shown = ", ".join(shown_header(h) for h in header[:HEADERS_SHOWN]) or "none"
    more = f" and {len(header) - HEADERS_SHOWN} more" if len(header) > HEADERS_SHOWN else ""
    raise FileProblem(f.relative, "missing_column",
                      f"{f.relative}: missing required column(s) {', '.join(missing)} for {contract.entity} "
                      f"(accepted: {accepted}); the file's headers: {shown}{more}{hint}")


def shown_header(header: str, width: int = 40) -> str:
    """A header as a message shows it: one line (line breaks and control characters escaped),
    contacts masked (a file without a header row has data there), long ones cut, a blank one quoted."""
    text = scrub("".join(f"\\x{ord(c):02x}" if c in _UNPRINTABLE else c for c in str(header)))
    text = text if len(text) <= width else text[:width - 1] + "…"
    return text if text.strip() else repr(text)


_UNPRINTABLE = frozenset([*CONTROL_CHARACTERS, "\t", "\n", "\r"])


FAILURE_SCHEMA = pl.Schema({"row_number": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "original_value": pl.Utf8,
                            "_file": pl.Int64})


def validate_batch(contract: Contract, raw: pl.DataFrame, seen_keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows (the contract's columns as read, ``_row_number``, ``_file``, ``_export_date``) into
    typed good rows and failure records (row, column, rule, original value, ``_file``)."""
    raw = raw.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    blanked = raw.select([Column.blank(pl.col(c.name)).alias(c.name) for c in contract.columns])  # values.yml
    parsed = blanked.select([c.parse(pl.col(c.name), blanked=True).cast(c.dtype).alias(c.name)
                             for c in contract.columns]).with_columns(raw["_pos"], raw["_file"])
    export_day = raw["_export_date"].dt.offset_by("1d")  # a value on or after the next day is too late
    export_end = export_day.cast(pl.Datetime("us"))

    failures: list[pl.DataFrame] = []

    def add(column: str, rule: str, mask: pl.Series) -> None:
        if mask.any():
            failures.append(pl.DataFrame({
                "_pos": raw["_pos"].filter(mask), "column": column, "rule": rule,
                "original_value": raw[column].filter(mask),
            }, schema_overrides={"column": pl.Utf8, "rule": pl.Utf8}))

    cleaned_present = blanked.select(pl.all().is_not_null())
    strict = contract.strict_columns
    for col in contract.columns:
        present = cleaned_present[col.name]
        if col.name in strict:  # in free text control characters are stripped (parsing.clean_text)
            add(col.name, "control_characters", raw[col.name].str.contains(CONTROL_PATTERN).fill_null(False))
        if col.type != "str":
            add(col.name, "allowed_values" if col.type == "enum" else f"parse_{col.type}",
                present & parsed[col.name].is_null())
        if col.required:
            add(col.name, "required", ~present)
        if col.not_after_export:
            after = parsed[col.name] >= (export_day if col.type == "date" else export_end)
            add(col.name, "not_after_export_date", after.fill_null(False))
        if col.references is not None:
            known = parsed.select(col.references.normalise(pl.col(col.name)).is_in(col.references.values)).to_series()
            add(col.name, f"unknown_{col.name}", parsed[col.name].is_not_null() & ~known)

    bad = pl.concat([fr["_pos"] for fr in failures]) if failures else pl.Series("_pos", [], pl.Int64)
    candidates = parsed.filter(~pl.col("_pos").is_in(bad.implode()))
    schema_failures = _pandera_failures(contract, candidates.drop("_pos", "_file"), candidates["_pos"], raw)
    if schema_failures.height:
        failures.append(schema_failures)
        candidates = candidates.filter(~pl.col("_pos").is_in(schema_failures["_pos"].implode()))

    # a key seen before in the same file (earlier in this batch or in an earlier batch) is a duplicate
    keys = candidates.select(pl.col("_file"), *(pl.col(k).cast(pl.Utf8) for k in contract.key))
    duplicate = ~keys.select(pl.struct(keys.columns).is_first_distinct()).to_series()
    if seen_keys.height:
        seen = seen_keys.unique().with_columns(pl.lit(True).alias("_seen"))
        duplicate = duplicate | keys.join(seen, on=keys.columns, how="left", nulls_equal=True,
                                          maintain_order="left")["_seen"].fill_null(False)
    if duplicate.any():
        failures.append(pl.DataFrame({
            "_pos": candidates["_pos"].filter(duplicate), "column": ",".join(contract.key), "rule": "key_unique_in_file",
            "original_value": keys.filter(duplicate).select(
                pl.concat_str(list(contract.key), separator="|")).to_series(),
        }))
        candidates = candidates.filter(~duplicate)

    failure_frame = (pl.concat(failures, how="vertical_relaxed") if failures
                     else pl.DataFrame(schema={"_pos": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8,
                                               "original_value": pl.Utf8}))
    failure_frame = failure_frame.join(raw.select("_pos", pl.col("_row_number").alias("row_number"), "_file"),
                                       on="_pos", how="left", maintain_order="left")
    good = candidates.join(raw.select("_pos", "_row_number", "_export_date"), on="_pos", how="left",
                           maintain_order="left").drop("_pos")
    return good, failure_frame.select(FAILURE_SCHEMA.names()).cast(dict(FAILURE_SCHEMA))


def displayable(contract: Contract, failures: pl.DataFrame) -> pl.DataFrame:
    """Failure records whose original values are safe to keep: control characters shown escaped,
    personal data masked (pii columns) or scrubbed (anything looking like a phone or e-mail)."""
    pii = {c.name for c in contract.columns if c.pii}
    failures = failures.with_columns(pl.col("original_value").cast(pl.Utf8).str.replace_many(
        CONTROL_CHARACTERS, [f"\\x{ord(c):02x}" for c in CONTROL_CHARACTERS]))  # shown, never raw
    return failures.with_columns(
        pl.when(pl.col("column").is_in(list(pii)))
        .then(pl.col("original_value").map_elements(mask_value, return_dtype=pl.Utf8))
        .otherwise(pl.col("original_value").map_elements(scrub, return_dtype=pl.Utf8)).alias("original_value"))


def _pandera_failures(contract: Contract, frame: pl.DataFrame, positions: pl.Series, raw: pl.DataFrame) -> pl.DataFrame:
    """Rows breaking the Pandera schema (ranges, enums, cross-field rules) as failure records;
    ``positions``: each row's ``_pos`` (its row in ``raw``, the values as read)."""
    empty = pl.DataFrame(schema={"_pos": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "original_value": pl.Utf8})
    if frame.height == 0:
        return empty
    try:
        contract.pandera_schema.validate(frame, lazy=True)
        return empty
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    rules = {r.name: r for r in contract.rules}
    cases = cases.filter(pl.col("index").is_not_null())
    if cases.height == 0:
        raise FileProblem("", "schema", f"{contract.entity}: schema error without row: {err.failure_cases}")
    records = []
    for case in cases.iter_rows(named=True):
        pos = positions[case["index"]]
        check = _rule_name(contract, case)
        column = rules[check].column if check in rules else (case["column"] or "")
        if check == "not_nullable":
            check = "required"
        original = raw[column][pos] if column in raw.columns else None
        if check in rules:
            rule = rules[check]
            original = f"{rule.column}={raw[rule.column][pos]}; {rule.gte}={raw[rule.gte][pos]}"
        records.append({"_pos": pos, "column": column, "rule": check, "original_value": original})
    return pl.DataFrame(records, schema=empty.schema)


def _rule_name(contract: Contract, case: dict) -> str:
    """The contract's rule name of a Pandera failure case (Pandera reports a check's error text, e.g.
    ``greater_than_or_equal_to(0)``, so map it back through the check's position)."""
    check, number = str(case["check"]), case.get("check_number")
    if number is not None and number >= 0:
        if case.get("schema_context") == "DataFrameSchema" and number < len(contract.rules):
            return contract.rules[number].name
        column = contract.pandera_schema.columns.get(case.get("column") or "")
        if case.get("schema_context") == "Column" and column is not None and number < len(column.checks):
            return column.checks[number].name or check
    return check

