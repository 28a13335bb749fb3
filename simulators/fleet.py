"""Many simulated chargers in one process, as load: ``--fleet N``.

Chargers connect at a bounded rate (``connect_rate`` per second), boot, and then
each runs charging sessions over and over: plug, card (Authorize, StartTransaction),
``meter_samples`` meter readings, unplug (StopTransaction). Every step waits until
the central system has answered what it caused (closed loop); with ``rate`` > 0 a
charger also paces itself to that many messages per second.

The summary counts the calls the central system answered, their latency per
action (p50/p90/p99/max, milliseconds), and every error: connections refused or
lost, CALLERRORs, timeouts, and steps that never completed.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from simulators.charger import ChargerError
from simulators.observations import Observation
from simulators.station import Station, StationSettings

ERROR_DETAIL_LIMIT = 20
#: Tries of one registration that the API throttles (429) before giving up.
REGISTER_ATTEMPTS = 120


@dataclass(frozen=True, slots=True)
class FleetOptions:
    chargers: int
    template: StationSettings
    id_prefix: str = "FLEET-"
    tag_prefix: str = "FLEET-TAG-"
    connect_rate: float = 200.0
    #: Messages per second per charger; 0: as fast as the central system answers.
    rate: float = 1.0
    duration: float = 20.0
    meter_samples: int = 5
    #: How long one step may wait for its answers before it counts as an error.
    step_timeout: float = 30.0
    #: One card for every charger (e.g. a card the garage knows already).
    shared_tag: str | None = None
    operator_api: str | None = None
    operator_token: str | None = None
    seed: int | None = None

    def charge_point_id(self, number: int) -> str:
        return f"{self.id_prefix}{number:04d}"

    def tag(self, number: int) -> str:
        return self.shared_tag or f"{self.tag_prefix}{number:04d}"[:20]


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class FleetStats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    registered: set[str] = field(default_factory=set)
    transactions: int = 0
    refused: int = 0
    messages: int = 0

    def answered(self, action: str, seconds: float) -> None:
        self.latencies.setdefault(action, []).append(seconds)
        self.messages += 1

    def failed(self, action: str, kind: str) -> None:
        self.error(f"{action}: {kind}")

    def error(self, description: str) -> None:
        self.errors[description] += 1
        if len(self.error_samples) < ERROR_DETAIL_LIMIT:
            self.error_samples.append(description)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def latency_ms(self) -> dict[str, dict[str, float]]:
        summary = {}
        for action in sorted(self.latencies):
            ordered = sorted(self.latencies[action])
            summary[action] = {
                "p50": round(percentile(ordered, 50) * 1000, 2),
                "p90": round(percentile(ordered, 90) * 1000, 2),
                "p99": round(percentile(ordered, 99) * 1000, 2),
                "max": round(ordered[-1] * 1000, 2),
                "count": len(ordered),
            }
        return summary


def summary(
    stats: FleetStats, options: FleetOptions, *, duration: float, boot_time: float | None
) -> dict[str, Any]:
    return {
        "chargers": options.chargers,
        "connected": len(stats.registered),
        "messages": stats.messages,
        "errors": stats.error_count,
        "duration_s": round(duration, 3),
        "messages_per_s": round(stats.messages / duration, 1) if duration > 0 else 0.0,
        "latency_ms": stats.latency_ms(),
        "boot_time_s": None if boot_time is None else round(boot_time, 3),
        "transactions": stats.transactions,
        "refused": stats.refused,
        "error_kinds": dict(stats.errors.most_common()),
        "rate_per_charger": options.rate,
        "connect_rate": options.connect_rate,
    }


def format_summary(result: dict[str, Any]) -> str:
    lines = [
        f"chargers        {result['connected']}/{result['chargers']} connected"
        + (
            f", all booted in {result['boot_time_s']} s"
            if result["boot_time_s"] is not None
            else ""
        ),
        f"messages        {result['messages']} in {result['duration_s']} s"
        f" = {result['messages_per_s']} per second",
        f"transactions    {result['transactions']} started, {result['refused']} cards refused",
        f"errors          {result['errors']}",
    ]
    for kind, count in result["error_kinds"].items():
        lines.append(f"  {count:>6} x {kind}")
    lines.append(f"latency (ms)    {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'count':>7}")
    for action, row in result["latency_ms"].items():
        lines.append(
            f"  {action:<22}{row['p50']:>8} {row['p90']:>8} {row['p99']:>8} {row['max']:>8}"
            f" {row['count']:>7}"
        )
    return "\n".join(lines)


class _Pacer:
    """Spaces one charger's messages to ``rate`` per second (no pacing at 0).

    Once the run is over (``until``) nothing is paced: the session in progress
    finishes at once.
    """

    def __init__(self, rate: float, rng: random.Random, until: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic() + rng.uniform(0, self._interval)
        self._until = until

    async def take(self, messages: int) -> None:
        if self._interval == 0 or time.monotonic() >= self._until:
            return
        delay = min(self._next, self._until) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._next = max(self._next, time.monotonic() - self._interval) + (
            messages * self._interval
        )


class Fleet:
    def __init__(self, options: FleetOptions, *, out: TextIO = sys.stderr) -> None:
        self.options = options
        self.stats = FleetStats()
        self._out = out
        self._rng = random.Random(options.seed)
        self._stopping = False
        self._stop_at = 0.0
        self.stations = [
            Station(
                replace(
                    options.template,
                    charge_point_id=options.charge_point_id(number),
                    keep_observations=200,
                ),
                stats=self.stats,
                rng=random.Random(self._rng.random()),
            )
            for number in range(1, options.chargers + 1)
        ]
        for station in self.stations:
            station.recorder.listen(self._watcher(station))

    def _watcher(self, station: Station) -> Callable[[Observation], None]:
        def watch(observation: Observation) -> None:
            if observation.kind == "registration" and observation.data["status"] == "Accepted":
                self.stats.registered.add(station.id)
            elif observation.kind == "disconnected" and not self._stopping:
                self.stats.error(f"connection lost (code {observation.data.get('code')})")
            elif observation.kind == "dropped":
                self.stats.error(f"{observation.data['action']} given up")

        return watch

    async def run(self) -> dict[str, Any]:
        options = self.options
        if options.operator_api is not None:
            await register(self, options.operator_api, options.operator_token, out=self._out)
        started = time.monotonic()
        self._stop_at = started + options.duration
        progress = asyncio.create_task(self._progress(started))
        boot_time: float | None = None
        try:
            drivers = []
            for number, station in enumerate(self.stations, start=1):
                due = started + (number - 1) / max(options.connect_rate, 0.001)
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                station.start()
                drivers.append(asyncio.create_task(self._drive(station, options.tag(number))))
            booted = await asyncio.gather(*(self._booted(s) for s in self.stations))
            if booted and all(moment is not None for moment in booted):
                boot_time = max(m for m in booted if m is not None) - started
            await asyncio.gather(*drivers)
        finally:
            self._stopping = True
            ended = time.monotonic()
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
            await asyncio.gather(*(station.close() for station in self.stations))
        return summary(self.stats, options, duration=ended - started, boot_time=boot_time)

    async def _booted(self, station: Station) -> float | None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(1.0, self._stop_at - started)):
                await station.wait_registered()
        except TimeoutError:
            return None
        return time.monotonic()

    async def _drive(self, station: Station, tag: str) -> None:
        try:
            async with asyncio.timeout(max(1.0, self._stop_at - time.monotonic())):
                await station.wait_registered()
        except TimeoutError:
            self.stats.error("never booted")
            return
        pacer = _Pacer(self.options.rate, random.Random(self._rng.random()), self._stop_at)
        try:
            while time.monotonic() < self._stop_at:
                if not await self._session(station, tag, pacer):
                    return
        except ChargerError as error:  # the charger is not where the script thought
            self.stats.error(f"charger: {error}")

    async def _step(self, station: Station, action: Callable[[], None]) -> bool:
        action()
        try:
            async with asyncio.timeout(self.options.step_timeout):
                await station.wait_delivered()
        except TimeoutError:
            self.stats.error("step not answered in time")
            return False
        return True

    async def _session(self, station: Station, tag: str, pacer: _Pacer) -> bool:
        """One charging session; ``False`` when the charger cannot go on."""
        await pacer.take(1)
        if not await self._step(station, lambda: station.plug(1)):
            return False
        mark = station.recorder.mark
        await pacer.take(3)
        if not await self._step(station, lambda: station.present(tag, 1)):
            return False
        if not station.recorder.since(mark, "transaction_started"):
            self.stats.refused += 1
            await pacer.take(1)
            return await self._step(station, lambda: station.unplug(1))
        self.stats.transactions += 1
        for _ in range(self.options.meter_samples):
            if time.monotonic() >= self._stop_at:
                break
            await pacer.take(1)
            if not await self._step(station, lambda: station.sample(1)):
                return False
        await pacer.take(2)
        return await self._step(station, lambda: station.unplug(1))

    async def _progress(self, started: float) -> None:
        tty = self._out.isatty()
        last_messages, last_time = 0, started
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            rate = (self.stats.messages - last_messages) / max(now - last_time, 1e-9)
            last_messages, last_time = self.stats.messages, now
            line = (
                f"[{now - started:6.1f}s] connected {len(self.stats.registered)}"
                f"/{self.options.chargers}  messages {self.stats.messages}"
                f"  {rate:7.1f}/s  errors {self.stats.error_count}"
            )
            if tty:
                print("\r" + line, end="", file=self._out, flush=True)
            elif int(now - started) % 5 == 0:
                print(line, file=self._out, flush=True)


def _put(url: str, token: str | None) -> float | None:
    """PUT ``{}``; ``None`` when done, else the seconds a 429 asks to wait."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=b"{}", method="PUT", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (an operator's http URL)
            return None
    except urllib.error.HTTPError as error:
        if error.code != 429:
            raise
        return float(error.headers.get("Retry-After") or 1)


async def register(fleet: Fleet, api: str, token: str | None, *, out: TextIO) -> None:
    """Register the fleet's chargers and cards through the operator API (Accepted).

    The API limits requests per token: a 429 is waited out as its Retry-After says.
    """
    base = api.rstrip("/") + "/api/v1/operator"
    urls = [f"{base}/charge-points/{quote(station.id, safe='')}" for station in fleet.stations]
    tags = (
        {fleet.options.shared_tag}
        if fleet.options.shared_tag
        else {fleet.options.tag(n) for n in range(1, len(fleet.stations) + 1)}
    )
    urls += [f"{base}/id-tags/{quote(tag, safe='')}" for tag in sorted(tags)]
    print(f"registering {len(urls)} chargers and cards at {api}", file=out, flush=True)
    limit = asyncio.Semaphore(4)

    async def put(url: str) -> None:
        async with limit:
            for _ in range(REGISTER_ATTEMPTS):
                wait = await asyncio.to_thread(_put, url, token)
                if wait is None:
                    return
                await asyncio.sleep(wait)
            raise OSError(f"the operator API kept answering 429 for {url}")

    await asyncio.gather(*(put(url) for url in urls))


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
