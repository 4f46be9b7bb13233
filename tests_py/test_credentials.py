"""No credential ever appears in any output: the CLI's errors, a worker's logs (tracebacks included), the
exceptions raised to a caller from a connection attempt, and the error texts a worker records. Driven as a
user would: `pgflow` commands as subprocesses with malformed URLs, URLs of a port nothing listens on and
key/value conninfo strings, every byte they print searched for the password."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

import pgflow
from pgflow import _conninfo, _redact

from . import cli_flows
from ._client_helpers import running_worker

ROOT = Path(__file__).resolve().parents[1]
SECRET = "S3cret-Zebra-91"
#: the two halves of the passwords that hold a quote, a double quote or a space: libpq's messages may quote
#: a connection string back cut at that character, so neither half may appear
HEAD, TAIL = "Lynx-48", "Okapi-37"
TIMEOUT = 30


def _dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _dead_port()

#: connection strings holding SECRET, by kind
URLS = {
    "malformed_url": f"postgres:/alice:{SECRET}@127.0.0.1/db",
    "malformed_ipv6_url": f"postgresql://alice:{SECRET}@[::1/db",
    "url_with_at_in_password": f"postgresql://alice:{SECRET}@x@127.0.0.1:{PORT}/db?connect_timeout=2",
    "url_to_a_dead_port": f"postgresql://alice:{SECRET}@127.0.0.1:{PORT}/db?connect_timeout=2",
    "url_with_bad_option": f"postgresql://alice:{SECRET}@127.0.0.1:{PORT}/db?sslmode=bogus",
    "keyword_value": f"host=127.0.0.1 port={PORT} user=alice password={SECRET} connect_timeout=2",
    "keyword_value_quoted": f"host=127.0.0.1 port={PORT} password='{SECRET} x' connect_timeout=2",
    "keyword_value_malformed": f"host=127.0.0.1 port={PORT} password={SECRET} dbname",
    "malformed_url_quote": f"postgres:/alice:{HEAD}'{TAIL}@127.0.0.1/db",
    "malformed_url_double_quote": f'postgres:/alice:{HEAD}"{TAIL}@127.0.0.1/db',
    "malformed_url_space": f"postgres:/alice:{HEAD} {TAIL}@127.0.0.1/db",
    "malformed_url_quote_in_user": f"postgres:/al'ice:{SECRET}@127.0.0.1/db",
    "url_with_space": f"postgresql://alice:{HEAD} {TAIL}@127.0.0.1:{PORT}/db",
    "keyword_value_quote_in_bare_password": f"host=127.0.0.1 port={PORT} password={HEAD}'{TAIL} dbname",
    "url_with_quotes_to_a_dead_port": f"postgresql://al'ice:{HEAD}'{TAIL}@127.0.0.1:{PORT}/db?connect_timeout=2",
}
#: the kinds the CLI is tried with in every command, both through --database-url and DATABASE_URL
EVERY_COMMAND_KINDS = (
    "malformed_url",
    "url_to_a_dead_port",
    "malformed_url_quote",
    "malformed_url_double_quote",
    "malformed_url_space",
    "malformed_url_quote_in_user",
)


def _env(database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGPASSWORD")}
    env[cli_flows.PREFIX_VARIABLE] = f"cred{uuid.uuid4().hex[:8]}"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def _pgflow(args: list[str], url: str, via: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pgflow.cli", *args]
    if via == "flag":
        return subprocess.run(
            [*cmd, "--database-url", url], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT
        )
    return subprocess.run(cmd, cwd=ROOT, env=_env(url), capture_output=True, text=True, timeout=TIMEOUT)


def _leaks(text: str) -> list[str]:
    """The passwords (or halves of one) that appear in ``text``."""
    return [secret for secret in (SECRET, HEAD, TAIL) if secret in text]


def _assert_clean(text: str, what: str) -> None:
    assert not _leaks(text), f"the password appears in {what}:\n{text}"


# ----------------------------------------------------------------------------------------------------
# The CLI
# ----------------------------------------------------------------------------------------------------
COMMANDS = {
    "status": ["status", "3338289f-9c79-49fb-a244-865fe05c5fe9"],
    "runs": ["runs"],
    "migrate": ["migrate"],
    "prune": ["prune", "--older-than", "7d"],
    "start": ["start", "some_flow", "--input", "{}"],
    "cancel": ["cancel", "3338289f-9c79-49fb-a244-865fe05c5fe9"],
    "resume": ["resume", "3338289f-9c79-49fb-a244-865fe05c5fe9"],
    "graph": ["graph", "some_flow"],
}
#: (command, kind of URL, via): every kind with two commands through DATABASE_URL, and every command both
#: ways for the malformed URLs (the one of the report, and those whose password or user holds a quote, a
#: double quote or a space) and the dead port
CLI_CASES = sorted(
    {(command, kind, "env") for kind in URLS for command in ("status", "migrate")}
    | {(command, kind, via) for kind in EVERY_COMMAND_KINDS for command in COMMANDS for via in ("env", "flag")}
)


def test_cli_errors_never_show_the_password() -> None:
    def attempt(case: tuple[str, str, str]) -> str | None:
        command, kind, via = case
        proc = _pgflow(COMMANDS[command], URLS[kind], via)
        shown = proc.stdout + proc.stderr
        if proc.returncode == 0 or not proc.stderr.startswith("pgflow: ") or "Traceback" in proc.stderr:
            return f"{case}: not one clean error line (exit {proc.returncode}): {shown!r}"
        if _leaks(shown):
            return f"{case}: the password appears: {shown!r}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for p in pool.map(attempt, CLI_CASES) if p]
    assert not problems, "\n".join(problems)


def test_a_malformed_database_url_is_bad_usage_and_says_where() -> None:
    proc = _pgflow(COMMANDS["status"], URLS["malformed_url"], "env")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        'pgflow: the database URL is not a valid connection string: missing "=" after '
        '"postgres:/alice:***@127.0.0.1/db" in connection info string'
    )


def test_a_password_cut_short_by_libpq_is_masked_where_it_is_cut() -> None:
    """libpq stops at the space and quotes back what it read: the message still says where, without the
    password's first half."""
    proc = _pgflow(COMMANDS["runs"], URLS["malformed_url_space"], "flag")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        'pgflow: the database URL is not a valid connection string: missing "=" after "postgres:/alice:***" '
        "in connection info string"
    )


