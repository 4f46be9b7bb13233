"""Passwords never reach an output: every text pgflow prints, logs or raises from a connection attempt goes
through ``redact()``.

Three kinds of secret are removed, each replaced with ``***``:
- the password of a URL's userinfo (``scheme://user:PASSWORD@host``), well-formed or not
  (``postgres:/alice:PASSWORD@host`` is a malformed URL that libpq quotes back in its error), quotes and
  spaces included (``postgres:/alice:S3'c ret@host``);
- the value of any ``password=...`` pair (conninfo key/value strings, URL query parameters, ``PGPASSWORD=``),
  quoted (``password='a b'``) or bare;
- the literal password of every conninfo this process has used (``remember()``, called by
  ``_conninfo.resolve``), raw and percent-decoded, and ``$PGPASSWORD``, wherever they appear — in a libpq
  message, a traceback, a handler's error. The password is read from the connection string even when libpq
  cannot parse it: in a URL-like string (``scheme:`` first), everything between the first ``:`` of the
  user part and the last ``@`` before the host (and, as libpq reads it, up to the first ``@``); in a
  key/value string, the value of ``password=`` with conninfo quoting. Passwords shorter than 4 characters
  are removed only where the two patterns find them: replacing every occurrence of a 1-3 character string
  would garble the text.

libpq's error about a connection string it cannot parse quotes pieces of that string back, cut wherever
the parse stopped (``missing "=" after "postgres:/alice:S3"`` for ``postgres:/alice:S3 cret@host``): such
a piece holds part of the password, which neither the patterns nor the literal can recognise.
``redact_conninfo_error()`` masks every piece of the message that repeats a stretch of the connection string
overlapping its password.

``install(logger)`` adds a filter that makes a logger's records safe to print (message, arguments,
traceback and stack): redacted, NUL characters written ``\\x00``, lone surrogates escaped, and each text
cut at ``MAX_LOG_SIZE`` bytes. The CLI also puts it on its log handlers, so that records of other libraries
are covered.
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
#: the most of one log record's message (or traceback) that is written, in bytes of UTF-8 (64 KiB)
MAX_LOG_SIZE = 64 * 1024

# scheme ":" any slashes, a user without space, "/", "@" or ":" (quotes allowed), then ":" PASSWORD up to
# the last "@" of the URL. The password may hold spaces and quotes (not "/" or a line break); an "@" inside
# it only when followed by another "@" without a space in between. Every repetition is bounded, so that a
# long line is scanned in linear time.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}:/{0,8}[^\s/@:]{0,128}:)"
    r"(?P<secret>[^/@\n]{0,128}(?:@[^/@\s]{0,128}){0,3})(?=@)"
)
# password = value (quoted with '...' and backslash escapes as in conninfo, or a bare word, which may hold
# quotes after its first character); also "password": "value" in JSON
_KV_PASSWORD = re.compile(
    r"""(?P<head>password\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s&'",;][^\s&,;]*)"""
    r"""|(?P<jhead>"password"\s*:\s*")(?P<jsecret>(?:[^"\\]|\\.)*)""",
    re.IGNORECASE,
)
# the start of a URL-like connection string: a scheme, ":" and any slashes
_URL_START = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*:/*")
# a piece of libpq's message shorter than this that repeats part of the connection string is a coincidence
_MIN_PIECE = 3
# libpq's messages about a connection string are short: longer texts are scanned this far for its pieces
_MAX_SCANNED = 4096

_lock = threading.Lock()
_seen: set[str] = set()
_secrets: tuple[str, ...] = ()


def _url_password_spans(conninfo: str) -> list[tuple[int, int]]:
    """Where the password of a URL-like string may be, as (start, end) offsets, parseable or not: from the
    first ":" of the user part to the last "@" of the string, to the last "@" before the path, and to the
    first "@" (libpq's reading). None when the string is not URL-like or has no password."""
    start_match = _URL_START.match(conninfo)
    if start_match is None:
        return []
    start = start_match.end()
    first_at = conninfo.find("@", start)
    if first_at < 0:
        return []
    colon = conninfo.find(":", start, first_at)
    if colon < 0:
        return []
    begin = colon + 1
    ends = {first_at, conninfo.rfind("@")}
    slash = conninfo.find("/", first_at)
    if slash >= 0:
        ends.add(conninfo.rfind("@", first_at, slash))
    return sorted((begin, end) for end in ends if end > begin)


def _secret_spans(conninfo: str) -> list[tuple[int, int]]:
    """Where the passwords of a connection string are, parseable or not, as (start, end) offsets."""
    spans = _url_password_spans(conninfo)
    for match in _KV_PASSWORD.finditer(conninfo):
        group = "secret" if match.group("secret") is not None else "jsecret"
        if match.end(group) > match.start(group):
            spans.append((match.start(group), match.end(group)))
    return spans


def _unquoted(raw: str) -> set[str]:
    """A password as written, percent-decoded, and without conninfo quoting."""
    found = {raw, unquote(raw)}
    if raw.startswith("'"):
        inner = raw[1:-1] if raw.endswith("'") and len(raw) > 1 else raw[1:]
        found.update({inner, re.sub(r"\\(.)", r"\1", inner)})
    return found


def _passwords_in(conninfo: str) -> set[str]:
    """The passwords written in a conninfo string (key/value or URL), parseable or not."""
    found: set[str] = set()
    try:
        password = conninfo_to_dict(conninfo).get("password")
        if password:
            found.add(str(password))
    except Exception:  # a malformed conninfo: the spans below still find what it holds
        pass
    for start, end in _secret_spans(conninfo):
        found.update(_unquoted(conninfo[start:end]))
    for match in _URL_PASSWORD.finditer(conninfo):
        found.update(_unquoted(match.group("secret")))
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
    # the known passwords first: a pattern could otherwise mask part of one and leave the rest unrecognised
    text = _mask_literals(text, _secrets)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _KV_PASSWORD.sub(
        lambda m: (m.group("head") + MASK) if m.group("head") is not None else (m.group("jhead") + MASK), text
    )


def _mask_literals(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of every secret masked; occurrences that overlap (two passwords
    sharing characters) are masked as one stretch, so that no character of either is left."""
    found: list[tuple[int, int]] = []
    for secret in secrets:
        at = text.find(secret)
        while at >= 0:
            found.append((at, at + len(secret)))
            at = text.find(secret, at + 1)
    return _mask(text, found)


def _mask(text: str, stretches: list[tuple[int, int]]) -> str:
    """``text`` with each of the (start, end) stretches replaced by ``***``, overlapping ones merged."""
    if not stretches:
        return text
    merged: list[list[int]] = []
    for low, high in sorted(stretches):
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    parts = []
    previous = 0
    for low, high in merged:
        parts += [text[previous:low], MASK]
        previous = high
    parts.append(text[previous:])
    return "".join(parts)


def redact_conninfo_error(message: str, conninfo: str) -> str:
    """libpq's (or psycopg's) message about ``conninfo`` (a connection string it could not parse, or could not
    connect with), redacted: each piece of it that repeats a stretch of ``conninfo`` — as written, or escaped
    as Python's ``repr`` escapes it — overlapping a password has the overlapping part masked, even a password
    cut short where the parse stopped; then ``redact`` applies. A connection string that is neither URL-like
    nor key/value is masked whole wherever the message repeats it (it may be a password pasted in the wrong
    place)."""
    spans = _secret_spans(conninfo)
    stripped = conninfo.strip()
    if stripped and "=" not in conninfo and _URL_START.match(conninfo) is None:
        spans.append((conninfo.index(stripped[0]), conninfo.index(stripped[0]) + len(stripped)))
    if spans and message:
        masked: list[tuple[int, int]] = []
        for written, written_spans in _spellings(conninfo, spans):
            masked += _masked_pieces(message, written, written_spans)
        message = _mask(message, masked)
    return redact(message)


def _spellings(conninfo: str, spans: list[tuple[int, int]]) -> list[tuple[str, list[tuple[int, int]]]]:
    """``conninfo`` as written and as ``repr`` escapes it character by character (``\\`` for a backslash),
    each with the password spans moved to where they are in that spelling."""
    spellings = [(conninfo, spans)]
    # repr escapes a quote too when the text holds both kinds
    for quote in ("", "'"):
        escaped = ["\\'" if char == quote else repr(char)[1:-1] for char in conninfo]
        offsets = [0]
        for piece in escaped:
            offsets.append(offsets[-1] + len(piece))
        spellings.append(("".join(escaped), [(offsets[start], offsets[stop]) for start, stop in spans]))
    return spellings


def _masked_pieces(message: str, conninfo: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (start, end) offsets in ``message`` of what it repeats of the password spans of ``conninfo``: a
    piece that overlaps a span counts when it is at least ``_MIN_PIECE`` long and reaches past the span
    (anchored in the text around the password) or covers it whole, or when it stands between quotes."""
    masked = []
    for at, begin, size in _common_pieces(message, conninfo):
        end = begin + size
        for start, stop in spans:
            low, high = max(begin, start), min(end, stop)
            if low >= high:
                continue
            anchored = begin < start or end > stop or (begin, end) == (start, stop)
            quoted = message[at - 1 : at] in ("'", '"') and message[at + size : at + size + 1] in ("'", '"')
            if (size >= _MIN_PIECE and anchored) or quoted or (begin, end) == (start, stop):
                masked.append((at + low - begin, at + high - begin))
    return masked


def _common_pieces(message: str, conninfo: str) -> list[tuple[int, int, int]]:
    """Every maximal piece of ``message`` that repeats a stretch of ``conninfo``, as (offset in message,
    offset in conninfo, length), wherever each sits (a message may quote pieces in any order). Messages of
    more than ``_MAX_SCANNED`` characters are scanned in their first ``_MAX_SCANNED`` only."""
    text = message[:_MAX_SCANNED]
    where: dict[str, list[int]] = {}
    for index, char in enumerate(conninfo):
        where.setdefault(char, []).append(index)
    pieces = []
    for at, char in enumerate(text):
        for begin in where.get(char, ()):
            if at and begin and text[at - 1] == conninfo[begin - 1]:
                continue  # not maximal: the piece starting one character earlier holds it
            size = 1
            while at + size < len(text) and begin + size < len(conninfo) and text[at + size] == conninfo[begin + size]:
                size += 1
            pieces.append((at, begin, size))
    return pieces


def safe_text(text: str, limit: int = MAX_LOG_SIZE) -> str:
    """``text`` safe to print or store: passwords redacted, NUL characters written ``\\x00``, lone
    surrogates escaped (``\\udc80``), at most ``limit`` bytes of UTF-8 (a longer text is cut and ends with
    ``[... truncated: N bytes in all]``)."""
    # redacted before it is cut, so that a password is never left half-visible at the cut
    head = text[: 2 * limit]
    safe = redact(head).replace("\x00", "\\x00")
    data = safe.encode("utf-8", "backslashreplace")
    if len(data) <= limit and len(head) == len(text):
        return data.decode("utf-8")
    whole = len(text.encode("utf-8", "surrogatepass")) if len(text) <= 16 * limit else None
    suffix = f" [... truncated: {whole} bytes in all]" if whole is not None else " [... truncated]"
    return data[: max(limit - len(suffix), 0)].decode("utf-8", "ignore") + suffix


def format_exception(exc: BaseException) -> str:
    """An exception with its traceback and chained causes, as Python prints it, redacted."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


class RedactingFilter(logging.Filter):
    """A logging filter that makes a record safe to print, in place (``safe_text``): its message (arguments
    merged in), its traceback and its stack are redacted, their NUL characters and lone surrogates written
    out, each cut at ``MAX_LOG_SIZE`` bytes. A traceback that needed any of that is kept as ``exc_text`` and
    ``exc_info`` is dropped, so that no handler formats the raw exception. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts
            message = f"{record.msg!s} {record.args!r}"
        record.msg = safe_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            raw = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            safe = safe_text(raw)
            if safe != raw:
                # handlers get the safe text only, never the exception
                record.exc_text = safe.rstrip("\n")
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = safe_text(record.exc_text)
        if record.stack_info:
            record.stack_info = safe_text(record.stack_info)
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
