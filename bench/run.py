"""`make bench`: every scenario, in one run, on one database server; results as JSON and a Markdown table.

    python bench/run.py                 # everything (about 10 minutes on 2 cores)
    python bench/run.py --quick         # smaller sizes, for a smoke test
    python bench/run.py --only dag,wide # some scenarios

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

from bench import common, scenarios, wide_flow  # noqa: E402

RESULTS = common.ROOT / "bench" / "results"
README = common.ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
ALL = ("throughput", "wide", "latency", "history", "definition", "peers", "wideflow")

FULL = {"runs": 1000, "elements": 10000, "history": 1_000_000, "latency_runs": 4, "polling_runs": 2,
        "define_steps": 1000, "cycle_steps": 10000, "worker_counts": (1, 2, 4), "repeat": 3,
        "wide_flow_start": (1250, 2500, 5000, 10000), "wide_flow_complete": (1000, 2000, 4000)}
QUICK = {"runs": 200, "elements": 2000, "history": 100_000, "latency_runs": 1, "polling_runs": 1,
         "define_steps": 300, "cycle_steps": 2000, "worker_counts": (1, 4), "repeat": 1,
         "wide_flow_start": (500, 1000, 2000), "wide_flow_complete": (250, 500, 1000)}


def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    common.log(f"{name} ...")
    started = time.monotonic()
    result = fn(*args, **kwargs)
    common.log(f"{name}: {json.dumps(result, default=str)} ({time.monotonic() - started:.1f} s)")
    return result


def paired(name: str, repeat: int, floor_fn: Any, engine_fn: Any) -> dict[str, Any]:
    """The floor and pgflow measured alternately, ``repeat`` times each: medians, and the median of the
    ratios of each pair (measured back to back, so that the machine's drift affects both alike)."""
    floors, engines = [], []
    for i in range(repeat):
        floors.append(timed(f"{name} floor #{i + 1}", floor_fn))
        engines.append(timed(f"{name} pgflow #{i + 1}", engine_fn))
    return {
        "floor": floors,
        "pgflow": engines,
        "floor_tasks_per_s": common.median([r["tasks_per_s"] for r in floors]),
        "floor_seconds": common.median([r["seconds"] for r in floors]),
        "tasks_per_s": common.median([r["tasks_per_s"] for r in engines]),
        "seconds": common.median([r["seconds"] for r in engines]),
        "ratio": common.median([e["tasks_per_s"] / f["tasks_per_s"] for f, e in zip(floors, engines)]),
    }


def run(only: tuple[str, ...], sizes: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
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
                    f"{w} worker(s)", repeat,
                    lambda w=w: scenarios.floor(admin, runs * 5, w),
                    lambda w=w: scenarios.dag_throughput(admin, runs, w),
                )
                for w in sizes["worker_counts"]
            }
        if "wide" in only:
            s["wide"] = paired(
                "wide map", repeat,
                lambda: scenarios.floor(admin, elements + 1, 4),
                lambda: scenarios.wide_map(admin, elements, 4),
            )
        if "latency" in only:
            s["latency"] = {
                "notify": timed("latency with notifications", scenarios.handoff_latency, admin, listen=True,
                                runs=sizes["latency_runs"]),
                "polling": timed("latency polling alone", scenarios.handoff_latency, admin, listen=False,
                                 runs=sizes["polling_runs"], poll_interval=0.1),
            }
        if "history" in only:
            s["history"] = timed(
                f"dag with {sizes['history']} finished tasks, and on empty tables", scenarios.history_pairs, admin,
                runs, 4, sizes["history"], repeat,
            )
        if "definition" in only:
            s["definition"] = timed("definitions", scenarios.definition, admin, steps=sizes["define_steps"],
                                    cycle_steps=sizes["cycle_steps"])
        if "peers" in only:
            s["peers"] = run_peers(admin, sizes)
        if "wideflow" in only:
            s["wide_flow"] = timed("wide flows", wide_flow.wide_flow, admin, list(sizes["wide_flow_start"]),
                                   list(sizes["wide_flow_complete"]), repeat)
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
                    f"{library} {workload}", peers.run_peer, library, workload, admin, workers=4,
                    chains=sizes["runs"], length=5, n=sizes["elements"],
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
        rows.append(("1 floor", f"{r['floor'][0]['jobs']:,} jobs, {w} worker(s)",
                     f"{_fmt(r['floor_tasks_per_s'])} tasks/s", "", ""))
    for w, r in throughput.items():
        runs_per_s = common.median([e["runs_per_s"] for e in r["pgflow"]])
        target = _met(r["ratio"] >= 0.5) + " (≥ 50% of the floor)" if w == "4" else ""
        rows.append(("2 DAG", f"{r['pgflow'][0]['runs']:,} diamond runs (5 tasks), {w} worker(s)",
                     f"{_fmt(r['tasks_per_s'])} tasks/s, {_fmt(runs_per_s)} runs/s",
                     f"{r['ratio']:.0%} of the floor", target))
    for key, label in (("wide", ""),):
        if key not in s:
            continue
        r = s[key]
        first = r["pgflow"][0]
        fan_out = common.median([e["start_run_seconds"] for e in r["pgflow"]])
        rows.append(("3 wide map", f"{first['elements']:,} elements + reduce, 4 workers{label}",
                     f"{_fmt(r['seconds'], 2)} s ({_fmt(r['tasks_per_s'])} tasks/s; fan-out {_fmt(fan_out, 2)} s)",
                     f"floor {_fmt(r['floor_seconds'], 2)} s ({r['ratio']:.0%} of its tasks/s)",
                     _met(r["seconds"] < 2) + " (< 2 s)" if key == "wide" else ""))
    for r in s.get("latency", {}).values():
        label = "notifications" if r["listen"] else f"polling alone every {r['poll_interval']} s"
        rows.append(("4 hand-off", f"50-step chain, {label}",
                     f"p50 {_fmt(r['p50_ms'], 1)} ms, p95 {_fmt(r['p95_ms'], 1)} ms, p99 {_fmt(r['p99_ms'], 1)} ms",
                     f"{r['samples']} hand-offs; start_run to first handler on idle workers: p50 "
                     f"{_fmt(r.get('start_p50_ms'), 1)} ms, max {_fmt(r.get('start_max_ms'), 1)} ms",
                     _met(r["p50_ms"] < 5) + " (p50 < 5 ms)" if r["listen"] else ""))
    if "history" in s:
        h = s["history"]
        rows.append(("5 history", f"scenario 2 (4 workers) with {h['history_tasks']:,} finished tasks",
                     f"{_fmt(h['full_tasks_per_s'])} tasks/s",
                     f"{h['ratio']:.0%} of the same on empty tables ({_fmt(h['empty_tasks_per_s'])} tasks/s)",
                     _met(h["ratio"] >= 0.9) + " (≥ 90%)"))
    if "definition" in s:
        r = s["definition"]
        rows.append(("6 definition", f"define_flow, {r['steps']:,}-step random DAG",
                     f"{_fmt(r['define_seconds'], 3)} s", "", _met(r["define_seconds"] < 1) + " (< 1 s)"))
        rows.append(("6 definition", f"cycle detection, {r['cycle_steps']:,}-step graph",
                     f"{_fmt(r['cycle_detection_seconds'], 3)} s",
                     f"acyclic define of the same size {_fmt(r['define_acyclic_big_seconds'], 3)} s",
                     _met(r["cycle_detection_seconds"] < 1) + " (< 1 s)"))
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
                rows.append(("7 peers", f"{library} {p.get('version', '')}: {p['jobs']:,} jobs as 5-job chains, "
                             f"4 workers", f"{_fmt(p['jobs_per_s'])} jobs/s",
                             f"pgflow DAG {ratio:.1f}x" if ratio else "",
                             _met(ratio > 1) + " (pgflow ahead)" if ratio else ""))
            else:
                rows.append(("7 peers", f"{library}: {p['jobs']:,} jobs (wide map + reduce), 4 workers",
                             f"{_fmt(p['seconds'], 2)} s",
                             f"pgflow {_fmt(wide['seconds'], 2)} s" if wide else "",
                             _met(wide["seconds"] < p["seconds"]) + " (pgflow ahead)" if wide else ""))
    if "wide_flow" in s:
        rows += _wide_flow_rows(s["wide_flow"])
    head = ["| scenario | measure | result | comparison | target |", "|---|---|---|---|---|"]
    body = [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    m = results.get("machine", {})
    srv = results.get("server", {})
    repeat = results.get("sizes", {}).get("repeat", 1)
    footer = (
        f"\nMeasured {results.get('started_at', '')} on {m.get('cpus')} × {m.get('cpu', 'CPU')}, "
        f"{m.get('memory_gib')} GiB, {m.get('platform')}; PostgreSQL {srv.get('server_version')} "
        f"(shared_buffers {srv.get('shared_buffers')}, synchronous_commit {srv.get('synchronous_commit')}); "
        f"Python {m.get('python')}. Scenarios 1-3 and 5: medians of {repeat} runs, the two sides alternating; "
        f"ratios are medians of back-to-back pairs. Whole run: {results.get('wall_seconds', '?')} s."
    )
    return "\n".join(head + body) + "\n" + footer + "\n"


def _wide_flow_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Scenario 8: seconds per N, and time(2N)/time(N) against the target of linear cost (each ratio < 3)."""
    def series(seconds: dict[str, float]) -> str:
        return ", ".join(f"{int(n):,}: {_fmt(v, 3)} s" for n, v in seconds.items())

    def ratios(values: dict[str, float]) -> tuple[str, str]:
        text = ", ".join(f"{k}: {v:.2f}" for k, v in values.items())
        return f"time(2N)/time(N) {text}", _met(all(v < 3 for v in values.values())) + " (linear: < 3)"

    never = "never analyzed" if not r.get("analyzed_tables") else f"analyzed: {', '.join(r['analyzed_tables'])}"
    rows = [("8 wide flow", f"start_run, N roots + join ({never})", series(r["start_run"]),
             *ratios(r["start_run_ratios"]))]
    for key, label in (("one_per_transaction", "one per transaction"), ("batches_of_10", "batches of 10")):
        c = r[key]
        ratio_text, target = ratios(c["roots_ratios"])
        quarters = ", ".join(f"{v:.2f}" for v in c["last_over_first_quarter"].values())
        rows.append(("8 wide flow", f"claim and complete the N roots, {label}", series(c["roots_seconds"]),
                     f"{ratio_text}; last quarter of the roots / first: {quarters}", target))
        rows.append(("8 wide flow", f"claim / complete join (input of N outputs), {label}",
                     ", ".join(f"{int(n):,}: {_fmt(c['join_claim_seconds'][n], 3)} / "
                               f"{_fmt(c['join_complete_seconds'][n], 3)} s" for n in c["join_claim_seconds"]),
                     "", ""))
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
        if START in readme and END in readme:
            before, rest = readme.split(START, 1)
            _, after = rest.split(END, 1)
            README.write_text(f"{before}{START}\n{table}{END}{after}")
    return table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    args = parser.parse_args(argv)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = [x for x in only if x not in ALL]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}")
    started = time.monotonic()
    results = run(only, QUICK if args.quick else FULL)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    table = write(results, update_readme=not args.no_readme and not args.quick)
    print(table)
    common.log(f"done in {results['wall_seconds']} s; results in {RESULTS}/latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