#: what a password of the property-based test is made of: Greek letters (which no libpq message holds, so
#: any piece of the password shown is seen) and the characters that end or split a URL's parts
PASSWORD_ALPHABET = "αβγδεζηθ'\" @:/%?#=\\"
#: connection strings around a password: malformed URLs libpq quotes back, URLs it parses but refuses, and
#: key/value strings with the password quoted as conninfo quotes it
TEMPLATES = (
    "postgres:/alice:{url}@127.0.0.1/db",
    "postgres:/al'ice:{url}@127.0.0.1/db",
    "postgres:/al ice:{url}@127.0.0.1/db",
    "postgresql://alice:{url}@[::1/db",
    "postgresql://alice:{url}@127.0.0.1:99999/db",
    "postgresql://alice:{url}@127.0.0.1:1/db?bogus=1",
    "postgresql://alice:{url}@127.0.0.1:1/db?sslmode=bogus",
    "host=127.0.0.1 port=1 password={quoted} dbname",
    "host=127.0.0.1 port=1 password={quoted} sslmode=bogus",
    "host=127.0.0.1 port=abc password={quoted}",
    "{url}",
)


@settings(max_examples=150, deadline=None)
@given(
    password=st.text(PASSWORD_ALPHABET, min_size=1, max_size=16).filter(lambda p: any(c in "αβγδεζηθ" for c in p)),
    template=st.sampled_from(TEMPLATES),
)
def test_no_piece_of_a_password_appears_in_a_conninfo_error(password: str, template: str) -> None:
    """Whatever the password holds, neither the check of a connection string nor a connection attempt (to a
    port nothing listens on, or refused before any), nor a text that quotes the connection string once it
    was used, shows any piece of it: no Greek letter comes back."""
    # a bare word holding "=" is key/value pairs, whose keys are no secret
    assume(template != "{url}" or "=" not in password)
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    conninfo = template.format(url=password, quoted=quoted)
    shown = [_conninfo.check(conninfo) or ""]
    if not shown[0]:
        try:
            _conninfo.connect(conninfo, connect_timeout=2).close()
        except psycopg.Error as exc:
            shown.append(_everything_shown(exc))
    # in free text: a password of 4 characters or more (shorter ones are removed by the patterns only) of a
    # connection string that has one (a bare word is no connection string; it is masked in the check's message)
    if len(password) >= _redact.MIN_LITERAL and template != "{url}":
        shown.append(_redact.redact(f"connecting with {conninfo} failed"))
    for text in shown:
        assert not any(c in "αβγδεζηθ" for c in text), (conninfo, text)


def test_workers_never_log_the_password(tmp_path: Path) -> None:
    """`pgflow worker -v` with each kind of URL (through DATABASE_URL, and through --database-url for two of
    them), all at once, for 3 seconds and until each has written something or exited; their output in log
    files."""
    cases = [(kind, "env") for kind in URLS] + [(kind, "flag") for kind in EVERY_COMMAND_KINDS]
    procs = []
    for kind, via in cases:
        cmd = [
            sys.executable,
            "-m",
            "pgflow.cli",
            "worker",
            "tests_py.cli_flows:diamond",
            "-v",
            "--shutdown-timeout",
            "1",
        ]
        env = _env(URLS[kind] if via == "env" else None)
        if via == "flag":
            cmd += ["--database-url", URLS[kind]]
        log_path = tmp_path / f"{kind}.{via}.log"
        with log_path.open("w") as log:
            procs.append(
                (
                    kind,
                    via,
                    log_path,
                    subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True),
                )
            )
    try:
        # at least 3 seconds, and until every worker has written something (or exited): on a loaded machine
        # 20 Python processes can take longer than that to start
        started = time.monotonic()
        while time.monotonic() - started < 120:
            quiet = [p for _, _, path, p in procs if p.poll() is None and path.stat().st_size == 0]
            if not quiet and time.monotonic() - started >= 3:
                break
            time.sleep(0.1)
        for _, _, _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, _, _, proc in procs:
            proc.wait(timeout=TIMEOUT)
    finally:
        for _, _, _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    outputs = {(kind, via): path.read_text() for kind, via, path, _ in procs}
    assert all(o.strip() for o in outputs.values()), outputs
    # the dead port: the worker kept trying, and said so (several connection failures, none with the password)
    assert outputs[("url_to_a_dead_port", "env")].count("failed") >= 3, outputs[("url_to_a_dead_port", "env")]
    leaked = {case: out for case, out in outputs.items() if _leaks(out)}
    assert not leaked, leaked


