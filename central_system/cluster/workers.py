"""``python -m central_system --workers N``: one node's processes, one per core.

The supervisor binds nothing it serves. It fixes the ports (a port of 0 becomes a
free one, held until the workers are up), then spawns N workers. Each worker is a
cluster node of its own (``<node_id>-<n>``) and binds the same ports with
SO_REUSEPORT, so the kernel spreads new connections over them. SIGTERM and SIGINT
are passed on to every worker (a worker drains on SIGTERM). If a worker dies, the
others are stopped and the supervisor exits 1, for the service manager to restart
the node; meanwhile its chargers reconnect to the other nodes.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from types import FrameType
from typing import Any

from central_system.cluster.node import default_node_id
from central_system.config import Settings
from central_system.observability import configure_logging

logger = logging.getLogger(__name__)

#: ``serve(settings, ready=...)``: runs one process until it is stopped.
Serve = Callable[..., Coroutine[Any, Any, None]]
_PORTS = ("ocpp_port", "api_port", "ocpp_tls_port")
_START_TIMEOUT = 120.0


def _reserve(host: str, port: int) -> socket.socket:
    """A bound (not listening) socket that keeps the port ours until the workers bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(serve: str, values: dict[str, Any], ready: multiprocessing.Queue[str]) -> None:
    module, _, name = serve.partition(":")
    # By name: a function of a package's __main__ cannot be pickled into a spawned process.
    function: Serve = getattr(importlib.import_module(module), name)
    settings = Settings(**values)
    configure_logging(settings.log_level)
    asyncio.run(function(settings, ready=ready.put))


def run_workers(settings: Settings, serve: str) -> int:
    """Run ``settings.workers`` processes of this node until a signal stops them.

    ``serve`` names the coroutine function each worker runs, as ``module:function``.
    """
    if settings.redis_url is None:
        raise SystemExit("--workers needs --redis-url: every worker is a node of the cluster")
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[str] = context.Queue()
    base = settings.node_id or default_node_id()
    values = settings.model_dump()
    reserved: list[socket.socket] = []
    for name in _PORTS:
        port = values.get(name)
        if port == 0:
            sock = _reserve(settings.host, 0)
            reserved.append(sock)
            values[name] = sock.getsockname()[1]
    values.update(workers=1, reuse_port=True)
    seed = settings.seed_demo
    workers = [
        context.Process(
            target=_worker,
            # One worker seeds the demo garage; two at once would collide.
            args=(serve, {**values, "node_id": f"{base}-{n}", "seed_demo": seed and n == 0}, ready),
            name=f"central-system-worker-{n}",
        )
        for n in range(settings.workers)
    ]
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.start()
    try:
        banner = _wait_until_ready(workers, ready)
    finally:
        for sock in reserved:
            sock.close()
    if banner is None:
        _stop(workers)
        return 1
    lines = banner.splitlines()
    lines.insert(
        -1, f"Workers         {len(workers)} processes, nodes {base}-0..{len(workers) - 1}"
    )
    print("\n".join(lines), flush=True)
    failed = False
    alive = {worker.sentinel: worker for worker in workers}
    while alive:
        for sentinel in multiprocessing.connection.wait(list(alive)):
            worker = alive.pop(sentinel)  # type: ignore[arg-type]
            worker.join()
            if worker.exitcode != 0:
                failed = True
            if not stopping:
                logger.error(
                    "worker %s exited (code %s); stopping the node", worker.name, worker.exitcode
                )
                failed = True
                forward(signal.SIGTERM, None)
    return 1 if failed else 0


def _wait_until_ready(
    workers: Sequence[multiprocessing.process.BaseProcess], ready: multiprocessing.Queue[str]
) -> str | None:
    """The first worker's banner once every worker listens; ``None`` if one failed."""
    banner: str | None = None
    waiting = len(workers)
    deadline = time.monotonic() + _START_TIMEOUT
    while waiting:
        try:
            text = ready.get(timeout=0.5)
        except queue.Empty:
            if any(worker.exitcode is not None for worker in workers):
                logger.error("a worker exited before it was listening")
                return None
            if time.monotonic() > deadline:
                logger.error("workers not listening after %g s", _START_TIMEOUT)
                return None
            continue
        banner = banner or text
        waiting -= 1
    return banner


def _stop(workers: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for worker in workers:
        if worker.exitcode is None:
            worker.terminate()
    for worker in workers:
        worker.join()
