"""GetConfiguration / ChangeConfiguration as a charger answers them."""

from __future__ import annotations

import pytest

from simulators.config_store import (
    ChangeStatus,
    ConfigError,
    ConfigStore,
    authorization_password,
)


def store() -> ConfigStore:
    return ConfigStore.standard(connectors=2)


@pytest.mark.parametrize(
    ("key", "value", "status", "stored"),
    [
        ("HeartbeatInterval", "60", ChangeStatus.ACCEPTED, "60"),
        ("HeartbeatInterval", " 0060 ", ChangeStatus.ACCEPTED, "60"),
        ("HeartbeatInterval", "-1", ChangeStatus.REJECTED, "300"),
        ("HeartbeatInterval", "soon", ChangeStatus.REJECTED, "300"),
        ("LocalPreAuthorize", "TRUE", ChangeStatus.ACCEPTED, "true"),
        ("LocalPreAuthorize", "yes", ChangeStatus.REJECTED, "false"),
        ("NumberOfConnectors", "4", ChangeStatus.REJECTED, "2"),
        (
            "SupportedFeatureProfiles",
            "Core",
            ChangeStatus.REJECTED,
            "Core,Reservation,RemoteTrigger",
        ),
        (
            "MeterValuesSampledData",
            "Voltage, Current.Import",
            ChangeStatus.ACCEPTED,
            "Voltage,Current.Import",
        ),
        (
            "MeterValuesSampledData",
            "SoC",
            ChangeStatus.REJECTED,
            "Energy.Active.Import.Register,Power.Active.Import",
        ),
        ("StopTxnAlignedData", "", ChangeStatus.ACCEPTED, ""),
        ("WebSocketPingInterval", "60", ChangeStatus.REBOOT_REQUIRED, "30"),
        ("NoSuchKey", "1", ChangeStatus.NOT_SUPPORTED, None),
    ],
)
def test_change_configuration(
    key: str, value: str, status: ChangeStatus, stored: str | None
) -> None:
    config = store()
    assert config.change(key, value) is status
    if stored is not None:
        assert config.text(key) == stored


def test_a_reboot_required_value_takes_effect_after_the_reboot() -> None:
    config = store()
    assert config.change("WebSocketPingInterval", "60") is ChangeStatus.REBOOT_REQUIRED
    assert (config.number("WebSocketPingInterval"), config.pending("WebSocketPingInterval")) == (
        30,
        "60",
    )
    config.reboot()
    assert (config.number("WebSocketPingInterval"), config.pending("WebSocketPingInterval")) == (
        60,
        None,
    )


def test_get_configuration_reports_known_and_unknown_keys() -> None:
    known, unknown = store().get(["HeartbeatInterval", "NumberOfConnectors", "Nope"])
    assert known == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    assert unknown == ["Nope"]


def test_the_authorization_key_is_write_only() -> None:
    config = store()
    assert config.change("AuthorizationKey", "00112233445566778899aabbccddeeff") is (
        ChangeStatus.ACCEPTED
    )
    everything, _ = config.get(None)
    assert "AuthorizationKey" not in [entry["key"] for entry in everything]
    asked, _ = config.get(["AuthorizationKey"])
    assert asked == [{"key": "AuthorizationKey", "readonly": False}]


@pytest.mark.parametrize(
    ("value", "password"),
    [
        ("00112233445566778899aabbccddeeff", bytes(range(0, 256, 17))),
        ("0123456789abcdef0123", b"0123456789abcdef0123"),
        ("sixteen-chars-ok", b"sixteen-chars-ok"),
        ("too-short", None),
        ("x" * 21, None),
        ("0" * 33, None),  # odd hex length, and too long as text
    ],
)
def test_authorization_key_values(value: str, password: bytes | None) -> None:
    assert authorization_password(value) == password
    expected = ChangeStatus.REJECTED if password is None else ChangeStatus.ACCEPTED
    assert store().change("AuthorizationKey", value) is expected


def test_installer_settings_may_set_read_only_keys_but_not_unknown_ones() -> None:
    config = ConfigStore.standard(connectors=1, overrides={"ReserveConnectorZeroSupported": "true"})
    assert config.flag("ReserveConnectorZeroSupported")
    with pytest.raises(ConfigError, match="unknown configuration key"):
        config.set_locally("Bogus", "1")
    with pytest.raises(ConfigError, match="not a valid integer"):
        config.set_locally("HeartbeatInterval", "often")
