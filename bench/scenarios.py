"""What the benchmark runs: the scenarios of a full run and of a ``--quick`` one.

Every scenario is bounded in count and in time, and the same for all three
servers. A server that cannot keep up shows it as chargers not booted, errors
and latency, never as a longer run: ``duration`` plus ``drain_limit`` is all a
fleet gets, ``duration`` is all an idle fleet gets to settle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Kind(StrEnum):
    #: ``bench.load``: the simulator's fleet running charging sessions.
    FLEET = "fleet"
    #: ``bench.idle``: chargers that boot, report their connectors, then stay quiet.
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: Kind
    chargers: int
    #: New connections per second.
    connect_rate: float
    #: Fleet: seconds of sessions (``--duration``). Idle: seconds to boot and settle.
    duration: float
    #: Fleet: messages per second per charger; 0 is closed loop (as fast as answered).
    rate: float = 0.0
    #: Fleet: seconds the sessions in progress at the end may take to finish.
    drain_limit: float = 8.0
    description: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    scenarios: tuple[Scenario, ...]
    #: The closed-loop load the leak check runs twice against one process of ours.
    leak: Scenario
    repeats: int


def _plan(name: str, scale: int, seconds: float, repeats: int, steady_rate: float) -> Plan:
    """Scenarios for ``scale`` = 1000 (full) or smaller, durations times ``seconds``.

    The steady load's pace gives every charger its Authorize and StartTransaction
    inside the window: a charger plugs within one interval of its boot and presents
    its card one interval later. The drain limits let the peer and the limit finish
    the sessions in progress (at three thousand chargers that takes the load
    generator several seconds); a server that has fallen behind is cut off.
    """
    closed = Scenario(
        f"closed-{scale}",
        Kind.FLEET,
        scale,
        connect_rate=scale / 2,
        duration=7 * seconds,
        drain_limit=4 * seconds,
        description="closed loop: every charger sends its next message when answered",
    )
    # About twice the closed loop's duration: time for sessions after the boot
    # (a thousand chargers boot in 3 to 4 s), within the budget.
    leak = replace(
        closed,
        name=f"leak-{scale}",
        duration=15 * seconds,
        drain_limit=6 * seconds,
        description="the closed loop twice against one process of ours: RSS after each",
    )
    return Plan(
        name,
        (
            closed,
            Scenario(
                f"closed-{3 * scale}",
                Kind.FLEET,
                3 * scale,
                connect_rate=scale,
                duration=10 * seconds,
                # The load generator itself needs more than 10 s to finish three
                # thousand sessions after the end (the limit was cut off at 10).
                drain_limit=15 * seconds,
                description="closed loop at three times the chargers",
            ),
            Scenario(
                f"steady-{scale}",
                Kind.FLEET,
                scale,
                connect_rate=steady_rate * scale,
                duration=11 * seconds,
                rate=steady_rate,
                drain_limit=4 * seconds,
                description=f"paced: {steady_rate:g} messages per second per charger",
            ),
            Scenario(
                f"idle-{5 * scale}",
                Kind.IDLE,
                5 * scale,
                connect_rate=scale,
                # The deadline to settle; the time it took is reported on its own.
                duration=20 * seconds,
                description="boot, report connectors, stay connected and quiet: memory",
            ),
            Scenario(
                f"storm-{3 * scale}",
                Kind.IDLE,
                3 * scale,
                connect_rate=10 * scale,
                # As for idle: the deadline to settle; the boot time is reported.
                duration=20 * seconds,
                description="reconnect storm: every charger connects and boots at once",
            ),
        ),
        leak=leak,
        repeats=repeats,
    )


def stretched(plan: Plan, factor: float) -> Plan:
    """The plan with every duration, drain limit and deadline times ``factor``."""

    def stretch(scenario: Scenario) -> Scenario:
        return replace(
            scenario,
            duration=scenario.duration * factor,
            drain_limit=scenario.drain_limit * factor,
        )

    if factor == 1:
        return plan
    return replace(
        plan,
        name=f"{plan.name} (durations x{factor:g})",
        scenarios=tuple(stretch(s) for s in plan.scenarios),
        leak=stretch(plan.leak),
    )


FULL = _plan("full", 1000, 1.0, 3, steady_rate=0.3)
QUICK = _plan("quick", 100, 0.4, 1, steady_rate=1.0)
