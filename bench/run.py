"""`make bench`: every scenario, in one run, on one database server; results as JSON and a Markdown table.

    python bench/run.py                 # everything (about 10 minutes on 2 cores)
    python bench/run.py --quick         # smaller sizes, for a smoke test
    python bench/run.py --only throughput,wide # some scenarios
    python bench/run.py --history-max 1000000  # scenario 5 without its 10,000,000-task level

Results go to bench/results/<UTC time>.json and bench/results/latest.json, and the table of bench/README.md
(between its results markers) is rewritten. Benchmarks never fail on a number: targets are reported as
met or missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, flows, scenarios, wide_flow

RESULTS = common.ROOT / "bench" / "results"
README = common.ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
TIME_START, TIME_END = "<!-- time:start -->", "<!-- time:end -->"
ALL = (
    "throughput",
    "wide",
    "sql",
    "latency",
    "history",
    "bigmap",
    "flowcontrol",
    "schedules",
    "definition",
    "peers",
    "wideflow",
)

FULL = {
    "runs": 1000,
    "elements": 10000,
    "history": (1_000_000, 10_000_000),
    "big_map": 100_000,
    "latency_runs": 4,
    "polling_runs": 2,
    "define_steps": 1000,
    "cycle_steps": 10000,
    "worker_counts": (1, 2, 4),
    "repeat": 3,
    "wide_flow_start": (1250, 2500, 5000, 10000),
    "wide_flow_complete": (1000, 2000, 4000),
}
QUICK = {
    "runs": 200,
    "elements": 2000,
    "history": (100_000,),
    "big_map": 20_000,
    "latency_runs": 1,
    "polling_runs": 1,
    "define_steps": 300,
    "cycle_steps": 2000,
    "worker_counts": (1, 4),
    "repeat": 1,
    "wide_flow_start": (500, 1000, 2000),
    "wide_flow_complete": (250, 500, 1000),
}
SQL_CONNECTIONS = 4
# scenario 12: the cron schedules defined while the claim is measured
SCHEDULES = 1000


def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    common.log(f"{name} ...")
    started = time.monotonic()
    result = fn(*args, **kwargs)
    common.log(f"{name}: {json.dumps(result, default=str)} ({time.monotonic() - started:.1f} s)")
    return result


def paired(name: str, repeat: int, floor_fn: Any, engine_fn: Any, *, base: str = "floor") -> dict[str, Any]:
    """The floor (or another baseline, named ``base`` in the result) and pgflow measured alternately,
    ``repeat`` times each: medians, and the median of the ratios of each pair (measured back to back, so
    that the machine's drift affects both alike)."""
    floors, engines = [], []
    for i in range(repeat):
        floors.append(timed(f"{name} {base} #{i + 1}", floor_fn))
        engines.append(timed(f"{name} pgflow #{i + 1}", engine_fn))
    return {
        base: floors,
        "pgflow": engines,
        f"{base}_tasks_per_s": common.median([r["tasks_per_s"] for r in floors]),
        f"{base}_seconds": common.median([r["seconds"] for r in floors]),
        "tasks_per_s": common.median([r["tasks_per_s"] for r in engines]),
        "seconds": common.median([r["seconds"] for r in engines]),
        "ratio": common.median([e["tasks_per_s"] / f["tasks_per_s"] for f, e in zip(floors, engines)]),
        f"{base}_usage": median_usage(floors),
        "usage": median_usage(engines),
    }


def median_usage(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The per-task figures of ``results``' usage records, each the median over the results."""
    usages = [r["usage"] for r in results if r.get("usage")]
    if not usages:
        return None
    out: dict[str, Any] = {}
    for key in ("postgres_cpu_ms_per_task", "client_cpu_ms_per_task", "wal_bytes_per_task"):
        values = [u[key] for u in usages if u.get(key) is not None]
        out[key] = round(common.median(values), 4) if values else None
    return out


def run(only: tuple[str, ...], sizes: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
        "sql_connections": SQL_CONNECTIONS,
        "machine": common.machine(),
        # which engine ran: a PYTHONPATH may put another pgflow package (and its sql/) first
        "engine": {"version": common.pgflow.__version__, "package": str(Path(common.pgflow.__file__).parent)},
    }
    repeat = sizes["repeat"]
    runs, elements = sizes["runs"], sizes["elements"]
    with common.database.server() as admin:
        results["server"] = common.server_facts(admin)
        s: dict[str, Any] = {}
        results["scenarios"] = s
        if "throughput" in only:
            # 1 and 2: the floor and the diamond DAG, same work (runs x 5 tasks), same worker processes
            s["throughput"] = {
                str(w): paired(
                    f"{w} worker(s)",
                    repeat,
                    lambda w=w: scenarios.floor(admin, runs * 5, w),
                    lambda w=w: scenarios.dag_throughput(admin, runs, w),
                )
                for w in sizes["worker_counts"]
            }
        if "wide" in only:
            s["wide"] = paired(
                "wide map",
                repeat,
                lambda: scenarios.floor(admin, elements + 1, 4),
                lambda: scenarios.wide_map(admin, elements, 4),
            )
        if "sql" in only:
            # 9: the same work as scenario 2, by clients speaking SQL: batched reports against the floor,
            # and one report per transaction against the floor that commits once per job
            s["sql"] = {
                "batched": paired(
                    "SQL batched",
                    repeat,
                    lambda: scenarios.floor(admin, runs * 5, SQL_CONNECTIONS),
                    lambda: scenarios.sql_level(admin, runs, SQL_CONNECTIONS, batched=True),
                ),
                "per_task": paired(
                    "SQL one report per transaction",
                    repeat,
                    lambda: scenarios.floor(admin, runs * 5, SQL_CONNECTIONS, batched=False),
                    lambda: scenarios.sql_level(admin, runs, SQL_CONNECTIONS, batched=False),
                ),
            }
        if "latency" in only:
            s["latency"] = {
                "notify": timed(
                    "latency with notifications",
                    scenarios.handoff_latency,
                    admin,
                    listen=True,
                    runs=sizes["latency_runs"],
                ),
                "polling": timed(
                    "latency polling alone",
                    scenarios.handoff_latency,
                    admin,
                    listen=False,
                    runs=sizes["polling_runs"],
                    poll_interval=0.1,
                ),
            }
        if "history" in only:
            s["history"] = timed(
                f"dag with {list(sizes['history'])} finished tasks, and on empty tables",
                scenarios.history_pairs,
                admin,
                runs,
                4,
                list(sizes["history"]),
                repeat,
            )
        if "bigmap" in only:
            s["big_map"] = timed(
                f"map of {sizes['big_map']:,} elements", scenarios.wide_map, admin, sizes["big_map"], 4, timeout=1800
            )
        if "flowcontrol" in only:
            why_not = scenarios.flow_control_supported(admin)
            if why_not:
                common.log(f"flow control skipped: {why_not}")
                s["flow_control"] = {"skipped": why_not}
            else:
                s["flow_control"] = paired(
                    "flow control",
                    repeat,
                    lambda: scenarios.flow_control(admin, runs, 4, capped=False),
                    lambda: scenarios.flow_control(admin, runs, 4, capped=True),
                    base="uncapped",
                )
        if "schedules" in only:
            # 12: scenario 2 (4 workers) with 1,000 cron schedules defined against the same without any
            s["schedules"] = paired(
                "schedules",
                repeat,
                lambda: scenarios.dag_throughput(admin, runs, 4),
                lambda: scenarios.dag_throughput(admin, runs, 4, schedules=SCHEDULES),
                base="unscheduled",
            )
        if "definition" in only:
            s["definition"] = timed(
                "definitions",
                scenarios.definition,
                admin,
                steps=sizes["define_steps"],
                cycle_steps=sizes["cycle_steps"],
            )
        if "peers" in only:
            s["peers"] = run_peers(admin, sizes)
        if "wideflow" in only:
            s["wide_flow"] = timed(
                "wide flows",
                wide_flow.wide_flow,
                admin,
                list(sizes["wide_flow_start"]),
                list(sizes["wide_flow_complete"]),
                repeat,
            )
    results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return results


def run_peers(admin: str, sizes: dict[str, Any]) -> dict[str, Any]:
    try:
        from bench import peers  # noqa: PLC0415
    except ImportError as exc:
        return {"skipped": f"bench/peers.py cannot be imported: {exc}"}
    out: dict[str, Any] = {}
    for library in ("procrastinate", "pgqueuer"):
        if not peers.available(library):
            out[library] = {"skipped": f"{library} is not installed (pip install -e '.[bench]')"}
            continue
        out[library] = {}
        for workload in ("chain", "wide"):
            try:
                out[library][workload] = timed(
                    f"{library} {workload}",
                    peers.run_peer,
                    library,
                    workload,
                    admin,
                    workers=4,
                    chains=sizes["runs"],
                    length=5,
                    n=sizes["elements"],
                )
            except Exception as exc:  # a peer failing is a result, not a reason to lose the others
                out[library][workload] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# ----------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def markdown(results: dict[str, Any]) -> str:
    s = results.get("scenarios", {})
    rows: list[tuple[str, str, str, str, str]] = []  # scenario, measure, result, comparison, target
    throughput = s.get("throughput", {})
    for w, r in throughput.items():
        rows.append(
            (
                "1 floor",
                f"{r['floor'][0]['jobs']:,} jobs, {w} worker(s)",
                f"{_fmt(r['floor_tasks_per_s'])} tasks/s",
                "",
                "",
            )
        )
    for w, r in throughput.items():
        runs_per_s = common.median([e["runs_per_s"] for e in r["pgflow"]])
        target = _met(r["ratio"] >= 0.5) + " (≥ 50% of the floor)" if w == "4" else ""
        rows.append(
            (
                "2 DAG",
                f"{r['pgflow'][0]['runs']:,} diamond runs (5 tasks), {w} worker(s)",
                f"{_fmt(r['tasks_per_s'])} tasks/s, {_fmt(runs_per_s)} runs/s",
                f"{r['ratio']:.0%} of the floor",
                target,
            )
        )
    if "wide" in s:
        r = s["wide"]
        first = r["pgflow"][0]
        fan_out = common.median([e["start_run_seconds"] for e in r["pgflow"]])
        rows.append(
            (
                "3 wide map",
                f"{first['elements']:,} elements + reduce, 4 workers",
                f"{_fmt(r['seconds'], 2)} s ({_fmt(r['tasks_per_s'])} tasks/s; fan-out {_fmt(fan_out, 2)} s)",
                f"{r['ratio']:.0%} of the floor's tasks/s (floor {_fmt(r['floor_seconds'], 2)} s, "
                f"{_fmt(r['floor_tasks_per_s'])} tasks/s)",
                f"{_met(r['ratio'] >= 0.5)} (≥ 50% of the floor); {_met(r['seconds'] < 2)} (< 2 s)",
            )
        )
    for r in s.get("latency", {}).values():
        label = "notifications" if r["listen"] else f"polling alone every {r['poll_interval']} s"
        rows.append(
            (
                "4 hand-off",
                f"50-step chain, {label}",
                f"p50 {_fmt(r['p50_ms'], 1)} ms, p95 {_fmt(r['p95_ms'], 1)} ms, p99 {_fmt(r['p99_ms'], 1)} ms",
                f"{r['samples']} hand-offs; start_run to first handler on idle workers: p50 "
                f"{_fmt(r.get('start_p50_ms'), 1)} ms, max {_fmt(r.get('start_max_ms'), 1)} ms",
                _met(r["p50_ms"] <= 2) + " (p50 ≤ 2 ms)" if r["listen"] else "",
            )
        )
    for h in s.get("history", {}).get("levels", []):
        rows.append(
            (
                "5 history",
                f"scenario 2 (4 workers) with {h['history_tasks']:,} finished tasks",
                f"{_fmt(h['full_tasks_per_s'])} tasks/s",
                f"{h['ratio']:.0%} of the same on empty tables ({_fmt(h['empty_tasks_per_s'])} tasks/s); "
                f"filled in {_fmt(h['fill_seconds'])} s, database {h['database_bytes'] / 2**30:.1f} GiB",
                _met(h["ratio"] >= 0.9) + " (≥ 90%)",
            )
        )
    if "definition" in s:
        r = s["definition"]
        rows.append(
            (
                "6 definition",
                f"define_flow, {r['steps']:,}-step random DAG",
                f"{_fmt(r['define_seconds'], 3)} s",
                "",
                _met(r["define_seconds"] < 1) + " (< 1 s)",
            )
        )
        rows.append(
            (
                "6 definition",
                f"cycle detection, {r['cycle_steps']:,}-step graph",
                f"{_fmt(r['cycle_detection_seconds'], 3)} s",
                f"acyclic define of the same size {_fmt(r['define_acyclic_big_seconds'], 3)} s",
                _met(r["cycle_detection_seconds"] < 1) + " (< 1 s)",
            )
        )
    dag4 = throughput.get("4")
    wide = s.get("wide")
    for library, r in s.get("peers", {}).items():
        if not isinstance(r, dict) or "skipped" in r:
            rows.append(("7 peers", library, "skipped", str(r.get("skipped", "")) if isinstance(r, dict) else "", ""))
            continue
        for workload, p in r.items():
            if "error" in p:
                rows.append(("7 peers", f"{library} {workload}", "error", p["error"][:80], ""))
                continue
            if workload == "chain":
                ratio = dag4["tasks_per_s"] / p["jobs_per_s"] if dag4 else None
                rows.append(
                    (
                        "7 peers",
                        f"{library} {p.get('version', '')}: {p['jobs']:,} jobs as 5-job chains, 4 workers",
                        f"{_fmt(p['jobs_per_s'])} jobs/s",
                        f"pgflow DAG {ratio:.1f}x" if ratio else "",
                        _met(ratio > 1) + " (pgflow ahead)" if ratio else "",
                    )
                )
            else:
                rows.append(
                    (
                        "7 peers",
                        f"{library}: {p['jobs']:,} jobs (wide map + reduce), 4 workers",
                        f"{_fmt(p['seconds'], 2)} s",
                        f"pgflow {_fmt(wide['seconds'], 2)} s" if wide else "",
                        _met(wide["seconds"] < p["seconds"]) + " (pgflow ahead)" if wide else "",
                    )
                )
    if "wide_flow" in s:
        rows += _wide_flow_rows(s["wide_flow"])
    sql = s.get("sql", {})
    for key, label, floor_label, share in (
        ("batched", "claims of 10, one complete_tasks per claim", "the floor", 0.6),
        (
            "per_task",
            "claims of 10, one complete_task per task and transaction",
            "the floor committing once per job",
            0.5,
        ),
    ):
        if key in sql:
            r = sql[key]
            rows.append(
                (
                    "9 SQL level",
                    f"scenario 2's work, {r['pgflow'][0]['connections']} connections, {label}",
                    f"{_fmt(r['tasks_per_s'])} tasks/s",
                    f"{r['ratio']:.0%} of {floor_label} ({_fmt(r['floor_tasks_per_s'])} tasks/s)",
                    _met(r["ratio"] >= share) + f" (≥ {share:.0%} of the floor)",
                )
            )
    if "big_map" in s:
        r = s["big_map"]
        rows.append(
            (
                "10 big map",
                f"{r['elements']:,} elements + reduce, 4 workers",
                f"{_fmt(r['seconds'], 1)} s ({_fmt(r['tasks_per_s'])} tasks/s; fan-out "
                f"{_fmt(r['start_run_seconds'], 2)} s)",
                f"worker peak RSS (VmHWM): max {_fmt(r['worker_peak_rss_max_mib'])} MiB, "
                f"sum {_fmt(r['worker_peak_rss_sum_mib'])} MiB over {len(r['worker_peak_rss_mib'])} processes",
                "met (completes)",
            )
        )
    fc = s.get("flow_control")
    if fc and "skipped" in fc:
        rows.append(
            ("11 flow control", "concurrency cap by tenant, mixed priorities", "skipped", fc["skipped"][:120], "")
        )
    elif fc:
        rows.append(
            (
                "11 flow control",
                f"scenario 2 (4 workers), fetch capped at {flows.FC_CONCURRENCY} per tenant "
                f"({scenarios.FC_TENANTS} tenants), priorities 0-{scenarios.FC_PRIORITIES - 1}",
                f"{_fmt(fc['tasks_per_s'])} tasks/s",
                f"{fc['ratio']:.0%} of the same without cap and priorities ({_fmt(fc['uncapped_tasks_per_s'])} "
                "tasks/s)",
                _met(fc["ratio"] >= 0.8) + " (≥ 80%)",
            )
        )
    sc = s.get("schedules")
    if sc:
        scheduled = sum(r.get("scheduled_runs", 0) for r in sc["pgflow"])
        rows.append(
            (
                "12 schedules",
                f"scenario 2 (4 workers) with {SCHEDULES:,} cron schedules defined (one every minute: "
                f"{scheduled} scheduled run(s) started by the polls over {len(sc['pgflow'])} runs)",
                f"{_fmt(sc['tasks_per_s'])} tasks/s",
                f"{sc['ratio']:.0%} of the same without schedules ({_fmt(sc['unscheduled_tasks_per_s'])} tasks/s)",
                _met(sc["ratio"] >= 0.9) + " (unchanged within noise: ≥ 90%)",
            )
        )
    head = ["| scenario | measure | result | comparison | target |", "|---|---|---|---|---|"]
    body = [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    m = results.get("machine", {})
    srv = results.get("server", {})
    repeat = results.get("sizes", {}).get("repeat", 1)
    footer = (
        f"\nMeasured {results.get('started_at', '')} on {m.get('cpus')} × {m.get('cpu', 'CPU')}, "
        f"{m.get('memory_gib')} GiB, {m.get('platform')}; PostgreSQL {srv.get('server_version')} "
        f"(shared_buffers {srv.get('shared_buffers')}, synchronous_commit {srv.get('synchronous_commit')}); "
        f"Python {m.get('python')}. Scenarios 1-3, 5, 9, 11 and 12: medians of {repeat} runs, "
        "the two sides alternating; "
        f"ratios are medians of back-to-back pairs. Whole run: {results.get('wall_seconds', '?')} s."
    )
    return "\n".join(head + body) + "\n" + footer + "\n"


def time_table(results: dict[str, Any]) -> str:
    """Where the time goes: per task, PostgreSQL's CPU, the client processes' CPU and the WAL written, for
    each scenario that records them (medians over its repeats)."""
    s = results.get("scenarios", {})
    rows: list[tuple[str, str, float | None, dict[str, Any] | None]] = []  # scenario, side, tasks/s, usage
    w4 = s.get("throughput", {}).get("4")
    if w4:
        rows += [
            ("2 DAG, 4 workers", "floor", w4["floor_tasks_per_s"], w4.get("floor_usage")),
            ("2 DAG, 4 workers", "pgflow", w4["tasks_per_s"], w4.get("usage")),
        ]
    if "wide" in s:
        r = s["wide"]
        rows += [
            ("3 wide map", "floor", r["floor_tasks_per_s"], r.get("floor_usage")),
            ("3 wide map", "pgflow", r["tasks_per_s"], r.get("usage")),
        ]
    for key, label in (("batched", "9 SQL, complete_tasks per claim"), ("per_task", "9 SQL, one commit per task")):
        r = s.get("sql", {}).get(key)
        if r:
            rows += [
                (label, "floor", r["floor_tasks_per_s"], r.get("floor_usage")),
                (label, "pgflow", r["tasks_per_s"], r.get("usage")),
            ]
    if "big_map" in s:
        r = s["big_map"]
        rows.append((f"10 big map ({r['elements']:,})", "pgflow", r["tasks_per_s"], r.get("usage")))
    fc = s.get("flow_control")
    if fc and "skipped" not in fc:
        rows += [
            ("11 flow control", "uncapped", fc["uncapped_tasks_per_s"], fc.get("uncapped_usage")),
            ("11 flow control", "capped, priorities", fc["tasks_per_s"], fc.get("usage")),
        ]
    if not rows:
        return "No scenario of the latest run records where the time goes.\n"
    out = [
        "| scenario | side | tasks/s | PostgreSQL CPU ms/task | client CPU ms/task | CPU ms/task, both | "
        "WAL bytes/task |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, side, rate, u in rows:
        u = u or {}
        pg, py = u.get("postgres_cpu_ms_per_task"), u.get("client_cpu_ms_per_task")
        both = pg + py if pg is not None and py is not None else None
        out.append(
            f"| {scenario} | {side} | {_fmt(rate)} | {_fmt(pg, 3)} | {_fmt(py, 3)} | {_fmt(both, 3)} | "
            f"{_fmt(u.get('wal_bytes_per_task'))} |"
        )
    return "\n".join(out) + f"\n\nFrom the run of {results.get('started_at', '')} (the table above).\n"


def _wide_flow_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Scenario 8: seconds per N, and time(2N)/time(N) against the target of linear cost (each ratio < 3)."""

    def series(seconds: dict[str, float]) -> str:
        return ", ".join(f"{int(n):,}: {_fmt(v, 3)} s" for n, v in seconds.items())

    def ratios(values: dict[str, float]) -> tuple[str, str]:
        text = ", ".join(f"{k}: {v:.2f}" for k, v in values.items())
        return f"time(2N)/time(N) {text}", _met(all(v < 3 for v in values.values())) + " (linear: < 3)"

    never = "never analyzed" if not r.get("analyzed_tables") else f"analyzed: {', '.join(r['analyzed_tables'])}"
    rows = [
        ("8 wide flow", f"start_run, N roots + join ({never})", series(r["start_run"]), *ratios(r["start_run_ratios"]))
    ]
    for key, label in (("one_per_transaction", "one per transaction"), ("batches_of_10", "batches of 10")):
        c = r[key]
        ratio_text, target = ratios(c["roots_ratios"])
        quarters = ", ".join(f"{v:.2f}" for v in c["last_over_first_quarter"].values())
        rows.append(
            (
                "8 wide flow",
                f"claim and complete the N roots, {label}",
                series(c["roots_seconds"]),
                f"{ratio_text}; last quarter of the roots / first: {quarters}",
                target,
            )
        )
        rows.append(
            (
                "8 wide flow",
                f"claim / complete join (input of N outputs), {label}",
                ", ".join(
                    f"{int(n):,}: {_fmt(c['join_claim_seconds'][n], 3)} / {_fmt(c['join_complete_seconds'][n], 3)} s"
                    for n in c["join_claim_seconds"]
                ),
                "",
                "",
            )
        )
    return rows


def write(results: dict[str, Any], update_readme: bool) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    text = json.dumps(results, indent=2, sort_keys=True, default=str)
    (RESULTS / f"{stamp}.json").write_text(text + "\n")
    (RESULTS / "latest.json").write_text(text + "\n")
    table = markdown(results)
    if update_readme and README.exists():
        readme = README.read_text()
        for start, end, text in ((START, END, table), (TIME_START, TIME_END, time_table(results))):
            if start in readme and end in readme:
                before, rest = readme.split(start, 1)
                _, after = rest.split(end, 1)
                readme = f"{before}{start}\n{text}{end}{after}"
        README.write_text(readme)
    return table + "\n" + time_table(results)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    parser.add_argument(
        "--history-max",
        type=int,
        default=None,
        metavar="TASKS",
        help="scenario 5: fill the history up to this many finished tasks at most "
        "(default: every level, up to 10,000,000; 1000000 saves about two minutes)",
    )
    args = parser.parse_args(argv)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = [x for x in only if x not in ALL]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}")
    started = time.monotonic()
    sizes = dict(QUICK if args.quick else FULL)
    if args.history_max is not None:
        levels = tuple(level for level in sizes["history"] if level <= args.history_max)
        sizes["history"] = levels or (args.history_max,)
    results = run(only, sizes)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    table = write(results, update_readme=not args.no_readme and not args.quick)
    print(table)
    common.log(f"done in {results['wall_seconds']} s; results in {RESULTS}/latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
