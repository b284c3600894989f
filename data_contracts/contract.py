"""Source contracts: one YAML file per entity in ``data_contracts/sources/``.

A contract names the canonical columns of an export, their types, which are required, the header
aliases users' systems write (English and Chinese), enum spellings, ranges and cross-field rules.
This module only turns that declarative data into objects, polars casts and a Pandera schema.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl
import yaml

from data_contracts import parsing
from data_contracts.seeds import SEEDS_DIR, seed_rows

SOURCES_DIR = Path(__file__).parent / "sources"
VALUES_FILE = Path(__file__).parent / "values.yml"  # blank markers shared by every contract

#: polars dtype of each contract type, as landed in the raw layer.
DTYPES: dict[str, pl.DataType] = {
    "str": pl.Utf8(),
    "enum": pl.Utf8(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "money": pl.Decimal(18, 2),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
}


@functools.cache
def blank_markers() -> tuple[str, ...]:
    """Spellings read as empty in every column before parsing (``values.yml``: ``blank_markers``)."""
    return tuple(str(m) for m in yaml.safe_load(VALUES_FILE.read_text(encoding="utf-8"))["blank_markers"])


@dataclass(frozen=True)
class Reference:
    """Allowed values of a column: one column of a dbt seed (``dbt_project/seeds/<seed>.csv``)."""

    seed: str
    column: str
    case: str | None = None  # 'upper': compared upper-cased, as staging upper-cases the column

    def __post_init__(self):
        if self.case not in (None, "upper"):
            raise ValueError(f"references {self.seed}.{self.column}: case must be 'upper' or absent, got {self.case!r}")

    def normalise(self, expr: pl.Expr) -> pl.Expr:
        return expr.str.to_uppercase() if self.case == "upper" else expr

    @functools.cached_property
    def values(self) -> list[str]:
        raw = [row[self.column].strip() for row in seed_rows(self.seed, SEEDS_DIR) if row.get(self.column)]
        return sorted({v.upper() if self.case == "upper" else v for v in raw})


@dataclass(frozen=True)
class Column:
    """One canonical column of a source entity."""

    name: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)  # spelling (lower) -> canonical (enum; str: normalised)
    min: float | None = None
    max: float | None = None
    not_after_export: bool = False
    pii: str | None = None  # 'phone' | 'email': landed only as <name>_masked / <name>_hash (privacy.py)
    references: Reference | None = None  # a value outside the seed column is quarantined (unknown_<name>)
    description: str = ""

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.type]

    @staticmethod
    def blank(expr: pl.Expr) -> pl.Expr:
        """The cleaned raw string, null when empty or a blank marker (:func:`blank_markers`)."""
        return parsing.blank_to_null(expr, blank_markers())

    def parse(self, expr: pl.Expr, blanked: bool = False) -> pl.Expr:
        """Expression turning the raw export string into this column's type (null if empty, a blank
        marker or unparseable); ``blanked``: ``expr`` is already :meth:`blank`'s output."""
        expr = expr if blanked else self.blank(expr)
        if self.type == "enum":
            return parsing.parse_enum(expr, self.values)
        if self.type == "str" and self.values:  # spellings -> canonical value; other values kept as written
            return pl.coalesce(parsing.parse_enum(expr, self.values), expr)
        parser = {
            "str": parsing.clean_text,
            "date": parsing.parse_date,
            "datetime": parsing.parse_datetime,
            "money": parsing.parse_money,
            "int": parsing.parse_int,
            "float": parsing.parse_float,
            "bool": parsing.parse_bool,
        }[self.type]
        return parser(expr)


@dataclass(frozen=True)
class Rule:
    """Cross-field rule: ``column >= gte`` whenever both are present."""

    name: str
    column: str
    gte: str


