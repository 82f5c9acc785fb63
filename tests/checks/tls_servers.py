"""Real loopback servers for the tls kind's tests, beyond the HTTPS server in tests/pki.py.

- `hanging_server()`: accepts TCP and never speaks (a hostile or hung TLS endpoint).
- `once_then_hang(ctx)`: a real TLS handshake on the first connection, silence on the next ones.
- `mail_starttls_server(proto, ctx)`: a tiny IMAP or POP3 server speaking just enough protocol to
  upgrade with STARTTLS/STLS, then a real TLS handshake (`StreamWriter.start_tls`).
- `smtp_server(ctx)`: a real aiosmtpd SMTP server offering STARTTLS.
- `blackbox_exporter(config)`: the Debian prometheus-blackbox-exporter on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from tests.pki import Leaf, free_port
from tests.promtools import Proc, wait_http
from tests.tcpserver import hold, serve_tcp

__all__ = ["hanging_server", "once_then_hang", "mail_starttls_server", "smtp_server", "blackbox_exporter", "server_context", "scrape"]


def server_context(leaf: Leaf, *, send_chain: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(leaf.chain if send_chain else leaf.cert), str(leaf.key))
    return ctx


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """A listener that accepts connections and holds them open silently; yields its port."""
    with serve_tcp(hold) as port:
        yield port


@contextlib.contextmanager
def once_then_hang(ctx: ssl.SSLContext) -> Iterator[int]:
    """Serves one TLS handshake, then accepts connections and holds them silently; yields its port."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def run() -> None:
        with contextlib.suppress(OSError):
            first, _ = srv.accept()
            with contextlib.suppress(OSError, ssl.SSLError), ctx.wrap_socket(first, server_side=True) as tls:
                tls.settimeout(5)
                tls.recv(1)
            while True:
                conn, _ = srv.accept()
                held.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()
        for conn in held:
            conn.close()


@contextlib.asynccontextmanager
async def mail_starttls_server(proto: str, ctx: ssl.SSLContext, *, refuse: bool = False) -> AsyncIterator[int]:
    """An IMAP (`proto="imap"`) or POP3 (`"pop3"`) server that upgrades to TLS on request."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if proto == "imap":
                writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] dxagent test IMAP ready\r\n")
                line = await reader.readline()
                if not line.upper().startswith(b"A001 STARTTLS"):
                    writer.write(b"a001 BAD expected STARTTLS\r\n")
                    return
                writer.write(b"a001 NO STARTTLS disabled\r\n" if refuse else b"a001 OK Begin TLS negotiation now\r\n")
            else:
                writer.write(b"+OK dxagent test POP3 ready\r\n")
                line = await reader.readline()
                if line.strip().upper() != b"STLS":
                    writer.write(b"-ERR expected STLS\r\n")
                    return
                writer.write(b"-ERR STLS disabled\r\n" if refuse else b"+OK Begin TLS negotiation\r\n")
            await writer.drain()
            if not refuse:
                await writer.start_tls(ctx)
                await reader.read(1024)  # until the client closes
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def smtp_server(ctx: ssl.SSLContext) -> Iterator[int]:
    """A real aiosmtpd server on 127.0.0.1 that advertises and performs STARTTLS; yields its port."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=ctx, ready_timeout=5)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def scrape(url: str, timeout: float = 10) -> dict[str, float]:
    """Fetch a Prometheus text page and return {series (name plus labels): value}, comments skipped."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


@contextlib.contextmanager
def blackbox_exporter(config: str, workdir: Path) -> Iterator[str]:
    """Run prometheus-blackbox-exporter with `config` on a loopback port; yields its base URL."""
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        import pytest

        pytest.skip("prometheus-blackbox-exporter is not installed (apt-get install prometheus-blackbox-exporter)")
    cfg = workdir / "blackbox.yml"
    cfg.write_text(config)
    port = free_port()
    proc = Proc([binary, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}"])
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + "/-/healthy", timeout=10)
        except AssertionError:
            raise RuntimeError("blackbox_exporter did not start: " + "\n".join(proc.log()[-10:])) from None
        yield base
    finally:
        proc.stop(5)
