"""Building a charger at a fixed time and reading its effects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.auth_cache import AuthorizationCache, IdTagInfo
from simulators.charger import Charger, Effect, Note, Queue, Quirks, Send, Show
from simulators.config_store import ConfigStore

T0 = datetime(2026, 11, 24, 10, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_charger(
    *, connectors: int = 2, online: bool = True, quirks: Quirks | None = None, **config: str
) -> Charger:
    charger = Charger(
        connectors=connectors,
        config=ConfigStore.standard(connectors=connectors, overrides=config),
        cache=AuthorizationCache(),
        now=T0,
        power_w=3600.0,  # one watt-hour a second: easy sums
        meter_start_wh=1000.0,
        quirks=quirks,
    )
    charger.set_online(online)
    charger.status_report(T0)
    return charger


def sent(effects: Sequence[Effect]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.action, e.payload) for e in effects if isinstance(e, Send | Queue)]


def actions(effects: Sequence[Effect]) -> list[str]:
    return [action for action, _ in sent(effects)]


def notes(effects: Sequence[Effect], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in effects if isinstance(e, Note) and e.kind == kind]


def shown(effects: Sequence[Effect]) -> list[str]:
    return [e.text for e in effects if isinstance(e, Show)]


def statuses(effects: Sequence[Effect]) -> list[tuple[int, str]]:
    return [
        (payload["connector_id"], payload["status"])
        for action, payload in sent(effects)
        if action == "StatusNotification"
    ]


def accepted(parent: str | None = None) -> IdTagInfo:
    return IdTagInfo("Accepted", parent_id_tag=parent)


def start_session(charger: Charger, tag: str = "ALICE", connector: int = 1) -> int:
    """Card, answer, cable: a running transaction; returns its reference."""
    charger.present(tag, connector, T0)
    charger.authorize_answered(tag, accepted(), T0)
    effects = charger.plug(connector, T0)
    (started,) = notes(effects, "transaction_started")
    ref: int = started["transaction_ref"]
    return ref
