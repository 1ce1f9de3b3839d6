"""Several uvicorn server processes, each with a listening socket of its own (SO_REUSEPORT).

uvicorn's own ``--workers`` shares one listening socket between its processes; the process
that wakes first accepts whatever connections are waiting, so clients that open their
connections at once and keep them (a proxy's pool, a load generator) can leave the others
idle. With a socket per process bound with ``SO_REUSEPORT`` the kernel spreads new
connections over the processes evenly. A process that dies is started again.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from typing import Any

import uvicorn

__all__ = ["reuse_port_supported", "serve_processes"]

log = logging.getLogger(__name__)

APP = "api.app:create_app"


def reuse_port_supported() -> bool:
    """True where sockets can share a port with SO_REUSEPORT (Linux, BSD, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _serve_one(host: str, port: int, options: dict[str, Any]) -> None:  # pragma: no cover
    """One server process: its own socket on the shared port, the app from the factory."""
    sock = _socket(host, port)
    config = uvicorn.Config(APP, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(count: int, host: str, port: int, options: dict[str, Any]) -> None:
    """Run ``count`` server processes on ``host:port`` until SIGTERM or SIGINT; ``options``
    are uvicorn's (loop, http, log level...)."""
    _socket(host, port).close()  # fail here, once, if the port is taken
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_serve_one, args=(host, port, options), daemon=False)
        process.start()
        return process

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start() for _ in range(count)]
    started = time.monotonic()
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < 10:  # dying at start: the app cannot start
                    log.error("server process %s exited with %s", process.pid, process.exitcode)
                    raise SystemExit(3)
                log.warning(
                    "server process %s exited with %s: starting another",
                    process.pid,
                    process.exitcode,
                )
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(15)
            if process.is_alive():
                process.kill()
                process.join()
