"""The alert value object and its renderings (plain text, Markdown, JSON-ready dict)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

KINDS = ("check_failed", "run_failed", "source_stale")
SEVERITIES = ("error", "warning")
MAX_SAMPLES = 5  # samples shown in text/Markdown bodies
MAX_SAMPLE_CHARS = 300  # one sample longer than this is cut


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class Alert:
    """One thing that went wrong in a run, with enough context to act on it."""

    kind: str  # 'check_failed' | 'run_failed' | 'source_stale'
    title: str  # one line; newlines are folded into spaces
    severity: str = "error"  # 'error' | 'warning'
    asset: str | None = None
    check: str | None = None
    failing_count: int | None = None
    samples: list[str] = field(default_factory=list)  # sample failures / quarantine reasons
    run_id: str | None = None
    details_hint: str = "crm-pulse status"  # a command or a Dagster UI URL
    occurred_at: str = field(default_factory=_now_iso)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Alert.kind must be one of {KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert.severity must be one of {SEVERITIES}, got {self.severity!r}")
        self.title = " ".join(str(self.title).split())
        self.samples = [str(s) for s in self.samples]

    # --- renderings ------------------------------------------------------------------------
    def fields(self) -> list[tuple[str, str]]:
        """The (label, value) facts shown in every body, skipping unset ones."""
        facts = [("Kind", self.kind), ("Severity", self.severity.upper()), ("Asset", self.asset),
                 ("Check", self.check),
                 ("Failing count", None if self.failing_count is None else str(self.failing_count)),
                 ("Run ID", self.run_id), ("Occurred at", self.occurred_at)]
        return [(label, value) for label, value in facts if value not in (None, "")]

    def shown_samples(self) -> tuple[list[str], str | None]:
        """Up to MAX_SAMPLES one-line samples and their heading (None when there are none)."""
        shown = [_clip(" ".join(s.split()), MAX_SAMPLE_CHARS) for s in self.samples[:MAX_SAMPLES]]
        if not shown:
            return [], None
        extra = f" ({len(shown)} of {len(self.samples)})" if len(self.samples) > len(shown) else ""
        return shown, f"Samples{extra}"

    def as_text(self) -> str:
        """Concise plain-text body (email, Feishu, chat fallbacks)."""
        lines = [f"[{self.severity.upper()}] {self.title}"]
        lines += [f"{label}: {value}" for label, value in self.fields() if label != "Severity"]
        samples, heading = self.shown_samples()
        if heading:
            lines.append(f"{heading}:")
            lines += [f"  - {s}" for s in samples]
        lines.append(f"Look further: {self.details_hint}")
        return "\n".join(lines)

    def as_markdown(self) -> str:
        """Light Markdown body that DingTalk, WeCom and Slack-like renderers all accept."""
        lines = [f"### [{self.severity.upper()}] {self.title}", ""]
        lines += [f"- **{label}:** {value}" for label, value in self.fields() if label != "Severity"]
        samples, heading = self.shown_samples()
        if heading:
            lines += ["", f"**{heading}:**", ""]
            lines += [f"- {s}" for s in samples]
        lines += ["", f"Look further: {self.details_hint}"]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """All fields, JSON-serialisable (the generic webhook payload)."""
        return dataclasses.asdict(self)
