"""The dependency rule of docs/architecture.md, checked on every import statement."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
THIRD_PARTY_ADAPTERS = ("sqlalchemy", "ocpp", "websockets", "fastapi", "starlette", "uvicorn")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", modules("central_system", "domain"), ids=str)
def test_the_domain_uses_the_standard_library_only(path: Path) -> None:
    foreign = {
        name
        for name in imports(path)
        if top(name) not in sys.stdlib_module_names and not name.startswith("central_system.domain")
    }
    assert foreign == set()
    assert "asyncio" not in {top(name) for name in imports(path)}


@pytest.mark.parametrize(
    "path",
    [
        *modules("central_system", "services"),
        *modules("central_system", "ports"),
        *modules("central_system", "reservations"),
        *modules("central_system", "owner_desk"),
    ],
    ids=str,
)
def test_services_and_ports_know_no_adapter(path: Path) -> None:
    used = {top(name) for name in imports(path)}
    assert used.isdisjoint(THIRD_PARTY_ADAPTERS)
    assert not any(
        name.startswith(("central_system.persistence", "central_system.transport", "owner_api"))
        for name in imports(path)
    )


@pytest.mark.parametrize("path", modules("central_system", "persistence"), ids=str)
def test_persistence_does_not_reach_into_the_other_adapters(path: Path) -> None:
    assert not any(
        name.startswith(("central_system.transport", "owner_api"))
        or top(name) in {"ocpp", "fastapi"}
        for name in imports(path)
    )


@pytest.mark.parametrize("path", modules("central_system", "transport"), ids=str)
def test_transport_does_not_reach_into_persistence_or_http(path: Path) -> None:
    assert not any(
        name.startswith(("central_system.persistence", "owner_api")) or top(name) == "fastapi"
        for name in imports(path)
    )


@pytest.mark.parametrize("path", modules("owner_api"), ids=str)
def test_http_does_not_speak_ocpp_or_sql(path: Path) -> None:
    assert not any(
        name.startswith(("central_system.persistence", "central_system.transport"))
        or top(name) in {"ocpp", "websockets", "sqlalchemy"}
        for name in imports(path)
    )
