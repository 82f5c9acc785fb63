"""Throw-away network namespaces for tests: a LAN of hosts behind a bridge, always cleaned up.

Why: ICMP, discovery and SNMP tests need real hosts with real addresses, yet the network rule
allows traffic only to loopback or to namespaces the test creates and deletes. This module builds
exactly that and nothing else.

Topology of one `Lan` (created by `NetLab.lan()`)::

    root namespace (the test process)            namespace <host.ns>
    bridge <lan.bridge> 10.203.X.1/24  ──veth──  eth0 10.203.X.2/24   (default route via .1)
                        fd00:203:X::1/64         eth0 fd00:203:X::2/64 (default route via ::1)
                                       ──veth──  namespace of the 2nd host: 10.203.X.3 …

X is chosen free (no address in 10.203.X.0/24 on any root-namespace interface) under a file lock,
so parallel test processes never share a subnet. `lan.absent_v4()` gives an address inside the
subnet that no host owns (ICMP to it is lost: useful for 100 % loss tests).

Use it from a test module::

    from tests import netns

    @pytest.fixture
    def lab():
        netns.skip_unless_available()          # pytest.skip with the reason when not root etc.
        with netns.NetLab() as lab:
            yield lab

    def test_something(lab):
        lan = lab.lan()
        a = lan.add_host()                     # Host(ns=..., v4="10.203.X.2", v6="fd00:203:X::2", ...)
        lab.drop_echo(a, percent=20)           # nft numgen rule in a's input hook, with a counter
        ...                                    # ping a.v4 from the test process
        assert lab.dropped(a) == sent - received
        lab.run_in(a, "ip", "-j", "route")     # any command inside the namespace (CompletedProcess)
        lab.write_etc(a, "resolv.conf", "nameserver 127.0.0.1\n")   # run_in sees it as /etc/resolv.conf

Cleanup: `NetLab.close()` (the `with` exit) deletes every namespace and bridge it made; an
`atexit` hook does the same if the test process dies of an exception outside the fixture, and
`NetLab()` first sweeps leftovers of dead test processes (names carry the creator's pid).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import ipaddress
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NetLab", "Lan", "Host", "available", "skip_unless_available", "PREFIX"]

PREFIX = "dxt"                     # namespace and link names start with it: dxt<pid>n<k>, dxt<pid>b<k>
_LOCK = Path("/run/lock/dxagent-netlab.lock")
_V4_BASE = "10.203"                # subnets 10.203.X.0/24, X in 1..254
_V6_BASE = "fd00:203"              # fd00:203:X::/64
_COUNTER = itertools.count(1)
_NAME = re.compile(rf"^{PREFIX}(\d+)[nbvt]\d+")


def available() -> str | None:
    """None when namespaces can be used here, else the reason (for a skip message)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs the `{tool}` command (iproute2 / nftables)"
    return None


def skip_unless_available() -> None:
    """`pytest.skip(reason)` when namespaces are not usable (call at the top of a fixture)."""
    reason = available()
    if reason:
        import pytest

        pytest.skip(reason)


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclasses.dataclass(frozen=True)
class Host:
    """One namespace on a LAN: `ns` is its name (for `ip netns exec`), `ifname` is `eth0` inside."""

    ns: str
    v4: str
    v6: str
    veth: str          # the root-side end of its veth pair (attached to the bridge)
    ifname: str = "eth0"


