"""The demo garage that ``make run`` starts with (only into an empty database).

Three chargers with two connectors each, on six spaces of level B1; three owners
with their cards (Alice and Bob each with a household group); a blocked card.
Each owner logs in to the owner API and page with the login and password of
``DEMO_LOGINS`` (public: demo data only).
"""

from __future__ import annotations

from argon2 import PasswordHasher

from central_system.domain.model import ChargePoint, IdTag, RegistrationStatus, TagStatus
from central_system.ports import Page, UnitOfWorkFactory

DEMO_CHARGE_POINTS = ("GARAGE-CP-01", "GARAGE-CP-02", "GARAGE-CP-03")
#: (label, level, charger, connector)
DEMO_SPACES = tuple(
    (f"B1-{2 * n + c:02d}", "B1", charger, c)
    for n, charger in enumerate(DEMO_CHARGE_POINTS)
    for c in (1, 2)
)
#: owner name -> the owner's cards (id tag, parent id tag)
DEMO_OWNERS = {
    "Alice": (("OWNER-ALICE", "HOUSEHOLD-ALICE"),),
    "Bob": (("OWNER-BOB", "HOUSEHOLD-BOB"), ("OWNER-BOB-2", "HOUSEHOLD-BOB")),
    "Carol": (("OWNER-CAROL", None),),
}
DEMO_BLOCKED_TAG = IdTag("LOST-CARD", TagStatus.BLOCKED)
#: owner name -> (login, password) of the owner API and page
DEMO_LOGINS = {
    "Alice": ("alice@garage.example", "alice-demo"),
    "Bob": ("bob@garage.example", "bob-demo-pw"),
    "Carol": ("carol@garage.example", "carol-demo"),
}
#: Known passwords need no costly hash; the first login rehashes with the server's cost.
_DEMO_HASHER = PasswordHasher(time_cost=1, memory_cost=1024)


async def seed_demo(uow: UnitOfWorkFactory) -> bool:
    """Seed the demo garage; ``False`` (and nothing written) if chargers exist already."""
    async with uow() as work:
        if await work.charge_points.list(Page(limit=1)):
            return False
        for charge_point_id in DEMO_CHARGE_POINTS:
            await work.charge_points.add(
                ChargePoint(id=charge_point_id, registration_status=RegistrationStatus.ACCEPTED)
            )
        for label, level, charger, connector in DEMO_SPACES:
            await work.spaces.add(label, level, charger, connector)
        for name, cards in DEMO_OWNERS.items():
            owner = await work.owners.add(name)
            for id_tag, parent in cards:
                await work.id_tags.put(IdTag(id_tag, parent_id_tag=parent, owner_id=owner.id))
            login, password = DEMO_LOGINS[name]
            await work.accounts.put(owner.id, login, _DEMO_HASHER.hash(password))
        await work.id_tags.put(DEMO_BLOCKED_TAG)
        await work.commit()
    return True
