"""charger security

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import central_system.persistence.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("security_profile", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("pending_password_hash", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "password_set_at",
                central_system.persistence.tables.UtcDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("charge_points", schema=None) as batch_op:
        batch_op.drop_column("password_set_at")
        batch_op.drop_column("pending_password_hash")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("security_profile")