@dataclasses.dataclass
class Lan:
    """A bridge in the root namespace with a /24 and a /64; hosts are namespaces on it."""

    lab: NetLab
    index: int
    bridge: str
    subnet: int        # X in 10.203.X.0/24
    hosts: list[Host] = dataclasses.field(default_factory=list)

    @property
    def gateway_v4(self) -> str:
        """The bridge's IPv4 address: the hosts' default gateway and the test process's source."""
        return f"{_V4_BASE}.{self.subnet}.1"

    @property
    def gateway_v6(self) -> str:
        return f"{_V6_BASE}:{self.subnet}::1"

    @property
    def cidr_v4(self) -> str:
        return f"{_V4_BASE}.{self.subnet}.0/24"

    def absent_v4(self) -> str:
        """An address inside the subnet owned by nobody (.250): pings to it are all lost."""
        return f"{_V4_BASE}.{self.subnet}.250"

    def add_host(self, *, default_route: bool = True) -> Host:
        """A new namespace with eth0 on this LAN (IPv4 + IPv6, no DAD delay), lo up."""
        n = len(self.hosts) + 2
        if n >= 250:
            raise ValueError("a Lan holds at most 248 hosts")
        k = self.lab._next()
        ns, veth, tmp = f"{PREFIX}{os.getpid()}n{k}", f"{PREFIX}{os.getpid()}v{k}", f"{PREFIX}{os.getpid()}t{k}"
        v4, v6 = f"{_V4_BASE}.{self.subnet}.{n}", f"{_V6_BASE}:{self.subnet}::{n:x}"
        _run("ip", "netns", "add", ns)
        self.lab._namespaces.append(ns)
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", tmp)
        _run("ip", "link", "set", tmp, "netns", ns)
        _run("ip", "link", "set", veth, "master", self.bridge, "up")
        ip = ("ip", "-n", ns)
        _run(*ip, "link", "set", tmp, "name", "eth0")
        _run(*ip, "link", "set", "lo", "up")
        _run(*ip, "addr", "add", f"{v4}/24", "dev", "eth0")
        _run(*ip, "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        _run(*ip, "link", "set", "eth0", "up")
        if default_route:
            _run(*ip, "route", "add", "default", "via", self.gateway_v4)
            _run(*ip, "-6", "route", "add", "default", "via", self.gateway_v6)
        host = Host(ns=ns, v4=v4, v6=v6, veth=veth)
        self.hosts.append(host)
        return host


class NetLab:
    """Owns every namespace and bridge a test makes; `close()` (or `with`) deletes them all."""

    def __init__(self) -> None:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self._namespaces: list[str] = []
        self._bridges: list[str] = []
        self._etc: list[Path] = []

        self._closed = False
        sweep_stale()
        atexit.register(self.close)

    def _next(self) -> int:
        # one counter for the whole process: a veth of a lab just closed may linger for a moment,
        # so a new lab must not reuse its names
        return next(_COUNTER)

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lan(self) -> Lan:
        """A new bridge with a free 10.203.X.0/24 and fd00:203:X::/64 (X picked under a lock)."""
        k = self._next()
        bridge = f"{PREFIX}{os.getpid()}b{k}"
        with _locked():
            subnet = _free_subnet()
            _run("ip", "link", "add", bridge, "type", "bridge")
            self._bridges.append(bridge)
            _run("ip", "addr", "add", f"{_V4_BASE}.{subnet}.1/24", "dev", bridge)
        _run("ip", "-6", "addr", "add", f"{_V6_BASE}:{subnet}::1/64", "dev", bridge, "nodad")
        _run("ip", "link", "set", bridge, "up")
        return Lan(self, k, bridge, subnet)

    def run_in(self, host: Host | str, *argv: str, check: bool = True,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host's namespace (text output captured)."""
        ns = host.ns if isinstance(host, Host) else host
        return _run("ip", "netns", "exec", ns, *argv, check=check, input=input)

    def drop_echo(self, host: Host, percent: int) -> None:
        """Drop `percent` % of echo requests (IPv4 and IPv6) arriving at the host, counted by nft.

        nftables' `numgen random mod 100 < percent` decides per packet, so the loss is binomial
        with p = percent/100 and the rule's counter is the exact number dropped.
        """
        if not 0 <= percent <= 100:
            raise ValueError("percent must be within 0..100")
        # nft's numgen comparison takes 0..99; 100 % is an unconditional drop
        v4 = "icmp type echo-request" + (f" numgen random mod 100 < {percent}" if percent < 100 else "")
        v6 = "icmpv6 type echo-request" + (f" numgen random mod 100 < {percent}" if percent < 100 else "")
        script = (
            "table inet dxloss {\n"
            "  chain in {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"    {v4} counter drop\n"
            f"    {v6} counter drop\n"
            "  }\n"
            "}\n"
        )
        self.run_in(host, "nft", "-f", "-", input=script)

    def dropped(self, host: Host) -> int:
        """Packets dropped so far by `drop_echo`'s rules in the host (IPv4 + IPv6)."""
        out = self.run_in(host, "nft", "-j", "list", "table", "inet", "dxloss").stdout
        total = 0
        for item in json.loads(out)["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    total += int(expr["counter"]["packets"])
        return total

    def write_etc(self, host: Host, name: str, text: str) -> Path:
        """Give the host its own /etc/<name> (e.g. `resolv.conf`, `hosts`) for `run_in` commands.

        `ip netns exec` bind-mounts /etc/netns/<ns>/<name> over /etc/<name>, so a process run in
        the namespace resolves names with it, and never asks the machine's real DNS server.
        """
        folder = Path("/etc/netns") / host.ns
        folder.mkdir(parents=True, exist_ok=True)
        self._etc.append(folder)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    def cut(self, host: Host) -> None:
        """Drop every packet arriving at the host's eth0 (nft, inside its namespace): a cut link.

        Not `ip link set down`, which would send the traffic out of the machine's default route.
        """
        self.run_in(host, "nft", "-f", "-", input=(
            "table inet dxcut {\n  chain in {\n    type filter hook input priority -200; policy accept;\n"
            '    iifname "eth0" counter drop\n  }\n}\n'))

    def restore(self, host: Host) -> None:
        """Undo `cut`."""
        self.run_in(host, "nft", "delete", "table", "inet", "dxcut")

    def tcp_listener(self, host: Host, port: int) -> subprocess.Popen[str]:
        """A TCP service in the host (accepts and closes each connection); kill() it when done."""
        code = (f"import socket\ns = socket.create_server(('0.0.0.0', {port}))\n"
                "print('ready', flush=True)\nwhile True:\n    s.accept()[0].close()\n")
        proc = subprocess.Popen(["ip", "netns", "exec", host.ns, sys.executable, "-c", code],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr
        return proc

    def set_link(self, host: Host, up: bool) -> None:
        """Set the host's eth0 up or down (inside its namespace)."""
        self.run_in(host, "ip", "link", "set", host.ifname, "up" if up else "down")

    def close(self) -> None:
        """Delete every namespace (which deletes its veth pair) and bridge; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for ns in reversed(self._namespaces):
            _run("ip", "netns", "del", ns, check=False)
        for br in reversed(self._bridges):
            _run("ip", "link", "del", br, check=False)
        for folder in self._etc:
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    _LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_subnet() -> int:
    """The lowest X with no root-namespace address in 10.203.X.0/24 (call under the lock)."""
    used: set[int] = set()
    for link in json.loads(_run("ip", "-j", "-4", "addr").stdout or "[]"):
        for a in link.get("addr_info", []):
            addr = ipaddress.ip_address(a.get("local", "0.0.0.0"))
            if addr in ipaddress.ip_network(f"{_V4_BASE}.0.0/16"):
                used.add(int(str(addr).split(".")[2]))
    for x in range(1, 255):
        if x not in used:
            return x
    raise RuntimeError("no free 10.203.X.0/24 subnet left")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Delete namespaces and links left by test processes that died without cleaning up."""
    for line in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = _NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _run("ip", "netns", "del", name, check=False)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
    for link in json.loads(_run("ip", "-j", "link", check=False).stdout or "[]"):
        name = link.get("ifname", "")
        m = _NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _run("ip", "link", "del", name, check=False)
