"""owner accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import central_system.persistence.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owner_accounts",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at", central_system.persistence.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", central_system.persistence.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id"),
        sa.UniqueConstraint("login"),
    )
    op.create_table(
        "owner_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", central_system.persistence.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", central_system.persistence.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "revoked_at", central_system.persistence.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("owner_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_owner_tokens_owner", ["owner_id"], unique=False)
        batch_op.create_index("ix_owner_tokens_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("owner_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_tokens_expires")
        batch_op.drop_index("ix_owner_tokens_owner")
    op.drop_table("owner_tokens")
    op.drop_table("owner_accounts")
