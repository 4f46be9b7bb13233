"""Passwords never reach an output: every text pgflow prints, logs or raises from a connection attempt goes
through ``redact()``.

Three kinds of secret are removed, each replaced with ``***``:
- the password of a URL's userinfo (``scheme://user:PASSWORD@host``), well-formed or not
  (``postgres:/alice:PASSWORD@host`` is a malformed URL that libpq quotes back in its error);
- the value of any ``password=...`` pair (conninfo key/value strings, URL query parameters, ``PGPASSWORD=``);
- the literal password of every conninfo this process has connected with (``remember()``, called by
  ``_conninfo.resolve``), raw and percent-decoded, and ``$PGPASSWORD``, wherever they appear — in a libpq
  message, a traceback, a handler's error. Passwords shorter than 4 characters are removed only where the
  two patterns find them: replacing every occurrence of a 1-3 character string would garble the text.

``install(logger)`` adds a filter that redacts a logger's records (message, arguments, traceback and stack);
the CLI also puts it on its log handlers, so that records of other libraries are covered.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from urllib.parse import unquote

from psycopg.conninfo import conninfo_to_dict

MASK = "***"
#: literal passwords shorter than this are only removed by the patterns (see the module docstring)
MIN_LITERAL = 4

# scheme ":" any slashes, a user without "/", "@" or ":", then ":" PASSWORD up to the last "@" of the token
_URL_PASSWORD = re.compile(r"""(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*:/*[^\s/@:'"]*:)(?P<secret>[^\s'"]*)(?=@)""")
# password = value (quoted with '...' and backslash escapes as in conninfo, or a bare word); also
# "password": "value" in JSON
_KV_PASSWORD = re.compile(
    r"""(?P<head>password\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s&'",;]+)"""
    r"""|(?P<jhead>"password"\s*:\s*")(?P<jsecret>(?:[^"\\]|\\.)*)""",
    re.IGNORECASE,
)

_lock = threading.Lock()
_seen: set[str] = set()
_secrets: tuple[str, ...] = ()


def _passwords_in(conninfo: str) -> set[str]:
    """The passwords written in a conninfo string (key/value or URL), parseable or not."""
    found: set[str] = set()
    try:
        password = conninfo_to_dict(conninfo).get("password")
        if password:
            found.add(str(password))
    except Exception:  # a malformed conninfo: the patterns below still find what it holds
        pass
    for match in _URL_PASSWORD.finditer(conninfo):
        raw = match.group("secret")
        found.update({raw, unquote(raw)})
    for match in _KV_PASSWORD.finditer(conninfo):
        raw = match.group("secret") or match.group("jsecret") or ""
        if raw.startswith("'"):
            raw = raw[1:-1] if raw.endswith("'") and len(raw) > 1 else raw[1:]
            found.add(re.sub(r"\\(.)", r"\1", raw))
        found.update({raw, unquote(raw)})
    return {p for p in found if p}


def remember(conninfo: str | None) -> None:
    """Note the passwords of a conninfo about to be used (and ``$PGPASSWORD``), so that ``redact`` removes
    them wherever they appear."""
    global _secrets
    key = f"{conninfo or ''}\x00{os.environ.get('PGPASSWORD', '')}"
    if key in _seen:
        return
    found = _passwords_in(conninfo or "")
    env_password = os.environ.get("PGPASSWORD")
    if env_password:
        found.add(env_password)
    with _lock:
        _seen.add(key)
        merged = set(_secrets) | {p for p in found if len(p) >= MIN_LITERAL}
        # longest first, so that a password containing another one is removed whole
        _secrets = tuple(sorted(merged, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every password pgflow knows of or can recognise replaced by ``***``."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _KV_PASSWORD.sub(
        lambda m: (m.group("head") + MASK) if m.group("head") is not None else (m.group("jhead") + MASK), text
    )
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def format_exception(exc: BaseException) -> str:
    """An exception with its traceback and chained causes, as Python prints it, redacted."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record in place: its message (arguments merged in), its traceback and
    its stack. A traceback that holds a secret is kept as redacted ``exc_text`` and ``exc_info`` is dropped,
    so that no handler formats the raw exception. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            raw = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            safe = redact(raw)
            if safe != raw:
                # the traceback holds a secret: handlers get the redacted text only, never the exception
                record.exc_text = safe.rstrip("\n")
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install(target: logging.Logger | logging.Handler) -> None:
    """Add the redacting filter to a logger (its own records) or a handler (every record it emits)."""
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter installed."""
    logger = logging.getLogger(name)
    install(logger)
    return logger
