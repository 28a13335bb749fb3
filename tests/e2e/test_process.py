"""``python -m central_system`` as operators run it: flags, env, signals, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

SECRET = "operator-token-that-must-not-leak"


@dataclass
class Server:
    process: asyncio.subprocess.Process
    ocpp_port: int
    api_port: int
    banner: str


async def _start(database: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central_system",
        "--ocpp-port",
        "0",
        "--api-port",
        "0",
        "--database-url",
        f"sqlite+aiosqlite:///{database}",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=database.parent,
    )
    assert process.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(30):
            while "Press Ctrl-C" not in banner:
                line = await process.stdout.readline()
                if not line:
                    raise AssertionError("server exited before listening")
                banner += line.decode()
        ocpp = re.search(r"ws://127\.0\.0\.1:(\d+)/", banner)
        api = re.search(r"http://127\.0\.0\.1:(\d+)/docs", banner)
        assert ocpp is not None
        assert api is not None
    except BaseException:
        process.kill()  # never leave a server behind a failed start
        await process.wait()
        raise
    return Server(process, int(ocpp.group(1)), int(api.group(1)), banner)


@contextlib.asynccontextmanager
async def server(database: Path, *extra: str, **kwargs: dict[str, str]) -> AsyncIterator[Server]:
    running = await _start(database, *extra, **kwargs)
    try:
        yield running
    finally:
        if running.process.returncode is None:
            running.process.kill()
            await running.process.wait()


async def boot(port: int, charge_point_id: str) -> list[object]:
    async with connect(
        f"ws://127.0.0.1:{port}/ocpp/{charge_point_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as ws:
        await ws.send(
            json.dumps(
                [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
            )
        )
        reply: list[object] = json.loads(await ws.recv())
        return reply


async def test_make_run_serves_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    database = tmp_path / "garage.sqlite3"
    async with server(database, "--seed-demo", env={"CENTRAL_SYSTEM_OPERATOR_TOKEN": SECRET}) as s:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{s.api_port}") as client:
            assert (await client.get("/readyz")).status_code == 200
            chargers = await client.get(
                "/api/v1/operator/charge-points", headers={"Authorization": f"Bearer {SECRET}"}
            )
        assert [c["id"] for c in chargers.json()][:1] == ["GARAGE-CP-01"]
        reply = await boot(s.ocpp_port, "GARAGE-CP-01")
        assert reply[0] == 3
        s.process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(s.process.communicate(), 30)
        assert s.process.returncode == 0
    log = stderr.decode()
    assert "Traceback" not in log
    assert SECRET not in log
    assert SECRET not in s.banner
    assert " ERROR " not in log
    with sqlite3.connect(database) as db:
        vendor = db.execute("SELECT vendor FROM charge_points WHERE id='GARAGE-CP-01'").fetchone()
        logged = db.execute(
            "SELECT direction, message_type FROM message_log WHERE unique_id = 'b1'"
        ).fetchall()
    assert vendor == ("V",)
    # The BootNotification and its answer, written before the process exited.
    assert sorted(logged) == [("in", 2), ("out", 3)]


async def test_settings_come_from_flags_and_environment(tmp_path: Path) -> None:
    database = tmp_path / "garage.sqlite3"
    async with server(
        database,
        "--heartbeat-interval",
        "42",
        "--unknown-chargers",
        "accept",
        env={"CENTRAL_SYSTEM_OCPP_PATH_PREFIX": "/chargers"},
    ) as s:
        assert "/chargers/<chargePointId>" in s.banner
        async with connect(
            f"ws://127.0.0.1:{s.ocpp_port}/chargers/NEW-CP",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ) as ws:
            await ws.send(
                json.dumps(
                    [
                        2,
                        "b1",
                        "BootNotification",
                        {"chargePointVendor": "V", "chargePointModel": "M"},
                    ]
                )
            )
            reply = json.loads(await ws.recv())
        assert reply[2]["interval"] == 42
        assert reply[2]["status"] == "Accepted"
        s.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(s.process.wait(), 30)
        assert s.process.returncode == 0
    token_file = tmp_path / "var" / "operator-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(token_file.read_text().strip()) >= 32


async def test_acknowledged_transactions_survive_kill_9(tmp_path: Path) -> None:
    """Every transactionId sent to a charger is in the database after SIGKILL; none twice."""
    database = tmp_path / "garage.sqlite3"
    chargers = [f"CP-{n:02d}" for n in range(20)]
    acknowledged: dict[tuple[str, int], int] = {}

    async with server(database, "--unknown-chargers", "accept") as s:
        enough = asyncio.Event()

        async def charger(charge_point_id: str) -> None:
            async with connect(
                f"ws://127.0.0.1:{s.ocpp_port}/ocpp/{charge_point_id}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ) as ws:
                for n in range(1000):
                    start = {
                        "connectorId": 1,
                        "idTag": "TAG",
                        "meterStart": n,
                        "timestamp": "2026-11-24T10:00:00Z",
                    }
                    await ws.send(json.dumps([2, f"s{n}", "StartTransaction", start]))
                    reply = json.loads(await ws.recv())
                    acknowledged[(charge_point_id, n)] = reply[2]["transactionId"]
                    if len(acknowledged) >= 300:
                        enough.set()

        tasks = [asyncio.create_task(charger(cp)) for cp in chargers]
        await asyncio.wait_for(enough.wait(), 60)
        s.process.send_signal(signal.SIGKILL)
        await s.process.wait()
        await asyncio.gather(*tasks, return_exceptions=True)

    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT id, charge_point_id, meter_start FROM transactions").fetchall()
    stored = {(cp, meter): tid for tid, cp, meter in rows}
    assert len({tid for tid, _, _ in rows}) == len(rows)
    missing = {key for key in acknowledged if key not in stored}
    assert not missing, f"{len(missing)} acknowledged transactions lost"
    assert all(stored[key] == tid for key, tid in acknowledged.items())

    async with server(database, "--unknown-chargers", "accept") as restarted:
        (charge_point_id, meter), transaction_id = next(iter(acknowledged.items()))
        async with connect(
            f"ws://127.0.0.1:{restarted.ocpp_port}/ocpp/{charge_point_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ) as ws:
            retry = {
                "connectorId": 1,
                "idTag": "TAG",
                "meterStart": meter,
                "timestamp": "2026-11-24T10:00:00Z",
            }
            await ws.send(json.dumps([2, "retry", "StartTransaction", retry]))
            reply = json.loads(await ws.recv())
        assert reply[2]["transactionId"] == transaction_id
