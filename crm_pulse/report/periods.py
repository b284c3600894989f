"""Analysis periods: the last complete month or quarter on or before the analysis date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

KINDS = ("month", "quarter")


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def containing(cls, day: dt.date, kind: str) -> "Period":
        if kind not in KINDS:
            raise ValueError(f"report period must be one of {', '.join(KINDS)}, got {kind!r}")
        first_month = day.month if kind == "month" else (day.month - 1) // 3 * 3 + 1
        start = dt.date(day.year, first_month, 1)
        return cls(kind, start, _add_months(start, cls.length(kind)) - dt.timedelta(days=1))

    @staticmethod
    def length(kind: str) -> int:
        return 1 if kind == "month" else 3

    def shifted(self, periods: int) -> "Period":
        return Period.containing(_add_months(self.start, periods * self.length(self.kind)), self.kind)

    def previous(self) -> "Period":
        return self.shifted(-1)

    def last_year(self) -> "Period":
        return self.shifted(-12 // self.length(self.kind))

    @property
    def months(self) -> list[dt.date]:
        return [_add_months(self.start, i) for i in range(self.length(self.kind))]

    def label(self, lang: str) -> str:
        if self.kind == "quarter":
            q = (self.start.month - 1) // 3 + 1
            return f"{self.start.year}年第{q}季度" if lang == "zh" else f"{self.start.year} Q{q}"
        return f"{self.start.year}年{self.start.month}月" if lang == "zh" else self.start.strftime("%b %Y")

    @property
    def slug(self) -> str:
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return self.start.strftime("%Y-%m")


def analysis_period(as_of: dt.date, kind: str) -> Period:
    """The period ending on ``as_of`` if it is a period's last day, else the last complete one before."""
    current = Period.containing(as_of, kind)
    return current if current.end == as_of else current.previous()


def month_label(day: dt.date, lang: str) -> str:
    return f"{day.year}-{day.month:02d}" if lang == "zh" else day.strftime("%b %y")
