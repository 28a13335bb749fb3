"""A charger's state: connectors, transactions, reservations and meters. No I/O.

Every operation takes the current time and returns *effects*: what the charger
does next. The runtime (``station.py``) carries them out:

* ``Send``: a message that only makes sense now (StatusNotification, Authorize...);
* ``Queue``: a transaction message, kept until delivered (``offline_queue.py``);
* ``Show``: text on the charger's display;
* ``Note``: an observation for whoever drives the charger (scenarios, the prompt).

Answers from the central system come back in through ``authorize_answered``,
``start_answered`` and ``stop_answered``. Connector statuses are derived from the
state after each operation; a StatusNotification goes out when one changes.

Rules followed (OCPP 1.6): a reserved connector starts only for the reservation's
idTag or one with the same parentIdTag (asking the central system for the parent
when the cache does not know it); a refused StartTransaction.conf stops the
transaction when ``StopTransactionOnInvalidId`` is true and only suspends the
energy when it is false; unplugging stops the transaction when
``StopTransactionOnEVSideDisconnect`` is true; ChangeAvailability on a connector in
a transaction is ``Scheduled`` for its end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from simulators import auth_cache
from simulators.auth_cache import (
    AskCentralSystem,
    AuthorizationCache,
    AuthSettings,
    IdTagInfo,
    Source,
    TagStatus,
)
from simulators.clock import ocpp_time
from simulators.config_store import ConfigStore

VOLTAGE_V = 230.0
PHASES = 3


class Status(StrEnum):
    """``ChargePointStatus`` of OCPP 1.6 §7.7."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class Reason(StrEnum):
    """Why a transaction stopped (OCPP 1.6 §7.34)."""

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"


ERROR_CODES = frozenset(
    {
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "OtherError",
        "OverCurrentFailure",
        "OverVoltage",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "WeakSignal",
    }
)
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)


# ---------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    """A message that only makes sense now: dropped while offline."""

    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Queue:
    """A transaction message: kept and delivered in order (OCPP 1.6 §3.7)."""

    action: str
    payload: dict[str, Any]
    transaction_ref: int


