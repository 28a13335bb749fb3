"""The owner API through its ASGI app, on the real database: every owner route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from central_system.domain.model import ReportedMeterValue, SampledValue, StartRequest, StopRequest
from tests.api.owner_support import (
    API,
    OPERATOR,
    PASSWORDS,
    Garage,
    api_client,
    is_problem,
    prepared_garage,
)
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


def iso(garage: Garage, delta: timedelta = timedelta(0)) -> str:
    return (garage.clock.now() + delta).isoformat()


async def reserve(
    client: httpx.AsyncClient, garage: Garage, who: str, space: str, hours: float = 2
) -> httpx.Response:
    return await client.post(
        f"{API}/me/reservations",
        json={"space_id": garage.spaces[space], "ends_at": iso(garage, hours * HOUR)},
        headers=garage.auth(who),
    )


# ------------------------------------------------------------------ login


async def test_login_me_and_logout(client: httpx.AsyncClient, garage: Garage) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"login": " Alice@Example.org ", "password": PASSWORDS["alice"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_at"].startswith(iso(garage, 12 * HOUR)[:16])
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await client.get(f"{API}/me", headers=headers)
    assert me.json() == {
        "id": garage.owners["alice"],
        "name": "Alice",
        "login": "alice@example.org",
    }

    assert (await client.post(f"{API}/auth/logout", headers=headers)).status_code == 204
    after = await client.get(f"{API}/me", headers=headers)
    assert after.status_code == 401
    assert is_problem(after)
    # The other token of the same owner is untouched.
    assert (await client.get(f"{API}/me", headers=garage.auth("alice"))).status_code == 200


@pytest.mark.parametrize(
    ("login", "password"),
    [("alice@example.org", "wrong-password"), ("nobody@example.org", PASSWORDS["alice"])],
)
async def test_a_wrong_login_or_password_is_401(
    client: httpx.AsyncClient, login: str, password: str
) -> None:
    response = await client.post(f"{API}/auth/login", json={"login": login, "password": password})
    assert response.status_code == 401
    assert is_problem(response)
    assert response.json()["detail"] == "wrong login or password"
    assert "access_token" not in response.text


async def test_tokens_expire(client: httpx.AsyncClient, garage: Garage) -> None:
    assert (await client.get(f"{API}/me", headers=garage.auth("bob"))).status_code == 200
    garage.clock.advance(12 * HOUR + timedelta(seconds=1))
    assert (await client.get(f"{API}/me", headers=garage.auth("bob"))).status_code == 401


async def test_a_new_password_revokes_every_token(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    changed = await client.put(
        f"{API}/operator/owners/{garage.owners['bob']}/login",
        json={"login": "bob@example.org", "password": "a-new-password"},
        headers=OPERATOR,
    )
    assert changed.status_code == 200
    assert (await client.get(f"{API}/me", headers=garage.auth("bob"))).status_code == 401
    old = await client.post(
        f"{API}/auth/login", json={"login": "bob@example.org", "password": PASSWORDS["bob"]}
    )
    assert old.status_code == 401
    new = await client.post(
        f"{API}/auth/login", json={"login": "bob@example.org", "password": "a-new-password"}
    )
    assert new.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}],
)
async def test_owner_routes_need_an_owner_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(f"{API}/me/reservations", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert is_problem(response)


async def test_the_operator_token_is_not_an_owner(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/me", headers=OPERATOR)
    assert response.status_code == 403
    assert is_problem(response)


async def test_passwords_are_stored_as_argon2_hashes(garage: Garage) -> None:
    account = await garage.system.accounts.account(garage.owners["alice"])
    assert account is not None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORDS["alice"] not in account.password_hash


# ------------------------------------------------------------------ spaces


async def test_free_spaces_now_and_for_a_window(client: httpx.AsyncClient, garage: Garage) -> None:
    alice = garage.auth("alice")
    free = await client.get(f"{API}/spaces/free", headers=alice)
    assert [s["label"] for s in free.json()] == ["A1", "A2", "A3"]  # X1 has no charger
    assert (await reserve(client, garage, "bob", "A1", hours=2)).status_code == 201

    now = await client.get(f"{API}/spaces/free", headers=alice)
    assert [s["label"] for s in now.json()] == ["A2", "A3"]
    later = await client.get(
        f"{API}/spaces/free",
        params={"starts_at": iso(garage, 3 * HOUR), "ends_at": iso(garage, 4 * HOUR)},
        headers=alice,
    )
    assert [s["label"] for s in later.json()] == ["A1", "A2", "A3"]
    overlapping = await client.get(
        f"{API}/spaces/free",
        params={"starts_at": iso(garage, HOUR), "ends_at": iso(garage, 4 * HOUR)},
        headers=alice,
    )
    assert [s["label"] for s in overlapping.json()] == ["A2", "A3"]

    states = await client.get(f"{API}/spaces", headers=alice)
    assert {s["label"]: s["state"] for s in states.json()} == {
        "A1": "reserved",
        "A2": "free",
        "A3": "free",
        "X1": "no_charger",
    }
    assert "owner" not in states.text  # who reserved is nobody else's business


async def test_a_window_that_ends_before_it_starts_is_refused(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    response = await client.get(
        f"{API}/spaces/free",
        params={"starts_at": iso(garage, 2 * HOUR), "ends_at": iso(garage, HOUR)},
        headers=garage.auth("alice"),
    )
    assert response.status_code == 409
    assert "end after it starts" in response.json()["detail"]


async def test_naive_times_are_refused_naming_the_field(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    response = await client.get(
        f"{API}/spaces/free",
        params={"starts_at": "2026-11-24T10:00:00"},
        headers=garage.auth("bob"),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["starts_at"]


# ------------------------------------------------------------ reservations


async def test_reserve_read_list_and_cancel(client: httpx.AsyncClient, garage: Garage) -> None:
    alice = garage.auth("alice")
    made = await reserve(client, garage, "alice", "A2")
    assert made.status_code == 201
    reservation = made.json()
    assert reservation["space_label"] == "A2"
    assert reservation["state"] == "active"  # its window opened at once
    assert reservation["holds_now"] is True
    assert reservation["space_state"] == "reserved"
    assert reservation["session"] is None
    assert reservation["notice"] is None

    read = await client.get(f"{API}/me/reservations/{reservation['id']}", headers=alice)
    assert read.json() == reservation
    listed = await client.get(f"{API}/me/reservations", headers=alice)
    assert [r["id"] for r in listed.json()] == [reservation["id"]]

    cancelled = await client.post(
        f"{API}/me/reservations/{reservation['id']}/cancel", headers=alice
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    again = await client.post(f"{API}/me/reservations/{reservation['id']}/cancel", headers=alice)
    assert again.status_code == 409
    assert again.json()["code"] == "refused"
    free = await client.get(f"{API}/spaces/free", headers=alice)
    assert "A2" in [s["label"] for s in free.json()]


async def test_a_space_just_taken_is_409_with_a_clear_message(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    assert (await reserve(client, garage, "alice", "A1")).status_code == 201
    taken = await reserve(client, garage, "bob", "A1")
    assert taken.status_code == 409
    assert is_problem(taken)
    body = taken.json()
    assert body["code"] == "space_taken"
    assert body["title"] == "Space taken"
    assert "A1 was just reserved by someone else" in body["detail"]
    mine = await client.get(f"{API}/me/reservations", headers=garage.auth("bob"))
    assert mine.json() == []


async def test_refusals_of_the_garage_rules(client: httpx.AsyncClient, garage: Garage) -> None:
    no_charger = await reserve(client, garage, "alice", "X1")
    assert no_charger.status_code == 409
    assert "no charger" in no_charger.json()["detail"]
    too_long = await reserve(client, garage, "alice", "A1", hours=25)
    assert too_long.status_code == 409
    assert "at most" in too_long.json()["detail"]
    missing = await client.post(
        f"{API}/me/reservations",
        json={"space_id": 999, "ends_at": iso(garage, HOUR)},
        headers=garage.auth("alice"),
    )
    assert missing.status_code == 404
    assert (await reserve(client, garage, "alice", "A1")).status_code == 201
    assert (await reserve(client, garage, "alice", "A2")).status_code == 201
    third = await reserve(client, garage, "alice", "A3")
    assert third.status_code == 409
    assert "at most 2 reservations" in third.json()["detail"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"owner_id": 2}, "owner_id"),
        ({"status": "active"}, "status"),
        ({"state": "fulfilled"}, "state"),
        ({"space_id": "A1"}, "space_id"),
        ({"ends_at": "2026-11-24T10:00:00"}, "ends_at"),
    ],
)
async def test_bad_reservation_bodies_are_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, garage: Garage, extra: dict[str, object], field: str
) -> None:
    body = {"space_id": garage.spaces["A1"], "ends_at": iso(garage, HOUR), **extra}
    response = await client.post(f"{API}/me/reservations", json=body, headers=garage.auth("bob"))
    assert response.status_code == 422
    assert is_problem(response)
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert field in response.json()["detail"]
    assert (await client.get(f"{API}/me/reservations", headers=garage.auth("bob"))).json() == []
    assert (await client.get(f"{API}/me/reservations", headers=garage.auth("alice"))).json() == []


async def test_a_missing_field_is_named(client: httpx.AsyncClient, garage: Garage) -> None:
    response = await client.post(
        f"{API}/me/reservations", json={"space_id": 1}, headers=garage.auth("bob")
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["ends_at"]


async def test_reservation_status_is_polled_with_etags(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    alice = garage.auth("alice")
    made = (await reserve(client, garage, "alice", "A3")).json()
    url = f"{API}/me/reservations/{made['id']}"
    first = await client.get(url, headers=alice)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    unchanged = await client.get(url, headers={**alice, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    # A car that is not Alice's is plugged in at her space: the status changes.
    await garage.system.sessions.start_transaction(
        "CP-A", StartRequest(3, "BOB-TAG", 0, iso(garage))
    )
    changed = await client.get(url, headers={**alice, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["space_state"] == "charging"
    assert changed.json()["notice"] == (
        "Your space is in use by another car: the charger shows it is reserved."
    )


# ---------------------------------------------------------------- charging


async def test_start_and_stop_need_a_connected_charger(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    alice = garage.auth("alice")
    made = (await reserve(client, garage, "alice", "A1")).json()
    started = await client.post(f"{API}/me/reservations/{made['id']}/start-charging", headers=alice)
    assert started.status_code == 409
    assert "offline" in started.json()["detail"]
    stopped = await client.post(f"{API}/me/reservations/{made['id']}/stop-charging", headers=alice)
    assert stopped.status_code == 409
    assert "nothing of yours is charging" in stopped.json()["detail"]


async def test_a_future_reservation_cannot_start_charging_yet(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    alice = garage.auth("alice")
    made = await client.post(
        f"{API}/me/reservations",
        json={
            "space_id": garage.spaces["A2"],
            "starts_at": iso(garage, 2 * HOUR),
            "ends_at": iso(garage, 3 * HOUR),
        },
        headers=alice,
    )
    assert made.json()["state"] == "booked"
    assert made.json()["holds_now"] is False
    started = await client.post(
        f"{API}/me/reservations/{made.json()['id']}/start-charging", headers=alice
    )
    assert started.status_code == 409
    assert "does not hold its space now" in started.json()["detail"]


# ---------------------------------------------------------------- sessions


async def test_sessions_with_energy_duration_and_meter_values(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    alice = garage.auth("alice")
    made = (await reserve(client, garage, "alice", "A1")).json()
    sessions = garage.system.sessions
    started = await sessions.start_transaction(
        "CP-A", StartRequest(1, "ALICE-TAG", 1000, iso(garage))
    )
    garage.clock.advance(timedelta(minutes=30))
    await sessions.meter_values(
        "CP-A",
        1,
        started.transaction_id,
        [
            ReportedMeterValue(
                iso(garage),
                (SampledValue("3500", unit="Wh"), SampledValue("7.2", "Power.Active.Import", "kW")),
            )
        ],
    )
    status = (await client.get(f"{API}/me/reservations/{made['id']}", headers=alice)).json()
    assert status["session"]["id"] == started.transaction_id
    assert status["session"]["is_open"] is True
    assert status["session"]["energy_kwh"] == 2.5
    assert status["session"]["power_kw"] == 7.2
    assert status["session"]["duration_seconds"] == 1800
    assert status["notice"] is None  # it is Alice charging

    url = f"{API}/me/sessions/{started.transaction_id}"
    detail = await client.get(url, headers=alice)
    assert detail.status_code == 200
    assert [[s["value"] for s in m["sampled_values"]] for m in detail.json()["meter_values"]] == [
        ["3500", "7.2"]
    ]
    etag = detail.headers["etag"]
    assert (await client.get(url, headers={**alice, "If-None-Match": etag})).status_code == 304

    garage.clock.advance(timedelta(minutes=30))
    await sessions.stop_transaction(
        "CP-A", StopRequest(started.transaction_id, 6000, iso(garage), reason="Remote")
    )
    listed = await client.get(f"{API}/me/sessions", headers=alice)
    assert [
        (s["id"], s["energy_kwh"], s["duration_seconds"], s["is_open"], s["power_kw"])
        for s in listed.json()
    ] == [(started.transaction_id, 5.0, 3600, False, None)]
    after = await client.get(url, headers={**alice, "If-None-Match": etag})
    assert after.status_code == 200
    final = (await client.get(f"{API}/me/reservations/{made['id']}", headers=alice)).json()
    assert final["state"] == "fulfilled"
    assert (await client.get(f"{API}/me/sessions", headers=garage.auth("bob"))).json() == []


async def test_my_tags(client: httpx.AsyncClient, garage: Garage) -> None:
    tags = await client.get(f"{API}/me/tags", headers=garage.auth("bob"))
    assert [(t["id_tag"], t["status"]) for t in tags.json()] == [("BOB-TAG", "Accepted")]
