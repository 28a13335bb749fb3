"""Scenario files: a charger, steps, and what each step must lead to (TOML).

An installer's acceptance test of a garage::

    name = "A whole charging session"

    [charger]
    id = "GARAGE-CP-01"
    connectors = 1

    [[step]]
    do = "boot"
    expect = { registration = "Accepted", status = "Available" }

    [[step]]
    do = "present"
    tag = "OWNER-ALICE"
    expect = { authorization = "Accepted" }

Steps run in order; each expectation is waited for (up to ``timeout`` seconds) and
the first one that is not met ends the run with a failure. ``docs/simulator.md``
lists every step and expectation; ``STEPS`` and ``EXPECTATIONS`` below are the
authority.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from simulators.charger import ChargerError, Identity, Quirks
from simulators.config_store import ConfigError, ConfigStore
from simulators.observations import Observation, Recorder
from simulators.station import Station, StationSettings

STEPS = {
    "boot": "connect and wait for the BootNotification answer",
    "present": "hold card `tag` to the reader (of `connector`, if given)",
    "plug": "plug the cable into `connector`",
    "unplug": "pull the cable out of `connector`",
    "stop": "press the stop button of `connector`",
    "fault": "report fault `error_code` (default OtherError) on `connector`",
    "clear": "clear the fault on `connector`",
    "meter": "let `seconds` (default 1) of charging pass, then send a meter reading",
    "wait": "let `seconds` pass",
    "offline": "lose the network: the charger keeps working and queues",
    "online": "get the network back: reconnect, boot, replay the queue",
    "set": "set configuration key `key` to `value` on the charger itself",
    "expect": "do nothing; only wait for the expectations",
}
EXPECTATIONS = {
    "registration": "BootNotification status (Accepted, Pending, Rejected)",
    "authorization": "the verdict on the presented card (Accepted, Blocked, Invalid, Reserved...)",
    "authorized_by": "who gave it (central system, cache, offline, remote start, reservation)",
    "transaction": "started, stopped or none (in this step)",
    "transaction_id": "true: the central system answered the StartTransaction with an id",
    "start_status": "the idTagInfo status of that StartTransaction answer",
    "stop_reason": "the reason of the StopTransaction (Local, EVDisconnected, Remote...)",
    "status": "the connector's status (Available, Preparing, Charging, Finishing...)",
    "display": "text the charger shows (a part of it, any case)",
    "command": "an OCPP command the central system sent (RemoteStartTransaction...)",
    "answered": "an OCPP call of the charger the central system answered",
    "energy_rises": "true: the meter reading is above the transaction's start",
    "queued": "how many transaction messages wait for delivery",
    "online": "true or false",
}
_STEP_FIELDS = {
    "do",
    "connector",
    "tag",
    "seconds",
    "error_code",
    "key",
    "value",
    "expect",
    "timeout",
}
_CHARGER_FIELDS = {
    "id",
    "connectors",
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "power_w",
    "meter_start_wh",
    "config",
    "display_vendors",
    "quirks",
}


class ScenarioError(ValueError):
    """The scenario file cannot be used as written."""


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    do: str
    connector: int | None = None
    tag: str | None = None
    seconds: float | None = None
    error_code: str | None = None
    key: str | None = None
    value: str | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None

    def describe(self) -> str:
        words = [self.do]
        if self.tag:
            words.append(self.tag)
        if self.key:
            words.append(f"{self.key}={self.value}")
        if self.error_code:
            words.append(self.error_code)
        if self.connector is not None:
            words.append(f"on {self.connector}")
        if self.seconds is not None:
            words.append(f"{self.seconds:g}s")
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path | None
    charger: StationSettings
    steps: tuple[Step, ...]
    timeout: float = 10.0
    description: str = ""


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _charger(table: Any, where: str) -> StationSettings:
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: [charger] is required, with at least `id`")
    unknown = set(table) - _CHARGER_FIELDS
    if unknown:
        raise ScenarioError(f"{where}: [charger] has unknown fields {sorted(unknown)}")
    if not isinstance(table.get("id"), str) or not table["id"]:
        raise ScenarioError(f"{where}: [charger] needs an `id`")
    config = {str(k): _text_value(v) for k, v in dict(table.get("config", {})).items()}
    connectors = int(table.get("connectors", 1))
    try:
        ConfigStore.standard(connectors=connectors, overrides=config)
        quirks = Quirks.from_names(table.get("quirks", []))
    except (ConfigError, ValueError) as error:
        raise ScenarioError(f"{where}: [charger] {error}") from None
    defaults = Identity()
    return StationSettings(
        charge_point_id=table["id"],
        connectors=connectors,
        identity=Identity(
            vendor=str(table.get("vendor", defaults.vendor)),
            model=str(table.get("model", defaults.model)),
            serial_number=table.get("serial_number"),
            firmware_version=str(table.get("firmware_version", defaults.firmware_version)),
        ),
        power_w=float(table.get("power_w", 11_000.0)),
        meter_start_wh=float(table.get("meter_start_wh", 0.0)),
        config=config,
        display_vendors=tuple(table.get("display_vendors", ())),
        quirks=quirks,
    )


def _step(number: int, table: Any, where: str) -> Step:
    here = f"{where}, step {number}"
    if not isinstance(table, dict):
        raise ScenarioError(f"{here}: a step is a table")
    unknown = set(table) - _STEP_FIELDS
    if unknown:
        raise ScenarioError(f"{here}: unknown fields {sorted(unknown)}")
    do = table.get("do")
    if do not in STEPS:
        raise ScenarioError(f"{here}: `do` must be one of {', '.join(STEPS)} (got {do!r})")
    expect = table.get("expect", {})
    if not isinstance(expect, dict):
        raise ScenarioError(f"{here}: `expect` is a table")
    unknown = set(expect) - set(EXPECTATIONS)
    if unknown:
        raise ScenarioError(f"{here}: unknown expectations {sorted(unknown)}")
    if do == "present" and not isinstance(table.get("tag"), str):
        raise ScenarioError(f"{here}: `present` needs a `tag`")
    if do == "set" and ("key" not in table or "value" not in table):
        raise ScenarioError(f"{here}: `set` needs `key` and `value`")
    if do == "wait" and "seconds" not in table:
        raise ScenarioError(f"{here}: `wait` needs `seconds`")
    transaction = expect.get("transaction")
    if transaction is not None and transaction not in ("started", "stopped", "none"):
        raise ScenarioError(f"{here}: `transaction` is started, stopped or none")
    connector = table.get("connector")
    return Step(
        number=number,
        do=do,
        connector=int(connector) if connector is not None else None,
        tag=table.get("tag"),
        seconds=float(table["seconds"]) if "seconds" in table else None,
        error_code=table.get("error_code"),
        key=table.get("key"),
        value=_text_value(table["value"]) if "value" in table else None,
        expect=expect,
        timeout=float(table["timeout"]) if "timeout" in table else None,
    )


def parse(text: str, *, where: str = "scenario", path: Path | None = None) -> Scenario:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{where}: not valid TOML: {error}") from None
    unknown = set(document) - {"name", "description", "timeout", "charger", "step"}
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level fields {sorted(unknown)}")
    steps = document.get("step")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{where}: no [[step]] tables")
    return Scenario(
        name=str(document.get("name", path.stem if path else "scenario")),
        path=path,
        charger=_charger(document.get("charger"), where),
        steps=tuple(_step(i, table, where) for i, table in enumerate(steps, start=1)),
        timeout=float(document.get("timeout", 10.0)),
        description=str(document.get("description", "")).strip(),
    )


def load(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: {error.strerror}") from None
    return parse(text, where=str(path), path=path)


def shipped() -> list[Path]:
    """The scenario files that come with the simulator (the demo garage's)."""
    return sorted((Path(__file__).parent / "scenarios").glob("*.toml"))


# ----------------------------------------------------------------------- running


class ExpectationFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    results: tuple[StepResult, ...]

    @property
    def passed(self) -> bool:
        return len(self.results) == len(self.scenario.steps) and all(r.passed for r in self.results)


def _action_is(kind: str, action: str) -> Callable[[Observation], bool]:
    return lambda o: o.kind == kind and o.data.get("action") == action


class _Runner:
    def __init__(self, station: Station, step: Step, timeout: float) -> None:
        self.station = station
        self.step = step
        self.timeout = step.timeout if step.timeout is not None else timeout
        self.mark = station.recorder.mark
        self.connector = step.connector if step.connector is not None else 1

    @property
    def recorder(self) -> Recorder:
        return self.station.recorder

    async def wait(
        self, what: str, predicate: Callable[[Observation], bool], since: int | None = None
    ) -> Observation:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.recorder.wait_for(
                    predicate, since=self.mark if since is None else since
                )
        except TimeoutError:
            raise ExpectationFailed(f"no {what} within {self.timeout:g} s") from None

    async def first(self, kind: str, what: str) -> Observation:
        return await self.wait(what, lambda o: o.kind == kind)

    async def act(self) -> None:
        station, step, c = self.station, self.step, self.connector
        if step.do == "boot":
            station.start()
            await self.first("registration", "BootNotification answer")
        elif step.do == "present":
            assert step.tag is not None
            station.present(step.tag, step.connector)
        elif step.do == "plug":
            station.plug(c)
        elif step.do == "unplug":
            station.unplug(c)
        elif step.do == "stop":
            station.stop(c)
        elif step.do == "fault":
            station.fault(c if step.connector is not None else 0, step.error_code or "OtherError")
        elif step.do == "clear":
            station.clear_fault(c if step.connector is not None else 0)
        elif step.do == "meter":
            await asyncio.sleep(1.0 if step.seconds is None else step.seconds)
            station.sample(c)
        elif step.do == "wait":
            await asyncio.sleep(step.seconds or 0.0)
        elif step.do == "offline":
            was_connected = station.online
            station.go_offline()
            if was_connected:
                await self.first("disconnected", "disconnection")
        elif step.do == "online":
            station.go_online()
            station.start()
            await self.first("online", "reconnection and boot")
        elif step.do == "set":
            assert step.key is not None
            assert step.value is not None
            station.config.set_locally(step.key, step.value)

    async def check(self) -> list[str]:
        expect = self.step.expect
        met: list[str] = []
        if "registration" in expect:
            wanted = expect["registration"]
            await self.wait(
                f"registration {wanted}",
                lambda o: o.kind == "registration" and o.data["status"] == wanted,
            )
            met.append(f"registration {wanted}")
        if "authorization" in expect or "authorized_by" in expect:
            verdict = await self.first("authorization", "verdict on the card")
            if "authorization" in expect and verdict.data["status"] != expect["authorization"]:
                raise ExpectationFailed(
                    f"expected authorization {expect['authorization']}, "
                    f"got {verdict.data['status']} ({verdict.data['source']})"
                )
            if "authorized_by" in expect and verdict.data["source"] != expect["authorized_by"]:
                raise ExpectationFailed(
                    f"expected the verdict from {expect['authorized_by']}, "
                    f"got it from {verdict.data['source']}"
                )
            met.append(f"authorization {verdict.data['status']} ({verdict.data['source']})")
        transaction = expect.get("transaction")
        if transaction == "started":
            started = await self.first("transaction_started", "transaction start")
            met.append(f"transaction started (meter {started.data['meter_start']} Wh)")
        elif transaction == "stopped" or "stop_reason" in expect:
            stopped = await self.first("transaction_stopped", "transaction stop")
            reason = stopped.data["reason"]
            if "stop_reason" in expect and reason != expect["stop_reason"]:
                raise ExpectationFailed(
                    f"expected stop reason {expect['stop_reason']}, got {reason}"
                )
            met.append(f"transaction stopped ({reason}, {stopped.data['meter_stop']} Wh)")
        if expect.get("transaction_id") or "start_status" in expect:
            confirmed = await self.first("transaction_confirmed", "transaction id")
            status = confirmed.data["status"]
            if "start_status" in expect and status != expect["start_status"]:
                raise ExpectationFailed(
                    f"expected StartTransaction status {expect['start_status']}, got {status}"
                )
            met.append(f"transaction id {confirmed.data['transaction_id']} ({status})")
        if "energy_rises" in expect:
            met.append(self._energy(bool(expect["energy_rises"])))
        for name in ("command", "answered"):
            if name in expect:
                wanted = expect[name]
                await self.wait(f"{name} {wanted}", _action_is(name, wanted))
                met.append(f"{name} {wanted}")
        if "display" in expect:
            wanted = str(expect["display"]).lower()
            shown = await self.wait(
                f"display showing {expect['display']!r}",
                lambda o: o.kind == "display" and wanted in o.data["text"].lower(),
            )
            met.append(f"display {shown.data['text']!r}")
        if "queued" in expect:
            met.append(await self._queued(int(expect["queued"])))
        if "online" in expect:
            met.append(await self._online(bool(expect["online"])))
        if "status" in expect:
            met.append(await self._status(str(expect["status"])))
        if transaction == "none":
            started_now = self.recorder.since(self.mark, "transaction_started")
            if started_now:
                raise ExpectationFailed("expected no transaction, but one started")
            met.append("no transaction")
        return met

    def _energy(self, rises: bool) -> str:
        readings = self.recorder.since(self.mark, "meter")
        if not readings:
            raise ExpectationFailed("no meter reading in this step")
        reading = readings[-1]
        ref = reading.data["transaction_ref"]
        transaction = self.station.charger.transaction(ref) if ref is not None else None
        if transaction is None:
            raise ExpectationFailed("the meter reading belongs to no transaction")
        energy = reading.data["energy_wh"]
        if (energy > transaction.meter_start) != rises:
            raise ExpectationFailed(
                f"meter at {energy} Wh, transaction started at {transaction.meter_start} Wh"
            )
        return f"energy {transaction.meter_start} -> {energy} Wh"

    async def _until(self, what: str, condition: Callable[[], bool]) -> None:
        if condition():
            return
        try:
            async with asyncio.timeout(self.timeout):
                while not condition():
                    await self.recorder.wait_for(lambda o: True, since=self.recorder.mark)
        except TimeoutError:
            raise ExpectationFailed(f"{what} not reached within {self.timeout:g} s") from None

    async def _queued(self, wanted: int) -> str:
        queue = self.station.queue
        try:
            await self._until(f"{wanted} queued", lambda: queue.durable_count == wanted)
        except ExpectationFailed:
            raise ExpectationFailed(
                f"expected {wanted} queued transaction messages, have {queue.durable_count}"
            ) from None
        return f"{wanted} queued"

    async def _online(self, wanted: bool) -> str:
        await self._until("online" if wanted else "offline", lambda: self.station.online == wanted)
        return "online" if wanted else "offline"

    async def _status(self, wanted: str) -> str:
        charger, c = self.station.charger, self.connector
        try:
            await self._until(f"status {wanted}", lambda: charger.status_of(c)[0].value == wanted)
        except ExpectationFailed:
            have = charger.status_of(c)[0].value
            raise ExpectationFailed(f"expected connector {c} {wanted}, it is {have}") from None
        return f"connector {c} {wanted}"


async def run(
    scenario: Scenario,
    *,
    url: str,
    out: TextIO,
    overrides: Mapping[str, Any] | None = None,
) -> ScenarioResult:
    """Run the scenario against the central system at ``url``; report to ``out``."""
    settings = replace(scenario.charger, url=url, **dict(overrides or {}))
    print(f"scenario: {scenario.name} ({settings.charge_point_id} at {url})", file=out)
    results: list[StepResult] = []
    station = Station(settings)
    try:
        for step in scenario.steps:
            runner = _Runner(station, step, scenario.timeout)
            try:
                await runner.act()
                met = await runner.check()
            except (ExpectationFailed, ChargerError, ConfigError) as error:
                results.append(StepResult(step, False, str(error)))
                print(f"  FAIL {step.number:>2} {step.describe()}: {error}", file=out, flush=True)
                break
            detail = ", ".join(met) if met else "done"
            results.append(StepResult(step, True, detail))
            print(f"  ok   {step.number:>2} {step.describe()}: {detail}", file=out, flush=True)
    finally:
        await station.close()
    result = ScenarioResult(scenario, tuple(results))
    passed = sum(1 for r in results if r.passed)
    verdict = "PASSED" if result.passed else "FAILED"
    print(f"{verdict}: {passed}/{len(scenario.steps)} steps", file=out, flush=True)
    return result
