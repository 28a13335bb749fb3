"""The command line: flags to settings, and usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.__main__ import build_parser, main, settings_from
from simulators.config_store import ConfigError
from simulators.connection import EndpointError
from simulators.station import StationSettings


def settings(*argv: str) -> StationSettings:
    return settings_from(build_parser().parse_args(list(argv)))


def test_flags_become_charger_settings() -> None:
    made = settings(
        "--id",
        "CP-7",
        "--url",
        "wss://garage.example/ocpp",
        "--connectors",
        "2",
        "--vendor",
        "Acme",
        "--model",
        "Box",
        "--password",
        "0123456789abcdef",
        "--power",
        "7400",
        "--set",
        "LocalPreAuthorize=true",
        "--set",
        "HeartbeatInterval = 60",
        "--display-vendor",
        "com.acme",
        "--quirk",
        "naive-timestamps",
    )
    assert (made.charge_point_id, made.url, made.connectors) == (
        "CP-7",
        "wss://garage.example/ocpp",
        2,
    )
    assert (made.identity.vendor, made.identity.model, made.power_w) == ("Acme", "Box", 7400)
    assert made.password == b"0123456789abcdef"
    assert dict(made.config) == {"LocalPreAuthorize": "true", "HeartbeatInterval": "60"}
    assert made.display_vendors == ("com.acme",)
    assert made.quirks.naive_timestamps


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GARAGE_SIMULATOR_PASSWORD", "from-the-environment")
    assert settings().password == b"from-the-environment"


@pytest.mark.parametrize(
    ("argv", "error", "message"),
    [
        (["--set", "Bogus=1"], ConfigError, "unknown configuration key"),
        (["--set", "HeartbeatInterval=often"], ConfigError, "not a valid integer"),
        (["--connectors", "0"], ValueError, "at least 1"),
        (["--url", "http://h"], EndpointError, "ws:// or wss://"),
        (["--ca-file", "ca.pem"], EndpointError, "wss://"),
    ],
)
def test_unusable_flags(argv: list[str], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        settings(*argv)


@pytest.mark.parametrize(
    "argv",
    [["--fleet", "0"], ["--set", "Nope=1", "--fleet", "1"], ["--scenario", "/nonexistent.toml"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_a_bad_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[charger]\nid='X'\n", encoding="utf-8")
    assert main(["--scenario", str(path)]) == 2
    assert "no [[step]] tables" in capsys.readouterr().err
