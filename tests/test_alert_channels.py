"""Alert channels against real local servers: an HTTP recorder and an aiosmtpd SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest

from orchestration.alerting import (Alert, DingTalkRobot, EmailChannel, FeishuBot, GenericWebhook,
                                    SlackWebhook, WeComRobot, channels_from_env, deliver,
                                    retries_from_env)
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
    with caplog.at_level(logging.INFO, logger="orchestration.alerting"):
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
