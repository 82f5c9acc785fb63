"""A realistic commune site for report tests and the docs example: 30 days in a real History + a snapshot.

`build_demo(folder, hostile=False)` → (history_path, snapshot_path, config_path). With `hostile`, network-
sourced strings (an HTTP title in a summary, a certificate subject, an SNMP sysDescr) carry markup.
Run `python -m tests.reports.demo OUT_DIR` to write the docs example (HTML + PNG via chromium).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from dxagent.model import Status
from tests.reports.histories import DAY, T0, Site, ok, result

UNTIL = T0 + 30 * DAY
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

CONFIG = """\
site: {id: hn-xa-phu-dong, name: "UBND xã Phù Đổng", province: ha-noi, level: commune, staff: 24}
state_dir: STATE
checks:
  - {id: gateway, kind: ping, targets: [gateway]}
  - {id: dc-ping, kind: ping, targets: [10.20.0.1], groups: [tslcd]}
  - {id: portal-dichvucong, kind: http, url: "https://dichvucong.gov.vn/", groups: [national]}
  - {id: portal-vneid, kind: http, url: "https://vneid.gov.vn/", groups: [national]}
  - {id: tthc-tinh, kind: http, url: "https://dichvucong.hanoi.gov.vn/", groups: [province]}
  - {id: lan, kind: interfaces}
  - {id: tls-dichvucong, kind: tls, host: dichvucong.gov.vn}
  - {id: tls-vneid, kind: tls, host: vneid.gov.vn}
  - {id: clock, kind: clock, servers: [ntp.tinh]}
  - {id: uplink-router, kind: snmp, host: 192.168.1.1, version: v2c, community: public}
"""


def _wave(ts: float, base: float, amp: float) -> float:
    return base + amp * (1 + math.sin((ts - T0) / DAY * 2 * math.pi)) / 2


def build_demo(folder: Path, hostile: bool = False) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    site = Site(folder)
    down = (T0 + 12 * DAY, T0 + 12 * DAY + 5 * 3600)  # a 5-hour provincial link outage

    def dc_status(ts: float) -> Status:
        return Status.CRIT if down[0] <= ts < down[1] else Status.OK

    def dc_samples(ts: float) -> dict[str, float]:
        return {'ping_rtt_seconds{stat="avg"}': _wave(ts, 0.012, 0.03), "ping_loss_ratio": 0.0,
                "ping_jitter_seconds": 0.004}

    def portal(ts: float) -> dict[str, float]:
        return {'http_duration_seconds{phase="total"}': _wave(ts, 0.6, 1.2)}

    agent_off = (T0 + 20 * DAY, T0 + 21 * DAY)  # the PC was switched off for a day: a gap, not an outage
    site.steps(T0, UNTIL, [
        ("gateway", "ping", "192.168.1.1", ok, lambda ts: {'ping_rtt_seconds{stat="avg"}': 0.0006}),
        ("dc-ping", "ping", "10.20.0.1", dc_status, dc_samples),
        ("portal-dichvucong", "http", "https://dichvucong.gov.vn/", ok, portal),
        ("portal-vneid", "http", "https://vneid.gov.vn/", ok, portal),
        ("tthc-tinh", "http", "https://dichvucong.hanoi.gov.vn/", ok, lambda ts: {}),
    ], alive=lambda ts: not agent_off[0] <= ts < agent_off[1],
        groups={"dc-ping": ("tslcd",), "portal-dichvucong": ("national",), "portal-vneid": ("national",),
                "tthc-tinh": ("province",)})
    site.close()
    subject = HOSTILE if hostile else "CN=dichvucong.gov.vn"
    latest = [
        result("gateway", "ping", "192.168.1.1", UNTIL - 60, Status.OK, {'ping_rtt_seconds{stat="avg"}': 0.0006}),
        result("lan", "interfaces", "eth0", UNTIL - 60, Status.OK, {'interface_error_ratio{direction="receive"}': 0.0}),
        result("tls-dichvucong", "tls", "dichvucong.gov.vn:443", UNTIL - 60, Status.WARN,
               {"tls_chain_earliest_not_after_timestamp_seconds": UNTIL + 21 * 86400, "tls_verified": 1}),
        result("tls-vneid", "tls", "vneid.gov.vn:443", UNTIL - 60, Status.OK, {"tls_chain_earliest_not_after_timestamp_seconds": UNTIL + 160 * 86400,
                                                                               "tls_verified": 1}),
        result("clock", "clock", "ntp.tinh", UNTIL - 60, Status.OK, {"clock_offset_seconds": 0.04}),
        result("inventory", "discovery", "192.168.1.0/24", UNTIL - 60, Status.WARN,
               {"inventory_workstation_coverage_ratio": 22 / 24, "discovery_os_supported_ratio": 0.86,
                "discovery_antimalware_ratio": 1.0}),
        result("uplink-router", "snmp", "192.168.1.1 wan0", UNTIL - 60, Status.OK,
               {'snmp_interface_speed_bytes_per_second{interface="wan0"}': 200e6 / 8}),
    ]
    doc = {"schema_version": 1, "generated_at": UNTIL, "lang": "vi",
           "site": {"id": "hn-xa-phu-dong", "name": "UBND xã Phù Đổng", "province": "ha-noi", "level": "commune",
                    "staff": 24},
           "results": [r.to_dict("vi") for r in latest]}
    doc["results"][2]["summary"] = f"chứng chỉ {subject} còn 21 ngày"
    doc["results"][2]["details"] = {"subject": subject}
    doc["results"][5]["summary"] = "22/24 máy trạm; " + (f"sysDescr {HOSTILE}" if hostile else "sysDescr RouterOS")
    snap = folder / "snapshot.json"
    snap.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    cfg = folder / "dxagent.yml"
    cfg.write_text(CONFIG.replace("STATE", str(folder)), encoding="utf-8")
    return site.path, snap, cfg


if __name__ == "__main__":  # write the docs example
    from dxagent.reports.cli import report

    out = Path(sys.argv[1])
    hist, snap, cfg = build_demo(out / "state")
    report.main(["--config", str(cfg), "--history", str(hist), "--snapshot", str(snap), "--until", str(UNTIL),
                 "--format", "html", "-o", str(out / "report-site.html")], standalone_mode=False)
    print(out / "report-site.html")
