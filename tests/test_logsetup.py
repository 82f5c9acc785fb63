"""Logging setup: third-party loggers that print URLs never reveal secrets, even at debug."""

from __future__ import annotations

import io
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx

from dxagent.logsetup import setup


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_request_urls_with_tokens_never_reach_the_log_at_debug() -> None:
    srv = HTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup("debug", "text", stream=stream)
        httpx.get(f"http://127.0.0.1:{srv.server_address[1]}/hook?token=s3cr3t-token")
        logging.getLogger("dxagent.test").debug("visible")
    finally:
        srv.shutdown()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    out = stream.getvalue()
    assert "visible" in out
    assert "s3cr3t-token" not in out
