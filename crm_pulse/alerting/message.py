"""The alert value object and its renderings (plain text, Markdown, JSON-ready dict).

Values in an alert (titles, samples) can come from the exports (a customer or campaign name, a file
name), so the text and Markdown bodies escape every value for the format they are read in:
:func:`escape_markdown` for the Markdown robots, :func:`escape_chat_text` for chat text that
parses tags and links (Feishu). Only labels and the configured ``details_hint`` stay as written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Callable

from data_contracts.privacy import scrub

KINDS = ("check_failed", "run_failed", "source_stale")
SEVERITIES = ("error", "warning")
MAX_SAMPLES = 5  # samples shown in text/Markdown bodies
MAX_SAMPLE_CHARS = 300  # one sample longer than this is cut


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --- escaping of values for a channel's format ---------------------------------------------------
ZWSP = "\u200b"  # zero-width space: invisible, but no tag, link or URL survives one inside it
_TAG_OR_LINK = re.compile(r"<|\](?=\()")  # `<tag`, `<@user>`, `<at user_id=...>`; `[text](url)`
_BARE_URL = re.compile(r"(?i)(?<=:)(?=//)|(?<=\bwww)(?=\.)")  # `scheme://...`, `www.`
_MD_PUNCT = re.compile(r"[\\`*\[\]<>|~&]")  # Markdown markup characters (`_` below)
_MD_UNDERSCORES = re.compile(r"_+")
_MD_BLOCK_START = re.compile(r"^(?:[#+\-=]|\d+(?=[.)]))")  # a heading / list marker opening a line


def escape_chat_text(value: str) -> str:
    """Show ``value`` literally in chat text that parses ``<tags>``, ``[text](url)`` and bare URLs:
    a zero-width space after every ``<``, between ``]`` and ``(`` and inside ``://`` / ``www.``."""
    return _BARE_URL.sub(ZWSP, _TAG_OR_LINK.sub(lambda m: m.group(0) + ZWSP, " ".join(str(value).split())))


def escape_markdown(value: str) -> str:
    """Show ``value`` literally in Markdown (DingTalk, WeCom): on one line, every markup character
    backslash-escaped (CommonMark), ``_`` unless inside a word, a leading block marker escaped, and
    the :func:`escape_chat_text` breaks for renderers that ignore backslashes."""
    text = _MD_PUNCT.sub(lambda m: "\\" + m.group(0), escape_chat_text(value))
    text = _MD_UNDERSCORES.sub(lambda m: m.group(0) if _inside_word(text, m) else "\\_" * len(m.group(0)), text)
    match = _MD_BLOCK_START.match(text)
    if match and match.group(0).isdigit():
        return f"{match.group(0)}\\{text[match.end():]}"
    return "\\" + text if match else text


def _inside_word(text: str, m: re.Match) -> bool:
    before, after = text[m.start() - 1: m.start()], text[m.end(): m.end() + 1]
    return before.isalnum() and after.isalnum()


def _verbatim(value: str) -> str:
    return value


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
        # Alerts quote export values and error texts: contact details in them are masked first.
        self.title = scrub(" ".join(str(self.title).split()))
        self.samples = [scrub(str(s)) for s in self.samples]

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

    def as_text(self, escape: Callable[[str], str] = _verbatim) -> str:
        """Concise plain-text body (email, Feishu, chat fallbacks); ``escape`` is applied to every value."""
        lines = [f"[{self.severity.upper()}] {escape(self.title)}"]
        lines += [f"{label}: {escape(value)}" for label, value in self.fields() if label != "Severity"]
        samples, heading = self.shown_samples()
        if heading:
            lines.append(f"{heading}:")
            lines += [f"  - {escape(s)}" for s in samples]
        lines.append(f"Look further: {self.details_hint}")
        return "\n".join(lines)

    def as_markdown(self) -> str:
        """Light Markdown body that DingTalk, WeCom and Slack-like renderers all accept; every
        value is :func:`escape_markdown`-escaped."""
        lines = [f"### [{self.severity.upper()}] {escape_markdown(self.title)}", ""]
        lines += [f"- **{label}:** {escape_markdown(value)}" for label, value in self.fields() if label != "Severity"]
        samples, heading = self.shown_samples()
        if heading:
            lines += ["", f"**{heading}:**", ""]
            lines += [f"- {escape_markdown(s)}" for s in samples]
        lines += ["", f"Look further: {self.details_hint}"]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """All fields, JSON-serialisable (the generic webhook payload)."""
        return dataclasses.asdict(self)
