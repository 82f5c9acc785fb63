"""Running the event loop for one-shot commands without waiting on abandoned work.

`asyncio.run` cancels leftover tasks and waits for them, and joins the default executor's
threads: a probe that ignores cancellation or a resolver thread stuck in the kernel would
then hang `dxagent check` after its results are ready. Here leftovers are cancelled and left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from dxagent.probe import install_executor

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a fresh loop with the daemon executor installed."""
    loop = asyncio.new_event_loop()
    install_executor(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        for task in leftovers:
            # a probe that ignores cancellation was already reported as timed out; don't warn twice
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        loop.close()
