"""``python -m simulators`` (or ``garage-simulator``): an OCPP 1.6-J charger.

Three ways to drive it:

* by hand (default): a prompt of commands such as ``present OWNER-ALICE 1``;
* ``--scenario FILE...``: run scenario files, exit 1 when an expectation fails;
* ``--fleet N``: N chargers as load, with a summary (``--json PATH`` too).

Exit codes: 0 success, 1 a scenario failed or the fleet saw errors, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from simulators import fleet, interactive, scenario
from simulators.charger import Identity, Quirks
from simulators.config_store import ConfigError, ConfigStore
from simulators.connection import Endpoint, EndpointError
from simulators.station import Station, StationSettings

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
#: Seconds the prompt waits for the first boot before it takes commands anyway.
BOOT_WAIT = 10.0
PASSWORD_ENV = "GARAGE_SIMULATOR_PASSWORD"  # noqa: S105 (a variable name)
TOKEN_ENV = "GARAGE_OPERATOR_TOKEN"  # noqa: S105 (a variable name)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="A simulated OCPP 1.6-J charge point: by hand, scripted, or a fleet.",
        epilog="docs/simulator.md explains the scenario format and the fleet options.",
    )
    charger = parser.add_argument_group("the charger")
    charger.add_argument("--id", help="charge point id (default GARAGE-CP-01)")
    charger.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"central system URL, the id is appended (default {DEFAULT_URL})",
    )
    charger.add_argument("--connectors", type=int, default=1, help="number of connectors")
    charger.add_argument("--vendor", default=Identity().vendor)
    charger.add_argument("--model", default=Identity().model)
    charger.add_argument("--serial", default=None, help="chargePointSerialNumber")
    charger.add_argument("--firmware", default=Identity().firmware_version)
    charger.add_argument(
        "--password",
        help=f"HTTP Basic password (Security Profile 1/2); or set {PASSWORD_ENV}",
    )
    charger.add_argument("--ca-file", type=Path, help="CA certificate(s) for a wss:// URL")
    charger.add_argument("--power", type=float, default=11_000.0, help="charging power, W")
    charger.add_argument(
        "--meter-start", type=float, default=0.0, help="energy register at power-on, Wh"
    )
    charger.add_argument(
        "--set",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a configuration key, e.g. --set LocalPreAuthorize=true (repeatable)",
    )
    charger.add_argument(
        "--display-vendor",
        action="append",
        default=[],
        metavar="VENDOR_ID",
        help="a DataTransfer vendorId whose data this model displays (repeatable)",
    )
    charger.add_argument(
        "--quirk",
        action="append",
        default=[],
        choices=["naive-timestamps", "relative-meter-values"],
        help="behave like a known non-conforming charger (repeatable)",
    )
    charger.add_argument("--response-timeout", type=float, default=30.0, metavar="SECONDS")
    charger.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")

    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--scenario", nargs="+", type=Path, metavar="FILE", help="run scenario files"
    )
    modes.add_argument("--fleet", type=int, metavar="N", help="run N chargers as load")

    load = parser.add_argument_group("fleet")
    load.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    load.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="messages per second per charger; 0 = as fast as answered (default 1)",
    )
    load.add_argument(
        "--connect-rate", type=float, default=200.0, help="new connections per second (200)"
    )
    load.add_argument("--meter-samples", type=int, default=5, help="meter readings per session (5)")
    load.add_argument("--id-prefix", default="FLEET-", help="ids are PREFIX0001... (FLEET-)")
    load.add_argument("--tag-prefix", default="FLEET-TAG-", help="one card per charger")
    load.add_argument("--tag", help="one card for every charger instead (e.g. OWNER-ALICE)")
    load.add_argument("--json", type=Path, metavar="PATH", help="also write the summary here")
    load.add_argument(
        "--operator-api",
        metavar="URL",
        help="register the fleet's chargers and tags first, e.g. http://127.0.0.1:8000",
    )
    load.add_argument(
        "--operator-token-file",
        type=Path,
        metavar="PATH",
        help=f"the operator API token (or set {TOKEN_ENV})",
    )
    load.add_argument("--seed", type=int, help="random seed (jitter, pacing)")
    return parser


def settings_from(args: argparse.Namespace) -> StationSettings:
    """Charger settings from the flags; raises ``ValueError`` for unusable ones."""
    password = args.password or os.environ.get(PASSWORD_ENV)
    config = dict(args.set)
    if args.connectors < 1:
        raise ValueError("--connectors must be at least 1")
    ConfigStore.standard(connectors=args.connectors, overrides=config)  # check early
    settings = StationSettings(
        charge_point_id=args.id or "GARAGE-CP-01",
        url=args.url,
        connectors=args.connectors,
        identity=Identity(
            vendor=args.vendor,
            model=args.model,
            serial_number=args.serial,
            firmware_version=args.firmware,
        ),
        password=password.encode() if password else None,
        ca_file=args.ca_file,
        power_w=args.power,
        meter_start_wh=args.meter_start,
        config=config,
        display_vendors=tuple(args.display_vendor),
        quirks=Quirks.from_names(args.quirk),
        response_timeout=args.response_timeout,
    )
    Endpoint(settings.url, settings.charge_point_id, settings.password, settings.ca_file)
    return settings


async def _interactive(settings: StationSettings) -> int:
    station = Station(settings)
    interactive.printer(station, sys.stdout)
    async with station:
        print(f"connecting to {station.endpoint.address}", flush=True)
        try:
            async with asyncio.timeout(BOOT_WAIT):
                await station.wait_registered()
        except TimeoutError:
            print("not registered yet: the charger works offline meanwhile", flush=True)
        await interactive.run(
            station, interactive.stdin_lines(), sys.stdout, prompt=sys.stdin.isatty()
        )
    return 0


async def _scenarios(paths: Sequence[Path], args: argparse.Namespace) -> int:
    loaded = [scenario.load(path) for path in paths]
    overrides: dict[str, Any] = {
        "password": args.password.encode() if args.password else None,
        "ca_file": args.ca_file,
        "response_timeout": args.response_timeout,
    }
    if args.id:
        overrides["charge_point_id"] = args.id
    failed = 0
    for script in loaded:
        result = await scenario.run(script, url=args.url, out=sys.stdout, overrides=overrides)
        failed += not result.passed
    if len(loaded) > 1:
        print(f"{len(loaded) - failed}/{len(loaded)} scenarios passed")
    return 1 if failed else 0


async def _fleet(settings: StationSettings, args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV)
    if args.operator_token_file is not None:
        token = args.operator_token_file.read_text(encoding="utf-8").strip()
    options = fleet.FleetOptions(
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
    runner = fleet.Fleet(options, out=sys.stderr)
    result = await runner.run()
    print(file=sys.stderr)
    print(fleet.format_summary(result))
    if args.json is not None:
        fleet.write_json(result, args.json)
    return 1 if result["errors"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    default_level = "WARNING" if args.fleet else "ERROR"
    logging.basicConfig(
        level=(args.log_level or default_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = settings_from(args)
        if args.fleet is not None and args.fleet < 1:
            raise ValueError("--fleet needs at least 1 charger")
        if args.scenario:
            return asyncio.run(_scenarios(args.scenario, args))
        if args.fleet is not None:
            return asyncio.run(_fleet(settings, args))
        return asyncio.run(_interactive(settings))
    except (ValueError, ConfigError, EndpointError, scenario.ScenarioError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
