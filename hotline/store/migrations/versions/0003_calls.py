"""Call detail records: calls and their legs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("unit_id", PK, nullable=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("caller_raw", sa.String(200), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=False),
        sa.Column("dialed", sa.String(64), nullable=False),
        sa.Column("dialed_raw", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_cause", sa.String(32), nullable=False),
        sa.Column("ended_by", sa.String(16), nullable=False),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("agent_id", PK, nullable=True),
        sa.Column("recording_path", sa.String(500), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_calls_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_calls_unit_id_units"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name="fk_calls_agent_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_tenant_started", "calls", ["tenant_id", "started_at"])
    op.create_index("ix_calls_caller", "calls", ["tenant_id", "caller"])
    op.create_index("ix_calls_dialed", "calls", ["tenant_id", "dialed"])
    op.create_table(
        "call_legs",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sip_call_id", sa.String(200), nullable=False),
        sa.Column("remote_uri", sa.String(300), nullable=False),
        sa.Column("remote_addr", sa.String(80), nullable=False),
        sa.Column("extension_id", PK, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=False),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("packets_sent", sa.Integer(), nullable=False),
        sa.Column("packets_received", sa.Integer(), nullable=False),
        sa.Column("packets_lost", sa.Integer(), nullable=False),
        sa.Column("jitter_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_legs_call_id_calls", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["extension_id"], ["extensions.id"], name="fk_call_legs_extension_id_extensions"),
        sa.PrimaryKeyConstraint("id", name="pk_call_legs"),
    )
    op.create_index("ix_call_legs_call_id", "call_legs", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_legs")
    op.drop_table("calls")
