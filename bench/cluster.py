"""Two worker processes against one: does a node scale with the cores it is given?

``python -m bench.cluster [--chargers 200] [--seconds 10] [--load-processes 2] [--rounds 1]``

Starts ``python -m central_system --workers W`` (W = 1, then 2) on PostgreSQL and
Redis of this machine, each time in a fresh schema and under a fresh Redis
prefix, and drives it with a closed loop: every simulated charger (a raw
WebSocket, spread over ``--load-processes`` processes) sends Heartbeat and
Authorize alternately, the next one as soon as the answer is in. Counted are the
round trips (CALL and CALLRESULT) completed in the measured window after a
warm-up. Prints and writes JSON (``--out``): round trips per second for each run,
their ratio (the median over ``--rounds`` pairs), and the CPU each side used in
the window (the node's processes, the load generator, PostgreSQL, Redis, the
rest of the machine), so that a ratio below the core count can be traced to
whoever had the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
from websockets.asyncio.client import connect

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TAG = "BENCH-TAG"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    workers: int
    chargers: int
    seconds: float
    round_trips: int
    round_trips_per_second: float
    #: Round trips per CPU-second the node's processes used: flat if the node scales.
    round_trips_per_node_cpu_second: float
    #: CPU seconds per second of the window (1.0 = one core busy), per side.
    cpu_node: float
    cpu_load: float
    cpu_postgres: float
    cpu_redis: float
    #: Everything else on the machine (other programs, the kernel's network work).
    cpu_other: float


# ------------------------------------------------------------ CPU accounting


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found + [grandchild for child in found for grandchild in _children(child)]


def _by_name(name: str) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().split(" (", 1)[1].startswith(name + ")"):
                pids.append(int(stat.parent.name))
    return pids


def _sample(pids: list[int]) -> dict[int, float]:
    return {pid: _cpu_seconds(pid) for pid in pids}


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two samples; a process that began in between counts whole."""
    return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK  # minus idle and iowait


# --------------------------------------------------------------- load side


def _load_process(
    url: str,
    ids: list[str],
    ready: multiprocessing.synchronize.Barrier,
    window: tuple[float, float],
    results: multiprocessing.Queue[int],
) -> None:
    results.put(asyncio.run(_drive(url, ids, ready, window)))


async def _drive(
    url: str,
    ids: list[str],
    ready: multiprocessing.synchronize.Barrier,
    window: tuple[float, float],
) -> int:
    connections = []
    for charge_point_id in ids:
        connection = await connect(
            f"{url}/{charge_point_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            max_queue=4,
        )
        boot = {"chargePointVendor": "Bench", "chargePointModel": "Loop"}
        await connection.send(json.dumps([2, "boot", "BootNotification", boot]))
        await connection.recv()
        connections.append(connection)
    await asyncio.to_thread(ready.wait)
    start_at = time.time() + 1.0  # the parent measures CPU from here
    measured_from, until = start_at + window[0], start_at + window[0] + window[1]
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def loop(connection: Any) -> int:
        done = 0
        n = 0
        while time.time() < until:
            n += 1
            if n % 2:
                frame = [2, str(n), "Heartbeat", {}]
            else:
                frame = [2, str(n), "Authorize", {"idTag": TAG}]
            await connection.send(json.dumps(frame))
            reply = json.loads(await connection.recv())
            if reply[0] != 3:
                raise RuntimeError(f"unexpected answer {reply}")
            if time.time() >= measured_from:
                done += 1
        return done

    counts = await asyncio.gather(*(loop(c) for c in connections))
    for connection in connections:
        await connection.close()
    return sum(counts)


# --------------------------------------------------------------- node side


@contextlib.contextmanager
def _node(workers: int, schema: str, prefix: str, logs: Path) -> Iterator[tuple[int, int]]:
    """``python -m central_system --workers W``; yields (its pid, its OCPP port)."""
    log = logs / f"node-{workers}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "central_system",
                "--workers",
                str(workers),
                "--database-url",
                POSTGRES.replace("postgresql://", "postgresql+asyncpg://"),
                "--database-schema",
                schema,
                "--redis-url",
                REDIS,
                "--redis-prefix",
                prefix,
                "--node-id",
                f"bench-{workers}",
                "--ocpp-port",
                "0",
                "--api-port",
                "0",
                "--operator-token",
                "bench",
                "--unknown-chargers",
                "accept",
                "--no-configure-at-boot",
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    try:
        banner = ""
        while "Press Ctrl-C" not in banner:
            line = process.stdout.readline()
            if not line:
                raise SystemExit(f"the node did not start; see {log}")
            banner += line.decode()
        port = re.search(r"ws://127\.0\.0\.1:(\d+)/", banner)
        assert port is not None
        yield process.pid, int(port.group(1))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


