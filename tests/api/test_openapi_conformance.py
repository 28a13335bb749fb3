"""schemathesis over the OpenAPI document, against the ASGI app on a real database.

Owner routes run as a seeded owner, operator routes with the operator token, each
on a garage of its own (operator cases delete and rename freely). Every response
must be documented: status, content type, headers and body schema; none may be 5xx.
Excluded: ``/readyz`` (503 is its answer while nothing listens, as here) and
logout, which would revoke the token the other cases use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from central_system.system import CentralSystem
from tests.api.owner_support import CHEAP_HASHING, OPERATOR, Garage, seed
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, MovableClock, settings_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Bounded so the whole run stays well under a minute.
EXAMPLES = 15


async def _prepare(config: DatabaseConfig) -> Garage:
    clock = MovableClock()
    system = CentralSystem(
        settings_for(config, **CHEAP_HASHING, api_burst=100_000),
        operator_token=OPERATOR_TOKEN,
        clock=clock,
    )
    await system.prepare()
    garage = await seed(system, clock)
    # The app runs on schemathesis' own event loop: leave no connection behind on this one.
    # (The SQLite writer thread serves any loop; it is stopped with the system.)
    await system.database.dispose()
    return garage


def _garage(tmp_path: Path) -> Iterator[Garage]:
    config = DatabaseConfig("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'openapi.sqlite3'}")
    garage = asyncio.run(_prepare(config))
    yield garage
    asyncio.run(garage.system.stop())


@pytest.fixture(scope="module")
def owner_garage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Garage]:
    yield from _garage(tmp_path_factory.mktemp("owner-openapi"))


@pytest.fixture(scope="module")
def operator_garage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Garage]:
    yield from _garage(tmp_path_factory.mktemp("operator-openapi"))


def _document() -> Any:
    """The document, read from an app that touches no database (none is needed for it)."""
    system = CentralSystem(
        settings_for(DatabaseConfig("sqlite", "sqlite+aiosqlite://")),
        operator_token=OPERATOR_TOKEN,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", system.app).exclude(
        path_regex=r"^/readyz$|^/api/v1/auth/logout$"
    )


SCHEMA = _document()
owner_api = SCHEMA.exclude(path_regex=r"^/api/v1/operator/")
operator_api = SCHEMA.include(path_regex=r"^/api/v1/operator/")
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)


@owner_api.parametrize()
@_SETTINGS
def test_owner_routes_conform(case: Any, owner_garage: Garage) -> None:
    case.call_and_validate(
        app=owner_garage.system.app, headers=owner_garage.auth("alice"), checks=CHECKS
    )


@operator_api.parametrize()
@_SETTINGS
def test_operator_routes_conform(case: Any, operator_garage: Garage) -> None:
    case.call_and_validate(app=operator_garage.system.app, headers=OPERATOR, checks=CHECKS)
