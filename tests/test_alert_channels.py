"""Alert channels against real local servers: an HTTP recorder and an aiosmtpd SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm_pulse.alerting import (Alert, DingTalkRobot, EmailChannel, FeishuBot, GenericWebhook,
                                SlackWebhook, WeComRobot, deliver)
from crm_pulse.config.alerting import channels_from_env, retries_from_env
from tests.local_servers import closed_port, running_recorder

TINY = 0.001  # backoff seconds in tests


# --- local servers (tests/local_servers.py) ------------------------------------------------------
@pytest.fixture
def http_server():
    with running_recorder() as server:
        yield server


# --- helpers -------------------------------------------------------------------------------------
SAMPLES = [f"customer C{i:03d}: email 'not-an-email' fails pattern" for i in range(1, 8)]


@pytest.fixture
def alert() -> Alert:
    return Alert(kind="check_failed", title="Check failed: stg_customers email_valid", severity="error",
                 asset="stg_customers", check="email_valid", failing_count=7, samples=list(SAMPLES),
                 run_id="run-8f2c1a", details_hint="crm-pulse status",
                 occurred_at="2025-06-01T08:00:00+00:00")


def assert_mentions(text: str, alert: Alert) -> None:
    for needle in (alert.asset, alert.check, str(alert.failing_count), alert.run_id, alert.details_hint,
                   *alert.samples[:5]):
        assert needle in text, needle
    assert alert.samples[5] not in text  # at most 5 samples


# --- message -------------------------------------------------------------------------------------
def test_alert_renderings(alert):
    text = alert.as_text()
    assert text.splitlines()[0] == "[ERROR] Check failed: stg_customers email_valid"
    assert_mentions(text, alert)
    assert "Samples (5 of 7):" in text and "Look further: crm-pulse status" in text
    assert_mentions(alert.as_markdown(), alert)
    d = alert.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"kind", "title", "severity", "asset", "check", "failing_count", "samples", "run_id",
                      "details_hint", "occurred_at"}
    assert d["samples"] == SAMPLES


def test_alert_minimal_and_validation():
    a = Alert(kind="run_failed", title="Run failed:\n dbt build")
    assert a.title == "Run failed: dbt build"
    assert "Asset" not in a.as_text() and "Samples" not in a.as_text()
    assert a.occurred_at.endswith("+00:00")
    with pytest.raises(ValueError, match="kind"):
        Alert(kind="oops", title="x")
    with pytest.raises(ValueError, match="severity"):
        Alert(kind="source_stale", title="x", severity="fatal")


# --- one test per channel ------------------------------------------------------------------------
def test_generic_webhook(http_server, alert):
    http_server.reply = {"status": "accepted"}
    [result] = deliver(alert, [GenericWebhook(http_server.url("/hooks/crm"))], backoff_seconds=TINY)
    assert result.ok and result.attempts == 1
    [req] = http_server.received
    assert req.path == "/hooks/crm"
    assert req.headers["Content-Type"].startswith("application/json")
    assert req.body == alert.as_dict()


def test_wecom(http_server, alert):
    url = http_server.url("/cgi-bin/webhook/send?key=693a91f6")
    [result] = deliver(alert, [WeComRobot(url)], backoff_seconds=TINY)
    assert result.ok
    [req] = http_server.received
    assert req.path == "/cgi-bin/webhook/send" and req.query == {"key": ["693a91f6"]}
    assert set(req.body) == {"msgtype", "markdown"} and req.body["msgtype"] == "markdown"
    assert set(req.body["markdown"]) == {"content"}
    assert_mentions(req.body["markdown"]["content"], alert)


def test_dingtalk_signed(http_server, alert):
    secret = "SEC0123456789abcdef+/="
    before = int(time.time() * 1000)
    [result] = deliver(alert, [DingTalkRobot(http_server.url("/robot/send?access_token=tok"), secret)],
                       backoff_seconds=TINY)
    assert result.ok
    [req] = http_server.received
    assert req.path == "/robot/send"
    assert set(req.query) == {"access_token", "timestamp", "sign"} and req.query["access_token"] == ["tok"]
    ts, sign = req.query["timestamp"][0], req.query["sign"][0]
    assert before <= int(ts) <= int(time.time() * 1000)  # milliseconds
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign == expected
    assert "%3D" in req.raw_query and "=" not in req.raw_query.split("sign=")[1]  # URL-encoded
    assert set(req.body) == {"msgtype", "markdown"} and req.body["msgtype"] == "markdown"
    assert set(req.body["markdown"]) == {"title", "text"}
    assert req.body["markdown"]["title"] == alert.title
    assert_mentions(req.body["markdown"]["text"], alert)


def test_dingtalk_unsigned(http_server, alert):
    [result] = deliver(alert, [DingTalkRobot(http_server.url("/robot/send?access_token=tok"))])
    assert result.ok
    assert http_server.received[0].query == {"access_token": ["tok"]}


def test_feishu_signed(http_server, alert):
    http_server.reply = {"code": 0, "msg": "success", "data": {}}
    secret = "feishu-secret"
    before = int(time.time())
    [result] = deliver(alert, [FeishuBot(http_server.url("/open-apis/bot/v2/hook/abc"), secret)])
    assert result.ok
    [req] = http_server.received
    assert req.path == "/open-apis/bot/v2/hook/abc"
    assert set(req.body) == {"timestamp", "sign", "msg_type", "content"}
    assert req.body["msg_type"] == "text" and set(req.body["content"]) == {"text"}
    ts = req.body["timestamp"]
    assert isinstance(ts, str) and before <= int(ts) <= int(time.time())  # seconds
    key = f"{ts}\n{secret}".encode()
    assert req.body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert req.body["content"]["text"] == alert.as_text()
    assert_mentions(req.body["content"]["text"], alert)


def test_feishu_unsigned(http_server, alert):
    http_server.reply = {"StatusCode": 0, "StatusMessage": "success"}  # older response shape
    [result] = deliver(alert, [FeishuBot(http_server.url("/open-apis/bot/v2/hook/abc"))])
    assert result.ok
    assert set(http_server.received[0].body) == {"msg_type", "content"}


def test_slack(http_server, alert):
    http_server.reply = "ok"
    [result] = deliver(alert, [SlackWebhook(http_server.url("/services/T0/B0/xyz"))])
    assert result.ok
    body = http_server.received[0].body
    assert set(body) == {"text", "blocks"}
    header, section = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": f"[ERROR] {alert.title}"}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert_mentions(section["text"]["text"], alert)
    assert_mentions(body["text"], alert)


def test_email(smtp_server, alert):
    channel = EmailChannel(host="127.0.0.1", port=smtp_server.port, sender="crm-pulse@example.com",
                           recipients=["ops@example.com", "data@example.com"])
    [result] = deliver(alert, [channel])
    assert result.ok
    [(mail_from, rcpt_tos, msg)] = smtp_server.messages
    assert mail_from == "crm-pulse@example.com" and rcpt_tos == ["ops@example.com", "data@example.com"]
    assert msg["Subject"] == alert.title
    assert msg["To"] == "ops@example.com, data@example.com"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert body.replace("\r\n", "\n").strip() == alert.as_text()
    assert_mentions(body, alert)


@pytest.mark.parametrize("options", [{"starttls": True}, {"username": "u", "password": "p"}])
def test_email_tls_or_login_unsupported_fails_fast(smtp_server, alert, options):
    channel = EmailChannel(host="127.0.0.1", port=smtp_server.port, sender="a@example.com",
                           recipients=["b@example.com"], **options)
    [result] = deliver(alert, [channel], retries=3, backoff_seconds=TINY)
    assert not result.ok and result.attempts == 1 and "not supported" in result.error
    assert smtp_server.messages == []


# --- failures, retries, isolation ----------------------------------------------------------------
def test_retries_until_success(http_server, alert):
    http_server.fail_first = 2
    [result] = deliver(alert, [WeComRobot(http_server.url("/send?key=k"))], retries=3,
                       backoff_seconds=TINY)
    assert result.ok and result.attempts == 3 and result.error is None
    assert len(http_server.received) == 3


@pytest.mark.parametrize("channel_cls,reply", [
    (DingTalkRobot, {"errcode": 310000, "errmsg": "sign not match"}),
    (WeComRobot, {"errcode": 93000, "errmsg": "invalid webhook url"}),
    (FeishuBot, {"code": 19021, "msg": "sign match fail", "data": {}}),
])
def test_error_code_in_200_is_failure(http_server, alert, channel_cls, reply):
    http_server.reply = reply
    [result] = deliver(alert, [channel_cls(http_server.url("/send?t=1"))], retries=1, backoff_seconds=TINY)
    assert not result.ok and result.attempts == 2
    assert str(next(v for k, v in reply.items() if k in ("errcode", "code"))) in result.error


def test_client_error_is_not_retried(http_server, alert):
    http_server.status, http_server.reply = 404, "no_service"
    [result] = deliver(alert, [SlackWebhook(http_server.url("/services/x"))], retries=3, backoff_seconds=TINY)
    assert not result.ok and result.attempts == 1 and "HTTP 404" in result.error
    assert len(http_server.received) == 1


def test_down_channel_does_not_stop_others(http_server, smtp_server, alert, caplog):
    down = GenericWebhook(f"http://127.0.0.1:{closed_port()}/hook", name="down-webhook")
    down_smtp = EmailChannel(host="127.0.0.1", port=closed_port(), sender="a@example.com",
                             recipients=["b@example.com"], name="down-email")
    up = WeComRobot(http_server.url("/send?key=k"))
    mail = EmailChannel(host="127.0.0.1", port=smtp_server.port, sender="a@example.com",
                        recipients=["b@example.com"])
    with caplog.at_level(logging.INFO, logger="crm_pulse.alerting"):
        results = deliver(alert, [down, up, down_smtp, mail], retries=2, backoff_seconds=TINY)
    assert [(r.channel, r.ok, r.attempts) for r in results] == [
        ("down-webhook", False, 3), ("wecom", True, 1), ("down-email", False, 3), ("email", True, 1)]
    assert "connection failed" in results[0].error and "SMTP failed" in results[2].error
    assert len(http_server.received) == 1 and len(smtp_server.messages) == 1
    for name in ("down-webhook", "down-email"):
        retries = [r for r in caplog.records if name in r.getMessage() and r.levelno == logging.WARNING]
        gave_up = [r for r in caplog.records if name in r.getMessage() and r.levelno == logging.ERROR]
        assert len(retries) == 2 and len(gave_up) == 1


def test_deliver_never_raises(alert, caplog):
    class Broken:
        name = "broken"

        def send(self, alert):
            raise KeyError("boom")

    logger = logging.getLogger("test.alerts")
    with caplog.at_level(logging.WARNING, logger="test.alerts"):
        results = deliver(alert, [Broken()], retries=1, backoff_seconds=TINY, logger=logger)
    assert results[0].ok is False and results[0].attempts == 2 and "KeyError" in results[0].error
    assert any(r.name == "test.alerts" and r.levelno == logging.ERROR for r in caplog.records)
    assert deliver(alert, []) == [] and deliver(alert, None) == []
    fine = GenericWebhook("http://127.0.0.1:1/unused")
    fine.send = lambda alert: None
    assert deliver(alert, [fine], retries="lots", backoff_seconds=None, logger=logger)[0].ok is True


# --- configuration -------------------------------------------------------------------------------
def test_channels_from_env_all(smtp_server, http_server, alert):
    env = {
        "CRM_PULSE_ALERT_WEBHOOK_URL": http_server.url("/generic"),
        "CRM_PULSE_ALERT_WECOM_URL": http_server.url("/wecom?key=k"),
        "CRM_PULSE_ALERT_DINGTALK_URL": http_server.url("/ding?access_token=t"),
        "CRM_PULSE_ALERT_DINGTALK_SECRET": "SECabc",
        "CRM_PULSE_ALERT_FEISHU_URL": http_server.url("/feishu"),
        "CRM_PULSE_ALERT_SLACK_URL": http_server.url("/slack"),
        "CRM_PULSE_SMTP_HOST": "127.0.0.1", "CRM_PULSE_SMTP_PORT": str(smtp_server.port),
        "CRM_PULSE_ALERT_EMAIL_FROM": "crm-pulse@example.com",
        "CRM_PULSE_ALERT_EMAIL_TO": " ops@example.com, ,data@example.com ",
        "CRM_PULSE_ALERT_RETRIES": "1",
    }
    channels = channels_from_env(env)
    assert [type(c) for c in channels] == [GenericWebhook, WeComRobot, DingTalkRobot, FeishuBot,
                                           SlackWebhook, EmailChannel]
    assert channels[2].secret == "SECabc" and channels[3].secret is None
    email_channel = channels[-1]
    assert email_channel.recipients == ["ops@example.com", "data@example.com"]
    assert email_channel.starttls is False and email_channel.username is None
    assert retries_from_env(env) == 1
    http_server.reply = {"errcode": 0, "code": 0}  # one reply every robot accepts
    results = deliver(alert, channels, retries=retries_from_env(env), backoff_seconds=TINY)
    assert all(r.ok for r in results), results
    assert len(http_server.received) == 5 and len(smtp_server.messages) == 1
    assert "SECabc" not in repr(channels) and "access_token" not in repr(channels)


def test_channels_from_env_defaults():
    assert channels_from_env({}) == [] and retries_from_env({}) == 3
    [mail] = channels_from_env({"CRM_PULSE_SMTP_HOST": "smtp.example.com",
                                "CRM_PULSE_ALERT_EMAIL_FROM": "a@example.com",
                                "CRM_PULSE_ALERT_EMAIL_TO": "b@example.com",
                                "CRM_PULSE_SMTP_USER": "u", "CRM_PULSE_SMTP_PASSWORD": "p",
                                "CRM_PULSE_SMTP_STARTTLS": "TRUE"})
    assert (mail.port, mail.starttls, mail.username, mail.password) == (25, True, "u", "p")
    assert "'p'" not in repr(mail)


@pytest.mark.parametrize("env,variable", [
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_FROM": "a@x.io"}, "CRM_PULSE_ALERT_EMAIL_TO"),
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_TO": "b@x.io"}, "CRM_PULSE_ALERT_EMAIL_FROM"),
    ({"CRM_PULSE_ALERT_EMAIL_TO": "b@x.io"}, "CRM_PULSE_SMTP_HOST"),
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_FROM": "a@x.io", "CRM_PULSE_ALERT_EMAIL_TO": "bob"},
     "CRM_PULSE_ALERT_EMAIL_TO"),
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_FROM": "a@x.io", "CRM_PULSE_ALERT_EMAIL_TO": "b@x.io",
      "CRM_PULSE_SMTP_PORT": "smtp"}, "CRM_PULSE_SMTP_PORT"),
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_FROM": "a@x.io", "CRM_PULSE_ALERT_EMAIL_TO": "b@x.io",
      "CRM_PULSE_SMTP_STARTTLS": "maybe"}, "CRM_PULSE_SMTP_STARTTLS"),
    ({"CRM_PULSE_SMTP_HOST": "h", "CRM_PULSE_ALERT_EMAIL_FROM": "a@x.io", "CRM_PULSE_ALERT_EMAIL_TO": "b@x.io",
      "CRM_PULSE_SMTP_USER": "u"}, "CRM_PULSE_SMTP_PASSWORD"),
    ({"CRM_PULSE_ALERT_DINGTALK_SECRET": "SEC"}, "CRM_PULSE_ALERT_DINGTALK_URL"),
    ({"CRM_PULSE_ALERT_FEISHU_SECRET": "s"}, "CRM_PULSE_ALERT_FEISHU_URL"),
    ({"CRM_PULSE_ALERT_SLACK_URL": "file:///etc/passwd"}, "CRM_PULSE_ALERT_SLACK_URL"),
])
def test_bad_config_names_the_variable(env, variable):
    with pytest.raises(ValueError, match=variable):
        channels_from_env(env)


@pytest.mark.parametrize("value", ["-1", "three", "99"])
def test_bad_retries(value):
    with pytest.raises(ValueError, match="CRM_PULSE_ALERT_RETRIES"):
        retries_from_env({"CRM_PULSE_ALERT_RETRIES": value})


# --- export values are shown literally, never as markup ------------------------------------------
INJECTIONS = ["[click](http://evil.example)", '<a href="http://evil.example/x">here</a>', "**bold** __strong__",
              "`tick` ```fence```", "<script>alert(1)</script>", '<at user_id="all">all</at>', "# Heading",
              "1. list ![img](http://evil.example/i.png) <@everyone> &amp; www.evil.example"]
LABELS = {"Kind:", "Asset:", "Check:", "Failing count:", "Run ID:", "Occurred at:", "Samples:"}


@pytest.fixture
def hostile() -> Alert:
    """An alert whose title and samples carry campaign / customer names written as markup."""
    return Alert(kind="check_failed", title=f"Check failed: campaign {INJECTIONS[0]} {INJECTIONS[4]}",
                 asset="stg_campaigns", check="name_valid", failing_count=len(INJECTIONS),
                 samples=[f"campaign name {v}" for v in INJECTIONS[:5]], run_id="run-1",
                 occurred_at="2025-06-01T08:00:00+00:00")


def _visible(text: str) -> str:
    return text.replace("\u200b", "")


def assert_inert_markdown(markdown: str, alert: Alert) -> None:
    """Parse with a CommonMark parser: only the body's own heading, list and bold labels are markup,
    and every title / sample reads exactly as written."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)
    blocks = {t.type for t in tokens}
    assert blocks <= {"heading_open", "heading_close", "paragraph_open", "paragraph_close", "inline",
                      "bullet_list_open", "bullet_list_close", "list_item_open", "list_item_close"}, blocks
    assert sum(t.type == "heading_open" for t in tokens) == 1
    inline, strong, inside = [], [], False
    for child in (c for t in tokens if t.type == "inline" for c in t.children):
        assert child.type in {"text", "strong_open", "strong_close", "softbreak"}, (child.type, child.content)
        inside = {"strong_open": True, "strong_close": False}.get(child.type, inside)
        if child.type == "text":
            (strong if inside else inline).append(child.content)
    assert set(strong) <= LABELS, strong  # no bold that the alert did not put there itself
    shown = [_visible("".join(c.content for c in t.children if c.type == "text"))
             for t in tokens if t.type == "inline"]
    assert f"[ERROR] {alert.title}" in shown
    for sample in alert.samples[:5]:
        assert sample in shown, sample
    assert "http://" not in markdown and "www.evil" not in markdown  # no bare URL to auto-link


