"""The operator's security routes: profiles, passwords, and what they let in."""

from __future__ import annotations

import httpx
import pytest

from central_system.domain.model import EventKind
from central_system.system import CentralSystem
from tests.security.conftest import (
    OP,
    basic,
    charger_connection,
    events_of,
    heartbeat,
    operator_api,
    plain_url,
    refusal,
    register,
)


async def test_a_generated_password_is_shown_once_and_lets_the_charger_in(
    system: CentralSystem,
) -> None:
    await register(system, "CP-1")
    async with operator_api(system) as api:
        before = (await api.get(f"{OP}/charge-points/CP-1/security")).json()
        assert before["security_profile"] == 0
        assert before["password_set"] is False
        generated = await api.put(f"{OP}/charge-points/CP-1/password", json={})
        assert generated.status_code == 200
        password = generated.json()["generated_password"]
        assert len(bytes.fromhex(password)) == 20
        after = await api.get(f"{OP}/charge-points/CP-1/security")
        assert after.json()["password_set"] is True
        assert after.json()["security_profile"] == 1  # a password means Basic auth
        assert password not in after.text
    async with charger_connection(
        plain_url(system, "CP-1"), headers=basic("CP-1", bytes.fromhex(password))
    ) as connection:
        assert (await heartbeat(connection))[:2] == [3, "hb"]
    assert (await refusal(plain_url(system, "CP-1"))).status_code == 401
    changes = await events_of(system, EventKind.CREDENTIALS_CHANGED)
    assert [event.detail["change"] for event in changes] == ["password generated"]


async def test_profiles_are_set_and_a_password_cannot_be_left_without_basic_auth(
    system: CentralSystem,
) -> None:
    await register(system, "CP-1")
    async with operator_api(system) as api:
        raised = await api.put(f"{OP}/charge-points/CP-1/security", json={"security_profile": 2})
        assert raised.json()["security_profile"] == 2
        await api.put(f"{OP}/charge-points/CP-1/password", json={"password": "a" * 32})
        conflict = await api.put(f"{OP}/charge-points/CP-1/security", json={"security_profile": 0})
        assert conflict.status_code == 409
        assert (
            await api.put(f"{OP}/charge-points/CP-1/security", json={"security_profile": 4})
        ).status_code == 422
        removed = await api.delete(f"{OP}/charge-points/CP-1/password")
        assert removed.json() == {
            "charge_point_id": "CP-1",
            "security_profile": 2,
            "password_set": False,
            "password_set_at": None,
            "key_rotation_pending": False,
        }
        lowered = await api.put(f"{OP}/charge-points/CP-1/security", json={"security_profile": 1})
        assert lowered.json()["security_profile"] == 1
        await api.put(f"{OP}/charge-points/CP-1/password", json={"password": "a" * 32})
        back_to_zero = await api.delete(f"{OP}/charge-points/CP-1/password")
        assert back_to_zero.json()["security_profile"] == 0
    async with charger_connection(plain_url(system, "CP-1")) as connection:
        assert (await heartbeat(connection))[:2] == [3, "hb"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "security", None),
        ("PUT", "security", {"security_profile": 1}),
        ("PUT", "password", {}),
        ("DELETE", "password", None),
    ],
)
async def test_security_routes_know_no_unknown_charger(
    system: CentralSystem, method: str, path: str, body: dict[str, object] | None
) -> None:
    async with operator_api(system) as api:
        response = await api.request(method, f"{OP}/charge-points/CP-NOPE/{path}", json=body)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/charge-points/CP-1/security"),
        ("PUT", "/charge-points/CP-1/password"),
        ("POST", "/charge-points/CP-1/rotate-key"),
        ("GET", "/security-events"),
    ],
)
async def test_security_routes_need_the_operator_token(
    system: CentralSystem, method: str, path: str
) -> None:
    await register(system, "CP-1")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}") as anonymous:
        response = await anonymous.request(method, OP + path, json={})
    assert response.status_code == 401
    security = await system.charger_credentials.security("CP-1")
    assert security is not None
    assert security.password_hash is None
