"""Races between nodes resolve in PostgreSQL: one booking wins, each move happens once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from central_system.domain.garage import ReservationState
from central_system.domain.model import EventKind
from central_system.persistence.db import create_database
from central_system.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from central_system.ports import Page
from tests.cluster.helpers import ClusterEnv, Node, eventually, seed_garage
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_two_nodes_booking_one_space_at_once_give_it_to_one_owner(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    a, b = cluster["A"], cluster["B"]
    garage = await seed_garage(cluster_env.schema, "CP-RACE", owners=12)
    starts = datetime.now(UTC) + timedelta(hours=1)
    window = {
        "space_id": garage.space_id,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }
    go = asyncio.Event()

    async def book(node: Node, token: str) -> tuple[int, dict[str, object]]:
        async with node.api(token) as owner:
            await owner.get("/api/v1/me")  # connected and authenticated before the start
            await go.wait()
            answer = await owner.post("/api/v1/me/reservations", json=window)
        return answer.status_code, answer.json()

    attempts = [
        asyncio.create_task(book(a if n % 2 else b, token)) for n, token in enumerate(garage.tokens)
    ]
    go.set()
    answers = await asyncio.gather(*attempts)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 11
    assert {body.get("code") for status, body in answers if status == 409} == {"space_taken"}

    database = create_database(POSTGRES_URL, schema=cluster_env.schema)
    try:
        async with SqlAlchemyUnitOfWorkFactory(database, _Clock())(read_only=True) as uow:
            live = await uow.reservations.overlapping(
                garage.space_id, starts, starts + timedelta(hours=2)
            )
    finally:
        await database.dispose()
    assert len(live) == 1


async def test_a_due_no_show_is_expired_exactly_once_by_the_cluster(
    cluster: dict[str, Node], cluster_env: ClusterEnv
) -> None:
    """Three nodes tick every 0.2 s; every reservation opens once and expires once."""
    assert all(node.process.poll() is None for node in cluster.values())
    database = create_database(POSTGRES_URL, schema=cluster_env.schema)
    uow = SqlAlchemyUnitOfWorkFactory(database, _Clock())
    try:
        reservation_ids = []
        for n in range(10):
            garage = await seed_garage(cluster_env.schema, f"CP-NOSHOW-{n}")
            now = datetime.now(UTC)
            async with uow() as work:
                reservation = await work.reservations.add(
                    garage.owner_ids[0],
                    garage.space_id,
                    now - timedelta(minutes=1),
                    now + timedelta(hours=1),
                    now + timedelta(seconds=1),  # the arrival deadline: nobody comes
                )
                await work.commit()
            reservation_ids.append(reservation.id)

        async def all_expired() -> bool:
            async with uow(read_only=True) as work:
                states = [(await work.reservations.get(r)) for r in reservation_ids]
            return all(s is not None and s.state is ReservationState.EXPIRED for s in states)

        await eventually(all_expired, within=20, what="every no-show expired")
        # Each move commits with its event, in one transaction: once the reservations
        # are expired, every event their moves will ever have is written.
        async with uow(read_only=True) as work:
            events = await work.events.list(Page(limit=1000))
    finally:
        await database.dispose()
    moves = [
        (e.detail["reservation_id"], e.kind)
        for e in events
        if e.kind in (EventKind.RESERVATION_ACTIVE, EventKind.RESERVATION_EXPIRED)
        and e.detail.get("reservation_id") in reservation_ids
    ]
    for kind in (EventKind.RESERVATION_ACTIVE, EventKind.RESERVATION_EXPIRED):
        moved = sorted(r for r, k in moves if k is kind)
        assert moved == sorted(reservation_ids), kind
