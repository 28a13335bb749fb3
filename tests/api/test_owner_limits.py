"""Abuse: large bodies, large pages, bursts and password guessing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.owner_support import (
    API,
    PASSWORDS,
    Garage,
    api_client,
    is_problem,
    prepared_garage,
)
from tests.conftest import DatabaseConfig


@pytest.fixture
async def garage(sqlite_config: DatabaseConfig) -> AsyncIterator[Garage]:
    async with prepared_garage(
        sqlite_config,
        api_max_body_bytes=1024,
        api_burst=5,
        api_rate_per_second=0.001,
        login_failures_per_login=3,
        login_attempts_per_address=4,
    ) as prepared:
        yield prepared


@pytest.fixture
async def client(garage: Garage) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(garage.system) as c:
        yield c


async def test_a_large_body_is_413(client: httpx.AsyncClient, garage: Garage) -> None:
    body = b'{"space_id": 1, "ends_at": "' + b"x" * 2000 + b'"}'
    response = await client.post(
        f"{API}/me/reservations",
        content=body,
        headers={**garage.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert is_problem(response)
    assert "1024 bytes" in response.json()["detail"]


async def test_a_large_streamed_body_is_413_too(client: httpx.AsyncClient, garage: Garage) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"space_id": 1, "ends_at": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}'

    response = await client.post(
        f"{API}/me/reservations",
        content=chunks(),
        headers={**garage.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert is_problem(response)


async def test_page_size_is_capped(client: httpx.AsyncClient, garage: Garage) -> None:
    too_big = await client.get(
        f"{API}/me/reservations", params={"limit": 501}, headers=garage.auth("bob")
    )
    assert too_big.status_code == 422
    assert [e["field"] for e in too_big.json()["errors"]] == ["limit"]


async def test_a_burst_gets_429_with_retry_after(client: httpx.AsyncClient, garage: Garage) -> None:
    statuses = [
        (await client.get(f"{API}/me/tags", headers=garage.auth("alice"))).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    limited = await client.get(f"{API}/me/tags", headers=garage.auth("alice"))
    assert limited.status_code == 429
    assert is_problem(limited)
    assert int(limited.headers["retry-after"]) >= 1
    # Another caller has a budget of its own.
    assert (await client.get(f"{API}/me/tags", headers=garage.auth("bob"))).status_code == 200


async def test_login_is_throttled_per_login_name(client: httpx.AsyncClient) -> None:
    wrong = {"login": "alice@example.org", "password": "guess"}
    statuses = [(await client.post(f"{API}/auth/login", json=wrong)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    right = {"login": "ALICE@example.org", "password": PASSWORDS["alice"]}
    throttled = await client.post(f"{API}/auth/login", json=right)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 200  # the 300 s window
    assert "access_token" not in throttled.text


async def test_login_is_throttled_per_address(client: httpx.AsyncClient) -> None:
    statuses = [
        (
            await client.post(
                f"{API}/auth/login", json={"login": f"user{n}@example.org", "password": "guess"}
            )
        ).status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]


async def test_a_success_clears_the_failures_of_its_login(client: httpx.AsyncClient) -> None:
    wrong = {"login": "bob@example.org", "password": "guess"}
    right = {"login": "bob@example.org", "password": PASSWORDS["bob"]}
    assert (await client.post(f"{API}/auth/login", json=wrong)).status_code == 401
    assert (await client.post(f"{API}/auth/login", json=wrong)).status_code == 401
    assert (await client.post(f"{API}/auth/login", json=right)).status_code == 200
    assert (await client.post(f"{API}/auth/login", json=wrong)).status_code == 401
