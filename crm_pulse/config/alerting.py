"""Alert channels from ``CRM_PULSE_ALERT_*`` / ``CRM_PULSE_SMTP_*`` environment variables.

Unset or blank variables mean "channel off". Inconsistent settings raise ``ValueError`` naming
the variable, so a typo is caught at start-up rather than when the first alert is due.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Mapping

from crm_pulse.alerting.channels import (Channel, DingTalkRobot, EmailChannel, FeishuBot,
                                         GenericWebhook, SlackWebhook, WeComRobot)
from crm_pulse.config.env import Problems, boolean, integer, text

_URL_CHANNELS = (("CRM_PULSE_ALERT_WEBHOOK_URL", GenericWebhook), ("CRM_PULSE_ALERT_WECOM_URL", WeComRobot),
                 ("CRM_PULSE_ALERT_DINGTALK_URL", DingTalkRobot), ("CRM_PULSE_ALERT_FEISHU_URL", FeishuBot),
                 ("CRM_PULSE_ALERT_SLACK_URL", SlackWebhook))
_SECRETS = {"CRM_PULSE_ALERT_DINGTALK_URL": "CRM_PULSE_ALERT_DINGTALK_SECRET",
            "CRM_PULSE_ALERT_FEISHU_URL": "CRM_PULSE_ALERT_FEISHU_SECRET"}
_EMAIL_ONLY = ("CRM_PULSE_SMTP_PORT", "CRM_PULSE_SMTP_USER", "CRM_PULSE_SMTP_PASSWORD",
               "CRM_PULSE_SMTP_STARTTLS", "CRM_PULSE_ALERT_EMAIL_FROM", "CRM_PULSE_ALERT_EMAIL_TO")


def _address(name: str, value: str) -> str:
    if "@" not in value or any(c.isspace() for c in value):
        raise ValueError(f"{name} must hold email addresses like ops@example.com, got {value!r}")
    return value


def retries_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``CRM_PULSE_ALERT_RETRIES``: extra attempts per channel after the first (default 3)."""
    return integer(os.environ if environ is None else environ, "CRM_PULSE_ALERT_RETRIES", 3, 0, 10)


def _email(env: Mapping[str, str]) -> EmailChannel | None:
    host = text(env, "CRM_PULSE_SMTP_HOST")
    if not host:
        stray = [n for n in _EMAIL_ONLY if text(env, n)]
        if stray:
            raise ValueError(f"CRM_PULSE_SMTP_HOST is required when {stray[0]} is set")
        return None
    problems = Problems()
    recipients = [problems.take(_address, "CRM_PULSE_ALERT_EMAIL_TO", a.strip())
                  for a in text(env, "CRM_PULSE_ALERT_EMAIL_TO").split(",") if a.strip()]
    if not recipients:
        problems.append("CRM_PULSE_ALERT_EMAIL_TO (comma-separated recipients) is required "
                        "when CRM_PULSE_SMTP_HOST is set")
    sender = text(env, "CRM_PULSE_ALERT_EMAIL_FROM")
    if not sender:
        problems.append("CRM_PULSE_ALERT_EMAIL_FROM is required when CRM_PULSE_SMTP_HOST is set")
    else:
        problems.take(_address, "CRM_PULSE_ALERT_EMAIL_FROM", sender)
    user, password = text(env, "CRM_PULSE_SMTP_USER"), env.get("CRM_PULSE_SMTP_PASSWORD") or ""
    if bool(user) != bool(password):
        missing = "CRM_PULSE_SMTP_PASSWORD" if user else "CRM_PULSE_SMTP_USER"
        problems.append(f"{missing} is required: set both CRM_PULSE_SMTP_USER and "
                        "CRM_PULSE_SMTP_PASSWORD, or neither")
    port = problems.take(integer, env, "CRM_PULSE_SMTP_PORT", 25, 1, 65535)
    starttls = problems.take(boolean, env, "CRM_PULSE_SMTP_STARTTLS")
    problems.raise_any()
    return EmailChannel(host=host, port=port, sender=sender, recipients=recipients,
                        username=user or None, password=password or None, starttls=starttls)


def _shown(url: str) -> str:
    """A URL as safe to print: scheme and host only (paths and queries carry robot keys and
    tokens, e.g. Slack's and Feishu's, and the user part a password)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    rest = "/..." if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{rest}" if parts.scheme else "<not a URL>"


def _url_channel(env: Mapping[str, str], var: str, cls) -> Channel | None:
    url, secret_var = text(env, var), _SECRETS.get(var)
    secret = text(env, secret_var) if secret_var else ""
    if not url:
        if secret:
            raise ValueError(f"{var} is required when {secret_var} is set")
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{var} must be an http:// or https:// URL with a host, got {_shown(url)!r}")
    try:
        return cls(url=url, secret=secret or None) if secret_var else cls(url=url)
    except ValueError:
        raise ValueError(f"{var} must be an http:// or https:// URL with a host, got {_shown(url)!r}") from None


def channels_from_env(environ: Mapping[str, str] | None = None) -> list[Channel]:
    """The configured channels (possibly none), defaulting to ``os.environ``; raises
    ``SettingsError`` listing every problem."""
    env = os.environ if environ is None else environ
    problems = Problems()
    channels = [problems.take(_url_channel, env, var, cls) for var, cls in _URL_CHANNELS]
    channels.append(problems.take(_email, env))
    problems.raise_any()
    return [c for c in channels if c is not None]
