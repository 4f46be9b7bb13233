"""The dashboard over real runs, through Starlette's TestClient: every page renders, filters and keyset pages,
the plans of the runs page (an index range, no sort of all runs), the token and host rules, cancel and resume,
404s."""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

with warnings.catch_warnings():  # starlette's note about httpx's successor
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from pgflow.dashboard import data, is_loopback
from pgflow.dashboard.app import TOKEN_COOKIE, create_app
from pgflow.dashboard.layout import layout

from ._browser import ANALYZE, drive
from .conftest import scratch_database

LOCAL = "http://127.0.0.1"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url), base_url=LOCAL) as c:
        yield c


@pytest.fixture
def sample(conn: psycopg.Connection, flow_slug: str) -> dict[str, Any]:
    """Runs of a diamond-and-map flow: two completed, one failed, one in progress."""
    conn.execute("select pgflow.define_flow(%s, %s)", (flow_slug, json.dumps(ANALYZE)))
    ids = []
    for i in range(2):
        ids.append(
            conn.execute("select run_id from pgflow.start_run(%s, %s)", (flow_slug, json.dumps({"i": i}))).fetchone()[0]
        )
        drive(conn, flow_slug, "w1")
    ids.append(conn.execute("select run_id from pgflow.start_run(%s, '{\"i\": 2}')", (flow_slug,)).fetchone()[0])
    drive(conn, flow_slug, "w1", fail="score")
    ids.append(conn.execute("select run_id from pgflow.start_run(%s, '{\"i\": 3}')", (flow_slug,)).fetchone()[0])
    drive(conn, flow_slug, "w1", stop_after=2)
    return {"completed": ids[:2], "failed": ids[2], "started": ids[3]}


def run_ids(html: str) -> list[str]:
    return re.findall(r'class="run-link mono" href="/runs/([0-9a-f-]{36})"', html)


