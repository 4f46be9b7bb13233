#!/bin/sh
# A/B of bench/profiles/cpu.py: the baseline package (A: PYTHONPATH=$BASE) and this checkout (B), back to back,
# PAIRS times.  usage: BASE=/path/to/python_client bench/profiles/ab_cpu.sh KIND SIZE PAIRS
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for i in $(seq "${3:-3}"); do
  printf 'A '; PYTHONPATH="$BASE" "$ROOT/.venv/bin/python" "$ROOT/bench/profiles/cpu.py" --kind "$1" --size "$2" --workers "${WORKERS:-4}" 2>/dev/null
  printf 'B '; PYTHONPATH="$ROOT/python_client" "$ROOT/.venv/bin/python" "$ROOT/bench/profiles/cpu.py" --kind "$1" --size "$2" --workers "${WORKERS:-4}" 2>/dev/null
done
