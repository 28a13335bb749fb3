"""Who may do what: owners only their own objects, operators only operator routes.

Each matrix checks the answer and that the database is exactly as before.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from central_system.domain.model import StartRequest
from central_system.persistence.tables import Base
from tests.api.owner_support import API, OPERATOR, Garage, api_client, is_problem, prepared_garage
from tests.conftest import DatabaseConfig

HOUR = timedelta(hours=1)


@pytest.fixture
async def garage(database_config: DatabaseConfig) -> AsyncIterator[Garage]:
    async with prepared_garage(database_config) as prepared:
        yield prepared


@pytest.fixture
async def client(garage: Garage) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(garage.system) as c:
        yield c


async def snapshot(garage: Garage) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with garage.system.database.read_sessions() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(row) for row in result]
    return rows


async def alices_reservation_and_session(
    client: httpx.AsyncClient, garage: Garage
) -> tuple[int, int]:
    made = await client.post(
        f"{API}/me/reservations",
        json={
            "space_id": garage.spaces["A1"],
            "ends_at": (garage.clock.now() + 2 * HOUR).isoformat(),
        },
        headers=garage.auth("alice"),
    )
    assert made.status_code == 201
    started = await garage.system.sessions.start_transaction(
        "CP-A", StartRequest(1, "ALICE-TAG", 0, garage.clock.now().isoformat())
    )
    return made.json()["id"], started.transaction_id


OBJECT_ROUTES = [
    ("GET", "/me/reservations/{reservation}"),
    ("POST", "/me/reservations/{reservation}/cancel"),
    ("POST", "/me/reservations/{reservation}/start-charging"),
    ("POST", "/me/reservations/{reservation}/stop-charging"),
    ("GET", "/me/sessions/{session}"),
]


@pytest.mark.parametrize(("method", "route"), OBJECT_ROUTES)
async def test_another_owners_object_is_404_and_nothing_changes(
    client: httpx.AsyncClient, garage: Garage, method: str, route: str
) -> None:
    reservation_id, session_id = await alices_reservation_and_session(client, garage)
    before = await snapshot(garage)

    url = API + route.format(reservation=reservation_id, session=session_id)
    response = await client.request(method, url, headers=garage.auth("bob"))
    assert response.status_code == 404
    assert is_problem(response)
    assert "etag" not in response.headers
    # Exactly what an id that does not exist gets: nothing tells Bob the object is there.
    absent = await client.request(
        method,
        API + route.format(reservation=reservation_id + 1000, session=session_id + 1000),
        headers=garage.auth("bob"),
    )
    assert absent.status_code == 404
    assert re.sub(r"\d+", "N", response.json()["detail"]) == re.sub(
        r"\d+", "N", absent.json()["detail"]
    )
    assert await snapshot(garage) == before
    # Alice still reaches both.
    alice = garage.auth("alice")
    mine = await client.get(f"{API}/me/reservations/{reservation_id}", headers=alice)
    assert mine.json()["state"] == "active"
    session = await client.get(f"{API}/me/sessions/{session_id}", headers=alice)
    assert session.json()["is_open"] is True


async def test_lists_show_only_the_owners_own(client: httpx.AsyncClient, garage: Garage) -> None:
    reservation_id, session_id = await alices_reservation_and_session(client, garage)
    bob = garage.auth("bob")
    assert (await client.get(f"{API}/me/reservations", headers=bob)).json() == []
    assert (await client.get(f"{API}/me/sessions", headers=bob)).json() == []
    alice = garage.auth("alice")
    assert [
        r["id"] for r in (await client.get(f"{API}/me/reservations", headers=alice)).json()
    ] == [reservation_id]
    assert [s["id"] for s in (await client.get(f"{API}/me/sessions", headers=alice)).json()] == [
        session_id
    ]


def _routes(garage: Garage, prefix: str) -> list[tuple[str, str]]:
    """Every documented route under the prefix (the OpenAPI document lists them all)."""
    paths = garage.system.app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith(prefix)
        for method in sorted(operations)
    ]


def _fill(path: str, garage: Garage) -> str:
    values = {
        "charge_point_id": "CP-A",
        "id_tag": "ALICE-TAG",
        "space_id": str(garage.spaces["A1"]),
        "owner_id": str(garage.owners["alice"]),
        "action": "reset",
        "transaction_id": "1",
        "reservation_id": "1",
        "session_id": "1",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


async def test_owners_get_403_on_every_operator_route(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    routes = _routes(garage, f"{API}/operator")
    assert len(routes) >= 25  # charge points, commands, tags, spaces, owners, logs
    before = await snapshot(garage)
    for method, path in routes:
        url = _fill(path, garage)
        as_owner = await client.request(method, url, headers=garage.auth("alice"), json={})
        assert as_owner.status_code == 403, (method, path, as_owner.text)
        assert is_problem(as_owner)
        anonymous = await client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, path)
    assert await snapshot(garage) == before


async def test_the_operator_token_gets_403_on_every_owner_route(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    routes = [
        (m, p)
        for m, p in _routes(garage, API)
        if not p.startswith((f"{API}/operator", f"{API}/auth/login"))
    ]
    assert len(routes) >= 12
    before = await snapshot(garage)
    for method, path in routes:
        response = await client.request(method, _fill(path, garage), headers=OPERATOR, json={})
        assert response.status_code == 403, (method, path)
        assert is_problem(response)
    assert await snapshot(garage) == before


async def test_double_booking_race_over_http_has_one_winner(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    start = garage.clock.now() + HOUR
    requests = [
        client.post(
            f"{API}/me/reservations",
            json={
                "space_id": garage.spaces["A2"],
                "starts_at": (start + n * timedelta(minutes=1)).isoformat(),
                "ends_at": (start + 3 * HOUR).isoformat(),
            },
            headers=garage.auth(who),
        )
        for n, who in enumerate(["alice", "bob"] * 5)
    ]
    responses = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"space_taken"}
    rows = (await snapshot(garage))["reservations"]
    assert len(rows) == 1
