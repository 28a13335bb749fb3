"""An owner's reservation through the HTTP API, with an ocpp-library charger at the space.

free -> reserved -> charging -> fulfilled: the owner asks over HTTP, the central
system commands the charger, the charger answers and reports as a real one would.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from ocpp.v16 import call

from tests.api.owner_support import API, CHEAP_HASHING, PASSWORDS, seed
from tests.chargers import LibraryCharger, library_charger
from tests.conftest import DatabaseConfig, MovableClock, ocpp_url, running_system


async def command(charger: LibraryCharger, action: str) -> dict[str, Any]:
    """The payload of the first ``action`` the charger received (waits for it)."""
    async with asyncio.timeout(5):
        while not any(name == action for name, _ in charger.received):
            charger.command_received.clear()
            await charger.command_received.wait()
    return next(payload for name, payload in charger.received if name == action)


async def test_reserve_charge_and_fulfil_through_the_api(database_config: DatabaseConfig) -> None:
    clock = MovableClock()
    async with running_system(database_config, clock=clock, **CHEAP_HASHING) as system:
        garage = await seed(system, clock)
        base = f"http://127.0.0.1:{system.api_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post(
                f"{API}/auth/login",
                json={"login": "alice@example.org", "password": PASSWORDS["alice"]},
            )
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

            async def space_state() -> str:
                spaces = (await http.get(f"{API}/spaces")).json()
                return str(next(s["state"] for s in spaces if s["label"] == "A1"))

            states = [await space_state()]
            made = await http.post(
                f"{API}/me/reservations",
                json={
                    "space_id": garage.spaces["A1"],
                    "ends_at": (clock.now() + timedelta(hours=2)).isoformat(),
                },
            )
            assert made.status_code == 201
            reservation = f"{API}/me/reservations/{made.json()['id']}"
            states.append(await space_state())

            async with library_charger(ocpp_url(system, "CP-A"), "CP-A") as charger:
                await charger.call(
                    call.BootNotification(charge_point_model="M", charge_point_vendor="V")
                )
                started = await http.post(f"{reservation}/start-charging")
                assert started.json() == {
                    "status": "Accepted",
                    "charge_point_id": "CP-A",
                    "connector_id": 1,
                }
                remote = await command(charger, "RemoteStartTransaction")
                assert (remote["connector_id"], remote["id_tag"]) == (1, "ALICE-TAG")

                # The car draws power: the charger starts the transaction and reports.
                transaction = await charger.call(
                    call.StartTransaction(
                        connector_id=1,
                        id_tag=remote["id_tag"],
                        meter_start=1000,
                        timestamp=clock.now().isoformat(),
                    )
                )
                assert transaction.id_tag_info["status"] == "Accepted"
                states.append(await space_state())
                energies = []
                for register in (2000, 3000):
                    clock.advance(timedelta(minutes=10))
                    await charger.call(
                        call.MeterValues(
                            connector_id=1,
                            transaction_id=transaction.transaction_id,
                            meter_value=[
                                {
                                    "timestamp": clock.now().isoformat(),
                                    "sampledValue": [{"value": str(register), "unit": "Wh"}],
                                }
                            ],
                        )
                    )
                    status = (await http.get(reservation)).json()
                    energies.append(status["session"]["energy_kwh"])
                assert energies == [1.0, 2.0]
                assert status["session"]["power_kw"] == 6.0  # 1 kWh in 10 minutes
                assert (status["state"], status["notice"]) == ("active", None)

                stopped = await http.post(f"{reservation}/stop-charging")
                assert stopped.json()["status"] == "Accepted"
                remote_stop = await command(charger, "RemoteStopTransaction")
                assert remote_stop["transaction_id"] == transaction.transaction_id
                clock.advance(timedelta(minutes=5))
                await charger.call(
                    call.StopTransaction(
                        meter_stop=3500,
                        timestamp=clock.now().isoformat(),
                        transaction_id=transaction.transaction_id,
                        reason="Remote",
                    )
                )

            final = (await http.get(reservation)).json()
            states.append(await space_state())
            assert states == ["free", "reserved", "charging", "free"]
            assert final["state"] == "fulfilled"
            assert final["session"]["is_open"] is False
            assert final["session"]["energy_kwh"] == 2.5
            assert final["session"]["duration_seconds"] == 25 * 60
            sessions = (await http.get(f"{API}/me/sessions")).json()
            assert [s["id"] for s in sessions] == [transaction.transaction_id]
