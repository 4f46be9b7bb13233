"""A payment provider's webhook, in a few lines: signal the `payment` wait step of a nightly_orders run.

    python examples/pay.py RUN_ID [AMOUNT]

Prints whether the signal was recorded (a second signal for the same step is not).
"""

from __future__ import annotations

import sys

import pgflow


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    run_id = argv[0]
    amount = float(argv[1]) if len(argv) == 2 else None
    with pgflow.Client() as client:  # DATABASE_URL
        recorded = client.signal(run_id, "payment", {"status": "paid", "amount": amount, "provider": "demo-pay"})
    print(f"payment signal for run {run_id}: {'recorded' if recorded else 'already had one'}")
    return 0 if recorded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
