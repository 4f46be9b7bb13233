"""The second demo flow: a nightly batch of orders that uses a schedule, a sub-flow per order line and a wait.

    nightly_orders (schedule "0 2 * * *" in Europe/Paris, and whatever the caller adds)

    collect_orders ──> process_lines (map: one order_line child run per line) ──> invoice ──> payment (wait) ──> ship

    order_line (a flow of its own, run once per line as a child run)

    reserve_stock ──> price_line

`payment` has no handler: the run waits there until something outside calls
``pgflow.signal(run_id, 'payment', payload)`` — `examples/pay.py` does, as a payment provider's webhook would.
"""

from __future__ import annotations

import time
from typing import Any

import pgflow

STEP_SECONDS = 0.5
PRICES = {"tea": 4.5, "cups": 12.0, "kettle": 39.0}

order_line = pgflow.Flow("order_line", max_attempts=3, timeout=30)


@order_line.step
def reserve_stock(line: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    return {"sku": line["sku"], "quantity": line["quantity"], "reserved": True}


@order_line.step(depends_on=[reserve_stock])
def price_line(deps: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    line = deps["reserve_stock"]
    return {"sku": line["sku"], "quantity": line["quantity"], "amount": PRICES[line["sku"]] * line["quantity"]}


flow = pgflow.Flow(
    "nightly_orders",
    max_attempts=3,
    timeout=30,
    schedules=[pgflow.Schedule("orders_nightly", "0 2 * * *", {"store": "paris"}, timezone="Europe/Paris")],
)


@flow.step
def collect_orders(input: dict[str, Any]) -> list[dict[str, Any]]:
    time.sleep(STEP_SECONDS)
    return [{"sku": "tea", "quantity": 3}, {"sku": "cups", "quantity": 2}, {"sku": "kettle", "quantity": 1}]


process_lines = flow.map(over=collect_orders, flow=order_line, slug="process_lines")


@flow.step(depends_on=[process_lines])
def invoice(deps: dict[str, Any], ctx: pgflow.Context) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    lines = [child["price_line"] for child in deps["process_lines"]]
    return {"store": ctx.flow_input.get("store"), "lines": lines, "total": sum(line["amount"] for line in lines)}


payment = flow.wait("payment", depends_on=[invoice], timeout=3600)


@flow.step(depends_on=[invoice, payment])
def ship(deps: dict[str, Any]) -> dict[str, Any]:
    time.sleep(STEP_SECONDS)
    return {"shipped": True, "total": deps["invoice"]["total"], "paid": deps["payment"]}
