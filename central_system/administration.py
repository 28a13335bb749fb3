"""What the operator changes in the garage: spaces, owners and whose tags are whose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from central_system.domain.accounts import Duplicate, InUse
from central_system.domain.errors import NotFound, UnknownChargePoint
from central_system.domain.garage import Owner, Space
from central_system.domain.model import IdTag
from central_system.ports import Clock, Page, UnitOfWork, UnitOfWorkFactory

#: Far enough ahead to cover any reservation window.
_HORIZON = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class OwnerView:
    owner: Owner
    login: str | None
    tags: Sequence[IdTag]


class GarageAdministration:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    # ------------------------------------------------------------------ spaces

    async def spaces(self, page: Page) -> Sequence[Space]:
        async with self._uow(read_only=True) as uow:
            return await uow.spaces.list(page)

    async def space(self, space_id: int) -> Space:
        async with self._uow(read_only=True) as uow:
            space = await uow.spaces.get(space_id)
        if space is None:
            raise NotFound("space", space_id)
        return space

    async def add_space(
        self,
        label: str,
        level: str | None,
        charge_point_id: str | None,
        connector_id: int | None,
    ) -> Space:
        async with self._uow() as uow:
            candidate = Space(0, label, level, charge_point_id, connector_id)
            await _check_free(uow, candidate)
            space = await uow.spaces.add(label, level, charge_point_id, connector_id)
            await uow.commit()
        return space

    async def update_space(self, space: Space) -> Space:
        """Replace a space's label, level and connector.

        A space whose connector live reservations rely on keeps its connector: they
        are mirrored to that charger.
        """
        async with self._uow() as uow:
            current = await uow.spaces.get(space.id, for_update=True)
            if current is None:
                raise NotFound("space", space.id)
            moved = (current.charge_point_id, current.connector_id) != (
                space.charge_point_id,
                space.connector_id,
            )
            if moved and await self._live_at(uow, space.id):
                raise InUse("space", current.label, "has live reservations on its charger")
            await _check_free(uow, space)
            await uow.spaces.update(space)
            await uow.commit()
        return space

    async def map_connector(
        self, space_id: int, charge_point_id: str | None, connector_id: int | None
    ) -> Space:
        current = await self.space(space_id)
        return await self.update_space(
            replace(current, charge_point_id=charge_point_id, connector_id=connector_id)
        )

    async def delete_space(self, space_id: int) -> None:
        async with self._uow() as uow:
            space = await uow.spaces.get(space_id, for_update=True)
            if space is None:
                raise NotFound("space", space_id)
            if await self._live_at(uow, space_id):
                raise InUse("space", space.label, "has live reservations")
            await uow.spaces.delete(space_id)
            await uow.commit()

    async def _live_at(self, uow: UnitOfWork, space_id: int) -> bool:
        now = self._clock.now()
        return bool(await uow.reservations.overlapping(space_id, now, now + _HORIZON))

    # ------------------------------------------------------------------ owners

    async def owners(self, page: Page) -> list[OwnerView]:
        async with self._uow(read_only=True) as uow:
            return [await _view(uow, owner) for owner in await uow.owners.list(page)]

    async def owner(self, owner_id: int) -> OwnerView:
        async with self._uow(read_only=True) as uow:
            owner = await uow.owners.get(owner_id)
            if owner is None:
                raise NotFound("owner", owner_id)
            return await _view(uow, owner)

    async def add_owner(self, name: str) -> Owner:
        async with self._uow() as uow:
            owner = await uow.owners.add(name)
            await uow.commit()
        return owner

    async def rename_owner(self, owner_id: int, name: str) -> None:
        async with self._uow() as uow:
            if not await uow.owners.rename(owner_id, name):
                raise NotFound("owner", owner_id)
            await uow.commit()

    async def delete_owner(self, owner_id: int) -> None:
        """Delete an owner with no live reservation; the owner's tags stay, unowned."""
        async with self._uow() as uow:
            owner = await uow.owners.get(owner_id)
            if owner is None:
                raise NotFound("owner", owner_id)
            if await uow.reservations.live_count(owner_id, self._clock.now()):
                raise InUse("owner", owner_id, "has live reservations")
            await uow.owners.delete(owner_id)
            await uow.commit()

    # -------------------------------------------------------------------- tags

    async def put_id_tag(self, tag: IdTag) -> bool:
        """Create or update a tag, keeping whose it is; True when it was created."""
        async with self._uow() as uow:
            existing = await uow.id_tags.get(tag.id_tag)
            owner_id = None if existing is None else existing.owner_id
            await uow.id_tags.put(replace(tag, owner_id=owner_id))
            await uow.commit()
        return existing is None

    async def give_tag(self, owner_id: int, tag: IdTag) -> bool:
        """Register the tag as the owner's (moving it from anyone else); True if created."""
        async with self._uow() as uow:
            if await uow.owners.get(owner_id) is None:
                raise NotFound("owner", owner_id)
            created = await uow.id_tags.get(tag.id_tag) is None
            await uow.id_tags.put(replace(tag, owner_id=owner_id))
            await uow.commit()
        return created

    async def take_tag(self, owner_id: int, id_tag: str) -> None:
        """The tag is no longer the owner's; it stays registered, unowned."""
        async with self._uow() as uow:
            tag = await uow.id_tags.get(id_tag)
            if tag is None or tag.owner_id != owner_id:
                raise NotFound("tag of this owner", id_tag)
            await uow.id_tags.put(replace(tag, owner_id=None))
            await uow.commit()


async def _view(uow: UnitOfWork, owner: Owner) -> OwnerView:
    account = await uow.accounts.get(owner.id)
    return OwnerView(
        owner, None if account is None else account.login, await uow.owners.tags(owner.id)
    )


async def _check_free(uow: UnitOfWork, space: Space) -> None:
    """The label and the connector are the space's own; the charger exists."""
    if space.charge_point_id is not None:
        if await uow.charge_points.get(space.charge_point_id) is None:
            raise UnknownChargePoint(space.charge_point_id)
        if space.connector_id is not None:
            taken = await uow.spaces.at_charger(space.charge_point_id, space.connector_id)
            if any(other.id != space.id for other in taken):
                raise Duplicate(
                    "charger connector", f"{space.charge_point_id}/{space.connector_id}"
                )
    # Labels are unique: a page that size holds every space of a garage.
    for other in await uow.spaces.list(Page(limit=10_000)):
        if other.label == space.label and other.id != space.id:
            raise Duplicate("space label", space.label)