def test_every_page_renders(
    client: TestClient, sample: dict[str, Any], flow_slug: str, conn: psycopg.Connection
) -> None:
    conn.execute("select pgflow.heartbeat('dash-worker', array[%s])", (flow_slug,))
    conn.execute("select pgflow.create_schedule(%s, %s, '0 3 * * *')", (flow_slug + "_nightly", flow_slug))
    for path, expected in (
        ("/runs", flow_slug),
        ("/flows", flow_slug),
        (f"/flows/{flow_slug}", "Version 1"),
        ("/workers", "dash-worker"),
        ("/schedules", flow_slug + "_nightly"),
        (f"/runs/{sample['started']}", 'data-step="merge"'),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert expected in response.text, path
    assert client.get("/static/dashboard.css").status_code == 200
    assert client.get("/static/run.js").status_code == 200
    assert "cdn" not in client.get("/runs").text.lower()


def test_the_run_page_shows_steps_tasks_inputs_outputs_and_errors(client: TestClient, sample: dict[str, Any]) -> None:
    html = client.get(f"/runs/{sample['started']}").text
    assert re.search(r'data-step="fetch" data-status="completed"', html)
    assert re.search(r'data-step="merge" data-status="created"', html)
    assert "PostgreSQL runs the workflow engine" in html  # fetch's output, and the input its dependents received
    assert 'id="cancel-run"' in html and 'id="resume-run"' not in html
    failed = client.get(f"/runs/{sample['failed']}").text
    assert "ValueError: the page had no text to score" in failed
    assert 'id="resume-run"' in failed and 'id="cancel-run"' not in failed
    live = client.get(f"/api/runs/{sample['started']}").json()
    assert live["status"] == "started"
    assert {s["step_slug"]: s["status"] for s in live["steps"]}["fetch"] == "completed"


def test_a_long_value_is_cut_and_whole_behind_its_link(
    client: TestClient, conn: psycopg.Connection, flow_slug: str
) -> None:
    conn.execute('select pgflow.define_flow(%s, \'[{"slug": "big"}]\')', (flow_slug,))
    text = "x" * 5000
    run_id = conn.execute(
        "select run_id from pgflow.start_run(%s, %s)", (flow_slug, json.dumps({"text": text}))
    ).fetchone()[0]
    html = client.get(f"/runs/{run_id}").text
    assert text not in html
    assert f'href="/runs/{run_id}/value/input"' in html
    assert client.get(f"/runs/{run_id}/value/input").json() == {"text": text}


def test_filters(client: TestClient, sample: dict[str, Any], flow_slug: str) -> None:
    failed = run_ids(client.get(f"/runs?flow={flow_slug}&status=failed").text)
    assert failed == [str(sample["failed"])]
    every = run_ids(client.get(f"/runs?flow={flow_slug}").text)
    assert every == [str(sample["started"]), str(sample["failed"]), *map(str, reversed(sample["completed"]))]
    assert run_ids(client.get(f"/runs?flow={flow_slug}&since=2999-01-01T00:00").text) == []
    assert len(run_ids(client.get(f"/runs?flow={flow_slug}&until=2999-01-01T00:00").text)) == 4
    assert "is not an ISO 8601" in client.get("/runs?since=yesterday").text
    assert "status must be one of" in client.get("/runs?status=lost").text


def test_pages_walk_every_run_once_newest_first(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    conn.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (flow_slug,))
    # 23 runs, some sharing a start time (the cursor breaks ties by run_id)
    for i in range(23):
        conn.execute("select pgflow.start_run(%s, %s)", (flow_slug, json.dumps({"i": i})))
    conn.execute(
        "update pgflow.runs"
        " set started_at = timestamptz '2024-01-01' + (abs(hashtext(run_id::text)) %% 5) * interval '1 min' "
        "where flow_slug = %s",
        (flow_slug,),
    )
    expected = [
        str(r[0])
        for r in conn.execute(
            "select run_id from pgflow.runs where flow_slug = %s order by started_at desc, run_id", (flow_slug,)
        ).fetchall()
    ]
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        seen: list[str] = []
        page = data.runs_page(c, data.RunFilter(flow=flow_slug), limit=5)
        pages = [page]
        while page.older:
            page = data.runs_page(c, data.RunFilter(flow=flow_slug), older_than=page.older, limit=5)
            pages.append(page)
        for p in pages:
            seen += [str(r["run_id"]) for r in p.runs]
        assert seen == expected
        # and back: newer than the last page's first run is the page before it
        back = data.runs_page(c, data.RunFilter(flow=flow_slug), newer_than=pages[-1].newer, limit=5)
        assert [r["run_id"] for r in back.runs] == [r["run_id"] for r in pages[-2].runs]


def test_the_older_link_carries_the_filters_and_a_cursor(
    client: TestClient, conn: psycopg.Connection, flow_slug: str
) -> None:
    conn.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (flow_slug,))
    for _ in range(data.PAGE_SIZE + 3):
        conn.execute("select pgflow.start_run(%s)", (flow_slug,))
    first = client.get(f"/runs?flow={flow_slug}").text
    link = re.search(r'href="(\?[^"]*before=[^"]*)" rel="next"', first)
    assert link, "no older link"
    second = client.get("/runs" + link.group(1).replace("&amp;", "&")).text
    assert len(run_ids(first)) == data.PAGE_SIZE and len(run_ids(second)) == 3
    assert not set(run_ids(first)) & set(run_ids(second))
    assert (
        "offset"
        not in data.runs_query(data.RunFilter(), older_than=None, newer_than=None, limit=5)[0].as_string().lower()
    )


