"""``python -m bench.run [--quick] [--repeats N] [--out DIR]``: the benchmark.

For every repeat and scenario it starts each of the three servers fresh (their
order rotates from one repeat to the next), drives it with a fleet of simulated
chargers on the loopback, measures the server's CPU time and memory with
``psutil`` and the load generator's CPU time with ``wait4``, and stops both.
After the repeats the leak check drives one process of ours twice with the same
longer closed-loop load and compares its RSS after each. Writes ``latest.json``
(every run, raw), then ``summary.md`` and the plots (``bench.report``). A
benchmark, not a test: it never fails on a number, only when it cannot measure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.procs import Child, ChildError, Sampler, Usage, wait_until_quiet
from bench.scenarios import FULL, QUICK, Kind, Plan, Scenario, stretched
from bench.servers import BENCH_TAG, SERVERS, Server, start

#: Seconds beyond its own bound that a load generator may take before it is stopped.
CLIENT_GRACE = 45.0
#: Seconds a server may take to stop (SIGINT) before it is killed.
SERVER_STOP_GRACE = 3.0
#: Memory per charger is reported only when at least this share of the chargers connected.
MIN_CONNECTED_SHARE = 0.9
#: Open files each child may have: a charger is one socket on each side.
OPEN_FILES = 20_000


def raise_open_files() -> int:
    """Raise the soft limit of open files (inherited by every child) as far as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def machine(open_files: int) -> dict[str, Any]:
    versions = {}
    for package in ("ocpp", "websockets", "sqlalchemy", "aiosqlite", "psutil"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "open_files": open_files,
        "packages": versions,
    }


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def client_argv(scenario: Scenario, url: str, json_path: Path, seed: int) -> list[str]:
    common = ["--url", url, "--connect-rate", f"{scenario.connect_rate:g}"]
    common += ["--seed", str(seed), "--json", str(json_path)]
    if scenario.kind is Kind.IDLE:
        return _python(
            "-m",
            "bench.idle",
            "--chargers",
            str(scenario.chargers),
            "--deadline",
            f"{scenario.duration:g}",
            *common,
        )
    return _python(
        "-m",
        "bench.load",
        "--fleet",
        str(scenario.chargers),
        "--duration",
        f"{scenario.duration:g}",
        "--rate",
        f"{scenario.rate:g}",
        "--tag",
        BENCH_TAG,
        "--drain-limit",
        f"{scenario.drain_limit:g}",
        *common,
    )


def _client_bound(scenario: Scenario) -> float:
    return scenario.duration + scenario.drain_limit + CLIENT_GRACE


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded


