"""The operator API through its ASGI app, on the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from central_system.domain.model import ConnectorStatus, StartRequest
from central_system.system import CentralSystem
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, settings_for

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
OP = "/api/v1/operator"


@pytest.fixture
async def system(database_config: DatabaseConfig) -> AsyncIterator[CentralSystem]:
    from tests.conftest import migrated

    async with migrated(database_config):
        pass
    prepared = CentralSystem(settings_for(database_config), operator_token=OPERATOR_TOKEN)
    await prepared.prepare()
    try:
        yield prepared
    finally:
        await prepared.stop()


@pytest.fixture
async def client(system: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=system.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=AUTH) as c:
        yield c


def is_problem(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
async def test_operator_routes_need_the_operator_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    client.headers.pop("Authorization")
    response = await client.get(f"{OP}/charge-points", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert is_problem(response)


async def test_charge_point_lifecycle(client: httpx.AsyncClient, system: CentralSystem) -> None:
    created = await client.put(f"{OP}/charge-points/CP-1", json={})
    assert created.status_code == 201
    assert created.json()["registration_status"] == "Accepted"
    assert created.json()["connected"] is False

    updated = await client.put(f"{OP}/charge-points/CP-1", json={"registration_status": "Pending"})
    assert updated.status_code == 200
    assert updated.json()["registration_status"] == "Pending"

    await system.sessions.status_notification(
        "CP-1", ConnectorStatus(1, "Faulted", "GroundFailure")
    )
    listed = await client.get(f"{OP}/charge-points")
    assert [(c["id"], [k["status"] for k in c["connectors"]]) for c in listed.json()] == [
        ("CP-1", ["Faulted"])
    ]
    assert (await client.get(f"{OP}/charge-points/CP-1")).json()["connectors"][0][
        "error_code"
    ] == "GroundFailure"

    assert (await client.delete(f"{OP}/charge-points/CP-1")).status_code == 204
    missing = await client.get(f"{OP}/charge-points/CP-1")
    assert missing.status_code == 404
    assert is_problem(missing)


async def test_a_charger_with_transactions_is_kept(
    client: httpx.AsyncClient, system: CentralSystem
) -> None:
    await client.put(f"{OP}/charge-points/CP-T", json={})
    await system.sessions.start_transaction(
        "CP-T", StartRequest(1, "TAG", 0, "2026-11-24T10:00:00Z")
    )
    response = await client.delete(f"{OP}/charge-points/CP-T")
    assert response.status_code == 409
    assert (await client.get(f"{OP}/charge-points/CP-T")).status_code == 200


async def test_id_tags_are_created_updated_listed_and_deleted(client: httpx.AsyncClient) -> None:
    created = await client.put(
        f"{OP}/id-tags/TAG-1",
        json={
            "status": "Accepted",
            "expiry_date": "2027-01-01T00:00:00+01:00",
            "parent_id_tag": "G",
        },
    )
    assert created.status_code == 201
    assert created.json()["expiry_date"].startswith("2027-01-01T00:00:00")
    blocked = await client.put(f"{OP}/id-tags/TAG-1", json={"status": "Blocked"})
    assert blocked.status_code == 200
    fetched = await client.get(f"{OP}/id-tags/TAG-1")
    assert fetched.json() == {
        "id_tag": "TAG-1",
        "status": "Blocked",
        "expiry_date": None,
        "parent_id_tag": None,
    }
    assert [t["id_tag"] for t in (await client.get(f"{OP}/id-tags")).json()] == ["TAG-1"]
    assert (await client.delete(f"{OP}/id-tags/TAG-1")).status_code == 204
    assert (await client.delete(f"{OP}/id-tags/TAG-1")).status_code == 404
    assert (await client.get(f"{OP}/id-tags/TAG-1")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "Sometimes"}, "status"),
        ({"expiry_date": "tomorrow"}, "expiry_date"),
        ({"parent_id_tag": "X" * 21}, "parent_id_tag"),
        ({"owner_id": 7}, "owner_id"),
    ],
)
async def test_bad_id_tag_bodies_get_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.put(f"{OP}/id-tags/TAG-2", json=body)
    assert response.status_code == 422
    assert is_problem(response)
    assert field in response.json()["detail"]
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await client.get(f"{OP}/id-tags/TAG-2")).status_code == 404


async def test_an_id_tag_longer_than_ocpp_allows_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{OP}/id-tags/{'X' * 21}", json={})
    assert response.status_code == 422


async def test_page_size_is_capped(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{OP}/transactions", params={"limit": 501})
    assert response.status_code == 422
    assert "limit" in response.json()["detail"]
    assert (await client.get(f"{OP}/transactions", params={"limit": 500})).status_code == 200


async def test_transactions_with_meter_values(
    client: httpx.AsyncClient, system: CentralSystem
) -> None:
    from central_system.domain.model import ReportedMeterValue, SampledValue, StopRequest

    await client.put(f"{OP}/charge-points/CP-M", json={})
    started = await system.sessions.start_transaction(
        "CP-M", StartRequest(2, "TAG", 100, "2026-11-24T10:00:00Z")
    )
    await system.sessions.meter_values(
        "CP-M",
        2,
        started.transaction_id,
        [ReportedMeterValue("2026-11-24T10:30:00Z", (SampledValue("600", unit="Wh"),))],
    )
    await system.sessions.stop_transaction(
        "CP-M", StopRequest(started.transaction_id, 1100, "2026-11-24T11:00:00Z")
    )
    listed = (await client.get(f"{OP}/transactions", params={"charge_point_id": "CP-M"})).json()
    assert [(t["id"], t["energy_wh"]) for t in listed] == [(started.transaction_id, 1000)]
    detail = (await client.get(f"{OP}/transactions/{started.transaction_id}")).json()
    assert detail["stopped_at"] == "2026-11-24T11:00:00Z"
    assert [
        (m["timestamp"], m["source"], [s["value"] for s in m["sampled_values"]])
        for m in detail["meter_values"]
    ] == [("2026-11-24T10:30:00Z", "MeterValues", ["600"])]
    assert (await client.get(f"{OP}/transactions/999999")).status_code == 404
    assert (await client.get(f"{OP}/transactions", params={"charge_point_id": "CP-X"})).json() == []


async def test_events_and_message_log_are_readable(
    client: httpx.AsyncClient, system: CentralSystem
) -> None:
    from central_system.domain.model import LoggedMessage, StopRequest

    await client.put(f"{OP}/charge-points/CP-E", json={})
    await system.sessions.stop_transaction("CP-E", StopRequest(-1, 5, "2026-11-24T10:00:00Z"))
    events = (await client.get(f"{OP}/events", params={"charge_point_id": "CP-E"})).json()
    assert [(e["kind"], e["detail"]["transaction_id"]) for e in events] == [
        ("stop_unknown_transaction", -1)
    ]
    system.message_log.start()
    try:
        await system.message_log.record(
            LoggedMessage(
                "CP-E", "in", 2, "Heartbeat", "m1", '[2,"m1","Heartbeat",{}]', datetime.now(UTC)
            )
        )
        await system.message_log.flush()
    finally:
        await system.message_log.stop()
    messages = (await client.get(f"{OP}/messages", params={"charge_point_id": "CP-E"})).json()
    assert [(m["direction"], m["action"], m["unique_id"]) for m in messages] == [
        ("in", "Heartbeat", "m1")
    ]


async def test_commands_for_a_charger_that_is_not_connected(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{OP}/charge-points/CP-9/commands/reset", json={"type": "Soft"})
    assert response.status_code == 404
    assert is_problem(response)
    unknown = await client.post(f"{OP}/charge-points/CP-9/commands/brew-coffee", json={})
    assert unknown.status_code == 400
    invalid = await client.post(f"{OP}/charge-points/CP-9/commands/reset", json={"type": "Hard!"})
    assert invalid.status_code == 400
    assert invalid.json()["ocpp_error_code"] == "PropertyConstraintViolation"
    not_object = await client.post(f"{OP}/charge-points/CP-9/commands/reset", json=["Soft"])
    assert not_object.status_code == 400


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    # The database answers, but this system was prepared, not started: no OCPP listener.
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": True, "ocpp": False}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "ocpp_connected_chargers" in metrics.text


async def test_openapi_document_lists_the_operator_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert f"{OP}/charge-points/{{charge_point_id}}/commands/{{action}}" in document["paths"]
    assert f"{OP}/id-tags/{{id_tag}}" in document["paths"]
