"""The operator sees which chargers can display reminders and what they refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from central_system.domain.model import ChargerCapabilities, RegistrationStatus
from central_system.system import CentralSystem
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, migrated, settings_for


@pytest.fixture
async def system(sqlite_config: DatabaseConfig) -> AsyncIterator[CentralSystem]:
    async with migrated(sqlite_config):
        pass
    prepared = CentralSystem(settings_for(sqlite_config), operator_token=OPERATOR_TOKEN)
    await prepared.prepare()
    try:
        yield prepared
    finally:
        await prepared.stop()


async def test_capabilities_read_at_boot_are_shown(system: CentralSystem) -> None:
    await system.operations.put_charge_point("CP-OLD", RegistrationStatus.ACCEPTED)
    await system.operations.put_charge_point("CP-NEW", RegistrationStatus.ACCEPTED)
    await system.sessions.record_capabilities(
        "CP-OLD",
        ChargerCapabilities(
            feature_profiles=frozenset({"Core"}),
            can_display_messages=False,
            configuration={"LocalPreAuthorize": "true"},
            refused={"LocalPreAuthorize": "ReadOnly"},
        ),
    )
    transport = httpx.ASGITransport(app=system.app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://api",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    ) as client:
        chargers = (await client.get("/api/v1/operator/charge-points")).json()
    shown = {
        c["id"]: (c["feature_profiles"], c["can_display_reminders"], c["configuration_refused"])
        for c in chargers
    }
    assert shown == {
        "CP-NEW": (None, None, None),  # not booted yet: nothing known
        "CP-OLD": (["Core"], False, {"LocalPreAuthorize": "ReadOnly"}),
    }