@pytest.fixture(scope="module")
def many_runs(admin_url: str) -> Iterator[str]:
    """A database with 60,000 runs of three flows (analyzed), for plans."""
    import pgflow

    with scratch_database(admin_url, "pgflow_dash_plans") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as c:
            for slug in ("alpha", "beta", "gamma"):
                c.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (slug,))
            c.execute(
                """
                insert into pgflow.runs (run_id, flow_slug, flow_version, status, input, remaining_steps, started_at,
                                         finished_at)
                select gen_random_uuid(), (array['alpha', 'beta', 'gamma'])[1 + i % 3], 1,
                       case when i % 100 = 0 then 'failed' when i % 7 = 0 then 'started' else 'completed' end,
                       '{}', case when i % 7 = 0 and i % 100 <> 0 then 1 else 0 end,
                       timestamptz '2024-01-01' + i * interval '1 s',
                       case when i % 7 = 0 and i % 100 <> 0 then null
                            else timestamptz '2024-01-01' + i * interval '1 s' + interval '2 s' end
                from generate_series(1, 60000) as i
                """
            )
            c.execute("analyze pgflow.runs")
        yield url


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.parametrize(
    "filters, cursor",
    [
        (data.RunFilter(), None),
        (data.RunFilter(flow="beta"), None),
        (data.RunFilter(status="failed"), None),
        (data.RunFilter(flow="gamma", status="started"), None),
        (data.RunFilter(), "deep"),
        (data.RunFilter(flow="alpha"), "deep"),
    ],
)
def test_a_runs_page_reads_an_index_range_without_sorting_all_runs(
    many_runs: str, filters: data.RunFilter, cursor: str | None
) -> None:
    with psycopg.connect(many_runs, autocommit=True) as c:
        older = None
        if cursor:
            row = c.execute(
                "select started_at, run_id from pgflow.runs order by started_at limit 1 offset 30000"
            ).fetchone()
            assert row is not None
            older = data.Cursor(row[0], row[1])
        query, params = data.runs_query(filters, older_than=older, newer_than=None, limit=data.PAGE_SIZE + 1)
        explained = c.execute(sql.SQL("explain (format json) ") + query, params).fetchone()
    assert explained is not None
    nodes = list(plan_nodes(explained[0][0]["Plan"]))
    kinds = [n["Node Type"] for n in nodes]
    assert "Seq Scan" not in kinds, kinds
    # (an incremental sort puts runs with one started_at in run_id order; a full sort would read every run)
    assert "Sort" not in kinds, kinds
    assert any(n.get("Index Name", "").endswith("newest_first") for n in nodes), kinds