# ----------------------------------------------------------------------------------------------------
# The Python API
# ----------------------------------------------------------------------------------------------------
def _everything_shown(exc: BaseException) -> str:
    """What a traceback of ``exc`` shows (chained causes and contexts included), and its repr."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + repr(exc.args)


@pytest.mark.parametrize("kind", sorted(URLS))
def test_exceptions_from_connection_attempts_never_carry_the_password(kind: str) -> None:
    url = URLS[kind]
    calls = {
        "Client.get_run_status": lambda: pgflow.Client(url).get_run_status(uuid.uuid4()),
        "Client.start_run": lambda: pgflow.Client(url).start_run("some_flow", {}),
        "migrate": lambda: pgflow.migrate(url),
    }
    for name, call in calls.items():
        with pytest.raises(Exception) as info:  # the class is whatever libpq's failure is
            call()
        _assert_clean(_everything_shown(info.value), f"the exception of {name} ({kind})")


@pytest.mark.parametrize(
    "kind",
    [
        "malformed_url",
        "malformed_ipv6_url",
        "keyword_value_malformed",
        "malformed_url_quote",
        "malformed_url_double_quote",
        "malformed_url_space",
        "malformed_url_quote_in_user",
        "url_with_space",
        "keyword_value_quote_in_bare_password",
    ],
)
def test_a_worker_given_a_malformed_conninfo_refuses_it_without_showing_the_password(kind: str) -> None:
    flow = pgflow.Flow("never_defined")

    @flow.step
    def only(input: Any) -> Any:
        return input

    with pytest.raises(pgflow.InvalidInput) as info:
        pgflow.Worker(URLS[kind], flow)
    assert "conninfo is not a valid connection string" in str(info.value)
    _assert_clean(_everything_shown(info.value), f"Worker's exception ({kind})")


def test_a_worker_that_cannot_connect_logs_no_password(caplog: pytest.LogCaptureFixture) -> None:
    flow = pgflow.Flow("never_defined")

    @flow.step
    def only(input: Any) -> Any:
        return input

    caplog.set_level(logging.DEBUG)
    worker = pgflow.Worker(URLS["url_to_a_dead_port"], flow, shutdown_timeout=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    threading.Event().wait(1.5)
    worker.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()
    formatter = logging.Formatter("%(message)s")
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "failed" in text, text  # it did try, and said so
    _assert_clean(text, "the worker's log records")


def test_errors_a_worker_records_and_logs_have_passwords_redacted(
    database_url: str, conn: psycopg.Connection, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's own conninfo holds a password (the test server trusts local connections and ignores it);
    a handler's error quoting it, and quoting another URL's password, is recorded and logged redacted."""
    url = make_conninfo(database_url, password=SECRET)
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def login(input: Any) -> Any:
        raise RuntimeError(f"login with {SECRET} failed; tried postgresql://bob:Other-Pw-77@db.internal/x")

    caplog.set_level(logging.INFO)
    with pgflow.Client(url) as client:
        run = client.start_run(flow, {})
        with running_worker(url, flow, concurrency=1), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=20)
    row = conn.execute(
        "select error from pgflow.step_tasks where run_id = %s and step_slug = 'login'", (run.run_id,)
    ).fetchone()
    assert row == ("RuntimeError: login with *** failed; tried postgresql://bob:***@db.internal/x",)
    text = "\n".join(logging.Formatter("%(message)s").format(r) for r in caplog.records)
    assert "login with ***" in text, text
    _assert_clean(text, "the worker's log records")
    assert "Other-Pw-77" not in text


@pytest.mark.parametrize("text", ["not a url", "hunter", "correct horse battery staple"])
def test_a_malformed_string_that_may_be_a_password_is_masked_whole(text: str) -> None:
    """A connection string that is neither URL-like nor key/value may be a password pasted in the wrong place,
    whatever it is made of: libpq's message never repeats it."""
    assert (
        _redact.redact_conninfo_error(f'missing "=" after "{text.split()[0]}" in connection info string', text)
        == 'missing "=" after "***" in connection info string'
    )
