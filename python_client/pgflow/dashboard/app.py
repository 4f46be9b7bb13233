"""The dashboard's web application (Starlette + Jinja2): pages, a JSON endpoint for live run pages, and the
cancel and resume actions.

Access rules:
- With a token, every request needs it: ``?token=...`` once (answered with a cookie and a redirect to the same
  address without it), then the cookie, or an ``Authorization: Bearer`` header. Compared in constant time.
- Without a token, only requests addressed to a loopback name (``Host`` 127.0.0.1, localhost or [::1]) are
  served, so that a web page elsewhere cannot reach the dashboard through DNS rebinding.
- Cancel and resume are POST only, with a per-process form secret (no cross-site form can post them), behind a
  confirmation in the page.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import psycopg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from psycopg.rows import dict_row
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import _conninfo, errors
from . import data, layout

HERE = Path(__file__).parent
#: the cookie holding the token once given as ?token=
TOKEN_COOKIE = "pgflow_dashboard_token"
#: host names a dashboard without a token answers to
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: how often a live run page asks for its run's status, in milliseconds
POLL_MS = 1000


def _utc(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: dt.datetime | None, end: dt.datetime | None = None) -> str:
    if start is None:
        return "-"
    seconds = ((end or dt.datetime.now(dt.timezone.utc)) - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _parse_time(text: str) -> dt.datetime:
    """A time of the runs filter: ISO 8601, as ``<input type=datetime-local>`` sends it; UTC unless it says."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _json_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def create_app(conninfo: str | None = None, *, token: str | None = None) -> Starlette:
    """The dashboard as an ASGI application reading the database of ``conninfo`` (default: $DATABASE_URL,
    then libpq's defaults), one connection per request. ``token``: required of every request (see the module's
    docstring); None serves loopback names only. Reading needs the pgflow_reader role's rights; cancel and
    resume need pgflow_producer's (a 403 page says so otherwise)."""
    form_secret = secrets.token_urlsafe(24)
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(utc=_utc, duration=_duration, preview=data.preview, pretty=_json_value)
    env.globals.update(statuses=data.RUN_STATUSES, form_secret=form_secret, poll_ms=POLL_MS)

    def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("page", template.removesuffix(".html"))
        html = env.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status_code)

    @contextmanager
    def connect() -> Iterator[psycopg.Connection[Any]]:
        with _conninfo.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
            yield conn

    def not_found(request: Request, message: str) -> HTMLResponse:
        return render(request, "error.html", 404, title="Not found", message=message)

    def run_id_of(request: Request) -> uuid.UUID | None:
        try:
            return uuid.UUID(request.path_params["run_id"])
        except ValueError:
            return None

    # ---------------------------------------------------------------------------------------------- pages
    def runs_page(request: Request) -> Response:
        q = request.query_params
        problems = []
        try:
            since = _parse_time(q["since"]) if q.get("since") else None
            until = _parse_time(q["until"]) if q.get("until") else None
        except ValueError:
            problems.append("a time is not an ISO 8601 date and time (e.g. 2024-05-01T12:00)")
            since = until = None
        status = q.get("status") or None
        if status is not None and status not in data.RUN_STATUSES:
            problems.append(f"status must be one of {', '.join(data.RUN_STATUSES)}")
            status = None
        filters = data.RunFilter(flow=q.get("flow") or None, status=status, since=since, until=until)
        older = newer = None
        try:
            older = data.Cursor.decode(q["before"]) if q.get("before") else None
            newer = data.Cursor.decode(q["after"]) if q.get("after") else None
        except ValueError:
            problems.append("the page cursor is malformed: showing the newest runs")
        with connect() as conn:
            page = data.runs_page(conn, filters, older_than=older, newer_than=newer)
            slugs = data.flow_slugs(conn)
        kept = {
            k: v
            for k, v in (
                ("flow", filters.flow),
                ("status", status),
                ("since", q.get("since")),
                ("until", q.get("until")),
            )
            if v
        }
        return render(
            request,
            "runs.html",
            title="Runs",
            page_data=page,
            flows=slugs,
            filters=kept,
            problems=problems,
            older_link="?" + urlencode({**kept, "before": page.older.encode()}) if page.older else None,
            newer_link="?" + urlencode({**kept, "after": page.newer.encode()}) if page.newer else None,
            newest_link="?" + urlencode(kept) if (older or newer) else None,
        )

    def run_page(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return not_found(request, f"{request.path_params['run_id']!r} is not a run id (a UUID)")
        try:
            with connect() as conn:
                run = data.run_detail(conn, run_id)
        except data.NotFound as exc:
            return not_found(request, str(exc))
        statuses = {s["step_slug"]: s["status"] for s in run["steps"]}
        drawing = layout.layout(run["steps"], statuses, data.steps_labels(run["steps"]))
        return render(
            request,
            "run.html",
            title=f"Run {str(run_id)[:8]}",
            run=run,
            drawing=drawing,
            message=request.query_params.get("message"),
        )

    def run_api(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "not a run id"}, 404)
        try:
            with connect() as conn:
                status = data.run_status(conn, run_id)
        except data.NotFound as exc:
            return JSONResponse({"error": str(exc)}, 404)
        labels = data.steps_labels(status["steps"])
        return JSONResponse(
            {
                "run_id": status["run_id"],
                "status": status["status"],
                "finished_at": status["finished_at"],
                "error": status["error"],
                "percentage": status["percentage"],
                "steps": [
                    {
                        "step_slug": s["step_slug"],
                        "status": s["status"],
                        "completed_tasks": s["completed_tasks"],
                        "total_tasks": s["total_tasks"],
                        "attempts": s["attempts"],
                        "label": labels[s["step_slug"]],
                    }
                    for s in status["steps"]
                ],
            }
        )

    def value_page(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return PlainTextResponse("not a run id", 404)
        q = request.query_params
        try:
            task = int(q["task"]) if q.get("task") not in (None, "") else None
        except ValueError:
            return PlainTextResponse("task must be an integer", 404)
        try:
            with connect() as conn:
                value = data.run_value(conn, run_id, request.path_params["what"], q.get("step") or None, task)
        except data.NotFound as exc:
            return PlainTextResponse(str(exc), 404)
        if isinstance(value, str):
            return PlainTextResponse(value)
        return Response(json.dumps(value, ensure_ascii=False, indent=2), media_type="application/json; charset=utf-8")

    async def control(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return not_found(request, "not a run id")
        if request.path_params["action"] not in ("cancel", "resume"):
            return not_found(request, f"nothing at {request.url.path}")
        # a urlencoded form, read without python-multipart (the only fields are short)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if not hmac.compare_digest(str(form.get("form_secret", "")).encode(), form_secret.encode()):
            return PlainTextResponse("this form did not come from this dashboard (reload the page)", 403)
        action = request.path_params["action"]
        reason = str(form.get("reason") or "") or None

        def call() -> str:
            with connect() as conn:
                if action == "cancel":
                    conn.execute("select pgflow.cancel_run(%s, %s)", (run_id, reason or "cancelled from the dashboard"))
                    return "run cancelled"
                conn.execute("select pgflow.resume_run(%s)", (run_id,))
                return "run resumed"

        try:
            message = await run_in_threadpool(call)
        except psycopg.Error as exc:
            translated = errors.translate(exc)
            if isinstance(translated, errors.RunNotFound):
                return not_found(request, errors.first_line(translated))
            if exc.sqlstate == "42501":
                return render(
                    request,
                    "error.html",
                    403,
                    title="Not allowed",
                    message=f"the dashboard's database role may not {action} runs (it needs pgflow_producer): "
                    f"{errors.first_line(exc)}",
                )
            message = errors.first_line(translated)
        return RedirectResponse(f"/runs/{run_id}?" + urlencode({"message": message}), status_code=303)

    def flows_page(request: Request) -> Response:
        with connect() as conn:
            listed = data.flows(conn)
            for flow in listed:
                current = flow.get("current") or flow["versions"][0]["version"]
                described = data.describe_flow(conn, flow["flow_slug"], current)
                flow["drawing"] = layout.layout(described["steps"])
        return render(request, "flows.html", title="Flows", flows=listed)

    def flow_page(request: Request) -> Response:
        slug = request.path_params["flow_slug"]
        with connect() as conn:
            listed = data.flows(conn, slug)
            if not listed:
                return not_found(request, f"no flow {slug}")
            versions = listed[0]["versions"][: data.VERSIONS_SHOWN]
            for version in versions:
                described = data.describe_flow(conn, slug, version["version"])
                version["described"] = described
                version["drawing"] = layout.layout(described["steps"])
        return render(
            request,
            "flow.html",
            title=f"Flow {slug}",
            flow=listed[0],
            versions=versions,
            hidden=len(listed[0]["versions"]) - len(versions),
        )

    def workers_page(request: Request) -> Response:
        include_stopped = request.query_params.get("all") == "1"
        with connect() as conn:
            rows = data.workers(conn, include_stopped=include_stopped)
        return render(request, "workers.html", title="Workers", workers=rows, include_stopped=include_stopped)

    def schedules_page(request: Request) -> Response:
        with connect() as conn:
            rows = data.schedules(conn)
        return render(request, "schedules.html", title="Schedules", schedules=rows)

    # ---------------------------------------------------------------------------------------------- access
    class Access(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            if token is None:
                host = (request.headers.get("host") or "").lower()
                name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
                if name not in LOOPBACK_NAMES:
                    return PlainTextResponse(
                        "this dashboard has no token and answers to 127.0.0.1, localhost and [::1] only", 403
                    )
                return await call_next(request)
            given = request.query_params.get("token")
            if given is not None:
                if not hmac.compare_digest(given.encode(), token.encode()):
                    return PlainTextResponse("wrong token", 401)
                rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                # (back to this dashboard's own path: "//host/x" would be another site's address)
                path = "/" + request.url.path.lstrip("/")
                response: Response = RedirectResponse(path + ("?" + rest if rest else ""), 303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return response
            header = request.headers.get("authorization", "")
            offered = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE, "")
            if not offered or not hmac.compare_digest(offered.encode(), token.encode()):
                return PlainTextResponse(
                    "this dashboard needs its token: open it once with ?token=..., or send Authorization: Bearer",
                    401,
                )
            return await call_next(request)

    def favicon(request: Request) -> Response:
        return RedirectResponse("/static/favicon.svg", 301)

    routes = [
        Route("/", lambda request: RedirectResponse("/runs", 302)),
        Route("/favicon.ico", favicon),
        Route("/runs", runs_page),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/value/{what}", value_page),
        Route("/runs/{run_id}/{action:str}", control, methods=["POST"]),
        Route("/api/runs/{run_id}", run_api),
        Route("/flows", flows_page),
        Route("/flows/{flow_slug}", flow_page),
        Route("/workers", workers_page),
        Route("/schedules", schedules_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Access)])

    async def page_not_found(request: Request, exc: Exception) -> Response:
        return not_found(request, f"nothing at {request.url.path}")

    async def bad_value(request: Request, exc: Exception) -> Response:
        # a value PostgreSQL cannot take (a NUL byte in a filter or an address): nothing there
        return not_found(request, f"nothing at {request.url.path}")

    app.add_exception_handler(404, page_not_found)
    app.add_exception_handler(psycopg.DataError, bad_value)
    return app
