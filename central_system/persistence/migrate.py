"""``python -m central_system.persistence.migrate``: apply migrations and exit."""

from __future__ import annotations

import asyncio

from central_system.config import Settings
from central_system.persistence import migrations
from central_system.persistence.db import create_database


async def _main() -> None:
    settings = Settings()
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    database = create_database(
        settings.database_url.get_secret_value(), schema=settings.database_schema
    )
    try:
        await migrations.upgrade(database.write_engine)
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
