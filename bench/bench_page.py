"""The status page's server-side cost for 200 checks: median of 100 renders (budget: 50 ms).

Run by hand:  .venv/bin/python bench/bench_page.py [--checks 200] [--repeat 100]

Two figures. "handler" is the whole `GET /` handler of a Daemon holding 200 checks' latest
results in every state (OK, WARN, CRIT, UNKNOWN, stale, not run yet) over a real History with a
day of results, after a first request warmed its caches (since-when, readiness, outages) — what
each 15-second poll of an open browser costs the agent's event loop. "HTTP" is the same page
fetched from a running `dxagent run` with 200 TCP checks against a loopback listener (connection,
parsing, gzip and the handler), for comparison with /metrics. No traffic leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.promtools import Proc, free_port, wait_http  # noqa: E402
from tests.tcpserver import greet, serve_tcp  # noqa: E402


def config_text(n: int, state: Path, port: int, interval: str = "1m") -> str:
    kinds = ["tcp", "tcp", "http", "certfile", "ping"]
    lines = [f"site: {{id: bench, name: 'UBND xã Bench', province: ha-noi}}\nstate_dir: {state}\nchecks:"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        group = ["tslcd", "portals", "meeting", "lan", "uplink"][i % 5]
        if kind == "tcp":
            spec = f"host: 127.0.0.1, port: {port}"
        elif kind == "http":
            spec = f"url: 'http://127.0.0.1:{port}/p{i}'"
        elif kind == "certfile":
            spec = "paths: [/dev/null]"
        else:
            spec = "targets: [127.0.0.1], count: 1"
        lines.append(f"  - {{id: c{i:03d}, kind: {kind}, {spec}, interval: {interval}, timeout: 5s, groups: [{group}]}}")
    return "\n".join(lines) + "\n"


def handler_ms(n: int, repeat: int) -> list[float]:
    from dxagent.config import load_text
    from dxagent.daemon import Daemon
    from dxagent.daemon.server import Request
    from dxagent.daemon.statuspage import StatusPage
    from dxagent.history import History
    from dxagent.model import Reason, Result, Status, t

    tmp = Path(tempfile.mkdtemp(prefix="bench-page-"))
    cfg = load_text(config_text(n, tmp / "state", 9))
    daemon = Daemon(cfg)
    daemon.history = History.open(tmp / "h.sqlite")
    now = time.time()
    statuses = [Status.OK] * 6 + [Status.WARN, Status.CRIT, Status.UNKNOWN]
    batches = []
    for step in range(24 * 6, -1, -1):  # a day of results every 10 minutes
        batch = []
        for i, c in enumerate(cfg.checks):
            st = statuses[(i + (step // 36)) % len(statuses)]
            started = now - step * 600 - (2400 if i % 50 == 0 and step == 0 else 0)  # a few stale
            batch.append(Result(c.id, c.kind, f"target-{i}", st, t(f"summary {i} <b>", f"kết quả {i} <b>"),
                                hint=t("do this", "làm thế này") if st else None,
                                reason=Reason.TIMEOUT if st else None, started=started, duration=0.123))
        batches.append(batch)
    for batch in batches:
        daemon.history.record(batch, {c.id: 600.0 for c in cfg.checks})
    daemon.latest.update(r for r in batches[-1] if not r.check_id.endswith("7"))  # some not run yet
    page = StatusPage(daemon)
    req = Request("GET", "/", {"lang": ["vi"]}, {"accept-language": "vi"}, "127.0.0.1")

    async def run() -> list[float]:
        from dxagent.probe import install_executor

        install_executor(asyncio.get_running_loop())
        await page.page(req)  # warm: since-when, readiness (site report), outages, template compile
        await asyncio.sleep(0)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            resp = await page.page(req)
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status == 200 and (b"c199" in resp.body or n < 200)
        return times

    try:
        return asyncio.run(run())
    finally:
        daemon.history.close()


def http_ms(n: int, repeat: int) -> tuple[list[float], int]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-page-http-"))
    with serve_tcp(greet(b"220 ok\r\n")) as port:
        path = tmp / "c.yml"
        text = config_text(n, tmp / "state", port).replace("kind: http, url", "kind: tcp, url")
        lines = [ln if "kind: tcp, url" not in ln else ln.split(" url:")[0] + f" host: 127.0.0.1, port: {port},"
                 + ln.split("',", 1)[1] for ln in text.splitlines()]
        path.write_text("\n".join(lines) + "\n")
        listen = free_port()
        proc = Proc([sys.executable, "-m", "dxagent", "run", "-c", str(path), "--listen", f"127.0.0.1:{listen}",
                     "--log-level", "warning"])
        try:
            url = f"http://127.0.0.1:{listen}/"
            wait_http(url, timeout=20)
            time.sleep(8)  # first runs of every check
            times, size = [], 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept-Language": "vi"})) as r:
                    body = r.read()
                times.append((time.perf_counter() - t0) * 1000)
                size = len(body)
            return times, size
        finally:
            proc.stop(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--no-http", action="store_true", help="only the in-process handler figure")
    args = ap.parse_args()
    times = handler_ms(args.checks, args.repeat)
    print(f"handler, {args.checks} checks: median {statistics.median(times):.1f} ms, "
          f"p90 {statistics.quantiles(times, n=10)[-1]:.1f} ms, max {max(times):.1f} ms (budget 50 ms)")
    if not args.no_http:
        times, size = http_ms(args.checks, args.repeat)
        print(f"HTTP GET / from dxagent run, {args.checks} checks: median {statistics.median(times):.1f} ms, "
              f"p90 {statistics.quantiles(times, n=10)[-1]:.1f} ms, page {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