def test_a_token_is_asked_of_every_request(database_url: str, sample: dict[str, Any]) -> None:
    app = create_app(database_url, token="s3cret")
    with TestClient(app, base_url="http://dashboard.example:8080") as c:
        assert c.get("/runs").status_code == 401
        assert c.get("/runs?token=wrong").status_code == 401
        assert c.get("/api/runs/" + str(sample["started"])).status_code == 401
        first = c.get("/runs?token=s3cret&status=failed", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/runs?status=failed"
        assert TOKEN_COOKIE in first.headers["set-cookie"] and "httponly" in first.headers["set-cookie"].lower()
        assert c.get("/runs").status_code == 200  # the cookie
    with TestClient(app, base_url="http://dashboard.example:8080") as c:
        assert c.get("/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/runs", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_without_a_token_only_loopback_names_are_served(database_url: str) -> None:
    app = create_app(database_url)
    for base in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/runs").status_code == 200, base
    with TestClient(app, base_url="http://attacker.example") as c:
        assert c.get("/runs").status_code == 403
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def form_secret(html: str) -> str:
    match = re.search(r'name="form_secret" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_cancel_and_resume_change_the_run(client: TestClient, sample: dict[str, Any], conn: psycopg.Connection) -> None:
    run_id = sample["started"]
    secret = form_secret(client.get(f"/runs/{run_id}").text)
    assert client.get(f"/runs/{run_id}/cancel").status_code in (404, 405)  # POST only
    refused = client.post(f"/runs/{run_id}/cancel", data={"form_secret": "forged"})
    assert refused.status_code == 403
    assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("started",)
    done = client.post(f"/runs/{run_id}/cancel", data={"form_secret": secret})
    assert done.status_code == 200 and "run cancelled" in done.text
    assert conn.execute("select status, error from pgflow.runs where run_id = %s", (run_id,)).fetchone() == (
        "cancelled",
        "cancelled from the dashboard",
    )
    resumed = client.post(f"/runs/{run_id}/resume", data={"form_secret": secret})
    assert "run resumed" in resumed.text
    assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("started",)
    # a refused operation is said on the page (a completed run cannot be cancelled: PF008)
    refused_state = client.post(f"/runs/{sample['completed'][0]}/cancel", data={"form_secret": secret})
    assert refused_state.status_code == 200 and "completed" in refused_state.text


def test_unknown_things_are_404(client: TestClient) -> None:
    assert client.get(f"/runs/{uuid.uuid4()}").status_code == 404
    assert client.get("/runs/not-a-uuid").status_code == 404
    assert client.get(f"/api/runs/{uuid.uuid4()}").status_code == 404
    assert client.get("/flows/no_such_flow").status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.post(f"/runs/{uuid.uuid4()}/cancel", data={"form_secret": "x"}).status_code in (403, 404)


def test_the_layout_puts_every_step_right_of_its_dependencies() -> None:
    drawing = layout(
        [
            {"step_slug": s["slug"], "step_type": s.get("type", "single"), "depends_on": s.get("depends_on", [])}
            for s in ANALYZE
        ]
    )
    x = {n.slug: n.x for n in drawing.nodes}
    for step in ANALYZE:
        for dep in step.get("depends_on", []):
            assert x[dep] < x[step["slug"]]
    assert len(drawing.edges) == 5
    boxes = {(n.x, n.y) for n in drawing.nodes}
    assert len(boxes) == len(drawing.nodes)  # no two steps in the same place


def test_the_command_refuses_a_public_address_without_a_token(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgflow import cli

    monkeypatch.delenv("PGFLOW_DASHBOARD_TOKEN", raising=False)
    assert cli.main(["dashboard", "--database-url", database_url, "--host", "0.0.0.0"]) == 2
    assert "without a token" in capsys.readouterr().err
    assert cli.main(["dashboard", "--database-url", database_url, "--port", "70000"]) == 2


def test_the_flow_page_shows_the_json_schemas_of_typed_steps(
    client: TestClient, conn: psycopg.Connection, flow_slug: str
) -> None:
    schema = {"title": "Order", "type": "object", "properties": {"order_id": {"type": "integer"}}}
    conn.execute(
        "select pgflow.define_flow(%s, %s)",
        (flow_slug, Jsonb([{"slug": "typed", "input_schema": schema}, {"slug": "plain"}])),
    )
    html = client.get(f"/flows/{flow_slug}").text
    assert "input: Order" in html
    assert "order_id" in html
    assert "output:" not in html


def test_odd_requests_get_answers_not_errors(client: TestClient, sample: dict[str, Any]) -> None:
    run = str(sample["started"])
    # a NUL byte PostgreSQL cannot take, in a filter and in an address
    assert client.get("/runs?flow=%00").status_code == 404
    assert client.get("/flows/%00").status_code == 404
    # a form secret that is not ASCII is refused like a wrong one
    assert (
        client.post(
            f"/runs/{run}/cancel",
            content="form_secret=%C3%A9",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).status_code
        == 403
    )


def test_the_token_redirect_stays_on_the_dashboard(database_url: str) -> None:
    app = create_app(database_url, token="s3cret")
    with TestClient(app, base_url="http://dashboard.example:8080") as c:
        for path in ("/%2F%2Fevil.example/x", "/%2Fevil.example/x"):
            response = c.get(path + "?token=s3cret", follow_redirects=False)
            assert response.status_code == 303
            location = response.headers["location"]
            assert location.startswith("/") and not location.startswith("//"), location
