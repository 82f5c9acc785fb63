"""Helpers for the inventory/discovery tests: a stub DNS server, TCP listeners and snmpd in namespaces.

Everything here talks only to 127.0.0.1 or to namespaces made by tests/netns.py, and every
process started is stopped by the caller's fixture.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import netns
from snmpd import stop_process

__all__ = ["StubDns", "listen", "start_snmpd", "stop", "DROP_ECHO"]

# nftables rule set making a namespace drop every echo request (a Windows PC's default firewall)
DROP_ECHO = ("table inet dxdisc {\n chain in {\n  type filter hook input priority 0; policy accept;\n"
             "  icmp type echo-request drop\n }\n}\n")


class StubDns:
    """A real UDP DNS server on 127.0.0.1 answering PTR queries from a table (NXDOMAIN otherwise)."""

    def __init__(self, names: dict[str, str]) -> None:
        import dns.reversename

        self.ptr = {dns.reversename.from_address(ip).to_text(): name for ip, name in names.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            qname = query.question[0].name.to_text()
            if qname in self.ptr:
                reply.answer.append(dns.rrset.from_text(qname, 60, "IN", "PTR", self.ptr[qname]))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(1)
        self.sock.close()



def listen(lab: netns.NetLab, host: netns.Host, ports: list[int]) -> subprocess.Popen[bytes]:
    """TCP listeners on `ports` inside the host's namespace (a Python process; stop() it)."""
    code = (f"import socket, sys, time\nss = [socket.create_server(('0.0.0.0', p)) for p in {ports!r}]\n"
            "print('ready', flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen(["ip", "netns", "exec", host.ns, sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


def start_snmpd(host: netns.Host, folder: Path, community: str = "public") -> subprocess.Popen[bytes] | None:
    """snmpd serving its own HOST-RESOURCES tables on the host's address; None if snmpd is missing."""
    if shutil.which("snmpd") is None:
        return None
    conf, persist = folder / "conf", folder / "persist"
    conf.mkdir(parents=True)
    persist.mkdir()
    (conf / "snmpd.conf").write_text(f"agentAddress udp:{host.v4}:161\nrocommunity {community}\n")
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist))
    proc = subprocess.Popen(["ip", "netns", "exec", host.ns, "snmpd", "-f", "-Lo", "-C", "-m", "",
                             "-c", str(conf / "snmpd.conf")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        probe = subprocess.run(["snmpget", "-v2c", "-c", community, "-t", "0.2", "-r", "0", "-m", "", host.v4,
                                "1.3.6.1.2.1.1.5.0"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return proc
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("snmpd did not answer within 5 s")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a process started above (by its own pid) and reap it."""
    if proc is not None:
        stop_process(proc)
