"""The demo garage seeds once, on both databases."""

from __future__ import annotations

from central_system.clock import SystemClock
from central_system.domain.model import TagStatus
from central_system.persistence.db import Database
from central_system.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from central_system.ports import Page
from central_system.seed import DEMO_CHARGE_POINTS, DEMO_OWNERS, DEMO_SPACES, seed_demo


async def test_demo_garage_is_seeded_into_an_empty_database_only(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, SystemClock())
    assert await seed_demo(uow) is True
    assert await seed_demo(uow) is False  # a second start adds nothing
    async with uow(read_only=True) as work:
        chargers = [cp.id for cp in await work.charge_points.list(Page())]
        spaces = await work.spaces.list(Page())
        owners = await work.owners.list(Page())
        tags = {t.id_tag: t for t in await work.id_tags.list(Page())}
        bob = next(o for o in owners if o.name == "Bob")
        bobs_tags = [t.id_tag for t in await work.owners.tags(bob.id)]
    assert chargers == list(DEMO_CHARGE_POINTS)
    assert [(s.label, s.charge_point_id, s.connector_id) for s in spaces] == [
        (label, charger, connector) for label, _, charger, connector in DEMO_SPACES
    ]
    assert sorted(o.name for o in owners) == sorted(DEMO_OWNERS)
    assert bobs_tags == ["OWNER-BOB", "OWNER-BOB-2"]
    assert tags["LOST-CARD"].status is TagStatus.BLOCKED
    assert tags["OWNER-ALICE"].parent_id_tag == "HOUSEHOLD-ALICE"