@dataclass(frozen=True)
class Contract:
    """The contract of one source entity."""

    entity: str
    source: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = ()
    fingerprint: str = ""  # of the contract file, values.yml and referenced seeds: see ingest.raw_version

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def strict_columns(self) -> list[str]:
        """Identifiers (key and ``*_id`` columns) and typed (non-``str``) columns: a control character
        there could change what the value means, so it quarantines the row (``control_characters``).
        In free text it is stripped (:func:`parsing.clean_text`)."""
        return [c.name for c in self.columns if c.name in self.key or c.name.endswith("_id") or c.type != "str"]

    @functools.cached_property
    def header_lookup(self) -> dict[str, str]:
        """Normalised header spelling -> canonical column name."""
        lookup: dict[str, str] = {}
        for col in self.columns:
            for spelling in (col.name, *col.aliases):
                lookup[normalise_header(spelling)] = col.name
        return lookup

    def map_headers(self, headers: list[str]) -> tuple[dict[str, str], list[str]]:
        """Map file headers onto canonical names.

        Returns ``(mapping original -> canonical, unknown headers)``. When two headers map onto the
        same canonical column the first one wins and the other is reported as unknown.
        """
        mapping: dict[str, str] = {}
        unknown: list[str] = []
        for header in headers:
            canonical = self.header_lookup.get(normalise_header(header))
            if canonical is None or canonical in mapping.values():
                unknown.append(header)
            else:
                mapping[header] = canonical
        return mapping, unknown

    def arrow_schema(self):
        """Schema of the raw-layer Parquet files (contract columns plus lineage)."""
        columns = {}
        for c in self.columns:  # a pii column is landed masked and keyed-hashed, never raw
            columns.update({f"{c.name}_masked": pl.Utf8(), f"{c.name}_hash": pl.Utf8()} if c.pii
                           else {c.name: c.dtype})
        return pl.Schema({**columns, **LINEAGE_COLUMNS})

    @functools.cached_property
    def pandera_schema(self) -> pa.DataFrameSchema:
        """Pandera schema of a parsed frame: types, required values, ranges and cross-field rules."""
        columns = {}
        for col in self.columns:
            checks = []
            if col.min is not None:
                checks.append(pa.Check.ge(col.min, name=f"{col.name}_min_{_fmt(col.min)}"))
            if col.max is not None:
                checks.append(pa.Check.le(col.max, name=f"{col.name}_max_{_fmt(col.max)}"))
            columns[col.name] = pa.Column(col.dtype, checks=checks, nullable=not col.required,
                                          required=True, description=col.description)
        frame_checks = [_rule_check(rule) for rule in self.rules]
        return pa.DataFrameSchema(columns, checks=frame_checks, strict=False, coerce=False,
                                  name=f"{self.source}.{self.entity}")


#: lineage columns every raw-layer row carries.
LINEAGE_COLUMNS: dict[str, pl.DataType] = {
    "_source_file": pl.Utf8(),
    "_export_date": pl.Date(),
    "_row_number": pl.Int64(),
    "_load_id": pl.Utf8(),
    "_loaded_at": pl.Datetime("us"),
}


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _rule_check(rule: Rule) -> pa.Check:
    def check(data) -> pl.LazyFrame:
        left, right = pl.col(rule.column), pl.col(rule.gte)
        return data.lazyframe.select((left.is_null() | right.is_null() | (left >= right)).alias(rule.name))

    return pa.Check(check, name=rule.name, error=f"{rule.column} must not be before {rule.gte}")


_CONTROL = frozenset(parsing.CONTROL_CHARACTERS)


def normalise_header(text: str) -> str:
    """Header comparison form: full-width folded, control characters dropped, trimmed, lower case,
    spaces/underscores unified."""
    folded = "".join(chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ch for ch in str(text)
                     if ch not in _CONTROL)
    return " ".join(folded.replace("\ufeff", "").replace("_", " ").strip().lower().split())


def _column(name: str, spec: dict) -> Column:
    values: dict[str, str] = {}
    for canonical, spellings in (spec.get("values") or {}).items():
        for spelling in (canonical, *spellings):
            values[str(spelling).strip().lower()] = canonical
    return Column(
        name=name,
        type=spec["type"],
        required=bool(spec.get("required", False)),
        aliases=tuple(str(a) for a in spec.get("aliases", ())),
        values=values,
        min=spec.get("min"),
        max=spec.get("max"),
        not_after_export=bool(spec.get("not_after_export", False)),
        pii=_pii_kind(name, spec.get("pii")),
        references=Reference(**spec["references"]) if spec.get("references") else None,
        description=spec.get("description", ""),
    )


def _pii_kind(name: str, value) -> str | None:
    if value in (None, False):
        return None
    if value not in ("phone", "email"):
        raise ValueError(f"column {name}: pii must be 'phone' or 'email', got {value!r}")
    return value


def _fingerprint(path: Path, columns: tuple[Column, ...]) -> str:
    """What decides which rows of an export land and how: the contract file, the shared value
    conventions and the seeds its columns reference (a change re-ingests the entity's exports)."""
    digest = hashlib.sha256()
    seeds = sorted({SEEDS_DIR / f"{c.references.seed}.csv" for c in columns if c.references})
    for part in (path, VALUES_FILE, *seeds):
        digest.update(part.read_bytes())
    return digest.hexdigest()[:12]


def load_contract(path: Path) -> Contract:
    """Read one contract YAML file."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown_types = {c["type"] for c in spec["columns"].values()} - set(DTYPES)
    if unknown_types:
        raise ValueError(f"{path}: unknown column types {sorted(unknown_types)}")
    columns = tuple(_column(name, col) for name, col in spec["columns"].items())
    return Contract(
        entity=spec["entity"],
        source=spec["source"],
        description=spec.get("description", ""),
        key=tuple(spec["key"]),
        columns=columns,
        rules=tuple(Rule(**rule) for rule in spec.get("rules", ())),
        fingerprint=_fingerprint(path, columns),
    )


@functools.cache
def contracts() -> dict[str, Contract]:
    """All source contracts by entity name, in a stable order."""
    loaded = [load_contract(p) for p in sorted(SOURCES_DIR.glob("*.yml"))]
    return {c.entity: c for c in sorted(loaded, key=lambda c: (c.source, c.entity))}
