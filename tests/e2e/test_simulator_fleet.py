"""A small fleet against the real central system: no errors, and the summary
has what the benchmarks read. (The 500-charger run belongs to the benchmarks.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

from central_system.ports import Page
from simulators.fleet import Fleet, FleetOptions, write_json
from simulators.station import StationSettings
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, running_system
from tests.e2e.simulated import central_url

KEYS = {
    "chargers",
    "connected",
    "messages",
    "errors",
    "duration_s",
    "messages_per_s",
    "latency_ms",
    "boot_time_s",
}


async def test_a_small_fleet_runs_sessions_without_errors(
    sqlite_config: DatabaseConfig, tmp_path: Path
) -> None:
    # A tight API budget: registering the fleet meets 429s and waits them out.
    async with running_system(
        sqlite_config, unknown_chargers="accept", api_rate_per_second=10.0, api_burst=4
    ) as system:
        options = FleetOptions(
            chargers=5,
            template=StationSettings(
                "template", url=central_url(system), response_timeout=5.0, reconnect_base=0.05
            ),
            id_prefix="E2E-FLEET-",
            connect_rate=50,
            rate=0,  # closed loop: as fast as the central system answers
            duration=2.0,
            meter_samples=2,
            step_timeout=10,
            operator_api=f"http://127.0.0.1:{system.api_port}",
            operator_token=OPERATOR_TOKEN,
            seed=1,
        )
        progress = io.StringIO()
        result = await Fleet(options, out=progress).run()
        registered = await system.operations.id_tags(Page(limit=100))
    assert "registering 10 chargers and cards" in progress.getvalue()
    assert sorted(tag.id_tag for tag in registered) == [f"FLEET-TAG-{n:04d}" for n in range(1, 6)]
    write_json(result, tmp_path / "fleet.json")
    written = json.loads((tmp_path / "fleet.json").read_text())
    assert set(written) >= KEYS
    assert written["errors"] == 0, written["error_kinds"]
    assert (written["chargers"], written["connected"]) == (5, 5)
    assert written["transactions"] >= 5
    assert written["refused"] == 0
    assert written["boot_time_s"] is not None
    for action in (
        "BootNotification",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ):
        row = written["latency_ms"][action]
        assert row["count"] > 0
        assert 0 < row["p50"] <= row["p90"] <= row["p99"] <= row["max"]
    assert written["messages"] == sum(row["count"] for row in written["latency_ms"].values())
