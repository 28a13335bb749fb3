"""A session while the network is down, replayed in order after reconnecting
(OCPP 1.6 §3.7), against the real central system."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from central_system.persistence.tables import MessageLogRow, MeterValueRow, TransactionRow
from tests.conftest import DatabaseConfig
from tests.e2e.simulated import HandClock, demo_garage, seen, simulated

CP = "GARAGE-CP-03"


async def test_an_offline_session_is_replayed_after_reconnecting(
    sqlite_config: DatabaseConfig,
) -> None:
    clock = HandClock(behind=timedelta(minutes=30))
    async with demo_garage(sqlite_config) as system:
        async with simulated(
            system,
            CP,
            clock=clock,
            power_w=3600.0,
            reconnect_base=0.05,
            config={"MeterValueSampleInterval": "0"},
        ) as charger:
            # Online once: the card gets into the Authorization Cache.
            mark = charger.recorder.mark
            charger.present("OWNER-BOB", 1)
            await seen(charger, mark, "authorization", status="Accepted")
            charger.plug(1)
            first = await seen(charger, mark, "transaction_confirmed")
            clock.advance(30)
            charger.present("OWNER-BOB", 1)
            first_stop = await seen(charger, mark, "transaction_stopped")
            await seen(charger, mark, "transaction_closed")
            charger.unplug(1)
            async with asyncio.timeout(5):
                await charger.wait_delivered()

            charger.go_offline()
            await seen(charger, mark, "disconnected")
            offline_start = clock.moment = clock.moment + timedelta(minutes=1)
            charger.present("OWNER-BOB", 1)
            verdict = await seen(charger, mark, "authorization", source="cache")
            assert verdict.data["status"] == "Accepted"
            charger.plug(1)
            for _ in range(3):
                clock.advance(60)
                charger.sample(1)
            clock.advance(60)
            charger.unplug(1)
            assert [item.action for item in charger.queue] == [
                "StartTransaction",
                "MeterValues",
                "MeterValues",
                "MeterValues",
                "StopTransaction",
            ]

            back = charger.recorder.mark
            charger.go_online()
            await seen(charger, back, "registration", status="Accepted")
            replayed = await seen(charger, back, "transaction_confirmed")
            await seen(charger, back, "transaction_closed")
            async with asyncio.timeout(5):
                await charger.wait_delivered()
            assert len(charger.queue) == 0
        transaction_id = replayed.data["transaction_id"]
        assert transaction_id != first.data["transaction_id"]
        await system.message_log.flush()
        async with system.database.read_sessions() as session:
            transaction = await session.get(TransactionRow, transaction_id)
            assert transaction is not None
            # The central system keeps the charger's times, not the time of the replay.
            assert transaction.started_at == offline_start
            assert transaction.stopped_at == offline_start + timedelta(minutes=4)
            # The register went on from where the first session left it.
            assert (transaction.meter_start, transaction.meter_stop) == (
                first_stop.data["meter_stop"],
                first_stop.data["meter_stop"] + 240,
            )
            assert transaction.stop_reason == "EVDisconnected"
            samples = (
                await session.scalars(
                    select(MeterValueRow.value)
                    .where(
                        MeterValueRow.transaction_id == transaction_id,
                        MeterValueRow.measurand == "Energy.Active.Import.Register",
                    )
                    .order_by(MeterValueRow.id)
                )
            ).all()
            start = transaction.meter_start
            # Three periodic samples, then the StopTransaction's Begin and End readings.
            assert samples == [str(start + n) for n in (60, 120, 180, 0, 240)]
            replay = (
                await session.scalars(
                    select(MessageLogRow.action)
                    .where(
                        MessageLogRow.charge_point_id == CP,
                        MessageLogRow.direction == "in",
                        MessageLogRow.message_type == 2,
                    )
                    .order_by(MessageLogRow.id)
                )
            ).all()
        last_boot = len(replay) - 1 - replay[::-1].index("BootNotification")
        assert [a for a in replay[last_boot:] if a != "StatusNotification"] == [
            "BootNotification",
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
