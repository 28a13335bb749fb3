"""Chargers that boot and then stay idle: ``python -m bench.idle --chargers N --url URL``.

The fleet (``python -m simulators --fleet``) always runs charging sessions and
finishes one at its end, so it cannot show what an idle connection costs, and a
reconnect storm measured with it would include the sessions that follow. This
client uses the same simulated charger (``simulators.station.Station``): each
connects, at ``--connect-rate`` per second, boots, reports its connectors and
answers whatever the central system asks after the boot, then stays connected
and quiet.

When every charger has booted and has nothing left to send (or ``--deadline``
seconds have passed) it prints ``ready BOOTED/N``, and holds the connections
until a line or end of file arrives on stdin. It then writes the fleet's JSON
summary to ``--json``, prints ``written`` and disconnects: ``boot_time_s`` is when the last boot was
accepted, ``latency_ms`` has BootNotification and StatusNotification.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.fleet import FleetOptions, FleetStats, summary, write_json
from simulators.observations import Observation
from simulators.station import Station, StationSettings


@dataclass(frozen=True, slots=True)
class IdleOptions:
    url: str
    chargers: int
    connect_rate: float
    deadline: float
    id_prefix: str = "IDLE-"
    response_timeout: float = 30.0
    seed: int = 0


class IdleFleet:
    def __init__(self, options: IdleOptions) -> None:
        self.options = options
        self.stats = FleetStats()
        self.booted_at: dict[str, float] = {}
        self._stopping = False
        rng = random.Random(options.seed)  # noqa: S311 (jitter, not secrets)
        self.stations = [
            Station(
                StationSettings(
                    charge_point_id=f"{options.id_prefix}{number:05d}",
                    url=options.url,
                    response_timeout=options.response_timeout,
                    keep_observations=20,
                ),
                stats=self.stats,
                rng=random.Random(rng.random()),  # noqa: S311
            )
            for number in range(1, options.chargers + 1)
        ]
        for station in self.stations:
            station.recorder.listen(self._watcher(station))

    def _watcher(self, station: Station) -> Callable[[Observation], None]:
        def watch(observation: Observation) -> None:
            if observation.kind == "registration" and observation.data["status"] == "Accepted":
                self.stats.registered.add(station.id)
                self.booted_at.setdefault(station.id, time.monotonic())
            elif observation.kind == "disconnected" and not self._stopping:
                self.stats.error(f"connection lost (code {observation.data.get('code')})")

        return watch

    async def connect(self, started: float) -> None:
        """Power the chargers on at ``connect_rate`` per second."""
        for number, station in enumerate(self.stations):
            due = started + number / max(self.options.connect_rate, 0.001)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            station.start()

    async def settled(self) -> None:
        """Until every charger has booted and delivered what it had to send."""

        async def one(station: Station) -> None:
            await station.wait_registered()
            await station.wait_delivered()

        await asyncio.gather(*(one(station) for station in self.stations))

    async def close(self) -> None:
        self._stopping = True
        await asyncio.gather(*(station.close() for station in self.stations))


async def _stop_requested() -> None:
    await asyncio.to_thread(sys.stdin.readline)


async def run(options: IdleOptions, json_path: Path | None) -> int:
    fleet = IdleFleet(options)
    started = time.monotonic()
    connecting = asyncio.create_task(fleet.connect(started))
    try:
        try:
            async with asyncio.timeout(options.deadline):
                await fleet.settled()
        except TimeoutError:
            fleet.stats.error("not settled by the deadline")
        ready = time.monotonic() - started
        print(f"ready {len(fleet.stats.registered)}/{options.chargers} {ready:.3f}", flush=True)
        await _stop_requested()
        # The summary is written before the chargers disconnect: closing thousands of
        # connections is not what is measured, and the benchmark waits for the file.
        result = _summary(fleet, started, ready)
        if json_path is not None:
            write_json(result, json_path)
        print("written", flush=True)
    finally:
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await fleet.close()
    return 1 if result["errors"] else 0


def _summary(fleet: IdleFleet, started: float, ready: float) -> dict[str, Any]:
    options = fleet.options
    boot_time = None
    if len(fleet.booted_at) == options.chargers:
        boot_time = max(fleet.booted_at.values()) - started
    return summary(
        fleet.stats,
        FleetOptions(
            chargers=options.chargers,
            template=fleet.stations[0].settings,
            connect_rate=options.connect_rate,
            rate=0.0,
            duration=ready,
        ),
        duration=ready,
        boot_time=boot_time,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ocpp")
    parser.add_argument("--chargers", type=int, required=True)
    parser.add_argument("--connect-rate", type=float, default=200.0)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds to settle")
    parser.add_argument("--id-prefix", default="IDLE-")
    parser.add_argument("--response-timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    options = IdleOptions(
        url=args.url,
        chargers=args.chargers,
        connect_rate=args.connect_rate,
        deadline=args.deadline,
        id_prefix=args.id_prefix,
        response_timeout=args.response_timeout,
        seed=args.seed,
    )
    return asyncio.run(run(options, args.json))


if __name__ == "__main__":
    sys.exit(main())
