"""What runs inside the child processes of a ``Worker(isolation="process")``: one handler call at a time.

The worker's pool (pebble's ``ProcessPool``) starts each child with ``init(flags)``: ``flags`` is an array in
shared memory with one byte per slot of the worker. The worker sets a task's byte when the task's run is
cancelled or the worker shuts down past its grace period; a thread of the child, watching that byte and the
attempt's deadline, then sets ``ctx.cancelled`` (and cancels an ``async def`` handler, which runs on the
child's own event loop). A child still running 2 s later is killed by the worker.

``run_task`` returns plain tuples, never the handler's objects, so that nothing the handler made has to be
pickled on the way back:
- ``("json", text)``: the result as JSON text PostgreSQL can store;
- ``("not_storable", why)``: the result could not be turned into such JSON (``why`` names its type and path);
- ``("error", described, retry, traceback)``: the handler raised (``retry`` False for NonRetryableError);
- ``("cancelled",)``: an ``async def`` handler ended with ``asyncio.CancelledError``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import threading
import time
import traceback
from typing import Any

from . import _storable, typed
from .context import Context
from .errors import NonRetryableError

#: how often the child looks at its cancellation byte, in seconds
WATCH_INTERVAL = 0.02

_flags: Any = None
_loop: asyncio.AbstractEventLoop | None = None


def init(flags: Any) -> None:
    """The pool's initializer: keep the shared cancellation bytes, and ignore SIGTERM from anyone but the
    worker (``_ignore_sigterm_but_from_parent``)."""
    global _flags
    _flags = flags
    _ignore_sigterm_but_from_parent()


def _ignore_sigterm_but_from_parent() -> None:
    """A SIGTERM sent to the worker's whole process group (systemd's KillMode=control-group, GNU timeout, a
    shell's ``kill -TERM -PGID``) must not end the handlers: the worker's own graceful shutdown finishes them,
    and kills a child when it must. Children ignore SIGINT already (pebble); a SIGTERM is obeyed only when
    the worker (the parent) sends it, as pebble does to stop a child (a cancelled task, the pool's end).

    SIGTERM is blocked in every thread of the child (threads started later inherit the mask) and taken by one
    thread with ``sigwaitinfo``, which tells who sent it: from the parent (or from anyone once the parent is
    gone and the child was re-parented), the child exits at once with status 15, as pebble's own handler
    does; from anyone else, it is dropped."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    parent = os.getppid()

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent or os.getppid() != parent:
                os._exit(signal.SIGTERM)

    threading.Thread(target=wait, name="pgflow-child-sigterm", daemon=True).start()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The child's one event loop, for every ``async def`` handler it runs."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop


def _cancel_requested(flag_index: int | None) -> bool:
    return flag_index is not None and _flags is not None and bool(_flags[flag_index])


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception as broken:  # an exception whose __str__ raises still fails its task
        message = f"<the message could not be read: {type(broken).__name__}>"
    return f"{type(exc).__name__}: {message}"


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_task(
    handler: Any,
    task_input: Any,
    ctx_fields: dict[str, Any] | None,
    flag_index: int | None,
    remaining: float,
    names: tuple[str, str] = ("?", "?"),
) -> tuple[Any, ...]:
    """Run one handler call: ``handler(task_input)``, or ``handler(task_input, ctx)`` when ``ctx_fields`` (the
    Context's fields but ``cancelled``) are given. ``remaining``: seconds until the attempt's deadline. ``names``:
    the task's flow and step slugs, which a typed step's validation errors name.
    Returns one of the tuples of the module's docstring."""
    cancelled = threading.Event()
    ctx = Context(**ctx_fields, cancelled=cancelled) if ctx_fields is not None else None
    deadline = time.monotonic() + remaining
    done = threading.Event()
    running: list[asyncio.Task[Any] | None] = [None]
    loop_lock = threading.Lock()

    def watch() -> None:
        while not done.is_set():
            if _cancel_requested(flag_index) or time.monotonic() >= deadline:
                cancelled.set()
                with loop_lock:
                    task = running[0]
                    if task is not None and not done.is_set():
                        _event_loop().call_soon_threadsafe(task.cancel)
                return
            done.wait(WATCH_INTERVAL)

    watcher = threading.Thread(target=watch, name="pgflow-child-watch", daemon=True)
    watcher.start()
    types = typed.handler_types(handler)
    try:
        if types is not None:  # a typed step's input is validated and parsed first
            task_input = types.parse_input(*names, task_input)
        result = handler(task_input, ctx) if ctx is not None else handler(task_input)
        if inspect.isawaitable(result):
            loop = _event_loop()
            with loop_lock:
                task = loop.create_task(_await(result))
                running[0] = task
            if cancelled.is_set():
                task.cancel()
            result = loop.run_until_complete(task)
    except asyncio.CancelledError:
        return ("cancelled",)
    except NonRetryableError as exc:
        return ("error", _describe(exc), False, traceback.format_exc())
    except BaseException as exc:  # SystemExit or KeyboardInterrupt in a handler fail the attempt too
        return ("error", _describe(exc), True, traceback.format_exc())
    finally:
        with loop_lock:
            done.set()
    if types is not None:  # and its output validated and dumped
        try:
            result = types.dump_output(*names, result)
        except NonRetryableError as exc:
            return ("error", _describe(exc), False, "")
    try:
        return ("json", _storable.dumps(result))
    except _storable.NotStorable as exc:
        return ("not_storable", str(exc))
    except Exception as exc:  # whatever goes wrong while turning the result into JSON: not storable
        return ("not_storable", f"$ could not be encoded as JSON: {_describe(exc)}")
