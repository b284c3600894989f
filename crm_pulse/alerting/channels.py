"""Alert channels (one small class each) and :func:`deliver`, which never raises.

Every channel's ``send(alert)`` raises on failure (:class:`DeliveryError` for the failures it
recognises). HTTP channels use stdlib urllib with a timeout, do not follow redirects, and treat
any non-2xx status as a failure; the Chinese IM robots also fail on a non-zero error code in a
200 response. Secrets and webhook URLs (which embed tokens) are kept out of reprs and logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol, Sequence, runtime_checkable

from crm_pulse.alerting.message import Alert, escape_chat_text

DEFAULT_TIMEOUT = 10.0  # seconds, per HTTP request / SMTP connection
MAX_BACKOFF = 30.0  # seconds, cap of one wait between attempts
_LOG = logging.getLogger("crm_pulse.alerting")


class DeliveryError(RuntimeError):
    """A channel could not deliver; ``retryable=False`` means trying again will not help."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


@dataclass
class DeliveryResult:
    channel: str
    ok: bool
    attempts: int
    error: str | None = None


# --- HTTP helpers ------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirected POST would silently become a GET
        return None


def _check_url(url: str, what: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{what} URL must start with http:// or https://")


def _snippet(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace").strip()


def post_json(url: str, payload: dict, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """POST ``payload`` as UTF-8 JSON; return the response body or raise :class:`DeliveryError`."""
    request = urllib.request.Request(
        url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "crm-pulse-alerting"})
    opener = urllib.request.build_opener(_NoRedirect)  # built per call: honours current *_proxy env
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(1 << 10)
        except Exception:  # noqa: BLE001 - the status alone is enough
            body = b""
        finally:
            exc.close()
        retryable = exc.code >= 500 or exc.code in (408, 429)
        detail = _snippet(body)
        raise DeliveryError(f"HTTP {exc.code}" + (f": {detail}" if detail else ""), retryable) from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"connection failed: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"connection failed: {type(exc).__name__}: {exc}") from exc


def _require_zero(body: bytes, code_keys: tuple[str, ...], msg_keys: tuple[str, ...]) -> None:
    """Robot APIs answer 200 with ``{errcode|code: N}``; anything but N == 0 is a failure."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise DeliveryError(f"unexpected non-JSON response: {_snippet(body)}") from None
    doc = doc if isinstance(doc, dict) else {}
    code = next((doc[k] for k in code_keys if k in doc), None)
    if code != 0:
        msg = next((doc[k] for k in msg_keys if k in doc), _snippet(body))
        raise DeliveryError(f"API error {code_keys[0]}={code}: {msg}")


def _clip_bytes(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[: limit - 3].decode("utf-8", "ignore") + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- signatures (as documented by DingTalk and Feishu) ------------------------------------------
def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Base64 HMAC-SHA256, key = secret, message = ``f"{timestamp_ms}\\n{secret}"`` (not URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Base64 HMAC-SHA256, key = ``f"{timestamp_s}\\n{secret}"``, message = empty."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --- channels ----------------------------------------------------------------------------------
@dataclass
class GenericWebhook:
    """POST ``alert.as_dict()`` as JSON to any endpoint; success = any 2xx."""

    url: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    name: str = "webhook"

    def __post_init__(self) -> None:
        _check_url(self.url, self.name)

    def send(self, alert: Alert) -> None:
        post_json(self.url, alert.as_dict(), self.timeout)


@dataclass
class WeComRobot:
    """WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``."""

    url: str = field(repr=False)  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
    timeout: float = DEFAULT_TIMEOUT
    name: str = "wecom"
    MAX_BYTES = 4096  # documented limit of markdown.content

    def __post_init__(self) -> None:
        _check_url(self.url, self.name)

    def send(self, alert: Alert) -> None:
        payload = {"msgtype": "markdown",
                   "markdown": {"content": _clip_bytes(alert.as_markdown(), self.MAX_BYTES)}}
        _require_zero(post_json(self.url, payload, self.timeout), ("errcode",), ("errmsg",))


@dataclass
class DingTalkRobot:
    """DingTalk (钉钉) custom robot, markdown message; signs the URL when ``secret`` is set."""

    url: str = field(repr=False)  # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str | None = field(default=None, repr=False)  # "SEC..." from the robot's 加签 setting
    timeout: float = DEFAULT_TIMEOUT
    name: str = "dingtalk"

    def __post_init__(self) -> None:
        _check_url(self.url, self.name)

    def signed_url(self, timestamp_ms: int | None = None) -> str:
        if not self.secret:
            return self.url
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        sign = urllib.parse.quote_plus(dingtalk_sign(self.secret, ts))
        return f"{self.url}{'&' if '?' in self.url else '?'}timestamp={ts}&sign={sign}"

    def send(self, alert: Alert) -> None:
        payload = {"msgtype": "markdown", "markdown": {"title": alert.title, "text": alert.as_markdown()}}
        _require_zero(post_json(self.signed_url(), payload, self.timeout), ("errcode",), ("errmsg",))


@dataclass
class FeishuBot:
    """Feishu/Lark (飞书) custom bot, text message; adds ``timestamp``/``sign`` when ``secret`` is set.
    Text messages parse ``<at ...>`` / ``<b>`` tags and ``[text](url)`` links, so values are escaped."""

    url: str = field(repr=False)  # https://open.feishu.cn/open-apis/bot/v2/hook/...
    secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    name: str = "feishu"

    def __post_init__(self) -> None:
        _check_url(self.url, self.name)

    def payload(self, alert: Alert, timestamp_s: int | None = None) -> dict:
        body: dict = {"msg_type": "text", "content": {"text": alert.as_text(escape_chat_text)}}
        if self.secret:
            ts = int(time.time()) if timestamp_s is None else timestamp_s
            body = {"timestamp": str(ts), "sign": feishu_sign(self.secret, ts), **body}
        return body

    def send(self, alert: Alert) -> None:
        body = post_json(self.url, self.payload(alert), self.timeout)
        _require_zero(body, ("code", "StatusCode"), ("msg", "StatusMessage"))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class SlackWebhook:
    """Slack incoming webhook: fallback ``text`` plus a header and a section block."""

    url: str = field(repr=False)  # https://hooks.slack.com/services/...
    timeout: float = DEFAULT_TIMEOUT
    name: str = "slack"

    def __post_init__(self) -> None:
        _check_url(self.url, self.name)

    def payload(self, alert: Alert) -> dict:
        lines = [f"*{label}:* {_slack_escape(value)}" for label, value in alert.fields() if label != "Severity"]
        samples, heading = alert.shown_samples()
        if heading:
            lines += [f"*{heading}:*", "```" + _slack_escape("\n".join(samples)) + "```"]
        lines.append(f"*Look further:* {_slack_escape(alert.details_hint)}")
        header = _clip(f"[{alert.severity.upper()}] {alert.title}", 150)  # Block Kit limits
        return {"text": _slack_escape(alert.as_text()), "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}},
        ]}

    def send(self, alert: Alert) -> None:
        post_json(self.url, self.payload(alert), self.timeout)


@dataclass
class EmailChannel:
    """Plain-text email over SMTP; STARTTLS and login only when configured."""

    host: str
    sender: str
    recipients: list[str]
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT
    name: str = "email"

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.title
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="crm-pulse.local")
        msg.set_content(alert.as_text())
        return msg

    def send(self, alert: Alert) -> None:
        msg = self.message(alert)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused all recipients: {sorted(exc.recipients)}", False) from exc
        except smtplib.SMTPResponseException as exc:  # 4xx transient, 5xx permanent
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code < 500) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {exc}", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP failed: {type(exc).__name__}: {exc}") from exc
        if refused:  # partly delivered: retrying would duplicate the mail for the others
            raise DeliveryError(f"SMTP refused recipients: {sorted(refused)}", retryable=False)


# --- delivery ----------------------------------------------------------------------------------
def _name(channel: object) -> str:
    return str(getattr(channel, "name", type(channel).__name__))


def _deliver_one(alert: Alert, channel: Channel, retries: int, backoff: float,
                 log: logging.Logger) -> DeliveryResult:
    name = _name(channel)
    error, attempt = "not attempted", 0
    for attempt in range(1, retries + 2):
        try:
            channel.send(alert)
        except Exception as exc:  # noqa: BLE001 - a broken channel must never fail the run
            error = f"{type(exc).__name__}: {exc}"
            if not getattr(exc, "retryable", True) or attempt > retries:
                break
            wait = min(backoff * 2 ** (attempt - 1), MAX_BACKOFF)
            log.warning("alert channel %s failed (attempt %d of %d): %s; retrying in %.2fs",
                        name, attempt, retries + 1, error, wait)
            time.sleep(wait)
        else:
            if attempt > 1:
                log.info("alert channel %s delivered on attempt %d", name, attempt)
            return DeliveryResult(name, True, attempt)
    log.error("alert channel %s gave up after %d attempt(s): %s", name, attempt, error)
    return DeliveryResult(name, False, attempt, error)


def deliver(alert: Alert, channels: Sequence[Channel], retries: int = 3, backoff_seconds: float = 0.5,
            logger: logging.Logger | None = None) -> list[DeliveryResult]:
    """Send ``alert`` to every channel independently (in parallel); never raises.

    Each channel gets 1 + ``retries`` attempts at most, waiting ``backoff_seconds`` x 1, 2, 4 ...
    (capped at 30 s) between them; failures not worth retrying (HTTP 4xx, SMTP 5xx) stop early.
    Returns one :class:`DeliveryResult` per channel, in the order given.
    """
    log = logger or _LOG
    try:
        retries, backoff = max(0, int(retries)), max(0.0, float(backoff_seconds))
    except (TypeError, ValueError):
        log.error("bad retries=%r / backoff_seconds=%r; using 3 / 0.5", retries, backoff_seconds)
        retries, backoff = 3, 0.5
    channels = list(channels or ())
    if len(channels) <= 1:
        return [_deliver_one(alert, c, retries, backoff, log) for c in channels]
    try:
        with ThreadPoolExecutor(max_workers=len(channels), thread_name_prefix="crm-pulse-alert") as pool:
            return list(pool.map(lambda c: _deliver_one(alert, c, retries, backoff, log), channels))
    except RuntimeError as exc:  # no threads to be had (e.g. interpreter shutting down)
        log.error("alert delivery could not start: %s", exc)
        return [DeliveryResult(_name(c), False, 0, f"RuntimeError: {exc}") for c in channels]
