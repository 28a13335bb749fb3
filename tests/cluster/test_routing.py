"""Commands issued on one node reach chargers held by another, with the same answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.cluster.helpers import (
    ClusterEnv,
    Node,
    charger_on,
    eventually,
    is_connected_on,
    seed_garage,
)

pytestmark = pytest.mark.postgres


def _in(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_a_charger_on_node_a_is_started_through_the_owner_api_of_node_b(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    a, b = cluster["A"], cluster["B"]
    garage = await seed_garage(cluster_env.schema, "CP-START")
    async with charger_on(a, "CP-START") as charger:
        await eventually(lambda: is_connected_on(b, "CP-START"), what="B sees the charger on A")
        async with b.api(garage.tokens[0]) as owner:
            booked = await owner.post(
                "/api/v1/me/reservations", json={"space_id": garage.space_id, "ends_at": _in(1)}
            )
            assert booked.status_code == 201, booked.text
            assert booked.json()["state"] == "active"
            started = await owner.post(
                f"/api/v1/me/reservations/{booked.json()['id']}/start-charging"
            )
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "Accepted"
        assert charger.received == [
            ("RemoteStartTransaction", {"connector_id": 1, "id_tag": garage.tags[0]})
        ]

    async def gone() -> bool:
        return not await is_connected_on(b, "CP-START")

    # Gone from A: B hears of it at once (the release is announced).
    await eventually(gone, what="B sees the charger leave A")


async def test_a_reservation_made_on_node_b_is_mirrored_to_a_charger_on_node_c(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    b, c = cluster["B"], cluster["C"]
    garage = await seed_garage(cluster_env.schema, "CP-MIRROR")

    async def configured() -> bool:
        async with b.api() as api:
            view = (await api.get("/api/v1/operator/charge-points/CP-MIRROR")).json()
        return bool(view["connected"]) and "Reservation" in (view["feature_profiles"] or [])

    async with charger_on(c, "CP-MIRROR") as charger:
        await charger.boot()
        await eventually(configured, what="C configured the charger, B sees it")
        async with b.api(garage.tokens[0]) as owner:
            booked = await owner.post(
                "/api/v1/me/reservations", json={"space_id": garage.space_id, "ends_at": _in(1)}
            )
            assert booked.status_code == 201, booked.text
            async with asyncio.timeout(10):
                await charger.reserved.wait()
            assert charger.reservations == [
                {
                    "connector_id": 1,
                    "expiry_date": charger.reservations[0]["expiry_date"],
                    "id_tag": garage.tags[0],
                    "reservation_id": booked.json()["id"],
                }
            ]
            charger.command_received.clear()
            cancelled = await owner.post(f"/api/v1/me/reservations/{booked.json()['id']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            async with asyncio.timeout(10):
                await charger.command_received.wait()
        assert charger.received[-1] == (
            "CancelReservation",
            {"reservation_id": booked.json()["id"]},
        )


async def test_a_remote_charger_fails_exactly_as_a_local_one(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    """Same status and problem for each outcome, whether the caller's node holds the charger."""
    a, b = cluster["A"], cluster["B"]
    async with charger_on(a, "CP-ERRORS") as charger:
        await eventually(lambda: is_connected_on(b, "CP-ERRORS"), what="B sees the charger on A")
        outcomes = {}
        for node in (a, b):
            charger.hold_reset = asyncio.Event()  # the Reset is answered too late
            async with node.api() as api:
                base = "/api/v1/operator/charge-points"
                outcomes[node.node_id] = [
                    await api.post(
                        f"{base}/CP-ERRORS/commands/data-transfer", json={"vendorId": "V"}
                    ),
                    # The library charger has no handler: a CALLERROR (NotImplemented).
                    await api.post(
                        f"{base}/CP-ERRORS/commands/unlock-connector", json={"connectorId": 1}
                    ),
                    await api.post(f"{base}/CP-ERRORS/commands/reset", json={"type": "Sideways"}),
                    await api.post(f"{base}/CP-NOWHERE/commands/reset", json={"type": "Soft"}),
                    await api.post(f"{base}/CP-ERRORS/commands/reset", json={"type": "Soft"}),
                ]
            charger.hold_reset.set()
        local, remote = outcomes[a.node_id], outcomes[b.node_id]
        assert [r.status_code for r in local] == [200, 502, 400, 404, 504]
        assert [r.status_code for r in remote] == [r.status_code for r in local]
        for here, there in zip(local, remote, strict=True):
            assert here.json() == there.json()


async def test_a_command_in_flight_when_the_charger_moves_fails_and_is_not_repeated(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    a, b, c = cluster["A"], cluster["B"], cluster["C"]
    command = "/api/v1/operator/charge-points/CP-MOVE/commands/reset"
    async with charger_on(a, "CP-MOVE") as old, b.api() as api:
        await eventually(lambda: is_connected_on(b, "CP-MOVE"), what="B sees the charger on A")
        old.hold_reset = asyncio.Event()
        pending = asyncio.create_task(api.post(command, json={"type": "Soft"}))
        async with asyncio.timeout(10):
            await old.reset_received.wait()
        # The charger reconnects to C while A waits for its answer.
        async with charger_on(c, "CP-MOVE") as new:
            answer = await asyncio.wait_for(pending, 10)
            assert answer.status_code == 502, answer.text
            assert answer.json()["title"] == "Charger disconnected"
            assert new.received == []  # not re-sent on its new connection
            again = await api.post(command, json={"type": "Hard"})
            assert again.status_code == 200, again.text
            assert new.received == [("Reset", {"type": "Hard"})]
        assert old.received == [("Reset", {"type": "Soft"})]
