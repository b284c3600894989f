"""Report options from the environment (documented in the README, section "Report")."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from crm_pulse.config.env import Problems, choice, text
from crm_pulse.config.settings import Settings

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PERIOD, PERIODS = "CRM_PULSE_REPORT_PERIOD", ("month", "quarter")
PDF, PDF_MODES = "CRM_PULSE_REPORT_PDF", ("auto", "on", "off")


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
        """The options of ``environ`` (default ``os.environ``); ``period`` and ``pdf``, when given, replace
        their variable (the CLI's --period / --pdf), ``lang`` replaces the pipeline's language."""
        env = os.environ if environ is None else environ
        period = choice({PERIOD: period} if period else env, PERIOD, PERIODS, "quarter")
        lang = (lang or settings.lang).strip().lower()
        if lang not in ("en", "zh"):
            raise ValueError(f"report language must be 'en' or 'zh', got {lang!r}")
        pdf = choice({PDF: pdf} if pdf else env, PDF, PDF_MODES, "auto")
        return cls(period=period, lang=lang, pdf=pdf, chromium=find_chromium(env))


def check_report_options(environ=None) -> list[str]:
    """One line per bad report option in the environment (the CLI checks them before any work)."""
    env = os.environ if environ is None else environ
    problems = Problems()
    problems.take(choice, env, PERIOD, PERIODS, "quarter")
    problems.take(choice, env, PDF, PDF_MODES, "auto")
    configured = text(env, "CRM_PULSE_CHROMIUM")
    if configured and not find_chromium(env):
        problems.append(f"CRM_PULSE_CHROMIUM must be the path or command name of a Chromium or Chrome "
                        f"executable, got {configured!r} (not found)")
    return list(problems)


def find_chromium(environ=None) -> str | None:
    env = os.environ if environ is None else environ
    configured = text(env, "CRM_PULSE_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
