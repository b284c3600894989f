"""Source contracts: one YAML file per entity in ``data_contracts/sources/``.

A contract names the canonical columns of an export, their types, which are required, the header
aliases users' systems write (English and Chinese), enum spellings, ranges and cross-field rules.
This module only turns that declarative data into objects, polars casts and a Pandera schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl
import yaml

from data_contracts import parsing

SOURCES_DIR = Path(__file__).parent / "sources"

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


@dataclass(frozen=True)
class Column:
    """One canonical column of a source entity."""

    name: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)  # accepted spelling (lower) -> canonical
    min: float | None = None
    max: float | None = None
    not_after_export: bool = False
    pii: bool = False
    description: str = ""

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.type]

    def parse(self, expr: pl.Expr) -> pl.Expr:
        """Expression turning the raw export string into this column's type (null if unparseable)."""
        if self.type == "enum":
            return parsing.parse_enum(expr, self.values)
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

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

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
        return pl.Schema({**{c.name: c.dtype for c in self.columns}, **LINEAGE_COLUMNS})

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


def normalise_header(text: str) -> str:
    """Header comparison form: full-width folded, trimmed, lower case, spaces/underscores unified."""
    folded = "".join(chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ch for ch in str(text))
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
        pii=bool(spec.get("pii", False)),
        description=spec.get("description", ""),
    )


def load_contract(path: Path) -> Contract:
    """Read one contract YAML file."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown_types = {c["type"] for c in spec["columns"].values()} - set(DTYPES)
    if unknown_types:
        raise ValueError(f"{path}: unknown column types {sorted(unknown_types)}")
    return Contract(
        entity=spec["entity"],
        source=spec["source"],
        description=spec.get("description", ""),
        key=tuple(spec["key"]),
        columns=tuple(_column(name, col) for name, col in spec["columns"].items()),
        rules=tuple(Rule(**rule) for rule in spec.get("rules", ())),
    )


@functools.cache
def contracts() -> dict[str, Contract]:
    """All source contracts by entity name, in a stable order."""
    loaded = [load_contract(p) for p in sorted(SOURCES_DIR.glob("*.yml"))]
    return {c.entity: c for c in sorted(loaded, key=lambda c: (c.source, c.entity))}