def assert_inert_chat_text(text: str, alert: Alert) -> None:
    """No ``<tag``, ``[text](url)`` or bare URL survives; with the zero-width spaces removed the
    text is the plain-text body, i.e. every value exactly as written."""
    assert not re.search(r"<[A-Za-z/@!]|\]\(|://|www\.", text), text
    assert _visible(text) == alert.as_text()


def test_markup_in_values_is_inert_on_every_channel(http_server, smtp_server, hostile):
    http_server.reply = {"errcode": 0, "code": 0}  # one reply every robot accepts
    mail = EmailChannel(host="127.0.0.1", port=smtp_server.port, sender="a@example.com",
                        recipients=["b@example.com"])
    channels = [WeComRobot(http_server.url("/wecom?key=k")), DingTalkRobot(http_server.url("/ding?access_token=t")),
                FeishuBot(http_server.url("/feishu")), SlackWebhook(http_server.url("/slack")),
                GenericWebhook(http_server.url("/hook")), mail]
    assert all(r.ok for r in deliver(hostile, channels, backoff_seconds=TINY))
    got = {r.path: r.body for r in http_server.received}

    assert_inert_markdown(got["/wecom"]["markdown"]["content"], hostile)
    assert_inert_markdown(got["/ding"]["markdown"]["text"], hostile)
    assert got["/ding"]["markdown"]["title"] == hostile.title  # the notification preview is plain text
    assert_inert_chat_text(got["/feishu"]["content"]["text"], hostile)

    slack = [got["/slack"]["text"], got["/slack"]["blocks"][1]["text"]["text"]]
    for text in slack:  # Slack links are <url|text>: with no raw "<" there is none
        assert "<" not in text and ">" not in text
    unescaped = slack[0].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == hostile.as_text()

    assert got["/hook"]["samples"] == hostile.samples and got["/hook"]["title"] == hostile.title  # JSON: raw

    [(_, _, msg)] = smtp_server.messages
    assert not msg.is_multipart() and msg.get_content_type() == "text/plain"  # no HTML part to inject into
    body = msg.get_content().replace("\r\n", "\n").strip()
    assert body == hostile.as_text() and all(f"campaign name {v}" in body for v in INJECTIONS[:5])


