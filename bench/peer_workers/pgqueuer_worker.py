"""One pgqueuer worker process for the peer benchmark (see bench/peers.py)."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from _common import announce_ready_and_wait_for_release, load_config, run
from pgqueuer import Job, Queries, QueueManager


def asyncpg_kwargs(conninfo: str) -> dict:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(conninfo)
    mapping = {"host": "host", "port": "port", "user": "user", "password": "password", "dbname": "database"}
    out = {mapping[k]: v for k, v in params.items() if k in mapping and v is not None}
    if "port" in out:
        out["port"] = int(out["port"])
    return out


async def open_driver(cfg: dict):
    """pgqueuer's own CLI prefers asyncpg and falls back to psycopg; so do we."""
    if cfg["driver"] == "asyncpg":
        import asyncpg
        from pgqueuer.db import AsyncpgDriver

        conn = await asyncpg.connect(**asyncpg_kwargs(cfg["conninfo"]))
        return conn, AsyncpgDriver(conn)
    import psycopg
    from pgqueuer.db import PsycopgDriver

    conn = await psycopg.AsyncConnection.connect(cfg["conninfo"], autocommit=True)
    return conn, PsycopgDriver(conn)


def register(qm: QueueManager, queries: Queries, cfg: dict) -> None:
    length = int(cfg["length"])

    @qm.entrypoint("bench_chain")
    async def chain(job: Job) -> None:
        # payload b"c:k" -- job k of chain c enqueues job k+1 of the same chain.
        c, k = job.payload.decode().split(":")
        if int(k) + 1 < length:
            await queries.enqueue("bench_chain", f"{c}:{int(k) + 1}".encode())

    @qm.entrypoint("bench_wide")
    async def wide(job: Job) -> None:
        # Fan-in: the job that takes the counter to zero enqueues the reduce job.
        rows = await queries.driver.fetch(
            "UPDATE bench_counter SET remaining = remaining - 1 WHERE id = 1 RETURNING remaining"
        )
        if rows[0]["remaining"] == 0:
            await queries.enqueue("bench_final", None)

    @qm.entrypoint("bench_final")
    async def final(job: Job) -> None:
        return None


async def main(cfg: dict) -> None:
    conn, driver = await open_driver(cfg)
    try:
        queries = Queries(driver)
        qm = QueueManager(queries)
        register(qm, queries, cfg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, qm.shutdown.set)
        await announce_ready_and_wait_for_release()
        max_tasks = cfg.get("max_concurrent_tasks")
        await qm.run(
            batch_size=int(cfg["batch_size"]),
            max_concurrent_tasks=int(max_tasks) if max_tasks else None,
            dequeue_timeout=timedelta(seconds=float(cfg["poll_interval"])),
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    run(main, load_config())
