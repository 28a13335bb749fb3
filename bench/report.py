"""Medians, ratios and goals from ``latest.json``: ``summary.md`` and two plots.

``python -m bench.report [bench/results/latest.json]`` rewrites them from a
stored run. Medians are over the repeats of one scenario and server; a run in
which not every charger booted counts as the slowest for "boot all". Fleet
latencies and throughput are those of the window (every charger connected,
before the end of the duration), idle and storm latencies those of the whole run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVERS = ("limit", "peer", "ours")
MIB = 1024 * 1024


def median(values: Iterable[float | None], *, missing_is_worst: bool = False) -> float | None:
    """The median of the values; ``None`` ones are left out, or count as infinite."""
    items = list(values)
    if missing_is_worst:
        numbers = [math.inf if v is None else v for v in items]
    else:
        numbers = [v for v in items if v is not None]
    if not numbers:
        return None
    middle = statistics.median(numbers)
    return None if math.isinf(middle) else middle


@dataclass
class Cell:
    """One scenario against one server, over its repeats."""

    scenario: str
    server: str
    chargers: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def clients(self) -> list[dict[str, Any]]:
        return [run.get("client") or {} for run in self.runs]

    def values(self, getter: Callable[[dict[str, Any]], Any]) -> list[Any]:
        return [getter(run) for run in self.runs]

    @property
    def errors(self) -> list[int | None]:
        return [client.get("errors") for client in self.clients()]

    @property
    def connected(self) -> list[int]:
        return [int(client.get("connected") or 0) for client in self.clients()]

    @property
    def clean(self) -> bool:
        """Zero errors and every charger connected, in every run."""
        return all(e == 0 for e in self.errors) and all(c == self.chargers for c in self.connected)

    @property
    def throughput(self) -> float | None:
        return median(
            (client.get("window") or {}).get("messages_per_s") for client in self.clients()
        )

    @property
    def whole_run_rate(self) -> float | None:
        return median(client.get("messages_per_s") for client in self.clients())

    @property
    def cpu_ms_per_message(self) -> float | None:
        return median(self.values(lambda run: run.get("cpu_ms_per_message")))

    @property
    def boot_all_s(self) -> float | None:
        return median(
            (client.get("boot_time_s") for client in self.clients()), missing_is_worst=True
        )

    @property
    def rss_per_charger_kib(self) -> float | None:
        return median(self.values(lambda run: run.get("rss_per_charger_kib")))

    @property
    def peak_rss_per_charger_kib(self) -> float | None:
        return median(self.values(lambda run: run.get("peak_rss_per_charger_kib")))

    @property
    def peak_rss_mib(self) -> float | None:
        peak = median(self.values(lambda run: run.get("server_rss_peak")))
        return None if peak is None else peak / MIB

    def cores(self, who: str) -> float | None:
        def share(run: dict[str, Any]) -> float | None:
            # Other processes ran while the server was measured: the server's wall time.
            cpu = run.get(f"{who}_cpu_s")
            wall = run.get(f"{'server' if who == 'other' else who}_wall_s")
            return cpu / wall if cpu is not None and wall else None

        return median(self.values(share))

    def latency(self) -> dict[str, dict[str, float | None]]:
        """Action -> p50/p99/max, medians over the runs."""
        tables = []
        for client in self.clients():
            table = (client.get("window") or {}).get("latency_ms")
            tables.append(table if table else client.get("latency_ms") or {})
        actions = sorted({action for table in tables for action in table})
        return {
            action: {
                q: median(table.get(action, {}).get(q) for table in tables)
                for q in ("p50", "p99", "max")
            }
            for action in actions
        }


Cells = dict[tuple[str, str], Cell]


def cells(results: dict[str, Any]) -> Cells:
    grouped: Cells = {}
    for run in results["runs"]:
        key = (run["scenario"], run["server"])
        if key not in grouped:
            grouped[key] = Cell(run["scenario"], run["server"], run["settings"]["chargers"])
        grouped[key].runs.append(run)
    return grouped


def scenario_names(results: dict[str, Any]) -> dict[str, str]:
    """The role of each scenario (closed, closed_big, steady, idle, storm) -> its name."""
    roles: dict[str, str] = {}
    closed = sorted(
        (s for s in results["scenarios"] if s["name"].startswith("closed-")),
        key=lambda s: s["chargers"],
    )
    if closed:
        roles["closed"] = closed[0]["name"]
    if len(closed) > 1:
        roles["closed_big"] = closed[-1]["name"]
    for s in results["scenarios"]:
        for role in ("steady", "idle", "storm"):
            if s["name"].startswith(role + "-"):
                roles[role] = s["name"]
    return roles


def ratio(ours: float | None, other: float | None) -> float | None:
    if ours is None or other is None or other == 0:
        return None
    return ours / other


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


# ------------------------------------------------------------------- goals


@dataclass(frozen=True, slots=True)
class Goal:
    text: str
    measured: str
    passed: bool | None  # None: not measured


def _cell(table: Cells, roles: dict[str, str], role: str, server: str) -> Cell | None:
    name = roles.get(role)
    return None if name is None else table.get((name, server))


def _versus(
    table: Cells,
    roles: dict[str, str],
    role: str,
    metric: Callable[[Cell], float | None],
    other: str = "peer",
) -> tuple[float | None, float | None, float | None]:
    ours, theirs = _cell(table, roles, role, "ours"), _cell(table, roles, role, other)
    a = metric(ours) if ours else None
    b = metric(theirs) if theirs else None
    return a, b, ratio(a, b)


def _p99(action: str) -> Callable[[Cell], float | None]:
    return lambda cell: cell.latency().get(action, {}).get("p99")


def _compare(
    text: str,
    values: tuple[float | None, float | None, float | None],
    unit: str,
    *,
    at_most: bool,
    bound: float,
) -> Goal:
    ours, other, r = values
    if r is None:
        return Goal(text, "not measured", None)
    passed = r <= bound if at_most else r >= bound
    return Goal(text, f"{fmt(ours)} vs {fmt(other)} {unit} = {r:.2f}x", passed)


def goals(results: dict[str, Any], table: Cells) -> list[Goal]:
    roles = scenario_names(results)
    name = defaultdict(lambda: "not run", roles)
    out = [
        _compare(
            f"Throughput at {name['closed']} >= 1.0x peer",
            _versus(table, roles, "closed", lambda c: c.throughput),
            "msg/s",
            at_most=False,
            bound=1.0,
        ),
        _compare(
            f"(aim) Throughput at {name['closed']} >= 0.5x limit",
            _versus(table, roles, "closed", lambda c: c.throughput, other="limit"),
            "msg/s",
            at_most=False,
            bound=0.5,
        ),
        _compare(
            f"Server CPU per message at {name['closed']} <= 1.0x peer",
            _versus(table, roles, "closed", lambda c: c.cpu_ms_per_message),
            "ms/msg",
            at_most=True,
            bound=1.0,
        ),
        _compare(
            f"p99 Authorize at {name['steady']} <= 1.0x peer",
            _versus(table, roles, "steady", _p99("Authorize")),
            "ms",
            at_most=True,
            bound=1.0,
        ),
        _compare(
            f"p99 StartTransaction at {name['steady']} <= 2x peer",
            _versus(table, roles, "steady", _p99("StartTransaction")),
            "ms",
            at_most=True,
            bound=2.0,
        ),
        _all_p99_under(table, roles, 100.0),
        _scaling(table, roles),
        _memory(table, roles),
        _storm_booted(table, roles),
        _compare(
            f"Reconnect storm ({name['storm']}): BootNotification p99 <= 1.0x peer",
            _versus(table, roles, "storm", _p99("BootNotification")),
            "ms",
            at_most=True,
            bound=1.0,
        ),
        _leak(results),
        _clean(table),
    ]
    return out


def _all_p99_under(table: Cells, roles: dict[str, str], bound_ms: float) -> Goal:
    text = f"Every p99 under {bound_ms:g} ms at {roles.get('steady', 'steady load')}"
    cell = _cell(table, roles, "steady", "ours")
    if cell is None or not cell.latency():
        return Goal(text, "not measured", None)
    worst = max(cell.latency().items(), key=lambda item: item[1].get("p99") or 0.0)
    p99 = worst[1].get("p99")
    return Goal(text, f"worst: {worst[0]} {fmt(p99)} ms", p99 is not None and p99 < bound_ms)


def _scaling(table: Cells, roles: dict[str, str]) -> Goal:
    text = (
        f"Throughput at {roles.get('closed_big', 'the larger fleet')}"
        f" >= 0.85x throughput at {roles.get('closed', 'the smaller')}"
    )
    big, small = _cell(table, roles, "closed_big", "ours"), _cell(table, roles, "closed", "ours")
    r = ratio(big.throughput if big else None, small.throughput if small else None)
    if r is None or big is None or small is None:
        return Goal(text, "not measured", None)
    measured = f"{fmt(big.throughput)} vs {fmt(small.throughput)} msg/s = {r:.2f}x"
    return Goal(text, measured, r >= 0.85)


def _memory(table: Cells, roles: dict[str, str]) -> Goal:
    text = f"Memory per idle charger ({roles.get('idle', 'not run')}) <= 1.3x limit"
    goal = _compare(
        text,
        _versus(table, roles, "idle", lambda c: c.rss_per_charger_kib, other="limit"),
        "KiB",
        at_most=True,
        bound=1.3,
    )
    cell = _cell(table, roles, "idle", "ours")
    if goal.passed is not None or cell is None:
        return goal
    # Not enough of ours' chargers connected to divide by: say so, and show the
    # nearest measurement, the peak per connected charger under the steady load.
    measured = f"not measurable: ours connected {min(cell.connected)}/{cell.chargers}"
    steady, limit = (_cell(table, roles, "steady", s) for s in ("ours", "limit"))
    if steady and limit:
        ours_peak, limit_peak = steady.peak_rss_per_charger_kib, limit.peak_rss_per_charger_kib
        r = ratio(ours_peak, limit_peak)
        if r is not None:
            measured += (
                f"; peak per charger at {steady.scenario}: {fmt(ours_peak)} vs"
                f" {fmt(limit_peak)} KiB = {r:.2f}x"
            )
    return Goal(text, measured, False)


def _storm_booted(table: Cells, roles: dict[str, str]) -> Goal:
    text = f"Reconnect storm ({roles.get('storm', 'not run')}): every charger booted"
    cell = _cell(table, roles, "storm", "ours")
    if cell is None:
        return Goal(text, "not measured", None)
    booted = ", ".join(f"{c}/{cell.chargers}" for c in cell.connected)
    boot = cell.boot_all_s
    measured = f"booted per run: {booted}" + (f"; all in {fmt(boot)} s" if boot else "")
    return Goal(text, measured, all(c == cell.chargers for c in cell.connected))


def _leak(results: dict[str, Any]) -> Goal:
    text = "RSS after a second identical run <= 1.05x after the first"
    leak = results.get("leak")
    if not leak or leak.get("rss_ratio") is None:
        return Goal(text, "not measured", None)
    first, second = (run["rss_after"] / MIB for run in leak["runs"])
    chargers = (leak.get("settings") or {}).get("chargers")
    clean = all(run.get("errors") == 0 and run.get("connected") == chargers for run in leak["runs"])
    measured = f"{leak['scenario']}: {first:.0f} -> {second:.0f} MiB = {leak['rss_ratio']:.3f}x"
    if not clean:
        measured += " (the runs had errors or chargers missing: not the same work)"
    return Goal(text, measured, leak["rss_ratio"] <= 1.05)


def _leak_section(results: dict[str, Any]) -> list[str]:
    leak = results.get("leak")
    if not leak or "settings" not in leak:
        return []
    settings = leak["settings"]
    lines = [
        "## Leak check (ours)",
        "",
        f"{settings['chargers']} chargers, closed loop, {settings['duration']:g} s twice"
        " against one process.",
        "",
        "| run | connected | errors | boot all (s) | msg/s (window) | server CPU ms/msg |"
        " RSS after (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, run in enumerate(leak["runs"], start=1):
        window = run.get("window") or {}
        rss = run.get("rss_after")
        lines.append(
            f"| {number} | {run.get('connected')}/{settings['chargers']} | {run.get('errors')} |"
            f" {fmt(run.get('boot_time_s'))} | {fmt(window.get('messages_per_s'))} |"
            f" {fmt(run.get('cpu_ms_per_message'), 3)} | {fmt(rss / MIB if rss else None)} |"
        )
    return [*lines, ""]


def _clean(table: Cells) -> Goal:
    text = "Zero errors and every charger connected, in every run (ours)"
    mine = [cell for (_, server), cell in table.items() if server == "ours"]
    if not mine:
        return Goal(text, "not measured", None)
    dirty = [cell.scenario for cell in mine if not cell.clean]
    measured = "all clean" if not dirty else "errors or chargers missing in: " + ", ".join(dirty)
    return Goal(text, measured, not dirty)


# ---------------------------------------------------------------- markdown


def _header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    return [
        "# Benchmark results",
        "",
        f"{results['plan']} run of {results['started_at']}, {results['repeats']} repeat(s),"
        f" {results.get('elapsed_s', '?')} s. Machine: {m['cpus']} x {m['cpu_model']},"
        f" {m['memory_gib']} GiB, Python {m['python']}; {packages}.",
        "Server and load generator share the machine (loopback). Medians over the repeats;",
        "fleet throughput and latency are those of the window in which every charger was",
        "connected, before the end of the duration (see docs/performance.md).",
        "",
    ]


def _medians_table(results: dict[str, Any], table: Cells) -> list[str]:
    lines = [
        "## Medians",
        "",
        "| scenario | server | connected (min) | errors per run | msg/s (window) |"
        " msg/s (whole run) | server CPU ms/msg | server cores | load generator cores |"
        " other processes' cores | boot all (s) | peak RSS (MiB) |"
        " peak RSS per charger (KiB) | RSS per idle charger (KiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in results["scenarios"]:
        for server in SERVERS:
            cell = table.get((scenario["name"], server))
            if cell is None:
                continue
            errors = ", ".join("-" if e is None else str(e) for e in cell.errors)
            lines.append(
                f"| {cell.scenario} | {server} | {min(cell.connected)}/{cell.chargers} |"
                f" {errors} | {fmt(cell.throughput)} | {fmt(cell.whole_run_rate)} |"
                f" {fmt(cell.cpu_ms_per_message, 3)} | {fmt(cell.cores('server'), 2)} |"
                f" {fmt(cell.cores('client'), 2)} | {fmt(cell.cores('other'), 2)} |"
                f" {fmt(cell.boot_all_s)} |"
                f" {fmt(cell.peak_rss_mib)} | {fmt(cell.peak_rss_per_charger_kib)} |"
                f" {fmt(cell.rss_per_charger_kib)} |"
            )
    return [*lines, ""]


def _latency_table(results: dict[str, Any], table: Cells) -> list[str]:
    lines = [
        "## Latency (ms): p50 / p99 / max",
        "",
        "| scenario | action | limit | peer | ours | ours/peer p99 |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in results["scenarios"]:
        by_server = {s: table.get((scenario["name"], s)) for s in SERVERS}
        latencies = {s: c.latency() if c else {} for s, c in by_server.items()}
        actions = sorted({a for lat in latencies.values() for a in lat})
        for action in actions:
            row = [scenario["name"], action]
            for server in SERVERS:
                q = latencies[server].get(action)
                row.append(" / ".join(fmt(q[k]) for k in ("p50", "p99", "max")) if q else "-")
            ours_p99 = (latencies["ours"].get(action) or {}).get("p99")
            peer_p99 = (latencies["peer"].get(action) or {}).get("p99")
            row.append(fmt_ratio(ratio(ours_p99, peer_p99)))
            lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _ratio_rows(
    results: dict[str, Any], table: Cells
) -> list[tuple[str, Callable[[Cell], float | None], str]]:
    roles = scenario_names(results)
    rows: list[tuple[str, Callable[[Cell], float | None], str]] = []
    for role in ("closed", "closed_big", "steady"):
        if role in roles:
            rows.append((f"{roles[role]} msg/s (window)", lambda c: c.throughput, roles[role]))
            rows.append(
                (f"{roles[role]} server CPU ms/msg", lambda c: c.cpu_ms_per_message, roles[role])
            )
    if "steady" in roles:
        for action in ("Authorize", "StartTransaction", "StatusNotification", "StopTransaction"):
            rows.append((f"{roles['steady']} p99 {action} (ms)", _p99(action), roles["steady"]))
    if "idle" in roles:
        rows.append(
            (
                f"{roles['idle']} RSS per charger (KiB)",
                lambda c: c.rss_per_charger_kib,
                roles["idle"],
            )
        )
    if "storm" in roles:
        rows.append((f"{roles['storm']} boot all (s)", lambda c: c.boot_all_s, roles["storm"]))
        rows.append(
            (
                f"{roles['storm']} p99 BootNotification (ms)",
                _p99("BootNotification"),
                roles["storm"],
            )
        )
    return rows


def _ratios_table(results: dict[str, Any], table: Cells) -> list[str]:
    lines = [
        "## Ratios",
        "",
        "| metric | ours | peer | limit | ours / peer | ours / limit |",
        "|---|---|---|---|---|---|",
    ]
    for label, metric, scenario in _ratio_rows(results, table):
        values = {s: (metric(c) if (c := table.get((scenario, s))) else None) for s in SERVERS}
        if all(v is None for v in values.values()):
            continue
        lines.append(
            f"| {label} | {fmt(values['ours'])} | {fmt(values['peer'])} | {fmt(values['limit'])} |"
            f" {fmt_ratio(ratio(values['ours'], values['peer']))} |"
            f" {fmt_ratio(ratio(values['ours'], values['limit']))} |"
        )
    return [*lines, ""]


def _goals_table(goal_list: Sequence[Goal]) -> list[str]:
    lines = ["## Goals", "", "| goal | measured | result |", "|---|---|---|"]
    for goal in goal_list:
        result = {True: "met", False: "**not met**", None: "not measured"}[goal.passed]
        lines.append(f"| {goal.text} | {goal.measured} | {result} |")
    return [*lines, ""]


def markdown(results: dict[str, Any], table: Cells) -> str:
    lines = _header(results)
    lines += _goals_table(goals(results, table))
    lines += _ratios_table(results, table)
    lines += _medians_table(results, table)
    lines += _leak_section(results)
    lines += _latency_table(results, table)
    lines += ["![latency](latency.png)", "", "![throughput](throughput.png)", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------- plots

COLOURS = {"limit": "#7f7f7f", "peer": "#1f77b4", "ours": "#d62728"}


def _bars(axis: Any, table: Cells, scenario: str | None, quantile: str, title: str) -> None:
    axis.set_title(title)
    if scenario is None:
        return
    latencies = {s: c.latency() if (c := table.get((scenario, s))) else {} for s in SERVERS}
    actions = sorted({a for lat in latencies.values() for a in lat})
    width = 0.8 / len(SERVERS)
    for index, server in enumerate(SERVERS):
        values = [(latencies[server].get(a) or {}).get(quantile) or 0.0 for a in actions]
        positions = [i + (index - 1) * width for i in range(len(actions))]
        axis.bar(positions, values, width, label=server, color=COLOURS[server])
    axis.set_xticks(range(len(actions)))
    axis.set_xticklabels(actions, rotation=30, ha="right", fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel(f"{quantile} latency (ms, log)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)


def plot_latency(results: dict[str, Any], table: Cells, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roles = scenario_names(results)
    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    steady, closed, storm = roles.get("steady"), roles.get("closed"), roles.get("storm")
    _bars(axes[0][0], table, steady, "p50", f"{steady}: p50 (window)")
    _bars(axes[0][1], table, steady, "p99", f"{steady}: p99 (window)")
    _bars(axes[1][0], table, closed, "p99", f"{closed}: p99 (window)")
    _bars(axes[1][1], table, storm, "p99", f"{storm}: p99 (whole run)")
    figure.suptitle("Latency per action, medians of the repeats (lower is better)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_throughput(results: dict[str, Any], table: Cells, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roles = scenario_names(results)
    closed = [roles[r] for r in ("closed", "closed_big") if r in roles]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for server in SERVERS:
        points = [
            (c.chargers, c.throughput)
            for name in closed
            if (c := table.get((name, server))) and c.throughput is not None
        ]
        if points:
            left.plot(*zip(*points, strict=True), marker="o", label=server, color=COLOURS[server])
    left.set_title("Closed loop: answered messages per second (window)")
    left.set_xlabel("chargers")
    left.set_ylabel("messages / s")
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    left.legend()
    scenarios = [roles[r] for r in ("closed", "closed_big", "steady") if r in roles]
    width = 0.8 / len(SERVERS)
    for index, server in enumerate(SERVERS):
        values = [
            (c.cpu_ms_per_message or 0.0) if (c := table.get((name, server))) else 0.0
            for name in scenarios
        ]
        positions = [i + (index - 1) * width for i in range(len(scenarios))]
        right.bar(positions, values, width, label=server, color=COLOURS[server])
    right.set_xticks(range(len(scenarios)))
    right.set_xticklabels(scenarios)
    right.set_yscale("log")
    right.set_title("Server CPU time per answered message")
    right.set_ylabel("ms of CPU / message (log)")
    right.grid(axis="y", alpha=0.3)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict[str, Any], out: Path) -> None:
    table = cells(results)
    (out / "summary.md").write_text(markdown(results, table), encoding="utf-8")
    plot_latency(results, table, out / "latency.png")
    plot_throughput(results, table, out / "throughput.png")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", type=Path, nargs="?", default=Path("bench/results/latest.json"))
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    write(results, args.results.parent)
    print(f"wrote {args.results.parent / 'summary.md'} and the plots", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
