"""An idle-connection flooder: holds N TCP connections to HOST:PORT open, sending nothing.

Used by the listener's flood test and bench/bench_flood.py, run inside a test namespace
(`ip netns exec NS python -m tests.flood HOST PORT N SECONDS`), so the flood comes from one
address other than the scraper's. A connection the server closes or resets is opened again at
once, as a hostile client would. On exit it prints one JSON line: connects attempted, refused or
reset, and the most connections held open at once (seen from this side).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

__all__ = ["flood"]


async def _hold(host: str, port: int, until: float, stats: dict[str, int], open_now: list[int]) -> None:
    while time.monotonic() < until:
        stats["connects"] += 1
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        open_now[0] += 1
        stats["max_open"] = max(stats["max_open"], open_now[0])
        try:
            # idle: send nothing; wait until the server gives up on us or the time is over
            await asyncio.wait_for(reader.read(1), max(0.0, until - time.monotonic()))
            stats["closed_by_server"] += 1
        except TimeoutError:
            pass
        except OSError:
            stats["closed_by_server"] += 1
        finally:
            open_now[0] -= 1
            writer.close()


async def flood(host: str, port: int, n: int, seconds: float) -> dict[str, int]:
    """Hold `n` idle connections for `seconds`; the counts of what happened to them."""
    stats = {"connects": 0, "refused": 0, "closed_by_server": 0, "max_open": 0}
    open_now = [0]
    until = time.monotonic() + seconds
    await asyncio.gather(*(_hold(host, port, until, stats, open_now) for _ in range(n)))
    return stats


def main(argv: list[str]) -> int:
    host, port, n, seconds = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    print("flooding", flush=True)
    stats = asyncio.run(flood(host, port, n, seconds))
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