@pytest.mark.parametrize("value", INJECTIONS + ["_under_ a_b snake__case x*y*z", "- item", "+ item",
                                                "> quote", "12) x", "a | b | c", "~~gone~~", "C:\\dir\\f.csv"])
def test_escape_markdown_shows_each_value_literally(value):
    from markdown_it import MarkdownIt

    from crm_pulse.alerting.message import escape_markdown

    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse("- " + escape_markdown(value))
    assert [t.type for t in tokens] == ["bullet_list_open", "list_item_open", "paragraph_open", "inline",
                                        "paragraph_close", "list_item_close", "bullet_list_close"]
    [inline] = [t for t in tokens if t.type == "inline"]
    assert [c.type for c in inline.children] == ["text"]
    assert _visible(inline.children[0].content) == value


# --- a channel that stays down: bounded in attempts and in time ------------------------------------
def test_channel_answering_500_is_retried_a_bounded_number_of_times(http_server, alert):
    http_server.fail_first = 10**6  # always 500
    started = time.monotonic()
    [result] = deliver(alert, [DingTalkRobot(http_server.url("/ding?access_token=t"))], retries=3,
                       backoff_seconds=0.05)
    elapsed = time.monotonic() - started
    assert not result.ok and result.attempts == 4 and "HTTP 500" in result.error
    assert len(http_server.received) == 4
    assert 0.05 + 0.1 + 0.2 <= elapsed < 5  # the three back-off waits, and nothing unbounded


