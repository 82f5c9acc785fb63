"""The HTTP listener and the exporter-toolkit web config: TLS, basic auth, limits, loopback-only routes."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import ssl
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import bcrypt
import pytest

from dxagent.config import ConfigError
from dxagent.daemon import server as srv
from dxagent.daemon.server import HTTPServer, Request, Response, Route, is_loopback, parse_listen
from dxagent.daemon.webconfig import BasicAuth, WebConfig, load_web_config
from tests import netns
from tests.pki import TestPKI
from tests.promtools import free_port

ROOT = Path(__file__).resolve().parents[1]
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


async def hello(req: Request) -> Response:
    return Response(200, b"hello " + (req.user or "anonymous").encode() + b"\n" + b"x" * 2000)


ROUTES = {"/hello": Route(hello), "/-/local": Route(hello, methods=("POST",), loopback_only=True)}


async def exchange(port: int, raw: bytes, ctx: ssl.SSLContext | None = None, read_timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    writer.write(raw)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), read_timeout)
    finally:
        writer.close()


def auth_header(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() + "\r\n"


@pytest.fixture
async def plain() -> AsyncIterator[HTTPServer]:
    server = HTTPServer(ROUTES)
    await server.start(f"127.0.0.1:{free_port()}")
    yield server
    await server.close()


async def test_routes_methods_head_and_gzip(plain: HTTPServer) -> None:
    assert plain.address is not None
    port = plain.address[1]
    ok = await exchange(port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 OK") and b"hello anonymous" in ok
    assert (await exchange(port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")).startswith(b"HTTP/1.1 404")
    assert (await exchange(port, b"DELETE /hello HTTP/1.1\r\nConnection: close\r\n\r\n")).startswith(b"HTTP/1.1 405")
    head = await exchange(port, b"HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    zipped = await exchange(port, b"GET /hello HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
    _, _, body = zipped.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in zipped and gzip.decompress(body).startswith(b"hello")
    assert (await exchange(port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400")


async def test_keep_alive_serves_several_requests(plain: HTTPServer) -> None:
    assert plain.address is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", plain.address[1])
    for _ in range(3):
        writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
    writer.close()


async def test_limits_on_hostile_clients(plain: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert plain.address is not None
    port = plain.address[1]
    huge = b"GET /hello HTTP/1.1\r\nX: " + b"a" * (srv.MAX_HEADER_BYTES + 10) + b"\r\n\r\n"
    assert (await exchange(port, huge)).startswith(b"HTTP/1.1 431")
    big_body = b"POST /-/local HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
    assert (await exchange(port, big_body)).startswith(b"HTTP/1.1 413")
    # A client that sends half a request and stalls is dropped after the header timeout.
    monkeypatch.setattr(srv, "HEADER_TIMEOUT", 0.3)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await exchange(port, b"GET /hello HTTP/1.1\r\n", read_timeout=5) == b""
    assert loop.time() - t0 < 3


async def test_basic_auth_and_loopback_route() -> None:
    server = HTTPServer(ROUTES, WebConfig(basic_auth_users={"prom": HASH}))
    await server.start(f"127.0.0.1:{free_port()}")
    try:
        assert server.address is not None
        port = server.address[1]
        denied = await exchange(port, b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert denied.startswith(b"HTTP/1.1 401") and b'WWW-Authenticate: Basic realm="dxagent"' in denied
        wrong = await exchange(port, ("GET /hello HTTP/1.1\r\nConnection: close\r\n" + auth_header("prom", "nope")
                                      + "\r\n").encode())
        assert wrong.startswith(b"HTTP/1.1 401")
        nobody = await exchange(port, ("GET /hello HTTP/1.1\r\nConnection: close\r\n" + auth_header("eve", "s3cret")
                                       + "\r\n").encode())
        assert nobody.startswith(b"HTTP/1.1 401")
        good = await exchange(port, ("GET /hello HTTP/1.1\r\nConnection: close\r\n" + auth_header("prom", "s3cret")
                                     + "\r\n").encode())
        assert good.startswith(b"HTTP/1.1 200") and b"hello prom" in good
        # loopback-only routes skip basic auth (the peer check is the guard) ...
        local = await exchange(port, b"POST /-/local HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        assert local.startswith(b"HTTP/1.1 200")
    finally:
        await server.close()


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.5") and not is_loopback("::ffff:10.0.0.5") and not is_loopback("fe80::1%eth0")
    assert not is_loopback("garbage")
    assert parse_listen("0.0.0.0:10190") == ("0.0.0.0", 10190)
    assert parse_listen("[::1]:9") == ("::1", 9)
    assert parse_listen(":10190") == (None, 10190)


async def test_tls_with_basic_auth(tmp_path: Path) -> None:
    pki = TestPKI(tmp_path)
    leaf = pki.leaf(hosts=("localhost", "127.0.0.1"))
    web_file = tmp_path / "web.yml"
    web_file.write_text(f"tls_server_config:\n  cert_file: {leaf.chain}\n  key_file: {leaf.key}\n"
                        f"basic_auth_users:\n  prom: {HASH}\n"
                        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    web = load_web_config(web_file)
    server = HTTPServer(ROUTES, web)
    await server.start(f"127.0.0.1:{free_port()}")
    try:
        assert server.address is not None
        port = server.address[1]
        ctx = ssl.create_default_context(cafile=str(leaf.ca))
        good = await exchange(port, ("GET /hello HTTP/1.1\r\nConnection: close\r\n" + auth_header("prom", "s3cret")
                                     + "\r\n").encode(), ctx)
        assert good.startswith(b"HTTP/1.1 200") and b"X-Frame-Options: deny" in good
        denied = await exchange(port, b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", ctx)
        assert denied.startswith(b"HTTP/1.1 401")
        try:  # plain HTTP to the TLS port gets nothing useful
            reply = await exchange(port, b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
        except OSError:
            reply = b""
        assert b"hello" not in reply
    finally:
        await server.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("basic_auth_users:\n  prom: plaintext\n", "web.yml:2: basic_auth_users: password of 'prom' must be a bcrypt hash"),
    ("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n",
     "web.yml: tls_server_config: cannot load certificate/key"),
    ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
     "web.yml:2: tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file"),
    ("tls_server_confg: {}\n", "web.yml:1: tls_server_confg: unknown field"),
    ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS9\n", "web.yml:4: tls_server_config.min_version"),
    ("- a list\n", "web.yml:1: the web config must be a YAML mapping"),
])
def test_web_config_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert expected in str(info.value).replace(str(tmp_path) + "/", "")


def test_basic_auth_cache_and_unknown_users() -> None:
    auth = BasicAuth({"prom": HASH})
    assert auth.check("prom", "s3cret") and auth.check("prom", "s3cret")  # second answer from the cache
    assert not auth.check("prom", "S3cret") and not auth.check("nobody", "s3cret")
    assert not BasicAuth({}).enabled


@pytest.fixture
def lab() -> Iterator[netns.NetLab]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


@pytest.mark.slow
@pytest.mark.root
async def test_scrapes_succeed_during_an_idle_connection_flood_from_one_address(lab: netns.NetLab) -> None:
    """Issue 16: 1,000 idle connections from one namespace address; 100/100 scrapes from another, each < 1 s."""
    lan = lab.lan()
    flooder = lan.add_host()
    server = HTTPServer(ROUTES)
    await server.start(f"{lan.gateway_v4}:{free_port()}")
    assert server.address is not None
    port = server.address[1]
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", flooder.ns, sys.executable, "-m", "tests.flood", lan.gateway_v4, str(port), "1000", "40",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"flooding"
        await asyncio.sleep(3)  # the flood is on: the flooder's address holds its share, the rest is reset
        assert server._per_client.get(flooder.v4) == srv.MAX_PER_CLIENT and server.refused > 100
        times = []
        for _ in range(100):
            t0 = time.monotonic()
            reply = await asyncio.wait_for(
                exchange_from(lan.gateway_v4, port, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 1.0)
            times.append(time.monotonic() - t0)
            assert reply.startswith(b"HTTP/1.1 200") and b"hello anonymous" in reply
        assert max(times) < 1.0 and server._per_client.get(flooder.v4) == srv.MAX_PER_CLIENT
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        stats = json.loads(out.decode().splitlines()[-1])
        assert stats["connects"] >= 1000 and stats["max_open"] >= srv.MAX_PER_CLIENT, (stats, err)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.close()


async def exchange_from(host: str, port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    try:
        return await reader.read()
    finally:
        writer.close()


def client_cert(pki: TestPKI, tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A client certificate (EKU clientAuth, SAN `name`) issued by the PKI's intermediate; (chain, key) files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(pki.intermediate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(pki.intermediate_key, hashes.SHA256()))
    chain, key_path = tmp_path / f"{name}.chain.pem", tmp_path / f"{name}.key.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                      + pki.intermediate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_path


async def test_client_certificates_and_allowed_sans(tmp_path: Path) -> None:
    """TLS starts after admission now (per connection): client verification and SAN rules still hold."""
    pki = TestPKI(tmp_path)
    leaf = pki.leaf(hosts=("localhost", "127.0.0.1"))
    web_file = tmp_path / "web.yml"
    web_file.write_text(f"tls_server_config:\n  cert_file: {leaf.chain}\n  key_file: {leaf.key}\n"
                        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.root_pem}\n"
                        "  client_allowed_sans: [prometheus.test]\n")
    server = HTTPServer(ROUTES, load_web_config(web_file))
    await server.start(f"127.0.0.1:{free_port()}")
    try:
        assert server.address is not None
        port = server.address[1]
        request = b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"

        def ctx_with(name: str | None) -> ssl.SSLContext:
            ctx = ssl.create_default_context(cafile=str(leaf.ca))
            if name is not None:
                ctx.load_cert_chain(*map(str, client_cert(pki, tmp_path, name)))
            return ctx

        assert (await exchange(port, request, ctx_with("prometheus.test"))).startswith(b"HTTP/1.1 200")
        assert (await exchange(port, request, ctx_with("intruder.test"))).startswith(b"HTTP/1.1 403")
        try:  # no client certificate: the handshake (or the first read) fails, nothing is served
            reply = await exchange(port, request, ctx_with(None))
        except (OSError, ssl.SSLError):
            reply = b""
        assert b"hello" not in reply
    finally:
        await server.close()
