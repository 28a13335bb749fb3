"""The charger's configuration keys (OCPP 1.6 §9) behind GetConfiguration and
ChangeConfiguration.

Keys are typed (boolean, integer, comma-separated list, text). A change is refused
(``Rejected``) for read-only keys and for values of the wrong type; an unknown key
is ``NotSupported``. Keys marked ``reboot_required`` answer ``RebootRequired`` and
keep the new value aside until the next reboot, as many field chargers do for
their WebSocket settings. ``AuthorizationKey`` (security whitepaper) is write-only:
it is never reported with a value.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

MAX_VALUE_LENGTH = 500


class Kind(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    LIST = "list"
    TEXT = "text"


class ChangeStatus(StrEnum):
    """``ConfigurationStatus`` of OCPP 1.6 §7.20."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


#: Measurands this charger's meter can sample.
MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Offered",
        "Voltage",
    }
)
FEATURE_PROFILES = "Core,Reservation,RemoteTrigger"


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    value: str
    kind: Kind
    readonly: bool = False
    reboot_required: bool = False
    write_only: bool = False
    #: For lists: the members a value may contain (``None``: anything).
    members: frozenset[str] | None = None


def standard_keys(connectors: int) -> list[ConfigKey]:
    """The Core, Reservation and RemoteTrigger keys a typical wallbox reports."""
    b, i, lst, t = Kind.BOOLEAN, Kind.INTEGER, Kind.LIST, Kind.TEXT
    return [
        ConfigKey("AllowOfflineTxForUnknownId", "false", b),
        ConfigKey("AuthorizationCacheEnabled", "true", b),
        ConfigKey("AuthorizeRemoteTxRequests", "false", b),
        ConfigKey("ClockAlignedDataInterval", "0", i),
        ConfigKey("ConnectionTimeOut", "120", i),
        ConfigKey("GetConfigurationMaxKeys", "50", i, readonly=True),
        ConfigKey("HeartbeatInterval", "300", i),
        ConfigKey("LocalAuthorizeOffline", "true", b),
        ConfigKey("LocalPreAuthorize", "false", b),
        ConfigKey(
            "MeterValuesAlignedData", "Energy.Active.Import.Register", lst, members=MEASURANDS
        ),
        ConfigKey(
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Power.Active.Import",
            lst,
            members=MEASURANDS,
        ),
        ConfigKey("MeterValueSampleInterval", "60", i),
        ConfigKey("NumberOfConnectors", str(connectors), i, readonly=True),
        ConfigKey("ResetRetries", "1", i),
        ConfigKey("StopTransactionOnEVSideDisconnect", "true", b),
        ConfigKey("StopTransactionOnInvalidId", "true", b),
        ConfigKey("StopTxnAlignedData", "", lst, members=MEASURANDS),
        ConfigKey("StopTxnSampledData", "Energy.Active.Import.Register", lst, members=MEASURANDS),
        ConfigKey("SupportedFeatureProfiles", FEATURE_PROFILES, lst, readonly=True),
        ConfigKey("TransactionMessageAttempts", "3", i),
        ConfigKey("TransactionMessageRetryInterval", "10", i),
        ConfigKey("UnlockConnectorOnEVSideDisconnect", "true", b),
        ConfigKey("WebSocketPingInterval", "30", i, reboot_required=True),
        ConfigKey("ReserveConnectorZeroSupported", "false", b, readonly=True),
        # OCA "OCPP & California Pricing": this model shows costmsg display texts.
        ConfigKey("CustomDisplayCostAndPrice", "true", b, readonly=True),
        ConfigKey("AuthorizationKey", "", t, write_only=True),
    ]


class ConfigError(ValueError):
    """A local setting (flag or scenario) names an unknown key or a bad value."""


def _normalise(key: ConfigKey, value: str) -> str | None:
    """The value as stored, or ``None`` when it does not fit the key's type."""
    if len(value) > MAX_VALUE_LENGTH:
        return None
    if key.kind is Kind.BOOLEAN:
        lowered = value.strip().lower()
        return lowered if lowered in ("true", "false") else None
    if key.kind is Kind.INTEGER:
        text = value.strip()
        return str(int(text)) if text.isdigit() else None
    if key.kind is Kind.LIST:
        items = [item.strip() for item in value.split(",") if item.strip()]
        if key.members is not None and any(item not in key.members for item in items):
            return None
        return ",".join(items)
    if key.name == "AuthorizationKey" and authorization_password(value) is None:
        return None
    return value


def authorization_password(value: str) -> bytes | None:
    """The Basic-auth password an ``AuthorizationKey`` value stands for.

    The security whitepaper sends 16 to 20 bytes as 32 to 40 hex digits; chargers in
    the field also take 16 to 20 plain characters. Anything else is refused.
    """
    if 32 <= len(value) <= 40 and len(value) % 2 == 0 and all(c in string.hexdigits for c in value):
        return bytes.fromhex(value)
    if 16 <= len(value) <= 20 and value.isprintable():
        return value.encode()
    return None


class ConfigStore:
    def __init__(self, keys: Iterable[ConfigKey]) -> None:
        self._keys: dict[str, ConfigKey] = {key.name: key for key in keys}
        self._pending: dict[str, str] = {}

    @classmethod
    def standard(
        cls, *, connectors: int, overrides: Mapping[str, str] | None = None
    ) -> ConfigStore:
        store = cls(standard_keys(connectors))
        for name, value in (overrides or {}).items():
            store.set_locally(name, value)
        return store

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def names(self) -> list[str]:
        return list(self._keys)

    # ------------------------------------------------------------ OCPP side

    def get(self, names: Sequence[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names or [n for n in self._keys if not self._keys[n].write_only]
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        for name in wanted:
            key = self._keys.get(name)
            if key is None:
                unknown.append(name)
            elif key.write_only:
                known.append({"key": key.name, "readonly": key.readonly})
            else:
                known.append({"key": key.name, "readonly": key.readonly, "value": key.value})
        return known, unknown

    def change(self, name: str, value: str) -> ChangeStatus:
        """ChangeConfiguration, as a charger answers it."""
        key = self._keys.get(name)
        if key is None:
            return ChangeStatus.NOT_SUPPORTED
        if key.readonly:
            return ChangeStatus.REJECTED
        normalised = _normalise(key, value)
        if normalised is None:
            return ChangeStatus.REJECTED
        if key.reboot_required:
            self._pending[name] = normalised
            return ChangeStatus.REBOOT_REQUIRED
        self._keys[name] = replace(key, value=normalised)
        return ChangeStatus.ACCEPTED

    def reboot(self) -> None:
        """Values that waited for a reboot take effect."""
        for name, value in self._pending.items():
            self._keys[name] = replace(self._keys[name], value=value)
        self._pending.clear()

    # ---------------------------------------------------------- local side

    def set_locally(self, name: str, value: str) -> None:
        """What an installer sets on the charger itself: read-only keys too, at once."""
        key = self._keys.get(name)
        if key is None:
            raise ConfigError(f"unknown configuration key {name!r}")
        normalised = _normalise(key, value)
        if normalised is None:
            raise ConfigError(f"{value!r} is not a valid {key.kind.value} for {name}")
        self._keys[name] = replace(key, value=normalised)

    def text(self, name: str) -> str:
        return self._keys[name].value

    def flag(self, name: str) -> bool:
        return self._keys[name].value == "true"

    def number(self, name: str) -> int:
        return int(self._keys[name].value or "0")

    def items(self, name: str) -> list[str]:
        value = self._keys[name].value
        return value.split(",") if value else []

    def pending(self, name: str) -> str | None:
        return self._pending.get(name)