async def _schema(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _seed_tag(schema: str) -> None:
    connection = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        await connection.execute(f'SET search_path TO "{schema}"')
        await connection.execute(
            "INSERT INTO id_tags (id_tag, status) VALUES ($1, 'Accepted') ON CONFLICT DO NOTHING",
            TAG,
        )
    finally:
        await connection.close()


def measure(workers: int, args: argparse.Namespace, logs: Path) -> Run:
    schema = f"bench_cluster_{uuid.uuid4().hex[:10]}"
    prefix = f"bench-{uuid.uuid4().hex[:10]}:"
    asyncio.run(_schema(f'CREATE SCHEMA "{schema}"'))
    try:
        with _node(workers, schema, prefix, logs) as (pid, port):
            asyncio.run(_seed_tag(schema))
            ids = [f"BENCH-{n:05d}" for n in range(args.chargers)]
            shares = [ids[n :: args.load_processes] for n in range(args.load_processes)]
            context = multiprocessing.get_context("spawn")
            ready = context.Barrier(args.load_processes + 1)
            results: multiprocessing.Queue[int] = context.Queue()
            window = (args.warmup, args.seconds)
            load = [
                context.Process(
                    target=_load_process,
                    args=(f"ws://127.0.0.1:{port}/ocpp", share, ready, window, results),
                )
                for share in shares
            ]
            for process in load:
                process.start()
            ready.wait()
            time.sleep(1.0 + args.warmup)  # measure CPU over the counted window only
            sides: dict[str, Callable[[], list[int]]] = {
                "node": lambda: [pid, *_children(pid)],
                "load": lambda: [p.pid for p in load if p.pid is not None],
                "postgres": lambda: _by_name("postgres"),
                "redis": lambda: _by_name("redis-server"),
            }
            before = {side: _sample(pids()) for side, pids in sides.items()}
            machine = _machine_busy()
            started = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            used = {
                side: _used(before[side], _sample(pids())) / elapsed for side, pids in sides.items()
            }
            used["other"] = (_machine_busy() - machine) / elapsed - sum(used.values())
            round_trips = sum(results.get(timeout=60) for _ in load)
            for process in load:
                process.join()
    finally:
        asyncio.run(_schema(f'DROP SCHEMA "{schema}" CASCADE'))
        _drop_prefix(prefix)
    return Run(
        workers=workers,
        chargers=args.chargers,
        seconds=args.seconds,
        round_trips=round_trips,
        round_trips_per_second=round(round_trips / args.seconds, 1),
        round_trips_per_node_cpu_second=round(
            round_trips / args.seconds / max(used["node"], 1e-9), 1
        ),
        cpu_node=round(used["node"], 2),
        cpu_load=round(used["load"], 2),
        cpu_postgres=round(used["postgres"], 2),
        cpu_redis=round(used["redis"], 2),
        cpu_other=round(max(0.0, used["other"]), 2),
    )


def _drop_prefix(prefix: str) -> None:
    import redis

    with redis.Redis.from_url(REDIS) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


def _notes(runs: list[Run], cores: int) -> list[str]:
    """Why the ratio is what it is: who had the cores in the two-worker run."""
    one, two = runs
    notes = []
    if max(one.cpu_other, two.cpu_other) > 0.25 * cores:
        notes.append(
            f"other programs and the kernel kept {one.cpu_other:g} and {two.cpu_other:g} of "
            f"{cores} cores busy in the two runs: the node had what was left"
        )
    if two.cpu_load > 0.5 * two.cpu_node:
        notes.append(
            f"the load generator used {two.cpu_load:g} cores against the node's "
            f"{two.cpu_node:g}: it competes for the same cores"
        )
    if two.cpu_postgres + two.cpu_redis > 0.5:
        notes.append(
            f"PostgreSQL and Redis used {two.cpu_postgres + two.cpu_redis:g} cores on this "
            "machine; in a deployment they run elsewhere"
        )
    if two.cpu_node < 1.5 * one.cpu_node:
        notes.append(
            f"two workers got {two.cpu_node:g} cores of CPU against one worker's "
            f"{one.cpu_node:g}: throughput follows the CPU the node could get"
        )
    per_cpu = two.round_trips_per_node_cpu_second / max(one.round_trips_per_node_cpu_second, 1e-9)
    notes.append(
        f"round trips per CPU-second of the node: {one.round_trips_per_node_cpu_second:g} with "
        f"one worker, {two.round_trips_per_node_cpu_second:g} with two ({per_cpu:.2f}x): "
        + (
            "the workers add capacity in proportion to the CPU they get"
            if per_cpu > 0.85
            else "the second worker adds less than its CPU: something is shared"
        )
    )
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--load-processes", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument(
        "--rounds", type=int, default=1, help="pairs of runs (1 worker, then 2); median ratio"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/cluster.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-cluster-"))  # the nodes' stderr
    cores = os.cpu_count() or 1
    rounds, ratios = [], []
    for _ in range(args.rounds):
        one, two = (measure(workers, args, logs) for workers in (1, 2))
        ratios.append(round(two.round_trips_per_second / max(one.round_trips_per_second, 1e-9), 2))
        rounds.append(
            {
                "runs": [asdict(one), asdict(two)],
                "ratio": ratios[-1],
                "busy_cores_with_two_workers": round(
                    two.cpu_node + two.cpu_load + two.cpu_postgres + two.cpu_redis + two.cpu_other,
                    2,
                ),
                "notes": _notes([one, two], cores),
            }
        )
    report = {
        "benchmark": "cluster: --workers 2 against --workers 1, same machine",
        "cores": cores,
        "chargers": args.chargers,
        "load_processes": args.load_processes,
        "ratio": statistics.median(ratios),
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