class Runner:
    def __init__(self, plan: Plan, *, work: Path, seed_base: int = 0) -> None:
        self.plan = plan
        self.work = work
        self.seed_base = seed_base
        self._count = 0

    def _path(self, stem: str) -> Path:
        self._count += 1
        return self.work / f"{self._count:03d}-{stem}.json"

    def drive(self, scenario: Scenario, server: Server, seed: int) -> dict[str, Any]:
        """One load against a running server: the client's summary and both processes' cost."""
        json_path = self._path(f"{scenario.name}-{server.name}")
        argv = client_argv(scenario, server.url, json_path, seed)
        before, machine_before = server.child.usage(), busy_cpu_s()
        client = Child.start("client", argv, stdin=scenario.kind is Kind.IDLE)
        measured: dict[str, Any] = {}
        with Sampler([server.child, client]) as sampler:
            if scenario.kind is Kind.IDLE:
                measured |= self._hold_idle(scenario, server, client)
                # Its summary is written: disconnecting thousands of idle chargers one
                # by one is not measured, and costs the time budget seconds per run.
                client.expect(r"^written$", CLIENT_GRACE)
                ended = client.kill()
            else:
                ended = client.wait(_client_bound(scenario))
        after, machine_after = server.child.usage(), busy_cpu_s()
        result = _read_json(json_path)
        measured |= {
            "client": result,
            "client_exit": ended.code,
            "client_cpu_s": round(ended.cpu_s, 3),
            "client_wall_s": round(ended.wall_s, 3),
            "client_cut": ended.cut,
            "client_tail": (client.stderr.lines[-5:] if client.stderr else []),
            "server_rss_peak": sampler.peak_rss.get(server.name),
        }
        measured |= _server_cost(before, after, result)
        if measured["server_cpu_s"] is not None:
            # What the rest of the machine used meanwhile: other users of these cores.
            others = machine_after - machine_before - measured["server_cpu_s"] - ended.cpu_s
            measured["other_cpu_s"] = round(max(others, 0.0), 3)
        return measured

    def _hold_idle(self, scenario: Scenario, server: Server, client: Child) -> dict[str, Any]:
        """Wait until the idle chargers settled and the server went quiet; its RSS then."""
        ready = client.expect(r"ready (\d+)/(\d+) ([\d.]+)", scenario.duration + CLIENT_GRACE)
        settle = wait_until_quiet(server.child)
        idle = server.child.usage()
        client.send("stop")
        return {
            "idle_connected": int(ready.group(1)),
            "idle_ready_s": float(ready.group(3)),
            "server_settle_s": round(settle, 3),
            "server_rss_idle": idle.rss_bytes if idle else None,
        }

    def measure(self, scenario: Scenario, name: str, repeat: int, log_dir: Path) -> dict[str, Any]:
        """One scenario against a fresh server."""
        server = start(name, log_dir)
        base = server.child.usage()
        try:
            measured = self.drive(scenario, server, self.seed_base + repeat)
        except ChildError as error:  # recorded: the run could not be measured
            measured = {"client": None, "failure": str(error)}
        finally:
            stopping = time.monotonic()
            # What a server does while stopping is not measured: bounded, then killed.
            stopped = server.child.stop(SERVER_STOP_GRACE)
            stop_s = time.monotonic() - stopping
            shutil.rmtree(server.workdir, ignore_errors=True)
        record = {
            "scenario": scenario.name,
            "kind": scenario.kind.value,
            "server": name,
            "repeat": repeat,
            "settings": asdict(scenario),
            "server_rss_start": base.rss_bytes if base else None,
            "server_exit": stopped.code,
            "server_stop_s": round(stop_s, 3),
            **measured,
        }
        if base is not None:
            record |= _memory_per_charger(record, base.rss_bytes, scenario.chargers)
        return record

    def leak_check(self, log_dir: Path) -> dict[str, Any]:
        """The same closed-loop load twice against one process of ours: RSS after each.

        Long enough for ours to boot every charger and then run sessions, so that
        both runs do the same work.
        """
        scenario = self.plan.leak
        server = start("ours", log_dir)
        runs, rss = [], []
        try:
            for _ in range(2):
                runs.append(self.drive(scenario, server, self.seed_base))
                rss.append(_quiet_rss(server))
        finally:
            server.child.stop(SERVER_STOP_GRACE)
            shutil.rmtree(server.workdir, ignore_errors=True)
        summaries = [
            {
                "rss_after": size,
                "messages": (run.get("client") or {}).get("messages"),
                "errors": (run.get("client") or {}).get("errors"),
                "connected": (run.get("client") or {}).get("connected"),
                "boot_time_s": (run.get("client") or {}).get("boot_time_s"),
                "window": (run.get("client") or {}).get("window"),
                "server_cpu_s": run.get("server_cpu_s"),
                "cpu_ms_per_message": run.get("cpu_ms_per_message"),
            }
            for run, size in zip(runs, rss, strict=True)
        ]
        ratio = round(rss[1] / rss[0], 4) if rss[0] and rss[1] else None
        return {
            "scenario": scenario.name,
            "server": server.name,
            "settings": asdict(scenario),
            "runs": summaries,
            "rss_ratio": ratio,
        }