@dataclass(frozen=True, slots=True)
class Show:
    """Text on the charger's display."""

    text: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something that happened, for scenarios and the prompt to see."""

    kind: str
    data: dict[str, Any]


Effect = Send | Queue | Show | Note


class ChargerError(Exception):
    """Asked for something the hardware cannot do (no such connector, not plugged...)."""


@dataclass(frozen=True, slots=True)
class Identity:
    vendor: str = "Garage Simulators"
    model: str = "Wallbox 11"
    serial_number: str | None = None
    firmware_version: str = "sim-1.0"

    def boot_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "charge_point_vendor": self.vendor,
            "charge_point_model": self.model,
            "firmware_version": self.firmware_version,
        }
        if self.serial_number:
            payload["charge_point_serial_number"] = self.serial_number
        return payload


@dataclass(frozen=True, slots=True)
class Quirks:
    """Field behaviour a strict central system must still cope with (opt-in)."""

    #: Timestamps without an offset (evcc #10399).
    naive_timestamps: bool = False
    #: MeterValues count energy from the transaction's start while Start/Stop carry
    #: the lifetime register (lbbrhzn #2093).
    relative_meter_values: bool = False

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Quirks:
        known = {
            "naive-timestamps": "naive_timestamps",
            "relative-meter-values": "relative_meter_values",
        }
        flags: dict[str, bool] = {}
        for name in names:
            if name not in known:
                raise ValueError(f"unknown quirk {name!r}; known: {', '.join(sorted(known))}")
            flags[known[name]] = True
        return cls(**flags)


# ------------------------------------------------------------------------ state


class Purpose(StrEnum):
    START = "start"
    STOP = "stop"
    REMOTE = "remote"


@dataclass(slots=True)
class Authorization:
    """A tag accepted on a connector that waits for the cable."""

    id_tag: str
    parent_id_tag: str | None
    at: datetime


@dataclass(slots=True)
class Transaction:
    ref: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    meter_start: int
    started_at: datetime
    last_sample_at: datetime
    reservation_id: int | None = None
    transaction_id: int | None = None
    #: False once the central system refused the tag but the transaction goes on.
    delivering: bool = True
    stop_id_tag: str | None = None


@dataclass(slots=True)
class Connector:
    id: int
    energy_wh: float = 0.0
    plugged: bool = False
    error_code: str | None = None
    operative: bool = True
    pending_operative: bool | None = None
    authorization: Authorization | None = None
    transaction: Transaction | None = None
    finishing: bool = False
    #: Cable pulled but the transaction kept (StopTransactionOnEVSideDisconnect false).
    suspended_ev: bool = False
    reported: tuple[Status, str] | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: datetime


@dataclass(frozen=True, slots=True)
class Asking:
    """An Authorize.req in flight and why it was sent."""

    id_tag: str
    connector_id: int
    purpose: Purpose


class Fit(StrEnum):
    FREE = "free"
    MATCH = "match"
    MISMATCH = "mismatch"
    NEED_PARENT = "need parent"


def reservation_fit(
    reservation: Reservation | None, id_tag: str, parent_id_tag: str | None, *, parent_known: bool
) -> Fit:
    """May ``id_tag`` use what ``reservation`` holds? (OCPP 1.6 §5.13)"""
    if reservation is None:
        return Fit.FREE
    if id_tag == reservation.id_tag:
        return Fit.MATCH
    if reservation.parent_id_tag is None:
        return Fit.MISMATCH
    if not parent_known:
        return Fit.NEED_PARENT
    return Fit.MATCH if parent_id_tag == reservation.parent_id_tag else Fit.MISMATCH


@dataclass(frozen=True, slots=True)
class ConnectorView:
    connector_id: int
    status: str
    error_code: str
    plugged: bool
    energy_wh: int
    id_tag: str | None
    transaction_ref: int | None
    transaction_id: int | None
    reservation_id: int | None


class Charger:
    def __init__(
        self,
        *,
        connectors: int,
        config: ConfigStore,
        cache: AuthorizationCache,
        now: datetime,
        power_w: float = 11_000.0,
        meter_start_wh: float = 0.0,
        identity: Identity | None = None,
        quirks: Quirks | None = None,
    ) -> None:
        if connectors < 1:
            raise ValueError("a charger has at least one connector")
        self.config = config
        self.cache = cache
        self.identity = identity or Identity()
        self.quirks = quirks or Quirks()
        self.power_w = power_w
        self.online = False
        self._connectors = {
            i: Connector(i, energy_wh=meter_start_wh if i else 0.0) for i in range(connectors + 1)
        }
        self._reservations: dict[int, Reservation] = {}
        self._transactions: dict[int, Transaction] = {}
        self._asking: list[Asking] = []
        self._next_ref = 1
        self._last_advance = now

    # ---------------------------------------------------------------- reading

    @property
    def connector_ids(self) -> range:
        return range(1, len(self._connectors))

    def connector(self, connector_id: int) -> Connector:
        if connector_id not in self._connectors:
            raise ChargerError(f"there is no connector {connector_id}")
        return self._connectors[connector_id]

    def _outlet(self, connector_id: int) -> Connector:
        if connector_id not in self.connector_ids:
            raise ChargerError(
                f"there is no connector {connector_id} (1..{self.connector_ids[-1]})"
            )
        return self._connectors[connector_id]

    def status_of(self, connector_id: int) -> tuple[Status, str]:
        connector = self.connector(connector_id)
        if connector.error_code is not None:
            return Status.FAULTED, connector.error_code
        if connector_id == 0:
            return (Status.AVAILABLE if connector.operative else Status.UNAVAILABLE), "NoError"
        transaction = connector.transaction
        if transaction is not None:
            if connector.suspended_ev:
                return Status.SUSPENDED_EV, "NoError"
            if not transaction.delivering:
                return Status.SUSPENDED_EVSE, "NoError"
            return Status.CHARGING, "NoError"
        if not connector.operative:
            return Status.UNAVAILABLE, "NoError"
        if connector.finishing:
            return Status.FINISHING, "NoError"
        if connector.plugged or connector.authorization is not None:
            return Status.PREPARING, "NoError"
        if any(r.connector_id == connector_id for r in self._reservations.values()):
            return Status.RESERVED, "NoError"
        return Status.AVAILABLE, "NoError"

    def views(self) -> list[ConnectorView]:
        views = []
        for connector in self._connectors.values():
            status, error_code = self.status_of(connector.id)
            transaction = connector.transaction
            reservation = next(
                (r for r in self._reservations.values() if r.connector_id == connector.id), None
            )
            views.append(
                ConnectorView(
                    connector_id=connector.id,
                    status=status.value,
                    error_code=error_code,
                    plugged=connector.plugged,
                    energy_wh=int(connector.energy_wh),
                    id_tag=transaction.id_tag
                    if transaction
                    else (connector.authorization.id_tag if connector.authorization else None),
                    transaction_ref=transaction.ref if transaction else None,
                    transaction_id=transaction.transaction_id if transaction else None,
                    reservation_id=reservation.reservation_id if reservation else None,
                )
            )
        return views

    def reservations(self) -> list[Reservation]:
        return list(self._reservations.values())

    def transaction(self, ref: int) -> Transaction | None:
        return self._transactions.get(ref)

    def boot_payload(self) -> dict[str, Any]:
        return self.identity.boot_payload()

    # ---------------------------------------------------------- the physical side

    def plug(self, connector_id: int, now: datetime) -> list[Effect]:
        self._advance(now)
        connector = self._outlet(connector_id)
        if connector.plugged:
            raise ChargerError(f"connector {connector_id} is plugged already")
        connector.plugged = True
        out: list[Effect] = [Note("plugged", {"connector_id": connector_id})]
        if connector.transaction is not None:
            connector.suspended_ev = False
        elif connector.authorization is not None and self._unusable(connector) is None:
            out += self._start(connector, now)
        return out + self._statuses(now)

    def unplug(self, connector_id: int, now: datetime) -> list[Effect]:
        self._advance(now)
        connector = self._outlet(connector_id)
        if not connector.plugged:
            raise ChargerError(f"connector {connector_id} is not plugged")
        connector.plugged = False
        out: list[Effect] = [Note("unplugged", {"connector_id": connector_id})]
        if connector.transaction is not None:
            if self.config.flag("StopTransactionOnEVSideDisconnect"):
                out += self._stop(connector, Reason.EV_DISCONNECTED, now)
            else:
                connector.suspended_ev = True
        connector.finishing = False
        connector.authorization = None
        return out + self._statuses(now)

    def present(self, id_tag: str, connector_id: int | None, now: datetime) -> list[Effect]:
        """A card is held to the reader (on a connector's reader, or the charger's one)."""
        self._advance(now)
        connector = self._connector_for_tag(id_tag, connector_id)
        out: list[Effect] = [Note("presented", {"id_tag": id_tag, "connector_id": connector.id})]
        if connector.transaction is not None:
            out += self._present_during_transaction(connector, id_tag, now)
        else:
            out += self._present_to_start(connector, id_tag, Purpose.START, now)
        return out + self._statuses(now)

    def stop_button(self, connector_id: int, now: datetime) -> list[Effect]:
        self._advance(now)
        connector = self._outlet(connector_id)
        if connector.transaction is None:
            raise ChargerError(f"no transaction on connector {connector_id}")
        return self._stop(connector, Reason.LOCAL, now) + self._statuses(now)

    def fault(self, connector_id: int, error_code: str, now: datetime) -> list[Effect]:
        """A hardware fault; connector 0 faults the whole charger."""
        if error_code not in ERROR_CODES:
            raise ChargerError(f"{error_code!r} is not an OCPP 1.6 error code")
        self._advance(now)
        targets = (
            list(self._connectors.values()) if connector_id == 0 else [self._outlet(connector_id)]
        )
        out: list[Effect] = []
        for connector in targets:
            if connector.transaction is not None:
                out += self._stop(connector, Reason.OTHER, now)
            connector.authorization = None
            connector.error_code = error_code
        return out + self._statuses(now)

    def clear_fault(self, connector_id: int, now: datetime) -> list[Effect]:
        self._advance(now)
        targets = (
            list(self._connectors.values()) if connector_id == 0 else [self._outlet(connector_id)]
        )
        for connector in targets:
            connector.error_code = None
        return self._statuses(now)

    def sample(
        self, connector_id: int, now: datetime, context: str = "Sample.Periodic"
    ) -> list[Effect]:
        """Take a meter reading now (a transaction's is queued, others only sent)."""
        self._advance(now)
        return self._meter_sample(self._outlet(connector_id), now, context)

    def tick(self, now: datetime) -> list[Effect]:
        """Time passes: energy, periodic samples, expiring reservations and authorisations."""
        self._advance(now)
        out: list[Effect] = []
        interval = self.config.number("MeterValueSampleInterval")
        for connector in self._connectors.values():
            transaction = connector.transaction
            if (
                interval > 0
                and transaction is not None
                and (now - transaction.last_sample_at).total_seconds() >= interval
            ):
                out += self._meter_sample(connector, now, "Sample.Periodic")
        for reservation in list(self._reservations.values()):
            if reservation.expiry <= now:
                del self._reservations[reservation.reservation_id]
                out.append(
                    Note("reservation_expired", {"reservation_id": reservation.reservation_id})
                )
        timeout = self.config.number("ConnectionTimeOut")
        for connector in self._connectors.values():
            waiting = connector.authorization
            if (
                timeout > 0
                and waiting is not None
                and not connector.plugged
                and (now - waiting.at).total_seconds() >= timeout
            ):
                connector.authorization = None
                out.append(Show("No cable connected in time: present your card again"))
                out.append(Note("authorization_timed_out", {"connector_id": connector.id}))
        return out + self._statuses(now)

    # ------------------------------------------------------------ connection

    def set_online(self, online: bool) -> None:
        self.online = online

    def status_report(self, now: datetime) -> list[Effect]:
        """Every connector's status, as a charger reports them after it booted."""
        for connector in self._connectors.values():
            connector.reported = None
        return self._statuses(now)

    def rebooted(self, now: datetime) -> list[Effect]:
        """The charger restarted: pending settings apply, unfinished business is gone."""
        self._advance(now)
        self.config.reboot()
        self._asking.clear()
        for connector in self._connectors.values():
            connector.authorization = None
            connector.finishing = False
            connector.reported = None
        return [Note("rebooted", {})]

    # ---------------------------------------------- answers from the central system

    def authorize_answered(
        self, id_tag: str, info: IdTagInfo | None, now: datetime
    ) -> list[Effect]:
        """Authorize.conf arrived (``info``), or no answer will (``None``)."""
        self._advance(now)
        if info is not None and self.config.flag("AuthorizationCacheEnabled"):
            self.cache.update(id_tag, info, now)
        asked = [a for a in self._asking if a.id_tag == id_tag]
        self._asking = [a for a in self._asking if a.id_tag != id_tag]
        out: list[Effect] = []
        for asking in asked:
            connector = self._connectors[asking.connector_id]
            if asking.purpose is Purpose.STOP:
                out += self._stop_by_parent(connector, id_tag, info, now)
                continue
            if connector.transaction is not None:
                continue
            if info is None:
                decision = auth_cache.decide(
                    id_tag, online=False, settings=self._auth_settings(), cache=self.cache, now=now
                )
                assert not isinstance(decision, AskCentralSystem)
                out += self._verdict(connector, id_tag, decision.info, decision.source, now)
            else:
                out += self._verdict(connector, id_tag, info, Source.CENTRAL_SYSTEM, now)
        return out + self._statuses(now)

    def start_answered(
        self, ref: int, transaction_id: int, info: IdTagInfo, now: datetime
    ) -> list[Effect]:
        self._advance(now)
        transaction = self._transactions.get(ref)
        if transaction is None:
            return []
        transaction.transaction_id = transaction_id
        if self.config.flag("AuthorizationCacheEnabled"):
            self.cache.update(transaction.id_tag, info, now)
        out: list[Effect] = [
            Note(
                "transaction_confirmed",
                {
                    "transaction_ref": ref,
                    "transaction_id": transaction_id,
                    "connector_id": transaction.connector_id,
                    "status": info.status,
                },
            )
        ]
        connector = self._connectors[transaction.connector_id]
        if info.status != TagStatus.ACCEPTED and connector.transaction is transaction:
            out.append(Show(f"Charging refused by the operator ({info.status})"))
            if self.config.flag("StopTransactionOnInvalidId"):
                out += self._stop(connector, Reason.DE_AUTHORIZED, now)
            else:
                transaction.delivering = False
        return out + self._statuses(now)

    def start_failed(self, ref: int, now: datetime) -> list[Effect]:
        """The StartTransaction was given up: its later messages cannot be delivered."""
        return [Note("transaction_lost", {"transaction_ref": ref})]

    def stop_answered(self, ref: int, info: IdTagInfo | None, now: datetime) -> list[Effect]:
        transaction = self._transactions.pop(ref, None)
        if transaction is None:
            return []
        if (
            info is not None
            and transaction.stop_id_tag is not None
            and self.config.flag("AuthorizationCacheEnabled")
        ):
            self.cache.update(transaction.stop_id_tag, info, now)
        return [
            Note(
                "transaction_closed",
                {"transaction_ref": ref, "transaction_id": transaction.transaction_id},
            )
        ]

    # ------------------------------------------------- commands from the central system

    def remote_start(
        self, id_tag: str, connector_id: int | None, now: datetime
    ) -> tuple[str, list[Effect]]:
        self._advance(now)
        if connector_id is not None and connector_id not in self.connector_ids:
            return "Rejected", []
        connector = (
            self._connectors[connector_id] if connector_id is not None else self._pick_for_remote()
        )
        if (
            connector is None
            or connector.transaction is not None
            or self._unusable(connector) is not None
        ):
            return "Rejected", []
        cached = self._cached(id_tag, now)
        fit = reservation_fit(
            self._reservation_applying(connector),
            id_tag,
            cached.parent_id_tag if cached else None,
            parent_known=cached is not None,
        )
        if fit is Fit.MISMATCH:
            return "Rejected", []
        if self.config.flag("AuthorizeRemoteTxRequests") or fit is Fit.NEED_PARENT:
            decision = auth_cache.decide(
                id_tag,
                online=self.online,
                settings=self._auth_settings(),
                cache=self.cache,
                now=now,
            )
            if isinstance(decision, AskCentralSystem) or fit is Fit.NEED_PARENT:
                return "Accepted", self._ask(id_tag, connector, Purpose.REMOTE)
            out = self._verdict(connector, id_tag, decision.info, decision.source, now)
            return "Accepted", out + self._statuses(now)
        info = IdTagInfo(TagStatus.ACCEPTED, parent_id_tag=cached.parent_id_tag if cached else None)
        out = self._verdict(connector, id_tag, info, Source.REMOTE, now)
        return "Accepted", out + self._statuses(now)

    def remote_stop(self, transaction_id: int, now: datetime) -> tuple[str, list[Effect]]:
        self._advance(now)
        for connector in self._connectors.values():
            transaction = connector.transaction
            if transaction is not None and transaction.transaction_id == transaction_id:
                return "Accepted", self._stop(connector, Reason.REMOTE, now) + self._statuses(now)
        return "Rejected", []

    def unlock_connector(self, connector_id: int, now: datetime) -> tuple[str, list[Effect]]:
        self._advance(now)
        if connector_id not in self.connector_ids:
            return "NotSupported", []
        connector = self._connectors[connector_id]
        out: list[Effect] = []
        if connector.transaction is not None:
            out += self._stop(connector, Reason.UNLOCK_COMMAND, now)
        return "Unlocked", out + self._statuses(now)

    def reset(self, kind: str, now: datetime) -> tuple[str, list[Effect]]:
        """Accept, and stop every transaction; the runtime then reboots."""
        self._advance(now)
        reason = Reason.HARD_RESET if kind == "Hard" else Reason.SOFT_RESET
        out: list[Effect] = []
        for connector in self._connectors.values():
            if connector.transaction is not None:
                out += self._stop(connector, reason, now)
        return "Accepted", out + self._statuses(now)

    def change_availability(
        self, connector_id: int, kind: str, now: datetime
    ) -> tuple[str, list[Effect]]:
        self._advance(now)
        if connector_id not in self._connectors:
            return "Rejected", []
        operative = kind == "Operative"
        targets = (
            list(self._connectors.values())
            if connector_id == 0
            else [self._connectors[connector_id]]
        )
        scheduled = False
        for connector in targets:
            if connector.transaction is not None and not operative:
                connector.pending_operative = False
                scheduled = True
            else:
                connector.operative = operative
                connector.pending_operative = None
        return ("Scheduled" if scheduled else "Accepted"), self._statuses(now)

    def reserve_now(
        self,
        connector_id: int,
        expiry: datetime,
        id_tag: str,
        parent_id_tag: str | None,
        reservation_id: int,
        now: datetime,
    ) -> tuple[str, list[Effect]]:
        self._advance(now)
        if connector_id not in self._connectors or expiry <= now:
            return "Rejected", []
        if connector_id == 0 and not self.config.flag("ReserveConnectorZeroSupported"):
            return "Rejected", []
        # The same reservation id replaces the reservation (OCPP 1.6 §5.13).
        replaced = self._reservations.pop(reservation_id, None)
        verdict = self._reservable(connector_id)
        if verdict != "Accepted":
            if replaced is not None:
                self._reservations[reservation_id] = replaced
            return verdict, []
        self._reservations[reservation_id] = Reservation(
            reservation_id, connector_id, id_tag, parent_id_tag, expiry
        )
        note = Note(
            "reserved",
            {"reservation_id": reservation_id, "connector_id": connector_id, "id_tag": id_tag},
        )
        return "Accepted", [note, *self._statuses(now)]

    def cancel_reservation(self, reservation_id: int, now: datetime) -> tuple[str, list[Effect]]:
        self._advance(now)
        if self._reservations.pop(reservation_id, None) is None:
            return "Rejected", []
        note = Note("reservation_cancelled", {"reservation_id": reservation_id})
        return "Accepted", [note, *self._statuses(now)]

    def trigger_message(
        self, requested: str, connector_id: int | None, now: datetime
    ) -> tuple[str, list[Effect]]:
        self._advance(now)
        if requested not in TRIGGERABLE:
            return "NotImplemented", []
        if connector_id is not None and connector_id not in self._connectors:
            return "Rejected", []
        if requested == "BootNotification":
            return "Accepted", [Send("BootNotification", self.boot_payload())]
        if requested == "Heartbeat":
            return "Accepted", [Send("Heartbeat", {})]
        if requested == "DiagnosticsStatusNotification":
            return "Accepted", [Send(requested, {"status": "Idle"})]
        if requested == "FirmwareStatusNotification":
            return "Accepted", [Send(requested, {"status": "Idle"})]
        if requested == "StatusNotification":
            ids = [connector_id] if connector_id is not None else list(self._connectors)
            return "Accepted", [self._status_message(i, now) for i in ids]
        ids = [connector_id] if connector_id else list(self.connector_ids)
        out: list[Effect] = []
        for i in ids:
            out += self._triggered_sample(self._connectors[i], now)
        return "Accepted", out

    def clear_cache(self) -> str:
        self.cache.clear()
        return "Accepted"

    # ------------------------------------------------------------- internals

    def _auth_settings(self) -> AuthSettings:
        return AuthSettings(
            cache_enabled=self.config.flag("AuthorizationCacheEnabled"),
            local_pre_authorize=self.config.flag("LocalPreAuthorize"),
            local_authorize_offline=self.config.flag("LocalAuthorizeOffline"),
            allow_offline_tx_for_unknown_id=self.config.flag("AllowOfflineTxForUnknownId"),
        )

    def _cached(self, id_tag: str, now: datetime) -> IdTagInfo | None:
        if not self.config.flag("AuthorizationCacheEnabled"):
            return None
        return self.cache.lookup(id_tag, now)

    def _time(self, now: datetime) -> str:
        return ocpp_time(now, naive=self.quirks.naive_timestamps)

    def _advance(self, now: datetime) -> None:
        seconds = (now - self._last_advance).total_seconds()
        if seconds <= 0:
            return
        for connector in self._connectors.values():
            if self._drawing(connector):
                connector.energy_wh += self.power_w * seconds / 3600.0
        self._last_advance = now

    @staticmethod
    def _drawing(connector: Connector) -> bool:
        transaction = connector.transaction
        return (
            transaction is not None
            and transaction.delivering
            and not connector.suspended_ev
            and connector.error_code is None
        )

    def _unusable(self, connector: Connector) -> str | None:
        if connector.error_code is not None or self._connectors[0].error_code is not None:
            return "Faulted"
        if not connector.operative or not self._connectors[0].operative:
            return "Unavailable"
        if connector.finishing:
            return "Finishing"
        return None

    def _connector_for_tag(self, id_tag: str, connector_id: int | None) -> Connector:
        if connector_id is not None:
            return self._outlet(connector_id)
        outlets = [self._connectors[i] for i in self.connector_ids]
        for connector in outlets:
            if connector.transaction is not None and connector.transaction.id_tag == id_tag:
                return connector
        for connector in outlets:
            if connector.plugged and connector.transaction is None and not connector.finishing:
                return connector
        for connector in outlets:
            if self.status_of(connector.id)[0] in (Status.AVAILABLE, Status.RESERVED):
                return connector
        return outlets[0]

    def _pick_for_remote(self) -> Connector | None:
        outlets = [self._connectors[i] for i in self.connector_ids]
        for connector in outlets:
            if (
                connector.plugged
                and connector.transaction is None
                and self._unusable(connector) is None
            ):
                return connector
        for connector in outlets:
            if self.status_of(connector.id)[0] is Status.AVAILABLE:
                return connector
        return None

    def _reservation_applying(self, connector: Connector) -> Reservation | None:
        """The reservation that decides who may start on ``connector``."""
        for reservation in self._reservations.values():
            if reservation.connector_id == connector.id:
                return reservation
        others_free = sum(
            1
            for i in self.connector_ids
            if i != connector.id and self.status_of(i)[0] is Status.AVAILABLE
        )
        if others_free == 0:
            for reservation in self._reservations.values():
                if reservation.connector_id == 0:
                    return reservation
        return None

    def _reservable(self, connector_id: int) -> str:
        if connector_id == 0:
            free = [i for i in self.connector_ids if self.status_of(i)[0] is Status.AVAILABLE]
            if self._connectors[0].error_code is not None:
                return "Faulted"
            if not self._connectors[0].operative:
                return "Unavailable"
            return "Accepted" if free else "Occupied"
        status, _ = self.status_of(connector_id)
        if status is Status.FAULTED:
            return "Faulted"
        if status is Status.UNAVAILABLE:
            return "Unavailable"
        return "Accepted" if status is Status.AVAILABLE else "Occupied"

    def _ask(self, id_tag: str, connector: Connector, purpose: Purpose) -> list[Effect]:
        already = any(a.id_tag == id_tag for a in self._asking)
        self._asking.append(Asking(id_tag, connector.id, purpose))
        note = Note(
            "authorizing",
            {"id_tag": id_tag, "connector_id": connector.id, "purpose": purpose.value},
        )
        return [note] if already else [note, Send("Authorize", {"id_tag": id_tag})]

    def _refuse(
        self, connector: Connector, id_tag: str, status: str, source: Source | str, text: str
    ) -> list[Effect]:
        return [
            Show(text),
            Note(
                "authorization",
                {
                    "id_tag": id_tag,
                    "connector_id": connector.id,
                    "status": status,
                    "source": str(source),
                },
            ),
        ]

    def _present_to_start(
        self, connector: Connector, id_tag: str, purpose: Purpose, now: datetime
    ) -> list[Effect]:
        why = self._unusable(connector)
        if why is not None:
            return self._refuse(connector, id_tag, why, "connector", f"Connector {why.lower()}")
        cached = self._cached(id_tag, now)
        fit = reservation_fit(
            self._reservation_applying(connector),
            id_tag,
            cached.parent_id_tag if cached else None,
            parent_known=cached is not None,
        )
        if fit is Fit.MISMATCH:
            return self._refuse(
                connector, id_tag, "Reserved", Source.RESERVATION, "Reserved for another user"
            )
        decision = auth_cache.decide(
            id_tag, online=self.online, settings=self._auth_settings(), cache=self.cache, now=now
        )
        if self.online and (fit is Fit.NEED_PARENT or isinstance(decision, AskCentralSystem)):
            return self._ask(id_tag, connector, purpose)
        if fit is Fit.NEED_PARENT:
            return self._refuse(
                connector, id_tag, "Reserved", Source.RESERVATION, "Reserved for another user"
            )
        assert not isinstance(decision, AskCentralSystem)
        return self._verdict(connector, id_tag, decision.info, decision.source, now)

    def _verdict(
        self, connector: Connector, id_tag: str, info: IdTagInfo, source: Source, now: datetime
    ) -> list[Effect]:
        if info.status != TagStatus.ACCEPTED:
            return self._refuse(
                connector, id_tag, info.status, source, f"Card not accepted ({info.status})"
            )
        reservation = self._reservation_applying(connector)
        fit = reservation_fit(reservation, id_tag, info.parent_id_tag, parent_known=True)
        if fit is Fit.MISMATCH:
            return self._refuse(
                connector, id_tag, "Reserved", Source.RESERVATION, "Reserved for another user"
            )
        connector.authorization = Authorization(id_tag, info.parent_id_tag, now)
        out: list[Effect] = [
            Note(
                "authorization",
                {
                    "id_tag": id_tag,
                    "connector_id": connector.id,
                    "status": info.status,
                    "source": source.value,
                },
            )
        ]
        if connector.plugged:
            return out + self._start(connector, now)
        out.append(Show("Card accepted: plug in the cable"))
        return out

    def _present_during_transaction(
        self, connector: Connector, id_tag: str, now: datetime
    ) -> list[Effect]:
        transaction = connector.transaction
        assert transaction is not None
        if id_tag == transaction.id_tag:
            return self._stop(connector, Reason.LOCAL, now, id_tag=id_tag)
        if transaction.parent_id_tag is not None:
            cached = self._cached(id_tag, now)
            if cached is not None:
                return self._stop_by_parent(connector, id_tag, cached, now)
            if self.online:
                return self._ask(id_tag, connector, Purpose.STOP)
        return [Show("This session belongs to another card")]

    def _stop_by_parent(
        self, connector: Connector, id_tag: str, info: IdTagInfo | None, now: datetime
    ) -> list[Effect]:
        transaction = connector.transaction
        if (
            transaction is not None
            and info is not None
            and transaction.parent_id_tag is not None
            and info.parent_id_tag == transaction.parent_id_tag
        ):
            return self._stop(connector, Reason.LOCAL, now, id_tag=id_tag)
        return [Show("This session belongs to another card")]

    def _consume_reservation(
        self, connector: Connector, id_tag: str, parent: str | None
    ) -> int | None:
        candidates = [self._reservation_applying(connector)] + [
            r for r in self._reservations.values() if r.connector_id == 0
        ]
        for reservation in candidates:
            if reservation is None:
                continue
            if reservation_fit(reservation, id_tag, parent, parent_known=True) is Fit.MATCH:
                del self._reservations[reservation.reservation_id]
                return reservation.reservation_id
        return None

    def _start(self, connector: Connector, now: datetime) -> list[Effect]:
        authorization = connector.authorization
        assert authorization is not None
        connector.authorization = None
        ref = self._next_ref
        self._next_ref += 1
        reservation_id = self._consume_reservation(
            connector, authorization.id_tag, authorization.parent_id_tag
        )
        transaction = Transaction(
            ref=ref,
            connector_id=connector.id,
            id_tag=authorization.id_tag,
            parent_id_tag=authorization.parent_id_tag,
            meter_start=int(connector.energy_wh),
            started_at=now,
            last_sample_at=now,
            reservation_id=reservation_id,
        )
        connector.transaction = transaction
        self._transactions[ref] = transaction
        payload: dict[str, Any] = {
            "connector_id": connector.id,
            "id_tag": transaction.id_tag,
            "meter_start": transaction.meter_start,
            "timestamp": self._time(now),
        }
        if reservation_id is not None:
            payload["reservation_id"] = reservation_id
        return [
            Queue("StartTransaction", payload, ref),
            Note(
                "transaction_started",
                {
                    "transaction_ref": ref,
                    "connector_id": connector.id,
                    "id_tag": transaction.id_tag,
                    "meter_start": transaction.meter_start,
                    "reservation_id": reservation_id,
                },
            ),
        ]

    def _stop(
        self, connector: Connector, reason: Reason, now: datetime, *, id_tag: str | None = None
    ) -> list[Effect]:
        transaction = connector.transaction
        assert transaction is not None
        connector.transaction = None
        connector.suspended_ev = False
        connector.finishing = connector.plugged
        if connector.pending_operative is not None:
            connector.operative = connector.pending_operative
            connector.pending_operative = None
        transaction.stop_id_tag = id_tag
        meter_stop = int(connector.energy_wh)
        payload: dict[str, Any] = {
            "meter_stop": meter_stop,
            "timestamp": self._time(now),
            "reason": reason.value,
        }
        if id_tag is not None:
            payload["id_tag"] = id_tag
        measurands = self.config.items("StopTxnSampledData")
        if measurands:
            payload["transaction_data"] = [
                {
                    "timestamp": self._time(transaction.started_at),
                    "sampled_value": self._sampled_values(
                        measurands, "Transaction.Begin", transaction.meter_start, 0.0
                    ),
                },
                {
                    "timestamp": self._time(now),
                    "sampled_value": self._sampled_values(
                        measurands, "Transaction.End", meter_stop, 0.0
                    ),
                },
            ]
        return [
            Queue("StopTransaction", payload, transaction.ref),
            Note(
                "transaction_stopped",
                {
                    "transaction_ref": transaction.ref,
                    "transaction_id": transaction.transaction_id,
                    "connector_id": connector.id,
                    "reason": reason.value,
                    "meter_start": transaction.meter_start,
                    "meter_stop": meter_stop,
                },
            ),
        ]

    def _sampled_values(
        self, measurands: Iterable[str], context: str, energy_wh: float, power_w: float
    ) -> list[dict[str, Any]]:
        current = power_w / (VOLTAGE_V * PHASES)
        readings = {
            "Energy.Active.Import.Register": (str(int(energy_wh)), "Wh"),
            "Power.Active.Import": (f"{power_w:.1f}", "W"),
            "Current.Import": (f"{current:.1f}", "A"),
            "Current.Offered": (f"{self.power_w / (VOLTAGE_V * PHASES):.1f}", "A"),
            "Voltage": (f"{VOLTAGE_V:.1f}", "V"),
        }
        values = []
        for measurand in measurands:
            if measurand not in readings:
                continue
            value, unit = readings[measurand]
            values.append(
                {
                    "value": value,
                    "context": context,
                    "measurand": measurand,
                    "location": "Outlet",
                    "unit": unit,
                }
            )
        return values

    def _meter_value(self, connector: Connector, now: datetime, context: str) -> dict[str, Any]:
        energy = connector.energy_wh
        transaction = connector.transaction
        if self.quirks.relative_meter_values and transaction is not None:
            energy -= transaction.meter_start
        power = self.power_w if self._drawing(connector) else 0.0
        measurands = self.config.items("MeterValuesSampledData") or [
            "Energy.Active.Import.Register"
        ]
        return {
            "timestamp": self._time(now),
            "sampled_value": self._sampled_values(measurands, context, energy, power),
        }

    def _meter_sample(self, connector: Connector, now: datetime, context: str) -> list[Effect]:
        transaction = connector.transaction
        payload: dict[str, Any] = {
            "connector_id": connector.id,
            "meter_value": [self._meter_value(connector, now, context)],
        }
        note = Note(
            "meter",
            {
                "connector_id": connector.id,
                "energy_wh": int(connector.energy_wh),
                "transaction_ref": transaction.ref if transaction else None,
            },
        )
        if transaction is None:
            return [Send("MeterValues", payload), note]
        transaction.last_sample_at = now
        return [Queue("MeterValues", payload, transaction.ref), note]

    def _triggered_sample(self, connector: Connector, now: datetime) -> list[Effect]:
        payload: dict[str, Any] = {
            "connector_id": connector.id,
            "meter_value": [self._meter_value(connector, now, "Trigger")],
        }
        transaction = connector.transaction
        if transaction is not None and transaction.transaction_id is not None:
            payload["transaction_id"] = transaction.transaction_id
        return [Send("MeterValues", payload)]

    def _status_message(self, connector_id: int, now: datetime) -> Send:
        status, error_code = self.status_of(connector_id)
        return Send(
            "StatusNotification",
            {
                "connector_id": connector_id,
                "error_code": error_code,
                "status": status.value,
                "timestamp": self._time(now),
            },
        )

    def _statuses(self, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        for connector in self._connectors.values():
            current = self.status_of(connector.id)
            if connector.reported == current:
                continue
            connector.reported = current
            out.append(self._status_message(connector.id, now))
            out.append(
                Note(
                    "status",
                    {
                        "connector_id": connector.id,
                        "status": current[0].value,
                        "error_code": current[1],
                    },
                )
            )
        return out


__all__ = [
    "Charger",
    "ChargerError",
    "ConnectorView",
    "Effect",
    "Identity",
    "Note",
    "Queue",
    "Quirks",
    "Reason",
    "Send",
    "Show",
    "Status",
]
