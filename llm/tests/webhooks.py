"""A real HTTP receiver on 127.0.0.1 for webhook tests, and an email backend whose SMTP is down.

Import the `webhook_server` fixture into a test module to use it. Paths decide the answer:
/ok → 200, /fail → 500, /reject → 400, /slow → answers after 2 s (past a shortened client timeout).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from smtplib import SMTPException

import pytest
from django.core.mail.backends.base import BaseEmailBackend


class FailingEmailBackend(BaseEmailBackend):
    """Stands in for an unreachable SMTP server: every send raises like smtplib would."""

    def send_messages(self, email_messages):
        raise SMTPException("Connection unexpectedly closed")


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(
            {"path": self.path, "content_type": self.headers.get("Content-Type"), "json": json.loads(body)}
        )
        status = {"/ok": 200, "/fail": 500, "/reject": 400, "/moved": 302}.get(self.path, 200)
        if self.path == "/slow":
            time.sleep(2)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            if status == 302:
                self.send_header("Location", "/ok")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"nope")
        except (BrokenPipeError, ConnectionResetError):
            pass  # /slow: the client gave up waiting, as intended

    def log_message(self, *args):  # keep test output clean
        pass


class WebhookServer:
    def __init__(self, httpd):
        self.httpd = httpd
        self.received = httpd.received

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def paths(self) -> list[str]:
        return [item["path"] for item in self.received]


@pytest.fixture
def webhook_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.received = []
    httpd.daemon_threads = True
    httpd.block_on_close = False  # a /slow handler must not hold up teardown
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield WebhookServer(httpd)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fast_webhooks(monkeypatch):
    """Keep the retry schedule but not its waiting: a 0.5 s timeout and no pause between attempts."""
    from llm.alerts import notify

    monkeypatch.setattr(notify, "WEBHOOK_TIMEOUT", 0.5)
    monkeypatch.setattr(notify, "WEBHOOK_RETRY_DELAY", 0)
