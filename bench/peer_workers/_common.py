"""Helpers shared by the peer worker processes (started by bench/peers.py).

Protocol with the parent: the worker reads one JSON config from argv[1], gets
fully ready (imports done, connections open, tasks registered), prints one line
``READY`` on stdout, then blocks until the parent writes a line on stdin (the
release).  After that it never writes to stdout again.  SIGTERM stops it
gracefully, and so does the end of stdin (the parent closed the pipe or died):
a worker never outlives its parent for long.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time

EXIT_GRACE_S = 10.0  # after stdin closes: time for a graceful stop, then _exit


def load_config() -> dict:
    return json.loads(sys.argv[1])


def run(main, cfg: dict) -> None:
    """Run the worker's ``main(cfg)`` on the event loop the config names."""
    if cfg.get("event_loop") == "uvloop":
        import uvloop

        uvloop.run(main(cfg))
    else:
        asyncio.run(main(cfg))


def quiet_procrastinate_main_module_warning() -> None:
    # procrastinate warns when its App is created from a __main__ module, because
    # tasks named after their module would get unstable names; ours are named
    # explicitly, so the warning is noise.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)


def _watch_stdin() -> None:
    try:
        while sys.stdin.readline():
            pass
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(EXIT_GRACE_S)
    os._exit(4)


async def announce_ready_and_wait_for_release() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    # Nothing else may go to the pipe the parent reads only once.
    sys.stdout = sys.stderr
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:  # parent went away before releasing us
        raise SystemExit(3)
    threading.Thread(target=_watch_stdin, name="stdin-watchdog", daemon=True).start()
