"""Reading ``CRM_PULSE_*`` environment variables: the parsers every settings object uses, and how
their problems are collected; :func:`temporary` sets variables for a block (dbt's, per invocation).

Each parser takes the environment (a mapping) and the variable's name, returns the typed value (the
default when the variable is unset or blank) and raises ``ValueError`` naming the variable, what it
accepts and the value it got. ``Problems`` collects those lines so that one check reports them all.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """Configuration problems; ``problems`` has one line each, naming the variable, the value and
    what is accepted. ``str()`` joins them with newlines."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Problems(list):
    """Collects configuration problems instead of stopping at the first."""

    def take(self, parse, *args, default=None):
        """``parse(*args)``, or ``default`` after recording its ``ValueError`` line(s)."""
        try:
            return parse(*args)
        except SettingsError as exc:
            self.extend(exc.problems)
        except ValueError as exc:
            self.extend(str(exc).splitlines() or [type(exc).__name__])
        return default

    def raise_any(self) -> None:
        if self:
            raise SettingsError(self)


def text(env: Mapping[str, str], name: str) -> str:
    """The variable's value without surrounding blanks; "" when unset."""
    return (env.get(name) or "").strip()


def path(value: str) -> Path:
    """An absolute path (``~`` expanded, relative to the working directory)."""
    return Path(value).expanduser().resolve()


def either(choices: tuple[str, ...]) -> str:
    """``'a', 'b' or 'c'``: the accepted values in an error message."""
    quoted = [repr(c) for c in choices]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str,
           accepted: str | None = None) -> str:
    """One of ``choices`` (compared in lower case); ``accepted`` words them in the error message
    (default: ``'a', 'b' or 'c'``)."""
    value = text(env, name).lower() or default
    if value not in choices:
        raise ValueError(f"{name} must be {accepted or either(choices)}, got {text(env, name)!r}")
    return value


def whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Digits only, from ``low`` to ``high``."""
    raw = text(env, name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def integer(env: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer (as Python reads one) of at least ``low`` and, when given, at most ``high``."""
    raw = text(env, name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if high is None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    if high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def hours(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of hours, not negative."""
    raw = text(env, name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of hours, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def time_of_day(env: Mapping[str, str], name: str, default: dt.time) -> dt.time:
    """``HH:MM`` (24 hours)."""
    raw = text(env, name)
    if not raw:
        return default
    match = _TIME.match(raw)
    if not match:
        raise ValueError(f"{name} must be a time of day like 05:00, got {raw!r}")
    return dt.time(int(match.group(1)), int(match.group(2)))


def date(env: Mapping[str, str], name: str) -> dt.date | None:
    """An ISO date, or None when unset."""
    raw = text(env, name)
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        raise ValueError(f"{name} must be an existing date like 2025-12-31, got {raw!r}") from None


def boolean(env: Mapping[str, str], name: str) -> bool:
    """true / false (also 1 / 0, yes / no, on / off); unset = false."""
    raw = text(env, name).lower()
    if raw not in _TRUE + _FALSE:
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE


@contextmanager
def temporary(values: Mapping[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``unset`` removed for the block, as it was after it."""
    saved = {name: os.environ.get(name) for name in (*unset, *values)}
    try:
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
