"""Print the HTML report to PDF with headless Chromium (when one is installed)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from data_contracts.files import replacing


class PdfError(RuntimeError):
    pass


def print_pdf(html: Path, pdf: Path, chromium: str, timeout: float = 120) -> Path:
    """``chromium --headless --print-to-pdf``; written beside the target and renamed (atomic)."""
    with replacing(pdf) as tmp, tempfile.TemporaryDirectory(prefix="crm-pulse-chromium-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
            f"--print-to-pdf={tmp}",
            Path(html).resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{chromium} did not finish printing {html} within {timeout:.0f} s") from None
        except OSError as exc:
            raise PdfError(f"cannot start {chromium}: {exc}") from None
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PdfError(f"{chromium} failed to print {html} (exit {proc.returncode}): {detail[0]}")
    return pdf
