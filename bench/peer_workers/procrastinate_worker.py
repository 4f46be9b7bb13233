"""One procrastinate worker process for the peer benchmark (see bench/peers.py)."""

from __future__ import annotations

import procrastinate
from _common import (
    announce_ready_and_wait_for_release,
    load_config,
    quiet_procrastinate_main_module_warning,
    run,
)


def build_app(cfg: dict) -> procrastinate.App:
    concurrency = int(cfg["concurrency"])
    length = int(cfg["length"])
    # One pooled connection per concurrent job, plus one for the fetch loop and
    # one for heartbeats; LISTEN uses its own standalone connection.
    pool_size = concurrency + 2
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=cfg["conninfo"], min_size=pool_size, max_size=pool_size)
    )

    @app.task(name="bench_chain")
    async def chain(c: int, k: int) -> None:
        # Job k of chain c: enqueue job k+1 of the same chain, if any.
        if k + 1 < length:
            await chain.defer_async(c=c, k=k + 1)

    @app.task(name="bench_wide")
    async def wide(i: int) -> None:
        # Fan-in: the job that takes the counter to zero enqueues the reduce job.
        row = await app.connector.execute_query_one_async(
            "UPDATE bench_counter SET remaining = remaining - 1 WHERE id = 1 RETURNING remaining"
        )
        if row["remaining"] == 0:
            await final.defer_async()

    @app.task(name="bench_final")
    async def final() -> None:
        return None

    return app


async def main(cfg: dict) -> None:
    quiet_procrastinate_main_module_warning()
    app = build_app(cfg)
    async with app.open_async():
        await announce_ready_and_wait_for_release()
        await app.run_worker_async(
            concurrency=int(cfg["concurrency"]),
            listen_notify=True,
            fetch_job_polling_interval=float(cfg["poll_interval"]),
            install_signal_handlers=True,
            shutdown_graceful_timeout=2.0,
        )


if __name__ == "__main__":
    run(main, load_config())