def test_channel_that_never_answers_times_out_each_attempt():
    with socket.socket() as silent:  # accepts connections (backlog) but never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        started = time.monotonic()
        [result] = deliver(Alert(kind="run_failed", title="x"), [GenericWebhook(url, timeout=0.3)],
                           retries=2, backoff_seconds=TINY)
        elapsed = time.monotonic() - started
    assert not result.ok and result.attempts == 3 and "timed out" in result.error
    assert 3 * 0.3 <= elapsed < 3 * 0.3 + 3


# --- a real run with every channel configured leaks no secret --------------------------------------
SECRETS = {"wecom": "wecomKEY7f3a9c1e", "ding_token": "dingTOKEN5b2e8d", "ding_secret": "SECding0c4f7a9b",
           "feishu_hook": "feishuHOOK9e1d3b", "feishu_secret": "feishuSECRET2a6c", "slack": "slackTOKEN4d8f2e",
           "hook": "hookTOKEN1c5e9a", "smtp": "smtpPASS8b3d1f"}


@pytest.fixture
def smtp_with_login():
    """A real SMTP server that requires the login user/smtpPASS... (plain AUTH without TLS, locally)."""
    from aiosmtpd.smtp import AuthResult

    from tests.local_servers import EphemeralController, Mailbox

    mailbox, logins = Mailbox(), []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SECRETS["smtp"].encode())

    controller = EphemeralController(mailbox, hostname="127.0.0.1", port=0, auth_require_tls=False,
                                     authenticator=authenticator)
    controller.start()
    mailbox.port, mailbox.logins = controller.port, logins
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.mark.slow
def test_run_with_alerting_leaks_no_secret(tmp_path, http_server, smtp_with_login, capfd, caplog):
    from crm_pulse.demo import generate_demo
    from tests.harness import run_pipeline

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_demo(landing, customers=60, seed=3)
    orders = sorted(landing.glob("erp/*/orders.csv"))[-1]
    orders.write_text("foo,bar\n1,2\n", encoding="utf-8")  # a failed run: the run_failed alert
    http_server.reply = {"errcode": 0, "code": 0}
    env = {
        "CRM_PULSE_ALERT_WEBHOOK_URL": http_server.url(f"/hook?token={SECRETS['hook']}"),
        "CRM_PULSE_ALERT_WECOM_URL": http_server.url(f"/wecom?key={SECRETS['wecom']}"),
        "CRM_PULSE_ALERT_DINGTALK_URL": http_server.url(f"/ding?access_token={SECRETS['ding_token']}"),
        "CRM_PULSE_ALERT_DINGTALK_SECRET": SECRETS["ding_secret"],
        "CRM_PULSE_ALERT_FEISHU_URL": http_server.url(f"/open-apis/bot/v2/hook/{SECRETS['feishu_hook']}"),
        "CRM_PULSE_ALERT_FEISHU_SECRET": SECRETS["feishu_secret"],
        "CRM_PULSE_ALERT_SLACK_URL": f"http://127.0.0.1:{closed_port()}/services/T0/B0/{SECRETS['slack']}",  # down
        "CRM_PULSE_SMTP_HOST": "127.0.0.1", "CRM_PULSE_SMTP_PORT": str(smtp_with_login.port),
        "CRM_PULSE_SMTP_USER": "crm", "CRM_PULSE_SMTP_PASSWORD": SECRETS["smtp"],
        "CRM_PULSE_ALERT_EMAIL_FROM": "crm-pulse@example.com", "CRM_PULSE_ALERT_EMAIL_TO": "ops@example.com",
        "CRM_PULSE_ALERT_RETRIES": "1",
    }
    with caplog.at_level(logging.DEBUG):
        run = run_pipeline(landing, warehouse, CRM_PULSE_FRESHNESS_CLOCK="now", **env)
    captured = capfd.readouterr()

    assert run.exit_code == 1 and "slack: DeliveryError: connection failed" in run.output, run.output
    # every secret was really used ...
    paths = {r.path for r in http_server.received}
    assert {"/hook", "/wecom", "/ding", f"/open-apis/bot/v2/hook/{SECRETS['feishu_hook']}"} <= paths
    assert all("sign" in r.body for r in http_server.received if r.path.startswith("/open-apis"))
    assert smtp_with_login.messages and set(smtp_with_login.logins) == {(b"crm", SECRETS["smtp"].encode())}
    # ... and none is in the console, the logs or any file the run left in the warehouse
    outputs = {"summary": run.output, "stdout": captured.out, "stderr": captured.err, "log": caplog.text}
    files = [p for p in warehouse.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)  # the run's Dagster event log is among them
    for name, secret in SECRETS.items():
        for where, text in outputs.items():
            assert secret not in text, (name, where)
        for path in files:
            assert secret.encode() not in path.read_bytes(), (name, path)


def test_file_url_is_refused_before_any_work(tmp_path):
    """`crm-pulse run` with a file:// alert URL stops with one line naming the variable; nothing is read
    or written (no warehouse, no Dagster run) and the URL's content is not shown."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    landing.mkdir()
    env = {**os.environ, "CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "CRM_PULSE_ALERT_WEBHOOK_URL": "file:///etc/passwd?token=fileTOKEN3e7a"}
    cli = Path(sys.executable).parent / "crm-pulse"
    done = subprocess.run([str(cli), "run"], env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "CRM_PULSE_ALERT_WEBHOOK_URL" in output and "http://" in output
    assert "Traceback" not in output and "fileTOKEN3e7a" not in output and "root:" not in output
    assert not warehouse.exists() and not (tmp_path / "dagster_home").exists()
