"""What the HTTP routes are given: built once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from central_system.accounts import OwnerAccounts
from central_system.administration import GarageAdministration
from central_system.charger_security import ChargerCredentials
from central_system.observability import Metrics
from central_system.owner_desk import OwnerDesk
from central_system.ports import ChargerCommands, Clock
from central_system.services import Operations
from owner_api.limits import LoginThrottle, TokenBuckets


@dataclass(frozen=True)
class ApiLimits:
    """Budgets of the HTTP edge (see ``owner_api.limits``)."""

    rate_per_second: float = 20.0
    burst: int = 60
    max_body_bytes: int = 256 * 1024
    login_failures_per_login: int = 5
    login_attempts_per_address: int = 20
    login_window_seconds: float = 300.0


@dataclass(frozen=True)
class ApiContext:
    operations: Operations
    commands: ChargerCommands
    operator_token: str
    metrics: Metrics
    #: Named readiness checks; each returns True when its part is ready.
    readiness: dict[str, Callable[[], Awaitable[bool]]]
    owner_desk: OwnerDesk
    accounts: OwnerAccounts
    administration: GarageAdministration
    clock: Clock
    limits: ApiLimits = field(default_factory=ApiLimits)
    #: Chargers' security profiles, passwords and key rotation (docs/security.md).
    charger_credentials: ChargerCredentials | None = None
    requests: TokenBuckets = field(init=False)
    logins: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        limits = self.limits
        object.__setattr__(
            self, "requests", TokenBuckets(rate=limits.rate_per_second, burst=limits.burst)
        )
        object.__setattr__(
            self,
            "logins",
            LoginThrottle(
                failures_per_login=limits.login_failures_per_login,
                attempts_per_address=limits.login_attempts_per_address,
                window=limits.login_window_seconds,
            ),
        )
