"""Config load time and memory: the built-in default and a 200-check config.

Run by hand:  .venv/bin/python bench/bench_config.py [--repeat 20]

Each figure comes from a fresh interpreter, so "first load" includes importing the config
machinery and building every model's validator (what `dxagent run` pays once at start-up), and
"next loads" is the median of `--repeat` further loads in the same process (what a reload or
`dxagent config check` on many files pays). "RSS" is the interpreter's VmRSS after the first load
with the daemon's modules imported; "config RSS" is what importing `dxagent.config` (pydantic with
it) and building and running every model of the config added to a bare interpreter, before the
daemon's other modules. Another venv's interpreter measures another tree:
`/other/.venv/bin/python bench/bench_config.py`. It does no network traffic.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_daemon import two_hundred  # bench/ is the script's folder, hence on sys.path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, statistics, sys, time
def vmrss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
rss0 = vmrss()
t0 = time.perf_counter()
import dxagent.config as c
t1 = time.perf_counter()
path, repeat = sys.argv[1], int(sys.argv[2])
load = c.load_default if path == "builtin" else (lambda: c.load(path))
cfg = load()
t2 = time.perf_counter()
config_rss = vmrss() - rss0
import dxagent.daemon  # noqa: F401  (the daemon's import set, as the RSS figure of the issue)
rss = vmrss()
times = []
for _ in range(repeat):
    s = time.perf_counter()
    load()
    times.append(time.perf_counter() - s)
print(json.dumps({"checks": len(cfg.checks), "import_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3,
                  "next_ms": statistics.median(times) * 1e3, "rss_kib": rss, "config_rss_kib": config_rss}))
"""


def run(path: str, repeat: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, path, str(repeat)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="fresh interpreters per config; the best is shown")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "200.yml"
        # bench_daemon's 200-check mix; the ports are never contacted here, only validated.
        big.write_text(two_hundred(Path(tmp) / "state", 8443, 5353, 9000), encoding="utf-8")
        print(f"{'config':<18} {'checks':>6} {'import ms':>10} {'first load ms':>14} {'next loads ms':>14} {'RSS MiB':>8} "
              f"{'config RSS MiB':>15}")
        for name, path in (("built-in default", "builtin"), ("200 checks", str(big))):
            rounds = [run(path, args.repeat) for _ in range(args.rounds)]
            best = {k: min(r[k] for r in rounds) for k in rounds[0]}
            print(f"{name:<18} {best['checks']:>6} {best['import_ms']:>10.1f} {best['first_ms']:>14.1f} "
                  f"{best['next_ms']:>14.2f} {best['rss_kib'] / 1024:>8.1f} {best['config_rss_kib'] / 1024:>15.1f}")


if __name__ == "__main__":
    main()
