"""Business parameters (dbt vars): ``CRM_PULSE_DBT_VARS`` checked against dbt_project/vars_schema.yml.

Defaults are dbt_project.yml ``vars:``; the schema declares each var's type and range. A bad
override is refused with one line per problem before any work, so a value never reaches SQL
unchecked (string vars are also written as escaped literals by the ``sql_literal`` macro).
Python code that needs a business parameter reads it from :func:`business_vars`, the values the
dbt run sees.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crm_pulse.config.env import SettingsError
from data_contracts.seeds import seed_rows

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
VARIABLE = "CRM_PULSE_DBT_VARS"
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@lru_cache(maxsize=1)
def schema() -> dict[str, dict]:
    """var name -> rule (type, min, max, above, choices, ...), from dbt_project/vars_schema.yml."""
    return yaml.safe_load((DBT_PROJECT / "vars_schema.yml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def defaults() -> dict:
    """The dbt_project.yml ``vars:`` (SPEC's defaults)."""
    project = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text(encoding="utf-8"))
    return dict(project.get("vars") or {})


def business_vars(overrides: Mapping | None = None) -> dict:
    """Every business parameter as the dbt run sees it: the dbt_project.yml defaults, then ``overrides``
    (``Settings.dbt_vars``: the checked ``CRM_PULSE_DBT_VARS``)."""
    return {**defaults(), **(overrides or {})}


@lru_cache(maxsize=1)
def fx_rates() -> dict[str, float]:
    """currency -> rate_to_reporting, from the fx_rates seed (checks ``reporting_currency`` before dbt loads it)."""
    return {row["currency"].strip(): float(row["rate_to_reporting"]) for row in seed_rows("fx_rates")}


def parse_dbt_vars(raw: str) -> dict:
    """The overrides in ``raw`` (JSON object text); raises ``SettingsError`` listing every problem."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError([f"{VARIABLE} must be a JSON object like {{\"churn_days\": 120}}, got {raw!r} "
                             f"(invalid JSON: {exc.msg} at character {exc.pos})"]) from None
    if not isinstance(overrides, dict):
        raise SettingsError([f"{VARIABLE} must be a JSON object like {{\"churn_days\": 120}}, "
                             f"got a JSON {type(overrides).__name__}: {raw!r}"])
    problems = check_vars(overrides)
    if problems:
        raise SettingsError(problems)
    return overrides


def check_vars(overrides: dict) -> list[str]:
    """One line per override that is unknown, of the wrong type or out of range."""
    rules, problems = schema(), []
    merged = business_vars(overrides)
    for name, value in overrides.items():
        rule = rules.get(name)
        if rule is None:
            close = difflib.get_close_matches(str(name), list(rules), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{VARIABLE}: unknown var {name!r} ({hint}accepted: the vars of dbt_project/vars_schema.yml, "
                            "README \"Business parameters\")")
        elif rule.get("env"):
            problems.append(f"{VARIABLE}: {name} is set by {rule['env']}, not here (got {json.dumps(value)})")
        else:
            problem = check_value(value, rule, merged)
            if problem:
                problems.append(f"{VARIABLE}: {name} must be {problem}, got {json.dumps(value, ensure_ascii=False)}")
    bad = {p.split(" ")[1] for p in problems}
    for name, rule in rules.items():  # a default that an override of the var it must stay below breaks
        other = rule.get("below_var")
        if other in overrides and other not in bad and name not in overrides and check_value(merged.get(name), rule, merged):
            problems.append(f"{VARIABLE}: {other} must be above {name} ({merged.get(name)}), "
                            f"got {json.dumps(overrides[other])}")
    return problems


def check_value(value, rule: dict, merged: dict) -> str | None:
    """What ``value`` must be when it breaks ``rule`` (e.g. "a whole number >= 1"), else None."""
    kind = rule["type"]
    if kind in ("integer", "number"):
        return _check_number(value, rule, merged)
    if kind == "integer_list":
        if not isinstance(value, list) or not value or any(_check_number(v, {**rule, "type": "integer"}, merged)
                                                            for v in value) or value != sorted(set(value)):
            return f"a non-empty ascending list of whole numbers >= {rule.get('min', 0)}, like [1, 2, 3]"
        return None
    if kind == "choice":
        return None if value in rule["choices"] else "one of " + ", ".join(map(str, rule["choices"]))
    if kind == "currency":
        if not (isinstance(value, str) and _CURRENCY.match(value)):
            return "a 3-letter currency code like CNY"
        rates = fx_rates()
        if rates.get(value) != 1:  # orders in an empty or this currency take its rate: none = nothing publishes
            return (f"a currency whose row in dbt_project/seeds/fx_rates.csv has rate_to_reporting 1 (the seed's "
                    f"rates convert into the reporting currency; {value} has "
                    f"{'no row' if value not in rates else f'rate {rates[value]}'}: edit the seed for it)")
        return None
    if kind == "timezone":
        return None if isinstance(value, str) and _is_timezone(value) else "an IANA time zone like Asia/Shanghai"
    if kind == "date":
        return None if isinstance(value, str) and _is_date(value) else "a date like 2025-12-31"
    if kind == "text":
        limit = rule.get("max_length", 100)
        ok = isinstance(value, str) and value.strip() and len(value) <= limit and value.isprintable()
        return None if ok else f"a non-empty text of at most {limit} printable characters"
    raise ValueError(f"vars_schema.yml: unknown type {kind!r}")


def _check_number(value, rule: dict, merged: dict) -> str | None:
    whole = rule["type"] == "integer"
    if "min" in rule and "max" in rule:
        bounds = [f"from {rule['min']} to {rule['max']}"]
    else:
        bounds = [f">= {rule['min']}" if "min" in rule else "", f"> {rule['above']}" if "above" in rule else "",
                  f"<= {rule['max']}" if "max" in rule else ""]
    if "below_var" in rule:
        bounds.append(f"below {rule['below_var']} ({merged.get(rule['below_var'])})")
    expected = ("a whole number " if whole else "a number ") + " and ".join(b for b in bounds if b)
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        return expected
    other = merged.get(rule.get("below_var")) if "below_var" in rule else None
    if (("min" in rule and value < rule["min"]) or ("above" in rule and value <= rule["above"])
            or ("max" in rule and value > rule["max"])
            or (isinstance(other, (int, float)) and not isinstance(other, bool) and value >= other)):
        return expected
    return None


def _is_timezone(value: str) -> bool:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
