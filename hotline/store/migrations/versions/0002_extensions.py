"""Phone extensions (SIP accounts) with digest HA1 values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("unit_id", PK, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("ha1_md5", sa.String(64), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("user_id", PK, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_extensions_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_extensions_unit_id_units"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_extensions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_extensions"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_extensions_tenant_number"),
    )
    op.create_index("ix_extensions_tenant_id", "extensions", ["tenant_id"])
    op.create_index("ix_extensions_unit_id", "extensions", ["unit_id"])


def downgrade() -> None:
    op.drop_table("extensions")
