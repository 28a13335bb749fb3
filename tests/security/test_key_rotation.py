"""Key rotation over OCPP (ChangeConfiguration AuthorizationKey), and no secret in any log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from ocpp.v16 import call
from websockets.exceptions import ConnectionClosed

from central_system.domain.model import EventKind
from central_system.ports import Page
from central_system.system import CentralSystem
from tests.chargers import LibraryCharger
from tests.conftest import DatabaseConfig
from tests.security.conftest import (
    OP,
    PASSWORD,
    all_log_text,
    basic,
    charger_connection,
    events_of,
    heartbeat,
    library_charger_on,
    operator_api,
    plain_url,
    refusal,
    register,
    secret_forms,
    secure_system,
)
from tests.security.pki import Pki


@pytest.fixture
async def system(database_config: DatabaseConfig, pki: Pki) -> AsyncIterator[CentralSystem]:
    async with secure_system(database_config, pki) as running:
        await register(running, "CP-1")
        await running.charger_credentials.set_password("CP-1", PASSWORD)
        yield running


@contextlib.asynccontextmanager
async def charger_with(
    system: CentralSystem, password: str | bytes
) -> AsyncIterator[LibraryCharger]:
    async with (
        charger_connection(
            plain_url(system, "CP-1"), headers=basic("CP-1", password)
        ) as connection,
        library_charger_on(connection, "CP-1") as charger,
    ):
        await charger.call(call.Heartbeat())  # the server has registered it
        yield charger


def _sent_key(charger: LibraryCharger) -> str:
    [(action, payload)] = [
        request
        for request in charger.configuration_requests
        if request[1].get("key") == "AuthorizationKey"
    ]
    assert action == "ChangeConfiguration"
    key: str = payload["value"]
    return key


async def _admitted(system: CentralSystem, password: str | bytes) -> None:
    async with charger_connection(
        plain_url(system, "CP-1"), headers=basic("CP-1", password)
    ) as connection:
        assert (await heartbeat(connection))[:2] == [3, "hb"]


async def test_an_accepted_key_replaces_the_old_one_before_the_operator_is_answered(
    system: CentralSystem,
) -> None:
    async with charger_with(system, PASSWORD) as charger, operator_api(system) as api:
        response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
        assert response.status_code == 200
        assert response.json() == {
            "status": "Accepted",
            "key_changed": True,
            "key_rotation_pending": False,
        }
        new_key = _sent_key(charger)
        # The whitepaper's form: 20 random bytes as 40 hex digits, never shown to the operator.
        assert len(bytes.fromhex(new_key)) == 20
        assert new_key not in response.text
        # Refused from the moment the answer came: nothing else had to happen first.
        assert (
            await refusal(plain_url(system, "CP-1"), headers=basic("CP-1", PASSWORD))
        ).status_code == 401
        await _admitted(system, bytes.fromhex(new_key))  # as most chargers send it
        await _admitted(system, new_key)  # and as the others do
    rotated = await events_of(system, EventKind.AUTHORIZATION_KEY_ROTATED)
    assert len(rotated) == 1
    assert new_key not in repr(rotated[0].detail)


async def test_a_key_the_operator_chose_is_sent_as_hex(system: CentralSystem) -> None:
    chosen = "next-garage-key-01"
    async with charger_with(system, PASSWORD) as charger, operator_api(system) as api:
        response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={"key": chosen})
        assert response.json()["key_changed"] is True
        assert _sent_key(charger) == chosen.encode().hex()
    await _admitted(system, chosen)


async def test_a_rejected_key_leaves_the_old_one_valid(system: CentralSystem) -> None:
    async with charger_with(system, PASSWORD) as charger, operator_api(system) as api:
        charger.configuration["AuthorizationKey"] = ("", True)  # read-only: Rejected
        response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
        assert response.status_code == 200
        assert response.json() == {
            "status": "Rejected",
            "key_changed": False,
            "key_rotation_pending": False,
        }
        refused_key = _sent_key(charger)
    await _admitted(system, PASSWORD)
    assert (
        await refusal(plain_url(system, "CP-1"), headers=basic("CP-1", refused_key))
    ).status_code == 401
    security = await system.charger_credentials.security("CP-1")
    assert security is not None
    assert security.pending_password_hash is None
    not_rotated = await events_of(system, EventKind.AUTHORIZATION_KEY_NOT_ROTATED)
    assert [event.detail["outcome"] for event in not_rotated] == ["Rejected"]


async def test_rotation_needs_a_connected_charger(system: CentralSystem) -> None:
    async with operator_api(system) as api:
        response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
    assert response.status_code == 404
    await _admitted(system, PASSWORD)


async def test_a_key_without_an_answer_stays_pending_until_the_charger_uses_it(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, ocpp_response_timeout=0.5) as system:
        await register(system, "CP-1")
        await system.charger_credentials.set_password("CP-1", PASSWORD)
        async with charger_with(system, PASSWORD) as charger, operator_api(system) as api:
            applied = asyncio.Event()

            async def applies_but_never_answers(key: str, value: str, **_: object) -> None:
                charger.configuration_requests.append(
                    ("ChangeConfiguration", {"key": key, "value": value})
                )
                applied.set()
                await asyncio.Event().wait()  # the answer is lost

            charger.route_map["ChangeConfiguration"]["_on_action"] = applies_but_never_answers
            response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
            assert response.status_code == 504
            assert applied.is_set()
            new_key = _sent_key(charger)
            view = await api.get(f"{OP}/charge-points/CP-1/security")
            assert view.json()["key_rotation_pending"] is True
        # Either key gets in while it is unclear which one the charger uses ...
        await _admitted(system, PASSWORD)
        await _admitted(system, bytes.fromhex(new_key))
        # ... and once it used the new one, the old one is refused.
        assert (
            await refusal(plain_url(system, "CP-1"), headers=basic("CP-1", PASSWORD))
        ).status_code == 401
        security = await system.charger_credentials.security("CP-1")
        assert security is not None
        assert security.pending_password_hash is None


async def test_the_generic_command_route_cannot_change_the_key(system: CentralSystem) -> None:
    async with charger_with(system, PASSWORD) as charger, operator_api(system) as api:
        response = await api.post(
            f"{OP}/charge-points/CP-1/commands/change-configuration",
            json={"key": "AuthorizationKey", "value": "ab" * 20},
        )
        assert response.status_code == 400
        assert "rotate-key" in response.json()["detail"]
        assert charger.configuration_requests == []


async def test_no_password_or_key_reaches_a_log_line_the_message_log_or_an_event(
    sqlite_config: DatabaseConfig, pki: Pki, debug_logs: pytest.LogCaptureFixture
) -> None:
    async with secure_system(sqlite_config, pki, charger_auth_failures=3) as system:
        await register(system, "CP-1")
        async with operator_api(system) as api:
            generated = await api.put(f"{OP}/charge-points/CP-1/password", json={})
            first_key = generated.json()["generated_password"]
            assert generated.headers["Cache-Control"] == "no-store"
            await api.put(f"{OP}/charge-points/CP-1/password", json={"password": PASSWORD})
            async with charger_with(system, PASSWORD) as charger:
                rotated = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
                assert rotated.json()["key_changed"] is True
                new_key = _sent_key(charger)
                # A charger that reads the write-only key back is not echoed either.
                charger.configuration["AuthorizationKey"] = (new_key, False)
                read_back = await api.post(
                    f"{OP}/charge-points/CP-1/commands/get-configuration", json={}
                )
                assert read_back.status_code == 200
            await _admitted(system, bytes.fromhex(new_key))
            wrong = "wrong-password-000"
            for headers in (basic("CP-1", wrong), basic("CP-2", PASSWORD), basic("CP-1", PASSWORD)):
                assert (
                    await refusal(plain_url(system, "CP-1"), headers=headers)
                ).status_code == 401
            throttled = await refusal(plain_url(system, "CP-1"), headers=basic("CP-1", wrong))
            assert throttled.status_code == 429
            await system.message_log.flush()
            messages = await api.get(f"{OP}/messages", params={"limit": 500})
            events = await api.get(f"{OP}/security-events", params={"limit": 500})
        stored = await system.operations.messages(Page(limit=500))
    secrets = {
        "first key": secret_forms(bytes.fromhex(first_key), "CP-1"),
        "password": secret_forms(PASSWORD, "CP-1"),
        "wrong password": secret_forms(wrong, "CP-1"),
        "new key": secret_forms(bytes.fromhex(new_key), "CP-1"),
    }
    logs = all_log_text(debug_logs)
    assert "Authorization" in logs  # the DEBUG lines were captured ...
    assert "ChangeConfiguration" in " ".join(m.payload for m in stored)  # ... and frames kept
    texts = {
        "logs": logs,
        "message log": " ".join(m.payload for m in stored),
        "messages API": messages.text,
        "events API": events.text,
        "read-back answer": read_back.text,
    }
    for where, text in texts.items():
        for what, forms in secrets.items():
            for form in forms:
                assert form not in text, f"{what} found in the {where}"


async def test_a_charger_disconnecting_before_it_answers_leaves_both_keys_valid(
    system: CentralSystem,
) -> None:
    async with charger_connection(
        plain_url(system, "CP-1"), headers=basic("CP-1", PASSWORD)
    ) as connection:
        charger = LibraryCharger("CP-1", connection)
        sent: list[str] = []

        async def hangs_up(key: str, value: str, **_: object) -> None:
            sent.append(value)
            await connection.close()

        charger.route_map["ChangeConfiguration"]["_on_action"] = hangs_up
        task = asyncio.create_task(charger.start())
        try:
            await charger.call(call.Heartbeat())
            async with operator_api(system) as api:
                response = await api.post(f"{OP}/charge-points/CP-1/rotate-key", json={})
            assert response.status_code == 502
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                await task
    assert len(sent) == 1
    security = await system.charger_credentials.security("CP-1")
    assert security is not None
    assert security.pending_password_hash is not None
    await _admitted(system, PASSWORD)


async def test_set_password_by_api_never_echoes_what_was_sent(system: CentralSystem) -> None:
    async with operator_api(system) as api:
        invalid = await api.put(
            f"{OP}/charge-points/CP-1/password", json={"password": "too-short-secret"[:10]}
        )
        assert invalid.status_code == 422
        assert "too-short-" not in invalid.text
        chosen = await api.put(
            f"{OP}/charge-points/CP-1/password", json={"password": "another-garage-key"}
        )
        assert chosen.status_code == 200
        assert chosen.json()["generated_password"] is None
        assert "another-garage-key" not in chosen.text
    await _admitted(system, "another-garage-key")
