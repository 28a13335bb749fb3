"""The simulated charger against the real central system: a session, and commands
sent through the operator API that the charger answers from its real state."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select

from central_system.persistence.tables import (
    ChargePointRow,
    ConnectorRow,
    MeterValueRow,
    TransactionRow,
)
from tests.conftest import DatabaseConfig
from tests.e2e.simulated import HandClock, command, demo_garage, seen, simulated

CP = "GARAGE-CP-01"


async def test_a_full_session_is_answered_and_recorded(sqlite_config: DatabaseConfig) -> None:
    clock = HandClock(behind=timedelta(minutes=10))
    started_at = clock.moment
    async with demo_garage(sqlite_config) as system:
        async with simulated(
            system,
            CP,
            clock=clock,
            connectors=2,
            power_w=3600.0,  # one watt-hour a second
            meter_start_wh=5000.0,
            config={"MeterValueSampleInterval": "0"},
        ) as charger:
            mark = charger.recorder.mark
            charger.present("OWNER-ALICE", 1)
            verdict = await seen(charger, mark, "authorization")
            assert (verdict.data["status"], verdict.data["source"]) == (
                "Accepted",
                "central system",
            )
            charger.plug(1)
            confirmed = await seen(charger, mark, "transaction_confirmed")
            transaction_id = confirmed.data["transaction_id"]
            clock.advance(60)
            charger.sample(1)
            await seen(charger, mark, "answered", action="MeterValues")
            clock.advance(60)
            charger.present("OWNER-ALICE", 1)
            await seen(charger, mark, "transaction_closed")
            charger.unplug(1)
            async with asyncio.timeout(5):
                await charger.wait_delivered()
        await system.message_log.flush()
        async with system.database.read_sessions() as session:
            transaction = await session.get(TransactionRow, transaction_id)
            assert transaction is not None
            assert (transaction.charge_point_id, transaction.connector_id, transaction.id_tag) == (
                CP,
                1,
                "OWNER-ALICE",
            )
            assert (transaction.meter_start, transaction.meter_stop) == (5000, 5120)
            assert (transaction.started_at, transaction.stopped_at) == (
                started_at,
                started_at + timedelta(seconds=120),
            )
            assert (transaction.stop_reason, transaction.stop_id_tag) == ("Local", "OWNER-ALICE")
            energy = (
                await session.scalars(
                    select(MeterValueRow.value)
                    .where(
                        MeterValueRow.transaction_id == transaction_id,
                        MeterValueRow.measurand == "Energy.Active.Import.Register",
                    )
                    .order_by(MeterValueRow.id)
                )
            ).all()
            assert energy == ["5060", "5000", "5120"]  # the sample, then Begin and End
            connectors = (
                await session.execute(
                    select(ConnectorRow.connector_id, ConnectorRow.status)
                    .where(ConnectorRow.charge_point_id == CP)
                    .order_by(ConnectorRow.connector_id)
                )
            ).all()
            assert [tuple(row) for row in connectors] == [
                (0, "Available"),
                (1, "Available"),
                (2, "Available"),
            ]
            charger_row = await session.get(ChargePointRow, CP)
            assert charger_row is not None
            assert (charger_row.vendor, charger_row.model) == ("Garage Simulators", "Wallbox 11")


async def test_a_remote_start_through_the_operator_api_starts_charging(
    sqlite_config: DatabaseConfig,
) -> None:
    async with demo_garage(sqlite_config) as system:
        async with simulated(system, CP, connectors=2) as charger:
            charger.plug(2)
            mark = charger.recorder.mark
            answer = await command(
                system,
                CP,
                "remote-start-transaction",
                {"idTag": "OWNER-BOB", "connectorId": 2},
            )
            assert answer == {"status": "Accepted"}
            received = await seen(charger, mark, "command", action="RemoteStartTransaction")
            assert received.data["request"] == {"id_tag": "OWNER-BOB", "connector_id": 2}
            confirmed = await seen(charger, mark, "transaction_confirmed")
            assert confirmed.data["status"] == "Accepted"
            assert charger.charger.status_of(2)[0].value == "Charging"
            # The same connector is busy now: a second remote start is refused by the charger.
            busy = await command(
                system, CP, "remote-start-transaction", {"idTag": "OWNER-CAROL", "connectorId": 2}
            )
            assert busy == {"status": "Rejected"}
            stop = await command(
                system,
                CP,
                "remote-stop-transaction",
                {"transactionId": confirmed.data["transaction_id"]},
            )
            assert stop == {"status": "Accepted"}
            stopped = await seen(charger, mark, "transaction_stopped")
            assert stopped.data["reason"] == "Remote"
            await seen(charger, mark, "transaction_closed")
        async with system.database.read_sessions() as session:
            transaction = await session.get(TransactionRow, confirmed.data["transaction_id"])
        assert transaction is not None
        assert (transaction.id_tag, transaction.connector_id, transaction.stop_reason) == (
            "OWNER-BOB",
            2,
            "Remote",
        )


async def test_a_display_message_through_the_operator_api_is_shown(
    sqlite_config: DatabaseConfig,
) -> None:
    async with demo_garage(sqlite_config) as system, simulated(system, CP) as charger:
        mark = charger.recorder.mark
        text = "This space is reserved"
        answer = await command(
            system,
            CP,
            "data-transfer",
            {
                "vendorId": "org.openchargealliance.costmsg",
                "messageId": "SetUserPrice",
                "data": json.dumps({"idToken": "OWNER-BOB", "priceText": text}),
            },
        )
        assert answer == {"status": "Accepted"}
        shown = await seen(charger, mark, "display")
        assert shown.data["text"] == text
        assert charger.display[-1][1] == text
        unknown = await command(
            system, CP, "data-transfer", {"vendorId": "com.example", "data": "hi"}
        )
        assert unknown == {"status": "UnknownVendorId"}


async def test_commands_are_answered_from_the_charger_s_real_state(
    sqlite_config: DatabaseConfig,
) -> None:
    async with demo_garage(sqlite_config) as system:
        async with simulated(system, CP, connectors=2) as charger:
            mark = charger.recorder.mark
            reserve = {
                "connectorId": 1,
                "expiryDate": "2099-01-01T00:00:00Z",
                "idTag": "OWNER-ALICE",
                "reservationId": 501,
            }
            assert await command(system, CP, "reserve-now", reserve) == {"status": "Accepted"}
            assert charger.charger.status_of(1)[0].value == "Reserved"
            taken = {**reserve, "idTag": "OWNER-BOB", "reservationId": 502}
            assert await command(system, CP, "reserve-now", taken) == {"status": "Occupied"}
            charger.present("OWNER-BOB", 1)
            refused = await seen(charger, mark, "authorization", id_tag="OWNER-BOB")
            assert refused.data["status"] == "Reserved"
            assert await command(system, CP, "cancel-reservation", {"reservationId": 501}) == {
                "status": "Accepted"
            }
            assert await command(system, CP, "cancel-reservation", {"reservationId": 501}) == {
                "status": "Rejected"
            }

            configuration = await command(
                system, CP, "get-configuration", {"key": ["NumberOfConnectors", "Nope"]}
            )
            assert configuration == {
                "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
                "unknownKey": ["Nope"],
            }
            for key, value, status in [
                ("WebSocketPingInterval", "60", "RebootRequired"),
                ("NumberOfConnectors", "3", "Rejected"),
                ("MeterValueSampleInterval", "15", "Accepted"),
                ("Nope", "1", "NotSupported"),
            ]:
                change = await command(
                    system, CP, "change-configuration", {"key": key, "value": value}
                )
                assert change == {"status": status}, key
            assert await command(system, CP, "unlock-connector", {"connectorId": 9}) == {
                "status": "NotSupported"
            }
            assert await command(system, CP, "clear-cache", {}) == {"status": "Accepted"}
            assert await command(
                system, CP, "change-availability", {"connectorId": 2, "type": "Inoperative"}
            ) == {"status": "Accepted"}
            await seen(charger, mark, "status", connector_id=2, status="Unavailable")
            triggered = charger.recorder.mark
            assert await command(
                system, CP, "trigger-message", {"requestedMessage": "Heartbeat"}
            ) == {"status": "Accepted"}
            await seen(charger, triggered, "answered", action="Heartbeat")

            rebooting = charger.recorder.mark
            assert await command(system, CP, "reset", {"type": "Soft"}) == {"status": "Accepted"}
            await seen(charger, rebooting, "rebooted")
            await seen(charger, rebooting, "registration", status="Accepted")
            assert charger.config.number("WebSocketPingInterval") == 60  # applied by the reboot
        async with system.database.read_sessions() as session:
            unavailable = await session.get(ConnectorRow, (CP, 2))
        assert unavailable is not None
        assert unavailable.status == "Unavailable"


async def test_a_refused_card_gets_the_central_system_s_reminder_on_the_display(
    sqlite_config: DatabaseConfig,
) -> None:
    async with (
        demo_garage(sqlite_config, charging_policy="reservation_required") as system,
        simulated(system, CP, connectors=2) as charger,
    ):
        mark = charger.recorder.mark
        charger.plug(1)
        charger.present("OWNER-CAROL", 1)
        verdict = await seen(charger, mark, "authorization", id_tag="OWNER-CAROL")
        assert verdict.data["status"] != "Accepted"
        reminder = await seen(charger, mark, "command", action="DataTransfer")
        assert reminder.data["answer"] == {"status": "Accepted"}
        async with asyncio.timeout(10):
            shown = await charger.recorder.wait_for(
                lambda o: o.kind == "display" and "reserve" in o.data["text"], since=mark
            )
        assert shown.data["text"].startswith("Please reserve this space")
        assert charger.charger.status_of(1)[0].value == "Preparing"  # nothing started
