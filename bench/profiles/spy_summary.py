"""Summarise a py-spy raw (collapsed) profile of pgflow worker processes: CPU microseconds per task, by
thread, and the functions with the most self and cumulative time.

    py-spy record --subprocesses --threads --format raw -r 200 -o prof.txt -- python driver.py
    .venv/bin/python bench/profiles/spy_summary.py prof.txt --tasks 5000 --rate 200 [--top 25]
"""

from __future__ import annotations

import argparse
import collections
import re


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--rate", type=int, default=200)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    us = 1e6 / a.rate / a.tasks  # microseconds per task of one sample
    threads: collections.Counter[str] = collections.Counter()
    self_t: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    total = 0
    with open(a.path) as lines:
        samples = lines.read().splitlines()
    for line in samples:
        stack, _, count = line.rpartition(" ")
        if "_engine_worker_main" not in stack and "pgflow-" not in stack:
            continue
        n = int(count)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread (")), "?")
        name = re.sub(r"^thread \(\d+\): ", "", thread)
        name = re.sub(r"-\d+$", "-N", name)
        threads[name] += n
        funcs = [re.sub(r":\d+\)$", ")", f) for f in frames[frames.index(thread) + 1 :]]
        if funcs:
            self_t[funcs[-1]] += n
        for f in set(funcs):
            cum[f] += n
        total += n
    print(f"worker CPU: {total * us:.1f} µs per task ({total} samples)")
    print("by thread:")
    for name, n in threads.most_common():
        print(f"  {n * us:7.1f} µs  {name}")
    print("self time:")
    for f, n in self_t.most_common(a.top):
        print(f"  {n * us:7.1f} µs  {f}")
    print("cumulative:")
    for f, n in cum.most_common(a.top):
        print(f"  {n * us:7.1f} µs  {f}")


if __name__ == "__main__":
    main()
