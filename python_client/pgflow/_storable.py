"""JSON that PostgreSQL can store: ``dumps()`` encodes a Python value as JSON text that ``jsonb`` accepts, or
raises ``NotStorable`` naming the first value it cannot take, by its type and JSON path (``$.items[3].price``).

Not storable: NaN and ±Infinity (JSON has no such numbers), a NUL character in a string or a key (PostgreSQL
text cannot hold one), a lone surrogate (not Unicode; neither UTF-8 nor ``jsonb`` take one), an integer too
long for json to write or for PostgreSQL's ``numeric``, a value json cannot encode (datetime, set, Decimal,
bytes, custom objects, keys that are not str/int/float/bool/None), a container that contains itself,
nesting deeper than json can encode, and a value whose encoding raises any other exception (a dict subclass
whose ``items()`` raises, say). Everything else json encodes is stored as written.

Used for handler outputs (the worker) and for the JSON arguments of ``Client`` methods.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# the most digits PostgreSQL's numeric takes before the decimal point
_NUMERIC_DIGITS = 131072
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SURROGATE = re.compile("[\ud800-\udfff]")
# the JSON escape of NUL (json writes control characters as \u00XX whatever ensure_ascii says)
_NUL_ESCAPE = "\\u0000"


#: what json.dumps(value, allow_nan=False, ensure_ascii=False) builds at every call, built once (the worker
#: encodes every handler's output with it)
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


class NotStorable(ValueError):
    """A value PostgreSQL cannot store as JSON. ``path`` is its JSON path (``$`` for the value itself),
    ``reason`` what is wrong with it, ``str()`` both in one sentence."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


def dumps(value: Any) -> str:
    """``value`` as JSON text that PostgreSQL's ``jsonb`` accepts. Raises ``NotStorable`` (a ValueError)
    naming the first offending value's type and path, and nothing else: any exception raised while
    encoding becomes ``NotStorable``."""
    problem: BaseException | None = None
    try:
        text = _ENCODER.encode(value)
    except Exception as exc:  # noqa: BLE001 - whatever the encoding raised, the value is not storable
        problem = exc
    else:
        # cheap checks of the text for what json lets through; a hit is confirmed by the walk below (a
        # string holding a backslash and "u0000" also contains the characters of the escape)
        if _NUL_ESCAPE not in text and (text.isascii() or not _SURROGATE.search(text)):
            return text
    found = find(value)
    if found is not None:
        raise NotStorable(*found)
    if isinstance(problem, RecursionError):
        raise NotStorable("$", "is nested too deeply for json to encode")
    if problem is not None:
        raise NotStorable("$", f"cannot be encoded as JSON: {_described(problem)}")
    return text


def _described(exc: BaseException) -> str:
    """``"<class name>: <message>"`` of an exception, whatever its __str__ does."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a message that cannot be read is said so
        message = "<its message could not be read>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def utf8_size(text: str) -> int:
    """The size of ``text`` in bytes once encoded as UTF-8 (what is sent and stored)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def type_name(value: Any) -> str:
    """``datetime.datetime``, ``decimal.Decimal``, ``set``: a value's type as a reader would write it."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def a_type(value: Any) -> str:
    """``a set``, ``an int``, ``a datetime.datetime``: a value's type with its article."""
    name = type_name(value)
    # builtins by their name ("an int", "an object"); dotted names as written ("a uuid.UUID")
    return f"{'an' if name[0].lower() in 'aeiou' and '.' not in name else 'a'} {name}"


def path_of(parts: tuple[str | int, ...]) -> str:
    """A JSON path from keys and indexes: ``$``, ``$.items[3].price``, ``$["a key"]``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000), which PostgreSQL cannot store"
    match = _SURROGATE.search(text)
    if match:
        return f"a lone surrogate (\\u{ord(match.group()):04x}), which is not Unicode"
    return None


def _int_problem(value: int) -> str | None:
    if value.bit_length() < 14000:  # under 4,300 digits: always written
        return None
    try:
        digits = len(int.__repr__(abs(value)))
    except ValueError:  # over sys.get_int_max_str_digits()
        return f"is an int of {value.bit_length()} bits, too long for json to write"
    if digits > _NUMERIC_DIGITS:
        return f"is an int of {digits} digits, more than PostgreSQL's numeric holds ({_NUMERIC_DIGITS})"
    return None


def _key_text(key: Any) -> str | None:
    """The JSON key json writes for a dict key, or None when json refuses the key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return repr(key) if isinstance(key, float) else int.__repr__(key)
    return None


def find(value: Any) -> tuple[str, str] | None:
    """The JSON path and the reason of the first value of ``value`` (depth first, in json's order) that
    PostgreSQL cannot store, or None. Iterative: any depth and any cycle are found without recursion. A
    container whose items cannot be read (its ``items()`` or iteration raises) is reported as such."""
    # the stack holds (value, path parts) to visit, and _LEAVE markers closing the containers on the path
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    open_ids: set[int] = set()
    while stack:
        item, parts = stack.pop()
        if item is _LEAVE:
            open_ids.discard(parts[0])  # type: ignore[arg-type,unused-ignore]
            continue
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return path_of(parts), f"is {a_type(item)} containing {problem}"
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            problem = _int_problem(item)
            if problem:
                return path_of(parts), problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path_of(parts), f"is {a_type(item)} {item!r}: JSON has no NaN or Infinity"
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in open_ids:
                return path_of(parts), f"is {a_type(item)} that contains itself (a circular reference)"
            open_ids.add(id(item))
            stack.append((_LEAVE, (id(item),)))
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            try:
                entries = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
            except Exception as exc:  # noqa: BLE001 - a container json cannot read is not storable
                return path_of(parts), f"is {a_type(item)} whose items could not be read: {_described(exc)}"
            if isinstance(item, dict):
                for key, child in entries:
                    text = _key_text(key)
                    if text is None:
                        return path_of(parts), f"has a key of type {type_name(key)}, which json cannot encode"
                    problem = _string_problem(text)
                    if problem:
                        return path_of(parts), f"has a key {json.dumps(text)} containing {problem}"
                    if isinstance(key, float) and not math.isfinite(key):
                        return path_of(parts), f"has a key {key!r}: JSON has no NaN or Infinity"
                    children.append((child, (*parts, text)))
            else:
                children = [(child, (*parts, index)) for index, child in entries]
            stack.extend(reversed(children))
        else:
            return path_of(parts), f"is {a_type(item)}, which json cannot encode"
    return None


_LEAVE = object()
