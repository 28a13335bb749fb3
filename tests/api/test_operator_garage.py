"""The operator's garage routes: spaces, connectors, owners, logins and tags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from tests.api.owner_support import API, OPERATOR, Garage, api_client, is_problem, prepared_garage
from tests.conftest import DatabaseConfig

OP = f"{API}/operator"


@pytest.fixture
async def garage(database_config: DatabaseConfig) -> AsyncIterator[Garage]:
    async with prepared_garage(database_config) as prepared:
        yield prepared


@pytest.fixture
async def client(garage: Garage) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(garage.system) as c:
        c.headers.update(OPERATOR)
        yield c


async def test_spaces_are_created_changed_mapped_and_deleted(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    created = await client.post(f"{OP}/spaces", json={"label": "C7", "level": "B2"})
    assert created.status_code == 201
    space = created.json()
    assert (space["label"], space["charge_point_id"], space["connector_id"]) == ("C7", None, None)

    mapped = await client.put(
        f"{OP}/spaces/{space['id']}/connector", json={"charge_point_id": "CP-A", "connector_id": 4}
    )
    assert mapped.status_code == 200
    assert (mapped.json()["charge_point_id"], mapped.json()["connector_id"]) == ("CP-A", 4)
    free = await client.get(f"{API}/spaces/free", headers=garage.auth("alice"))
    assert "C7" in [s["label"] for s in free.json()]

    renamed = await client.put(
        f"{OP}/spaces/{space['id']}",
        json={"label": "C8", "level": "B2", "charge_point_id": "CP-A", "connector_id": 4},
    )
    assert renamed.json()["label"] == "C8"
    assert (await client.get(f"{OP}/spaces/{space['id']}")).json()["label"] == "C8"
    unmapped = await client.delete(f"{OP}/spaces/{space['id']}/connector")
    assert unmapped.json()["connector_id"] is None
    labels = [s["label"] for s in (await client.get(f"{OP}/spaces")).json()]
    assert labels == ["A1", "A2", "A3", "C8", "X1"]

    assert (await client.delete(f"{OP}/spaces/{space['id']}")).status_code == 204
    assert (await client.get(f"{OP}/spaces/{space['id']}")).status_code == 404
    assert (await client.delete(f"{OP}/spaces/{space['id']}")).status_code == 404


async def test_space_conflicts(client: httpx.AsyncClient, garage: Garage) -> None:
    same_label = await client.post(f"{OP}/spaces", json={"label": "A1"})
    assert same_label.status_code == 409
    assert same_label.json()["code"] == "duplicate"
    same_connector = await client.post(
        f"{OP}/spaces", json={"label": "Z1", "charge_point_id": "CP-A", "connector_id": 1}
    )
    assert same_connector.status_code == 409
    assert "CP-A/1" in same_connector.json()["detail"]
    unknown_charger = await client.post(
        f"{OP}/spaces", json={"label": "Z1", "charge_point_id": "CP-NONE", "connector_id": 1}
    )
    assert unknown_charger.status_code == 404
    half = await client.post(f"{OP}/spaces", json={"label": "Z1", "connector_id": 1})
    assert half.status_code == 422
    assert is_problem(half)
    labels = [s["label"] for s in (await client.get(f"{OP}/spaces")).json()]
    assert labels == ["A1", "A2", "A3", "X1"]


async def test_a_space_with_a_live_reservation_keeps_its_charger(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    made = await client.post(
        f"{API}/me/reservations",
        json={
            "space_id": garage.spaces["A3"],
            "ends_at": (garage.clock.now() + timedelta(hours=1)).isoformat(),
        },
        headers=garage.auth("bob"),
    )
    assert made.status_code == 201
    space = f"{OP}/spaces/{garage.spaces['A3']}"
    assert (await client.delete(space)).status_code == 409
    moved = await client.put(
        f"{space}/connector", json={"charge_point_id": "CP-A", "connector_id": 9}
    )
    assert moved.status_code == 409
    assert moved.json()["code"] == "in_use"
    relabelled = await client.put(
        space, json={"label": "A3*", "level": "B1", "charge_point_id": "CP-A", "connector_id": 3}
    )
    assert relabelled.status_code == 200
    assert (await client.delete(f"{OP}/owners/{garage.owners['bob']}")).status_code == 409
    assert (await client.get(space)).json()["connector_id"] == 3


async def test_owners_logins_and_tags(client: httpx.AsyncClient, garage: Garage) -> None:
    created = await client.post(
        f"{OP}/owners",
        json={"name": "Dora", "login": "Dora@Example.org", "password": "dora-password"},
    )
    assert created.status_code == 201
    dora = created.json()
    assert (dora["name"], dora["login"], dora["tags"]) == ("Dora", "dora@example.org", [])

    given = await client.put(f"{OP}/owners/{dora['id']}/tags/DORA-1", json={})
    assert given.status_code == 201
    blocked = await client.put(f"{OP}/id-tags/DORA-1", json={"status": "Blocked"})
    assert blocked.status_code == 200
    owner = (await client.get(f"{OP}/owners/{dora['id']}")).json()
    assert [(t["id_tag"], t["status"]) for t in owner["tags"]] == [("DORA-1", "Blocked")]

    login = await client.post(
        f"{API}/auth/login", json={"login": "dora@example.org", "password": "dora-password"}
    )
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert [t["id_tag"] for t in (await client.get(f"{API}/me/tags", headers=token)).json()] == [
        "DORA-1"
    ]

    renamed = await client.put(f"{OP}/owners/{dora['id']}", json={"name": "Dora B."})
    assert renamed.json()["name"] == "Dora B."
    taken = await client.put(
        f"{OP}/owners/{dora['id']}/login",
        json={"login": "alice@example.org", "password": "whatever-1"},
    )
    assert taken.status_code == 409
    duplicate_owner = await client.post(
        f"{OP}/owners", json={"name": "Eve", "login": "alice@example.org", "password": "eve-pass-1"}
    )
    assert duplicate_owner.status_code == 409
    assert "Eve" not in [o["name"] for o in (await client.get(f"{OP}/owners")).json()]

    assert (await client.delete(f"{OP}/owners/{dora['id']}/tags/DORA-1")).status_code == 204
    assert (await client.delete(f"{OP}/owners/{dora['id']}/tags/DORA-1")).status_code == 404
    assert (await client.get(f"{OP}/id-tags/DORA-1")).status_code == 200  # kept, unowned
    assert (await client.delete(f"{OP}/owners/{dora['id']}")).status_code == 204
    assert (await client.get(f"{OP}/owners/{dora['id']}")).status_code == 404
    assert (await client.get(f"{API}/me", headers=token)).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "X", "login": "x@example.org"}, "body"),
        ({"name": "X", "login": "x@example.org", "password": "short"}, "password"),
        ({"name": "X", "id": 5}, "id"),
    ],
)
async def test_bad_owner_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post(f"{OP}/owners", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert len((await client.get(f"{OP}/owners")).json()) == 2
