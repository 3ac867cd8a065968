"""CTI and the browser applications: webhooks and their outbox, messages to agents, tenant settings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("webhooks", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_webhooks_name"),
    )
    op.create_index("ix_webhooks_tenant_id", "webhooks", ["tenant_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("webhook_id", PK, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
        _fk("webhook_deliveries", "tenant_id", "tenants"),
        _fk("webhook_deliveries", "webhook_id", "webhooks"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    for col in ("tenant_id", "webhook_id", "status"):
        op.create_index(f"ix_webhook_deliveries_{col}", "webhook_deliveries", [col])

    op.create_table(
        "agent_messages",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("sender_id", PK, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("agent_messages", "tenant_id", "tenants"),
        _fk("agent_messages", "sender_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_messages"),
    )
    op.create_index("ix_agent_messages_tenant_id", "agent_messages", ["tenant_id"])

    op.create_table(
        "agent_message_recipients",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("message_id", PK, nullable=False),
        sa.Column("user_id", PK, nullable=False),
        sa.Column("read_at", TS, nullable=True),
        _fk("agent_message_recipients", "message_id", "agent_messages"),
        _fk("agent_message_recipients", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_agent_message_recipients"),
        sa.UniqueConstraint("message_id", "user_id", name="uq_agent_message_recipients"),
    )
    op.create_index("ix_agent_message_recipients_message_id", "agent_message_recipients", ["message_id"])
    op.create_index("ix_agent_message_recipients_user_id", "agent_message_recipients", ["user_id"])

    op.create_table(
        "tenant_settings",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _fk("tenant_settings", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_settings"),
        sa.UniqueConstraint("tenant_id", "key", name="uq_tenant_settings_key"),
    )
    op.create_index("ix_tenant_settings_tenant_id", "tenant_settings", ["tenant_id"])


def downgrade() -> None:
    for table in (
        "tenant_settings",
        "agent_message_recipients",
        "agent_messages",
        "webhook_deliveries",
        "webhooks",
    ):
        op.drop_table(table)
