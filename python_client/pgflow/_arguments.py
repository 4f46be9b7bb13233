"""Checks of the arguments of the Python API, made before anything is sent or started: each raises
``InvalidInput`` (a ``ValueError`` too) with a sentence naming the argument."""

from __future__ import annotations

import math
from typing import Any

from . import _conninfo, _storable
from .errors import InvalidDefinition, InvalidInput, PgflowError
from .flow import Flow

#: the longest worker id, idempotency key and slug-like text the engine takes
MAX_TEXT = 255


def number(
    name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = False, maximum: float | None = None
) -> float:
    """``value`` as a float when it is a finite real number of seconds above ``minimum`` (or equal to it when
    ``inclusive``) and at most ``maximum`` (when given); InvalidInput otherwise (bools, strings, NaN and
    infinities included), naming the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name} must be a number of seconds, got {_shown(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise InvalidInput(f"{name} must be a finite number of seconds, got {_shown(value)}")
    below = seconds < minimum or (seconds == minimum and not inclusive)
    if below or (maximum is not None and seconds > maximum):
        low = f"at least {_seconds(minimum)}" if inclusive else f"greater than {_seconds(minimum)}"
        bound = low if maximum is None else f"{low} and at most {_seconds(maximum)}"
        raise InvalidInput(f"{name} must be {bound}, got {_repr(value)}")
    return seconds


def _seconds(value: float) -> str:
    """``0.01 s``, ``1 h``, ``1 day``: a bound of a duration as a reader would write it."""
    for size, unit in ((86400 * 365, "year"), (86400, "day"), (3600, "h")):
        if value >= size and value % size == 0:
            count = int(value // size)
            return f"{count} {unit}{'s' if count != 1 and unit != 'h' else ''}"
    return f"{value:g} s"


def listen_conninfo(value: Any) -> str | None:
    """The ``listen_conninfo`` option of Worker and Client: the direct connection string used only for LISTEN
    (None: ``PGFLOW_LISTEN_URL``, else none). InvalidInput when it is not a string or cannot be parsed."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"listen_conninfo must be a connection string or None, got {type(value).__name__}")
    target = _conninfo.listen_target(value)
    if target is not None:
        problem = _conninfo.check(target)
        if problem is not None:
            raise InvalidInput(f"listen_conninfo is not a valid connection string: {problem}")
    return target


def integer(name: str, value: Any, *, minimum: int, maximum: int = 2**31 - 1) -> int:
    """``value`` when it is an int (not a bool) in [minimum, maximum]; InvalidInput otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer, got {_shown(value)}")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be between {minimum:,} and {maximum:,}, got {_repr(value)}")
    return value


def text(name: str, value: Any, *, optional: bool = False, max_length: int | None = None) -> str | None:
    """``value`` when it is a non-empty str PostgreSQL can store (no NUL, no lone surrogate), at most
    ``max_length`` characters; None when ``optional`` and None. InvalidInput otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {_shown(value)}")
    if not value:
        raise InvalidInput(f"{name} must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{name} must be at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidInput(f"{name} contains a NUL character (\\u0000), which PostgreSQL cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{name} contains a lone surrogate, which is not Unicode") from None
    return value


def json_text(name: str, value: Any, error: type[PgflowError] = InvalidInput) -> str:
    """``value`` as JSON text PostgreSQL can store; ``error`` (InvalidInput by default) naming the argument
    and the path of the offending value otherwise."""
    try:
        return _storable.dumps(value)
    except _storable.NotStorable as exc:
        raise error(f"{name} is not storable JSON: {exc}") from None


def _repr(value: Any) -> str:
    """``repr(value)`` in at most 60 characters; a value whose repr fails (an int of more than 4,300 digits)
    is shown by its type."""
    try:
        shown = repr(value)
    except Exception:
        return f"<{_storable.a_type(value)}>"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _shown(value: Any) -> str:
    return f"{_repr(value)} ({_storable.type_name(value)})"


def definition(flow: Any) -> tuple[str, str, str]:
    """A flow's slug and ``define_flow``'s steps and options as JSON text; ``InvalidDefinition`` (PF001) when
    ``flow`` is not a Flow or its definition cannot be stored (an option or a condition holding NaN, a
    datetime...), naming where."""
    if not isinstance(flow, Flow):
        raise InvalidDefinition(f"flow must be a pgflow.Flow, got {type(flow).__name__}")
    try:
        slug = text("the flow's slug", flow.slug)
    except InvalidInput as exc:
        raise InvalidDefinition(exc.message) from None
    assert slug is not None
    steps, options = flow.definition()
    return (
        slug,
        json_text(f"the steps of flow {slug}", steps, InvalidDefinition),
        json_text(f"the options of flow {slug}", options, InvalidDefinition),
    )
