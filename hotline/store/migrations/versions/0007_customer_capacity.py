"""Customers: contracted capacity (合同容量, kVA) for capacity-based two-part tariffs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # hotline.store.types.Fixed2: hundredths of a kVA
    op.add_column(
        "customers", sa.Column("capacity_kva", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("capacity_kva")
