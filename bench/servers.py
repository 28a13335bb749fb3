"""The three servers the benchmark compares, each started fresh as a child process.

* ``limit``: ``bench.limit_server``, canned answers, no validation, no database;
* ``peer``: ``bench.peer_server``, the bare ``ocpp`` library as its examples use it;
* ``ours``: ``python -m central_system`` on a fresh SQLite file, as in production
  (every message persisted, the charging rule evaluated, chargers configured at
  boot), with unknown chargers accepted and one idTag registered for the fleet.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from bench.procs import Child

SERVERS: Final = ("limit", "peer", "ours")
#: The one card every charger of the fleet presents; registered Accepted in ours.
BENCH_TAG: Final = "BENCH-TAG"
START_TIMEOUT = 60.0
#: Tries of the idTag registration that the operator API throttles (429).
REGISTER_ATTEMPTS = 30


@dataclass
class Server:
    name: str
    child: Child
    #: Where chargers connect; the charge point id is appended.
    url: str
    workdir: Path


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def start(name: str, log_dir: Path) -> Server:
    """Start one server in a fresh temporary directory and wait for its banner."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    stderr_file = log_dir / f"{name}-{workdir.name}.log"
    if name == "ours":
        return _start_ours(workdir, stderr_file)
    module = {"limit": "bench.limit_server", "peer": "bench.peer_server"}[name]
    child = Child.start(
        name, _python("-m", module, "--port", "0"), cwd=workdir, stderr_file=stderr_file
    )
    port = child.expect(r"listening on (\d+)", START_TIMEOUT).group(1)
    return Server(name, child, f"ws://127.0.0.1:{port}/ocpp", workdir)


def _start_ours(workdir: Path, stderr_file: Path) -> Server:
    token = secrets.token_urlsafe(24)
    argv = _python(
        "-m",
        "central_system",
        "--unknown-chargers",
        "accept",
        "--ocpp-port",
        "0",
        "--api-port",
        "0",
        "--database-url",
        f"sqlite+aiosqlite:///{workdir / 'central_system.sqlite3'}",
        "--log-level",
        "WARNING",
        f"--operator-token={token}",  # a token may begin with "-"
    )
    child = Child.start("ours", argv, cwd=workdir, stderr_file=stderr_file)
    ocpp = child.expect(r"OCPP endpoint\s+(ws://\S+?)/<chargePointId>", START_TIMEOUT).group(1)
    api = child.expect(r"Operator API\s+(http://[^/\s]+)", START_TIMEOUT).group(1)
    register_tag(api, token, BENCH_TAG)
    return Server("ours", child, ocpp, workdir)


def _put(url: str, token: str) -> float | None:
    """PUT ``{}``: ``None`` when done, else the seconds a 429 asks to wait."""
    request = urllib.request.Request(  # noqa: S310 (our own server on the loopback)
        url,
        data=b"{}",
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            json.load(response)
            return None
    except urllib.error.HTTPError as error:
        if error.code != 429:
            raise
        return float(error.headers.get("Retry-After") or 1)


def register_tag(api: str, token: str, tag: str) -> None:
    """Register ``tag`` as Accepted through the operator API, waiting out any 429."""
    url = f"{api}/api/v1/operator/id-tags/{quote(tag, safe='')}"
    for _ in range(REGISTER_ATTEMPTS):
        wait = _put(url, token)
        if wait is None:
            return
        time.sleep(wait)  # the server said how long: Retry-After
    raise RuntimeError(f"the operator API kept answering 429 for {url}")
