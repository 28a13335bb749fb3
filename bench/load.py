"""The simulator's fleet, timed per answer: ``python -m bench.load --fleet N ...``.

Takes the options of ``python -m simulators --fleet`` and runs the same ``Fleet``
(same chargers, sessions, pacing and summary), with two additions the benchmark
needs:

* every answer is time-stamped, so the JSON summary also has a ``window``: the
  calls sent while every charger was connected and before ``--duration`` ended,
  their latency per action and the rate of answers. The whole-run figures count
  the connect ramp and the end of the run too, when the fleet finishes the
  session each charger is in, unpaced: a burst no steady load has.
* ``--drain-limit S``: the sessions still running ``S`` seconds after the end are
  cut off (counted as errors), so a server that has fallen far behind cannot
  hold the benchmark past its time budget.

The window starts when the last charger's boot was accepted or, if that was not
before the end of ``--duration``, at the end of the connect ramp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from simulators.__main__ import TOKEN_ENV, build_parser, settings_from
from simulators.fleet import Fleet, FleetOptions, percentile, summary, write_json
from simulators.observations import Observation


@dataclass
class Timeline:
    """When each answer came (monotonic), its action and round trip; when each charger booted."""

    answers: list[tuple[float, str, float]] = field(default_factory=list)
    booted: dict[str, float] = field(default_factory=dict)

    def attach(self, fleet: Fleet) -> None:
        stats = fleet.stats
        count = stats.answered

        def answered(action: str, seconds: float) -> None:
            self.answers.append((time.monotonic(), action, seconds))
            count(action, seconds)

        stats.answered = answered  # type: ignore[method-assign]
        for station in fleet.stations:
            station.recorder.listen(self._boot_watcher(station.id))

    def _boot_watcher(self, charge_point_id: str) -> Callable[[Observation], None]:
        def watch(observation: Observation) -> None:
            if observation.kind == "registration" and observation.data["status"] == "Accepted":
                self.booted.setdefault(charge_point_id, time.monotonic())

        return watch


def latency_summary(rows: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    summary_ms = {}
    for action in sorted(rows):
        ordered = sorted(rows[action])
        summary_ms[action] = {
            "p50": round(percentile(ordered, 50) * 1000, 2),
            "p90": round(percentile(ordered, 90) * 1000, 2),
            "p99": round(percentile(ordered, 99) * 1000, 2),
            "max": round(ordered[-1] * 1000, 2),
            "count": len(ordered),
        }
    return summary_ms


def window(timeline: Timeline, start: float, end: float) -> dict[str, Any]:
    """Calls sent in ``[start, end)`` and the answers received in it."""
    sent: dict[str, list[float]] = defaultdict(list)
    received = 0
    for answered_at, action, seconds in timeline.answers:
        if start <= answered_at - seconds < end:
            sent[action].append(seconds)
        if start <= answered_at < end:
            received += 1
    seconds = max(end - start, 0.0)
    return {
        "seconds": round(seconds, 3),
        "messages": received,
        "messages_per_s": round(received / seconds, 1) if seconds > 0 else None,
        "latency_ms": latency_summary(sent),
    }


@dataclass(frozen=True, slots=True)
class Run:
    options: FleetOptions
    drain_limit: float


async def run(job: Run) -> dict[str, Any]:
    options = job.options
    fleet = Fleet(options, out=sys.stderr)
    timeline = Timeline()
    timeline.attach(fleet)
    started = time.monotonic()
    task = asyncio.create_task(fleet.run())
    cut = False
    try:
        async with asyncio.timeout(options.duration + job.drain_limit):
            await asyncio.shield(task)
    except TimeoutError:
        cut = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    ended = time.monotonic()
    stats = fleet.stats
    if cut:
        unanswered = sum(1 for station in fleet.stations if len(station.queue))
        stats.error(f"cut off {job.drain_limit:g} s after the end")
        if unanswered > 1:
            stats.errors[f"chargers with calls unanswered when cut off ({unanswered})"] += 1
    all_booted = len(timeline.booted) == options.chargers
    boot_time = max(timeline.booted.values()) - started if all_booted else None
    end = started + options.duration
    window_start = started + (options.chargers - 1) / max(options.connect_rate, 0.001)
    if boot_time is not None and started + boot_time < end:
        window_start = started + boot_time
    result = summary(stats, options, duration=ended - started, boot_time=boot_time)
    result["window"] = window(timeline, window_start, end)
    result["window"]["all_booted"] = window_start == started + (boot_time or -1.0)
    result["cut_off"] = cut
    return result


def fleet_options(args: argparse.Namespace) -> FleetOptions:
    settings = settings_from(args)
    token = os.environ.get(TOKEN_ENV)
    if args.operator_token_file is not None:
        token = args.operator_token_file.read_text(encoding="utf-8").strip()
    return FleetOptions(
        chargers=args.fleet,
        template=replace(settings, keep_observations=200),
        id_prefix=args.id_prefix,
        tag_prefix=args.tag_prefix,
        shared_tag=args.tag,
        connect_rate=args.connect_rate,
        rate=args.rate,
        duration=args.duration,
        meter_samples=args.meter_samples,
        step_timeout=args.response_timeout + 5,
        operator_api=args.operator_api,
        operator_token=token,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.prog = "python -m bench.load"
    parser.add_argument_group("bench").add_argument(
        "--drain-limit",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="cut off sessions still running this long after --duration (30)",
    )
    args = parser.parse_args(argv)
    if not args.fleet or args.json is None:
        parser.error("--fleet N and --json PATH are required")
    result = asyncio.run(run(Run(fleet_options(args), args.drain_limit)))
    write_json(result, args.json)
    print(
        f"{result['connected']}/{result['chargers']} connected, {result['messages']} messages,"
        f" {result['errors']} errors, window {result['window']['messages_per_s']}/s",
        flush=True,
    )
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
