#!/usr/bin/env python3
"""How big and how fast is the history store over a year of a default-like config?

Simulates `--days` (default 365) of 10 checks every minute (5-15 samples each, with outages
that change the sample set), writing through History.record() and heartbeat() like the daemon
and calling compact() every simulated hour. Prints record() cost per row, compaction time, the
file size over time, query times for 30-day and 1-year windows, the bytes per row of two other
sample layouts (measured, for the choice in docs/history.md), and, as the anchor, the bytes per
sample of Prometheus' TSDB for the same data (`promtool tsdb create-blocks-from openmetrics`).

    .venv/bin/python bench/bench_history.py               # a year: about 7 minutes on 2 cores
    .venv/bin/python bench/bench_history.py --days 40     # quick look
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from dxagent.history import History
from dxagent.history.schema import sample_key
from dxagent.model import Reason, Result, Sample, Status, t

START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
MIN = 60.0
HTTP_PHASES = ("dns", "connect", "tls", "request", "ttfb", "transfer", "total")


def _system(rng: random.Random, ts: float) -> tuple[Status, list[Sample]]:
    return Status.OK, [
        Sample.of("system_cpu_usage_ratio", rng.uniform(0.02, 0.6)), Sample.of("system_load_per_core", rng.uniform(0, 1)),
        Sample.of("system_load1", rng.uniform(0, 4)), Sample.of("system_cpu_cores", 4),
        Sample.of("system_memory_total_bytes", 8 * 2**30),
        Sample.of("system_memory_available_bytes", rng.randrange(2**30, 6 * 2**30)),
        Sample.of("system_memory_used_ratio", rng.uniform(0.2, 0.8)), Sample.of("system_swap_used_ratio", 0),
        Sample.of("system_filesystem_size_bytes", 250 * 10**9, mount="/"),
        Sample.of("system_filesystem_free_bytes", 120 * 10**9 - int(ts - START) * 300, mount="/"),
        Sample.of("system_filesystem_used_ratio", 0.52), Sample.of("system_uptime_seconds", int(ts - START) % 2_000_000),
    ]


def _dns(rng: random.Random, ts: float, down: bool) -> tuple[Status, list[Sample]]:
    if down:
        return Status.CRIT, [Sample.of("dns_lookup_success", 0)]
    return Status.OK, [Sample.of("dns_lookup_success", 1), Sample.of("dns_lookup_seconds", rng.uniform(0.001, 0.08)),
                       Sample.of("dns_answers", 2)]


def _ping(rng: random.Random, ts: float, down: bool) -> tuple[Status, list[Sample]]:
    if down:
        return Status.CRIT, [Sample.of("ping_loss_ratio", 1), Sample.of("ping_sent", 5), Sample.of("ping_received", 0)]
    rtts = [rng.uniform(0.004, 0.03) for _ in range(5)]
    return Status.OK, [
        Sample.of("ping_rtt_seconds", min(rtts), stat="min"), Sample.of("ping_rtt_seconds", statistics.fmean(rtts), stat="avg"),
        Sample.of("ping_rtt_seconds", max(rtts), stat="max"), Sample.of("ping_jitter_seconds", statistics.pstdev(rtts)),
        Sample.of("ping_loss_ratio", 0), Sample.of("ping_sent", 5), Sample.of("ping_received", 5),
    ]


def _tls(rng: random.Random, ts: float, down: bool) -> tuple[Status, list[Sample]]:
    if down:
        return Status.CRIT, [Sample.of("tls_success", 0), Sample.of("tls_handshake_seconds", 0)]
    return Status.OK, [Sample.of("tls_success", 1), Sample.of("tls_handshake_seconds", rng.uniform(0.02, 0.2)),
                       Sample.of("tls_not_after_timestamp_seconds", 1_767_225_600), Sample.of("tls_chain_length", 3),
                       Sample.of("tls_version", 1.3), Sample.of("tls_verified", 1)]


def _http(rng: random.Random, ts: float, down: bool) -> tuple[Status, list[Sample]]:
    if down:
        return Status.CRIT, [Sample.of("http_success", 0), Sample.of("http_duration_seconds", 4.0, phase="total"),
                             Sample.of("http_status_code", 0)]
    phases = [rng.uniform(0.001, 0.2) for _ in HTTP_PHASES[:-1]]
    return Status.OK, [
        Sample.of("http_success", 1),
        *(Sample.of("http_duration_seconds", v, phase=p) for p, v in zip(HTTP_PHASES, [*phases, sum(phases)], strict=True)),
        Sample.of("http_status_code", 200), Sample.of("http_body_bytes", 48_213), Sample.of("http_redirects", 1),
        Sample.of("http_version", 2), Sample.of("http_ssl", 1),
        Sample.of("http_ssl_earliest_cert_expiry_timestamp_seconds", 1_767_225_600),
    ]


def _interfaces(rng: random.Random, ts: float, down: bool) -> tuple[Status, list[Sample]]:
    n = int(ts - START)
    out = []
    for ifname, rate in (("eth0", 2_000_000), ("eth1", 150_000)):
        out += [Sample.of("interface_up", 0 if down and ifname == "eth0" else 1, interface=ifname),
                Sample.of("interface_speed_bits", 10**9, interface=ifname),
                Sample.of("interface_receive_bytes_total", n * rate + rng.randrange(1000), interface=ifname),
                Sample.of("interface_transmit_bytes_total", n * rate // 3, interface=ifname),
                Sample.of("interface_errors_total", n // 86400, interface=ifname)]
    return (Status.CRIT if down else Status.OK), out


CHECKS = [("system", "system", "", _system), ("dns-portal", "dns", "dichvucong.gov.vn", _dns),
          ("dns-vneid", "dns", "vneid.gov.vn", _dns), ("gateway", "ping", "192.0.2.1", _ping),
          ("province-dc", "ping", "198.51.100.10", _ping), ("tls-portal", "tls", "dichvucong.gov.vn:443", _tls),
          ("tls-mail", "tls", "mail.example.gov.vn:443", _tls), ("portal", "http", "https://dichvucong.gov.vn/", _http),
          ("tthc", "http", "https://dichvucong.example.gov.vn/", _http), ("lan", "interfaces", "192.0.2.1", _interfaces)]


def minute_results(rng: random.Random, ts: float, outage: bool) -> list[Result]:
    out = []
    for n, (cid, kind, target, make) in enumerate(CHECKS):
        status, samples = make(rng, ts) if make is _system else make(rng, ts, outage and n % 2 == 1)  # type: ignore[call-arg]
        out.append(Result(cid, kind, target, status, t("synthetic", "tổng hợp"),
                          reason=None if status == Status.OK else Reason.DOWN, samples=tuple(samples),
                          started=ts + n * 2.5, duration=rng.uniform(0.005, 0.3)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--anchor-days", type=float, default=1.0, help="days of data given to promtool (0: skip)")
    args = ap.parse_args()
    rng = random.Random(42)
    tmp = Path(tempfile.mkdtemp(prefix="bench-history-"))
    path = tmp / "history.sqlite"
    h = History.open(path)
    intervals = {c[0]: MIN for c in CHECKS}
    rec_times, comp_times, rows, n_samples, sizes = [], [], 0, 0, {}
    minutes = int(args.days * 1440)
    outage_left = 0
    wall = time.perf_counter()
    for m in range(minutes):
        ts = START + m * MIN
        if outage_left == 0 and rng.random() < 1 / 2000:  # about five 5-40 minute outages a week
            outage_left = rng.randint(5, 40)
        batch = minute_results(rng, ts, outage_left > 0)
        outage_left = max(0, outage_left - 1)
        t0 = time.perf_counter()
        h.record(batch, intervals)
        rec_times.append(time.perf_counter() - t0)
        rows += len(batch)
        n_samples += sum(len(r.samples) for r in batch)
        h.heartbeat(ts + 40)
        if m % 60 == 59:
            t0 = time.perf_counter()
            h.compact(ts + MIN)
            comp_times.append(time.perf_counter() - t0)
        if m % 1440 == 1439 and (m + 1) // 1440 in {1, 7, 35, 36, 90, 180, 365, args.days}:
            sizes[(m + 1) // 1440] = path.stat().st_size
    wall = time.perf_counter() - wall
    end = START + minutes * MIN
    per_row = statistics.fmean(rec_times) / len(CHECKS)
    samples_per_row = statistics.fmean(len(r.samples) for r in minute_results(rng, START, False))
    print(f"simulated {args.days} days: {rows:,} results ({samples_per_row:.1f} samples each when OK), "
          f"wall {wall:.0f} s")
    print(f"record(): {per_row * 1e6:.1f} µs per row in batches of {len(CHECKS)} "
          f"(p99 {sorted(rec_times)[int(len(rec_times) * 0.99)] * 1e3:.2f} ms per call)")
    print(f"compact() every hour: mean {statistics.fmean(comp_times) * 1e3:.1f} ms, max {max(comp_times) * 1e3:.0f} ms")
    for day, size in sorted(sizes.items()):
        print(f"file after {day:>3} days: {size / 2**20:7.1f} MiB")
    conn = sqlite3.connect(path)
    for table in ("raw", "hourly", "transitions", "alive", "series", "layouts"):
        n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        size = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name IN (SELECT name FROM sqlite_schema"
                            " WHERE type = 'index' AND tbl_name = ?)", (table, table)).fetchone()[0] or 0
        print(f"  {table:<12} {n:>9,} rows {size / 2**20:7.1f} MiB" + (f"  ({size / n:.0f} B/row)" if n else ""))
    conn.close()
    for label, span in (("30 days", 30 * 86400), ("1 year", 365 * 86400)):
        t0 = time.perf_counter()
        got = h.status_seconds(end - span, end)
        ms = (time.perf_counter() - t0) * 1e3
        avail = statistics.fmean(v["OK"] / (span - v["nodata"]) for v in got.values() if span > v["nodata"])
        print(f"status_seconds over {label}: {ms:.0f} ms for {len(got)} series (mean availability {avail:.4%})")
    h.close()
    path_size = path.stat().st_size
    layouts(rng)
    if args.anchor_days > 0:
        per_sample = anchor(rng, tmp, args.anchor_days)
        if per_sample:
            print(f"  at that rate, {args.days} days of these {n_samples:,} samples in Prometheus (no downsampling): "
                  f"{per_sample * n_samples / 2**20:.0f} MiB; dxagent: {path_size / 2**20:.0f} MiB")
    shutil.rmtree(tmp)


def layouts(rng: random.Random) -> None:
    """Bytes per result for one day: chosen layout vs a samples table vs JSON objects with names."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-layouts-"))
    h = History.open(tmp / "chosen.sqlite")
    alt = sqlite3.connect(tmp / "alt.sqlite")
    alt.executescript("""
        CREATE TABLE st (series INTEGER, ts INTEGER, status INTEGER, PRIMARY KEY (series, ts)) WITHOUT ROWID;
        CREATE TABLE sv (series INTEGER, ts INTEGER, key INTEGER, value REAL, PRIMARY KEY (series, ts, key)) WITHOUT ROWID;
        CREATE TABLE jo (series INTEGER, ts INTEGER, status INTEGER, samples TEXT);
        CREATE INDEX jo_i ON jo (series, ts);""")
    keys: dict[str, int] = {}
    n = 0
    for m in range(1440):
        batch = minute_results(rng, START + m * MIN, False)
        h.record(batch, {c[0]: MIN for c in CHECKS})
        with alt:
            for s, r in enumerate(batch):
                ms = round(r.started * 1000)
                alt.execute("INSERT INTO st VALUES (?, ?, ?)", (s, ms, int(r.status)))
                alt.executemany("INSERT INTO sv VALUES (?, ?, ?, ?)", [
                    (s, ms, keys.setdefault(sample_key(x), len(keys)), x.value) for x in r.samples])
                alt.execute("INSERT INTO jo VALUES (?, ?, ?, ?)", (s, ms, int(r.status), json.dumps(
                    {sample_key(x): x.value for x in r.samples}, separators=(",", ":"))))
                n += 1
    h.close()
    conn = sqlite3.connect(tmp / "chosen.sqlite")
    mine = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN ('raw', 'raw_series_ts')").fetchone()[0]
    conn.close()
    size = {name: alt.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN (?, ?)", names).fetchone()[0]
            for name, names in (("table", ("st", "sv")), ("json", ("jo", "jo_i")))}
    alt.close()
    print(f"layouts, bytes per result: layout + value array {mine / n:.0f} (chosen), "
          f"samples table {size['table'] / n:.0f}, JSON object with names {size['json'] / n:.0f}")
    shutil.rmtree(tmp)


