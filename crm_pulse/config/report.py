"""Report options from the environment (documented in the README, section "Report")."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from crm_pulse.config.settings import PROJECT_ROOT, Settings

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass(frozen=True)
class ReportOptions:
    period: str  # month | quarter
    lang: str  # en | zh
    pdf: str  # auto | on | off
    chromium: str | None  # browser used for the PDF; None = not found

    @classmethod
    def from_env(
        cls,
        settings: Settings,
        environ=None,
        period: str | None = None,
        lang: str | None = None,
        pdf: str | None = None,
    ) -> "ReportOptions":
        env = os.environ if environ is None else environ
        period = (period or env.get("CRM_PULSE_REPORT_PERIOD", "quarter")).strip().lower()
        if period not in ("month", "quarter"):
            raise ValueError(f"CRM_PULSE_REPORT_PERIOD must be 'month' or 'quarter', got {period!r}")
        lang = (lang or settings.lang).strip().lower()
        if lang not in ("en", "zh"):
            raise ValueError(f"report language must be 'en' or 'zh', got {lang!r}")
        pdf = (pdf or env.get("CRM_PULSE_REPORT_PDF", "auto")).strip().lower()
        if pdf not in ("auto", "on", "off"):
            raise ValueError(f"CRM_PULSE_REPORT_PDF must be 'auto', 'on' or 'off', got {pdf!r}")
        return cls(period=period, lang=lang, pdf=pdf, chromium=find_chromium(env))


def check_report_options(environ=None) -> list[str]:
    """One line per bad report option in the environment (the CLI checks them before any work)."""
    env = os.environ if environ is None else environ
    problems = []
    for name, choices, default in (("CRM_PULSE_REPORT_PERIOD", ("month", "quarter"), "quarter"),
                                   ("CRM_PULSE_REPORT_PDF", ("auto", "on", "off"), "auto")):
        raw = env.get(name, "")
        if (raw.strip().lower() or default) not in choices:
            problems.append(f"{name} must be {', '.join(repr(c) for c in choices[:-1])} or {choices[-1]!r}, got {raw!r}")
    configured = env.get("CRM_PULSE_CHROMIUM", "").strip()
    if configured and not find_chromium(env):
        problems.append(f"CRM_PULSE_CHROMIUM must be the path or command name of a Chromium or Chrome "
                        f"executable, got {configured!r} (not found)")
    return problems


def find_chromium(environ=None) -> str | None:
    env = os.environ if environ is None else environ
    configured = env.get("CRM_PULSE_CHROMIUM", "").strip()
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def dbt_var(settings: Settings, name: str, default=None):
    """A business parameter: CRM_PULSE_DBT_VARS override, else dbt_project.yml, else ``default``."""
    if name in settings.dbt_vars:
        return settings.dbt_vars[name]
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    return (project.get("vars") or {}).get(name, default)
