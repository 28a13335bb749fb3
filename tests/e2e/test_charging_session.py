"""A charger built on the ocpp library runs a whole session against the real server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from ocpp.v16 import call
from sqlalchemy import func, select

from central_system.domain.model import IdTag, RegistrationStatus
from central_system.persistence.tables import (
    ConnectorRow,
    MessageLogRow,
    MeterValueRow,
    StatusNotificationRow,
    TransactionRow,
)
from central_system.ports import Page
from tests.chargers import library_charger
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, ocpp_url, running_system


async def test_full_session_is_answered_and_persisted(database_config: DatabaseConfig) -> None:
    async with running_system(database_config, configure_at_boot=True) as system:
        await system.operations.put_charge_point("CP-E2E", RegistrationStatus.ACCEPTED)
        await system.operations.put_id_tag(IdTag("TAG-OK"))

        async with library_charger(ocpp_url(system, "CP-E2E"), "CP-E2E") as charger:
            boot = await charger.call(
                call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Acme")
            )
            assert boot.status == "Accepted"
            assert boot.interval == system.settings.heartbeat_interval
            assert boot.current_time.endswith("Z")
            # An accepted boot is followed by the configuration the reservation rule needs.
            server_side = system.registry.get("CP-E2E")
            assert server_side is not None
            await asyncio.wait_for(server_side.settled(), 5)
            assert {k: v for k, (v, _) in charger.configuration.items()} == {
                "HeartbeatInterval": "300",
                "SupportedFeatureProfiles": "Core,RemoteTrigger",
                "CustomDisplayCostAndPrice": "true",
                "LocalPreAuthorize": "false",
                "LocalAuthorizeOffline": "false",
                "StopTransactionOnInvalidId": "true",
                "AuthorizationCacheEnabled": "false",
            }

            for connector in (0, 1):
                await charger.call(
                    call.StatusNotification(
                        connector_id=connector,
                        error_code="NoError",
                        status="Available",
                        vendor_id="acme",
                        info="ready",
                    )
                )
            authorized = await charger.call(call.Authorize(id_tag="TAG-OK"))
            assert authorized.id_tag_info["status"] == "Accepted"

            started = await charger.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="TAG-OK",
                    meter_start=1000,
                    timestamp="2026-11-24T10:00:00Z",
                )
            )
            assert started.id_tag_info["status"] == "Accepted"
            transaction_id = started.transaction_id

            await charger.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=transaction_id,
                    meter_value=[
                        {
                            "timestamp": "2026-11-24T10:15:00Z",
                            "sampledValue": [
                                {
                                    "value": "2500",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                    "location": "Outlet",
                                },
                                {
                                    "value": "16.1",
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                    "phase": "L1",
                                },
                            ],
                        }
                    ],
                )
            )
            stopped = await charger.call(
                call.StopTransaction(
                    meter_stop=4000,
                    timestamp="2026-11-24T11:00:00Z",
                    transaction_id=transaction_id,
                    id_tag="TAG-OK",
                    reason="EVDisconnected",
                    transaction_data=[
                        {
                            "timestamp": "2026-11-24T11:00:00Z",
                            "sampledValue": [
                                {"value": "4000", "context": "Transaction.End", "unit": "Wh"}
                            ],
                        }
                    ],
                )
            )
            assert stopped.id_tag_info["status"] == "Accepted"
            heartbeat = await charger.call(call.Heartbeat())
            assert heartbeat.current_time.endswith("Z")

        await system.message_log.flush()
        async with system.database.read_sessions() as session:
            transaction = await session.get(TransactionRow, transaction_id)
            assert transaction is not None
            assert (transaction.charge_point_id, transaction.connector_id) == ("CP-E2E", 1)
            assert (transaction.meter_start, transaction.meter_stop) == (1000, 4000)
            assert transaction.started_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
            assert transaction.stopped_at == datetime(2026, 11, 24, 11, tzinfo=UTC)
            assert transaction.stop_reason == "EVDisconnected"

            samples = (
                await session.scalars(
                    select(MeterValueRow)
                    .where(MeterValueRow.transaction_id == transaction_id)
                    .order_by(MeterValueRow.id)
                )
            ).all()
            assert [
                (s.value, s.measurand, s.unit, s.phase, s.context, s.location, s.source)
                for s in samples
            ] == [
                (
                    "2500",
                    "Energy.Active.Import.Register",
                    "Wh",
                    None,
                    "Sample.Periodic",
                    "Outlet",
                    "MeterValues",
                ),
                ("16.1", "Current.Import", "A", "L1", None, None, "MeterValues"),
                ("4000", None, "Wh", None, "Transaction.End", None, "StopTransaction"),
            ]

            connectors = (
                await session.scalars(select(ConnectorRow).order_by(ConnectorRow.connector_id))
            ).all()
            assert [(c.connector_id, c.status, c.vendor_id, c.info) for c in connectors] == [
                (0, "Available", "acme", "ready"),
                (1, "Available", "acme", "ready"),
            ]
            assert (
                await session.scalar(select(func.count()).select_from(StatusNotificationRow)) == 2
            )

            logged = (
                await session.execute(
                    select(
                        MessageLogRow.direction, MessageLogRow.message_type, MessageLogRow.action
                    ).order_by(MessageLogRow.id)
                )
            ).all()
        incoming = [action for direction, kind, action in logged if (direction, kind) == ("in", 2)]
        assert incoming == [
            "BootNotification",
            "StatusNotification",
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "StopTransaction",
            "Heartbeat",
        ]
        answers = [action for direction, kind, action in logged if (direction, kind) == ("out", 3)]
        assert answers == incoming
        # After the accepted boot the server read and set the charger's configuration.
        commands = [action for direction, kind, action in logged if (direction, kind) == ("out", 2)]
        assert commands[0] == "GetConfiguration"
        assert set(commands[1:]) <= {"ChangeConfiguration"}

        charger_view = await system.operations.charge_point("CP-E2E")
        assert charger_view.charge_point.vendor == "Acme"
        capabilities = charger_view.charge_point.capabilities
        assert capabilities is not None
        assert capabilities.feature_profiles == {"Core", "RemoteTrigger"}
        assert capabilities.can_display_messages is True
        assert capabilities.refused == {}
        assert charger_view.charge_point.last_seen_at is not None
        transactions = await system.operations.transactions(Page())
        assert [t.energy_wh for t in transactions] == [3000]


async def test_operator_command_reaches_the_charger_and_its_answer_comes_back(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config) as system:
        await system.operations.put_charge_point("CP-CMD", RegistrationStatus.ACCEPTED)
        async with library_charger(ocpp_url(system, "CP-CMD"), "CP-CMD") as charger:
            charger.answers["RemoteStartTransaction"] = {"status": "Rejected"}
            await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{system.api_port}",
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            ) as client:
                response = await client.post(
                    "/api/v1/operator/charge-points/CP-CMD/commands/remote-start-transaction",
                    json={"idTag": "TAG-1", "connectorId": 2},
                )
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "Rejected"}
        assert charger.received == [
            ("RemoteStartTransaction", {"id_tag": "TAG-1", "connector_id": 2})
        ]
