"""The inbound call path: IVR flows, number plan, queues, agents, codes, queue event log,
voicemail, callbacks; the CDR gains IVR, queue and wrap-up columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

CALL_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("flow", sa.String(64), nullable=False, server_default=""),
    sa.Column("flow_version", sa.Integer(), nullable=True),
    sa.Column("ivr_path", JSON, nullable=False, server_default="[]"),
    sa.Column("queue", sa.String(64), nullable=False, server_default=""),
    sa.Column("queue_entered_at", TS, nullable=True),
    sa.Column("queue_left_at", TS, nullable=True),
    sa.Column("queue_position", sa.Integer(), nullable=True),
    sa.Column("offers", JSON, nullable=False, server_default="[]"),
    sa.Column("wait_seconds", sa.Float(), nullable=True),
    sa.Column("talk_seconds", sa.Float(), nullable=True),
    sa.Column("hold_seconds", sa.Float(), nullable=True),
    sa.Column("wrap_up_seconds", sa.Float(), nullable=True),
    sa.Column("disposition", sa.String(64), nullable=False, server_default=""),
    sa.Column("disposition_notes", sa.Text(), nullable=False, server_default=""),
    sa.Column("abandon_point", sa.String(16), nullable=False, server_default=""),
]


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants")


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=f"fk_{table}_{column}_users")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for column in CALL_COLUMNS:
            batch.add_column(column)

    op.create_table(
        "ivr_flows",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _tenant_fk("ivr_flows"),
        _user_fk("ivr_flows", "created_by"),
        sa.PrimaryKeyConstraint("id", name="pk_ivr_flows"),
        sa.UniqueConstraint("tenant_id", "name", "version", name="uq_ivr_flows_version"),
    )
    op.create_index("ix_ivr_flows_tenant_id", "ivr_flows", ["tenant_id"])

    op.create_table(
        "number_routes",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("calendar_id", PK, nullable=True),
        sa.Column("after_hours_flow", sa.String(64), nullable=False),
        sa.Column("holiday_flow", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        _tenant_fk("number_routes"),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name="fk_number_routes_calendar_id_calendars"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_number_routes"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_number_routes_number"),
    )
    op.create_index("ix_number_routes_tenant_id", "number_routes", ["tenant_id"])

    op.create_table(
        "queues",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("unit_id", PK, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _tenant_fk("queues"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_queues_unit_id_units"),
        sa.PrimaryKeyConstraint("id", name="pk_queues"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_queues_name"),
    )
    op.create_index("ix_queues_tenant_id", "queues", ["tenant_id"])
    op.create_index("ix_queues_unit_id", "queues", ["unit_id"])

    op.create_table(
        "agents",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("user_id", PK, nullable=False),
        sa.Column("agent_no", sa.String(32), nullable=False),
        sa.Column("skills", JSON, nullable=False),
        sa.Column("queues", JSON, nullable=False),
        sa.Column("auto_ready", sa.Boolean(), nullable=False),
        _tenant_fk("agents"),
        _user_fk("agents", "user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("user_id", name="uq_agents_user_id"),
    )
    op.create_index("ix_agents_tenant_id", "agents", ["tenant_id"])

    op.create_table(
        "service_codes",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("label_zh", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _tenant_fk("service_codes"),
        sa.PrimaryKeyConstraint("id", name="pk_service_codes"),
        sa.UniqueConstraint("tenant_id", "kind", "code", name="uq_service_codes_code"),
    )
    op.create_index("ix_service_codes_tenant_id", "service_codes", ["tenant_id"])

    op.create_table(
        "queue_events",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("agent_id", PK, nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("data", JSON, nullable=False),
        _tenant_fk("queue_events"),
        _user_fk("queue_events", "agent_id"),
        sa.PrimaryKeyConstraint("id", name="pk_queue_events"),
    )
    op.create_index("ix_queue_events_tenant_at", "queue_events", ["tenant_id", "at"])
    op.create_index("ix_queue_events_call", "queue_events", ["call_id"])
    # append-only, like the audit log
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER queue_events_no_change BEFORE UPDATE OR DELETE ON queue_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER queue_events_no_{verb.lower()} BEFORE {verb} ON queue_events "
                "BEGIN SELECT RAISE(ABORT, 'queue_events is append-only'); END"
            )

    op.create_table(
        "voicemails",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("box", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("handled_by", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _tenant_fk("voicemails"),
        _user_fk("voicemails", "handled_by"),
        sa.PrimaryKeyConstraint("id", name="pk_voicemails"),
    )
    op.create_index("ix_voicemails_tenant_id", "voicemails", ["tenant_id"])
    op.create_index("ix_voicemails_call_id", "voicemails", ["call_id"])

    op.create_table(
        "callbacks",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", PK, nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("queued_since", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("agent_id", PK, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
        _tenant_fk("callbacks"),
        _user_fk("callbacks", "agent_id"),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
    )
    op.create_index("ix_callbacks_tenant_id", "callbacks", ["tenant_id"])
    op.create_index("ix_callbacks_call_id", "callbacks", ["call_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS queue_events_no_change ON queue_events")
    for table in (
        "callbacks",
        "voicemails",
        "queue_events",
        "service_codes",
        "agents",
        "queues",
        "number_routes",
        "ivr_flows",
    ):
        op.drop_table(table)
    with op.batch_alter_table("calls") as batch:
        for column in reversed(CALL_COLUMNS):
            batch.drop_column(column.name)