def anchor(rng: random.Random, tmp: Path, days: float) -> float | None:
    """The same data backfilled into Prometheus' TSDB: its bytes per sample is the anchor."""
    promtool = shutil.which("promtool")
    if promtool is None:
        print("anchor: promtool not installed, skipped")
        return None
    om = tmp / "data.om"
    count = 0
    with om.open("w") as f:
        lines = []
        for m in range(int(days * 1440)):
            for r in minute_results(rng, START + m * MIN, False):
                for s in r.samples:
                    labels = ",".join([f'check="{r.check_id}"', *(f'{k}="{v}"' for k, v in s.labels)])
                    lines.append((f"dxagent_{s.name}{{{labels}}}", r.started, s.value))
        lines.sort(key=lambda x: (x[0].split("{")[0], x[0], x[1]))  # OpenMetrics: one family at a time
        family = None
        for series, ts, value in lines:
            name = series.split("{")[0]
            if name != family:
                f.write(f"# TYPE {name} gauge\n")
                family = name
            f.write(f"{series} {value if math.isfinite(value) else 0} {ts:.3f}\n")
            count += 1
        f.write("# EOF\n")
    out = tmp / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(out)],
                   check=True, capture_output=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"anchor: Prometheus TSDB (promtool backfill) {size / count:.2f} B/sample for {count:,} samples "
          f"({days:g} day{'s' if days != 1 else ''}); dxagent raw rows store whole results, see above")
    return size / count


if __name__ == "__main__":
    main()
