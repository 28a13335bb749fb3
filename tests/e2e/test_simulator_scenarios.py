"""Every scenario shipped for the demo garage passes against the real central
system; a failing expectation fails the command line run."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from simulators import scenario
from tests.conftest import DatabaseConfig
from tests.e2e.simulated import central_url, demo_garage


@pytest.mark.parametrize("path", scenario.shipped(), ids=lambda p: p.stem)
async def test_shipped_scenario_passes(path: Path, sqlite_config: DatabaseConfig) -> None:
    script = scenario.load(path)
    out = io.StringIO()
    async with demo_garage(sqlite_config) as system:
        result = await scenario.run(
            script,
            url=central_url(system),
            out=out,
            overrides={"reconnect_base": 0.05, "response_timeout": 5.0},
        )
    assert result.passed, out.getvalue()
    assert len(result.results) == len(script.steps)
    assert (
        out.getvalue().rstrip().endswith(f"PASSED: {len(script.steps)}/{len(script.steps)} steps")
    )


FAILING = """
name = "A lost card is not accepted"

[charger]
id = "GARAGE-CP-02"

[[step]]
do = "boot"
expect = { registration = "Accepted" }

[[step]]
do = "present"
tag = "LOST-CARD"
expect = { authorization = "Accepted" }

[[step]]
do = "plug"
connector = 1
"""


async def test_a_failed_expectation_exits_non_zero(
    sqlite_config: DatabaseConfig, tmp_path: Path
) -> None:
    path = tmp_path / "lost_card.toml"
    path.write_text(FAILING, encoding="utf-8")
    async with demo_garage(sqlite_config) as system:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulators",
            "--url",
            central_url(system),
            "--scenario",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            stdout, stderr = await process.communicate()
    output = stdout.decode()
    assert process.returncode == 1, (output, stderr.decode())
    assert "ok    1 boot" in output
    assert "FAIL  2 present LOST-CARD: expected authorization Accepted, got Blocked" in output
    assert "FAILED: 1/3 steps" in output


async def test_a_bad_scenario_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[charger]\nid = 'X'\n[[step]]\ndo = 'dance'\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators",
        "--scenario",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "step 1: `do` must be one of" in stderr.decode()
