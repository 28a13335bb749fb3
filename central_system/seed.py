"""The demo garage that ``make run`` starts with (only into an empty database)."""

from __future__ import annotations

from central_system.domain.model import ChargePoint, IdTag, RegistrationStatus, TagStatus
from central_system.ports import Page, UnitOfWorkFactory

DEMO_CHARGE_POINTS = ("GARAGE-CP-01", "GARAGE-CP-02", "GARAGE-CP-03")
DEMO_ID_TAGS = (
    IdTag("OWNER-ALICE", TagStatus.ACCEPTED, parent_id_tag="HOUSEHOLD-ALICE"),
    IdTag("OWNER-BOB", TagStatus.ACCEPTED, parent_id_tag="HOUSEHOLD-BOB"),
    IdTag("OWNER-CAROL", TagStatus.ACCEPTED),
    IdTag("LOST-CARD", TagStatus.BLOCKED),
)


async def seed_demo(uow: UnitOfWorkFactory) -> bool:
    """Seed the demo garage; ``False`` (and nothing written) if chargers exist already."""
    async with uow() as work:
        if await work.charge_points.list(Page(limit=1)):
            return False
        for charge_point_id in DEMO_CHARGE_POINTS:
            await work.charge_points.add(
                ChargePoint(id=charge_point_id, registration_status=RegistrationStatus.ACCEPTED)
            )
        for tag in DEMO_ID_TAGS:
            await work.id_tags.put(tag)
        await work.commit()
    return True
