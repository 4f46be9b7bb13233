"""``pgflow dashboard``: a web UI over the engine's public functions and tables (runs, a run's DAG and tasks, flows
and their versions, workers, schedules; cancel and resume).

Needs the optional extra ``pip install 'pgflow[dashboard]'`` (Starlette, Jinja2, uvicorn); ``import pgflow`` never
imports it. Every asset (CSS, JavaScript, icon) is shipped in the package: nothing is fetched from elsewhere.
"""

from __future__ import annotations

import ipaddress
import os
import socket

#: the environment variable ``pgflow dashboard`` reads its token from when --token is not given
TOKEN_VARIABLE = "PGFLOW_DASHBOARD_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) means this machine only: 127.0.0.0/8, ::1 or ``localhost``.
    A name is resolved; one that does not resolve is not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def serve(conninfo: str | None, *, host: str = "127.0.0.1", port: int = 8080, token: str | None = None) -> None:
    """Serve the dashboard with uvicorn until interrupted. ValueError when ``host`` is not loopback and there is no
    token (``token`` or $PGFLOW_DASHBOARD_TOKEN). ImportError naming the extra when it is not installed."""
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and not is_loopback(host):
        raise ValueError(
            f"refusing to serve {host} without a token: give --token (or {TOKEN_VARIABLE}), or bind 127.0.0.1"
        )
    try:
        import uvicorn
    except ImportError:
        raise ImportError("pgflow dashboard needs its extra: pip install 'pgflow[dashboard]'") from None
    from .app import create_app

    uvicorn.run(create_app(conninfo, token=token), host=host, port=port, log_level="warning")


__all__ = ["TOKEN_VARIABLE", "is_loopback", "serve"]
