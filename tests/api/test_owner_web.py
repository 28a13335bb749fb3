"""The owner page's HTTP edge: login cookie, CSRF guard, ownership, no third-party assets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from tests.api.owner_support import API, PASSWORDS, Garage, api_client, prepared_garage
from tests.conftest import DatabaseConfig

HX = {"HX-Request": "true"}


@pytest.fixture
async def garage(sqlite_config: DatabaseConfig) -> AsyncIterator[Garage]:
    async with prepared_garage(sqlite_config) as prepared:
        yield prepared


@pytest.fixture
async def client(garage: Garage) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(garage.system) as c:
        yield c


async def log_in(client: httpx.AsyncClient, who: str) -> httpx.Response:
    return await client.post(
        "/app/login",
        data={"login": f"{who}@example.org", "password": PASSWORDS[who]},
        headers=HX,
    )


async def test_the_login_screen_uses_only_our_own_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/app")
    assert page.status_code == 200
    assert 'id="login-form"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/htmx-2.0.11.min.js" in assets
    assert all(a.startswith("/") for a in assets), assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert (await client.get(asset)).status_code == 200


async def test_changes_must_come_from_the_page(client: httpx.AsyncClient) -> None:
    forged = await client.post(
        "/app/login", data={"login": "alice@example.org", "password": PASSWORDS["alice"]}
    )
    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers


async def test_login_sets_a_strict_httponly_cookie(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    wrong = await client.post(
        "/app/login", data={"login": "alice@example.org", "password": "nope"}, headers=HX
    )
    assert "wrong login or password" in wrong.text
    assert "set-cookie" not in wrong.headers

    response = await log_in(client, "alice")
    assert response.headers["hx-redirect"] == "/app"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/app" in cookie
    home = await client.get("/app")
    assert "Find a free space" in home.text
    assert "Alice" in home.text
    assert re.findall(r'data-space-label="(\w+)"', home.text) == ["A1", "A2", "A3"]

    await client.post("/app/logout", headers=HX)
    assert 'id="login-form"' in (await client.get("/app")).text


async def test_reserve_and_cancel_from_the_page(client: httpx.AsyncClient, garage: Garage) -> None:
    await log_in(client, "bob")
    made = await client.post(
        "/app/reservations", data={"space_id": str(garage.spaces["A3"]), "hours": "3"}, headers=HX
    )
    location = made.headers["hx-redirect"]
    assert re.fullmatch(r"/app/reservations/\d+", location)
    page = await client.get(location)
    assert 'id="reservation-state">active<' in page.text
    reservations = await client.get(f"{API}/me/reservations", headers=garage.auth("bob"))
    (reservation,) = reservations.json()
    assert reservation["starts_at"] == garage.clock.now().isoformat().replace("+00:00", "Z")
    assert reservation["ends_at"] == (garage.clock.now() + timedelta(hours=3)).isoformat().replace(
        "+00:00", "Z"
    )

    taken = await client.post(
        "/app/reservations",
        data={"space_id": str(garage.spaces["A3"]), "hours": "1"},
        headers=HX,
    )
    assert "was just reserved by someone else" in taken.text

    cancelled = await client.post(f"{location}/cancel", headers=HX)
    assert 'id="reservation-state">cancelled<' in cancelled.text
    assert "Reservation cancelled" in cancelled.text


async def test_another_owners_reservation_is_absent_on_the_page_too(
    client: httpx.AsyncClient, garage: Garage
) -> None:
    made = await client.post(
        f"{API}/me/reservations",
        json={
            "space_id": garage.spaces["A1"],
            "ends_at": (garage.clock.now() + timedelta(hours=1)).isoformat(),
        },
        headers=garage.auth("alice"),
    )
    await log_in(client, "bob")
    url = f"/app/reservations/{made.json()['id']}"
    assert (await client.get(url)).status_code == 404
    assert (await client.post(f"{url}/cancel", headers=HX)).status_code == 404
    status = await client.get(
        f"{API}/me/reservations/{made.json()['id']}", headers=garage.auth("alice")
    )
    assert status.json()["state"] == "active"
