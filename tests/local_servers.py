"""Real local servers for alert tests: an HTTP recorder and an aiosmtpd SMTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


# --- local HTTP server ---------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    query: dict
    raw_query: str
    headers: dict
    body: object


class Recorder(ThreadingHTTPServer):
    """Records every POST; fails the first ``fail_first`` with HTTP 500, then answers ``reply``."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.fail_first = 0
        self.status = 200
        self.reply: dict | str = {"errcode": 0, "errmsg": "ok"}
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server naming
        server: Recorder = self.server  # type: ignore[assignment]
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = urlsplit(self.path)
        with server.lock:
            server.received.append(Received(parts.path, parse_qs(parts.query), parts.query,
                                            dict(self.headers), json.loads(raw)))
            failing = len(server.received) <= server.fail_first
        status = 500 if failing else server.status
        reply = server.reply if not failing else "internal error"
        data = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(reply, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def running_recorder(reply: dict | str | None = None):
    """A :class:`Recorder` serving on a background thread for the duration of the block."""
    server = Recorder()
    if reply is not None:
        server.reply = reply
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- local SMTP server ---------------------------------------------------------------------------
class Mailbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class EphemeralController(Controller):
    """aiosmtpd Controller bound to port 0; ``port`` is the real one once started."""

    def _create_server(self):
        async def create():
            server = await Controller._create_server(self)
            self.port = server.sockets[0].getsockname()[1]
            return server
        return create()


@contextlib.contextmanager
def running_smtp():
    """A :class:`Mailbox` behind a real SMTP server on 127.0.0.1 (``mailbox.port``)."""
    mailbox = Mailbox()
    controller = EphemeralController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