def _memory_per_charger(record: dict[str, Any], base: int, chargers: int) -> dict[str, Any]:
    """RSS growth per connected charger: at rest after an idle boot, at the peak of a load.

    Only where nearly every charger connected: with a few connected and thousands
    still knocking, the growth is the backlog's, not the connections'.
    """
    memory: dict[str, Any] = {}
    connected = int((record.get("client") or {}).get("connected") or 0)
    if connected < MIN_CONNECTED_SHARE * chargers:
        return memory
    idle, peak = record.get("server_rss_idle"), record.get("server_rss_peak")
    if idle is not None:
        memory["rss_per_charger_kib"] = round((idle - base) / connected / 1024, 2)
    if peak:
        memory["peak_rss_per_charger_kib"] = round((peak - base) / connected / 1024, 2)
    return memory


def _quiet_rss(server: Server) -> int | None:
    wait_until_quiet(server.child)
    usage = server.child.usage()
    return usage.rss_bytes if usage else None


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _server_cost(
    before: Usage | None, after: Usage | None, result: dict[str, Any] | None
) -> dict[str, Any]:
    if before is None or after is None:
        return {"server_cpu_s": None, "server_wall_s": None, "cpu_ms_per_message": None}
    cpu = after.cpu_s - before.cpu_s
    messages = (result or {}).get("messages") or 0
    return {
        "server_cpu_s": round(cpu, 3),
        "server_wall_s": round(after.at - before.at, 3),
        "server_rss_end": after.rss_bytes,
        "cpu_ms_per_message": round(cpu * 1000 / messages, 4) if messages else None,
    }


def order_for(repeat: int) -> list[str]:
    """The servers in the order of this repeat: each takes every position in turn."""
    shift = repeat % len(SERVERS)
    return list(SERVERS[shift:] + SERVERS[:shift])


def _line(record: dict[str, Any]) -> str:
    client = record.get("client") or {}
    window = client.get("window") or {}
    rate = window.get("messages_per_s")
    parts = [
        f"{record['scenario']:<12} {record['server']:<5} r{record['repeat']}",
        f"{client.get('connected', '?')}/{record['settings']['chargers']} connected",
        f"errors {client.get('errors', '?')}",
    ]
    if rate is not None:
        parts.append(f"{rate} msg/s")
    if "rss_per_charger_kib" in record:
        parts.append(f"{record['rss_per_charger_kib']} KiB/charger")
    if client.get("boot_time_s") is not None:
        parts.append(f"booted in {client['boot_time_s']} s")
    return "  ".join(parts)


def run(plan: Plan, repeats: int, out: Path, only: Sequence[str]) -> dict[str, Any]:
    open_files = raise_open_files()
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    log_dir = work / "logs"
    log_dir.mkdir()
    print(f"bench: {plan.name} run, {repeats} repeat(s); logs in {log_dir}", flush=True)
    scenarios = [s for s in plan.scenarios if not only or s.name in only]
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": plan.name,
        "repeats": repeats,
        "machine": machine(open_files),
        "scenarios": [asdict(s) for s in scenarios],
        "runs": [],
        "leak": None,
    }
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runner = Runner(plan, work=work)
    for repeat in range(repeats):
        for scenario in scenarios:
            for name in order_for(repeat):
                record = runner.measure(scenario, name, repeat, log_dir)
                results["runs"].append(record)
                _save(results, out)
                print(f"[{time.monotonic() - started:6.0f}s] {_line(record)}", flush=True)
    if not only or "leak" in only:
        results["leak"] = leak = runner.leak_check(log_dir)
        rss = ", ".join(f"{(r['rss_after'] or 0) / 2**20:.0f} MiB" for r in leak["runs"])
        print(f"[{time.monotonic() - started:6.0f}s] leak check: RSS after each run {rss}")
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    _save(results, out)
    return results


def _save(results: dict[str, Any], out: Path) -> None:
    path = out / "latest.json"
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about 2 minutes")
    parser.add_argument("--repeats", type=int, help="repeats of each scenario (full: 3)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--only", action="append", default=[], metavar="SCENARIO", help="run only these"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply every duration, drain limit and deadline (longer runs)",
    )
    args = parser.parse_args(argv)
    plan = stretched(QUICK if args.quick else FULL, args.time_scale)
    repeats = args.repeats or plan.repeats
    results = run(plan, repeats, args.out, args.only)
    report.write(results, args.out)
    print(f"bench: done in {results['elapsed_s']} s; {args.out / 'summary.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
