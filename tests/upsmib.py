"""A UPS's SNMP card for tests: real snmpd serving UPS-MIB (and XUPS-MIB) values through `pass_persist`.

snmpd hands GET/GETNEXT requests under a subtree to a long-running program (`pass_persist OID PROG`,
snmpd.conf(5)), which answers with the OID, a type and a value, or `NONE`. Ours reads the values
from a JSON file the test rewrites, so one agent moves between on-mains and on-battery.

    with running_ups_card(tmp_path, ON_MAINS_MIB) as card:   # a tests.snmpd.SnmpAgent
        card.set_values(ON_BATTERY_MIB)
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.snmpd import SnmpAgent, running_snmpd

__all__ = ["ON_MAINS_MIB", "ON_BATTERY_MIB", "LOW_BATTERY_MIB", "XUPS_MIB_VALUES", "UpsCard", "running_ups_card"]

U = "1.3.6.1.2.1.33.1"
X = "1.3.6.1.4.1.534.1"
Values = dict[str, tuple[str, int | str]]

ON_MAINS_MIB: Values = {
    f"{U}.1.1.0": ("string", "Eaton"), f"{U}.1.2.0": ("string", "5PX 1500"),
    f"{U}.2.1.0": ("integer", 2), f"{U}.2.2.0": ("integer", 0), f"{U}.2.3.0": ("integer", 42),
    f"{U}.2.4.0": ("integer", 100), f"{U}.2.7.0": ("integer", 27),
    f"{U}.3.3.1.3.1": ("integer", 231),
    f"{U}.4.1.0": ("integer", 3), f"{U}.4.4.1.2.1": ("integer", 230), f"{U}.4.4.1.5.1": ("integer", 24),
    f"{U}.6.1.0": ("gauge", 0), f"{U}.7.3.0": ("integer", 1),
}
ON_BATTERY_MIB: Values = {**ON_MAINS_MIB, f"{U}.2.2.0": ("integer", 95), f"{U}.2.3.0": ("integer", 18),
                          f"{U}.2.4.0": ("integer", 71), f"{U}.3.3.1.3.1": ("integer", 0), f"{U}.4.1.0": ("integer", 5),
                          f"{U}.6.1.0": ("gauge", 1)}
LOW_BATTERY_MIB: Values = {**ON_BATTERY_MIB, f"{U}.2.1.0": ("integer", 3), f"{U}.2.3.0": ("integer", 3),
                           f"{U}.2.4.0": ("integer", 9)}
XUPS_MIB_VALUES: Values = {
    f"{X}.1.1.0": ("string", "EATON"), f"{X}.1.2.0": ("string", "9PX 3000"),
    f"{X}.2.1.0": ("integer", 1620), f"{X}.2.4.0": ("integer", 88), f"{X}.2.5.0": ("integer", 3),
    f"{X}.3.4.1.2.1": ("integer", 229), f"{X}.4.1.0": ("integer", 37), f"{X}.4.4.1.2.1": ("integer", 230),
    f"{X}.4.5.0": ("integer", 3), f"{X}.6.1.0": ("integer", 31), f"{X}.8.2.0": ("integer", 2),
}

# The `pass_persist` program (snmpd.conf(5)): stdlib only, started once by snmpd, answers PING, get
# and getnext on stdin/stdout, reading the values file at each request so a test can change them.
_PROGRAM = r'''
import json, sys
values_file, subtree = sys.argv[1], sys.argv[2]
def key(oid): return tuple(int(p) for p in oid.strip().strip(".").split("."))
root = key(subtree)
def load():
    with open(values_file, encoding="utf-8") as f:
        return {k: v for k, v in json.load(f).items() if key(k)[:len(root)] == root}
def answer(found, values):
    if found is None:
        return "NONE\n"
    kind, value = values[found]
    return f".{found}\n{kind}\n{value}\n"
for line in sys.stdin:
    command = line.strip()
    if command == "PING":
        out = "PONG\n"
    elif command in ("get", "getnext"):
        oid, values = sys.stdin.readline().strip(), load()
        if command == "get":
            found = oid.strip(".") if oid.strip(".") in values else None
        else:
            later = sorted((k for k in values if key(k) > key(oid)), key=key)
            found = later[0] if later else None
        out = answer(found, values)
    elif command == "set":
        sys.stdin.readline(); sys.stdin.readline()
        out = "not-writable\n"
    elif command == "":
        break
    else:
        out = "NONE\n"
    sys.stdout.write(out)
    sys.stdout.flush()
'''


class UpsCard:
    """The snmpd agent plus the values file its `pass_persist` program reads."""

    def __init__(self, agent: SnmpAgent, values_file: Path) -> None:
        self.agent = agent
        self.values_file = values_file

    @property
    def host(self) -> str:
        return self.agent.host

    @property
    def port(self) -> int:
        return self.agent.port

    def set_values(self, values: Mapping[str, tuple[str, int | str]]) -> None:
        tmp = self.values_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(values)), encoding="utf-8")
        tmp.replace(self.values_file)


@contextlib.contextmanager
def running_ups_card(workdir: Path, values: Mapping[str, tuple[str, int | str]], **snmpd_kwargs: object) -> Iterator[UpsCard]:
    """snmpd on loopback (v2c and v3 as tests.snmpd) passing UPS-MIB and XUPS-MIB to `values`."""
    workdir.mkdir(parents=True, exist_ok=True)
    program = workdir / "upsmib_pass.py"
    program.write_text(_PROGRAM, encoding="utf-8")
    values_file = workdir / "upsmib.json"
    lines = []
    for subtree in (U.rsplit(".", 1)[0], X):
        script = workdir / f"pass-{subtree.replace('.', '_')}.sh"
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {program} {values_file} {subtree}\n", encoding="utf-8")
        script.chmod(0o755)
        lines.append(f"pass_persist .{subtree} {script}\n")
    values_file.write_text(json.dumps(dict(values)), encoding="utf-8")
    with running_snmpd(workdir / "snmpd", extra_config="".join(lines), **snmpd_kwargs) as agent:  # type: ignore[arg-type]
        yield UpsCard(agent, values_file)
