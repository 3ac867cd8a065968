"""Work-order list indexes: by handler (a handler's own queue) and, on PostgreSQL, a trigram GIN
index on the full-text tokens (``search LIKE '% tok %'`` for a rare word no longer scans).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_handler", "tickets", ["tenant_id", "handler_id", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm ships with PostgreSQL (contrib); LIKE with a leading % uses this index
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_tickets_search_trgm",
            "tickets",
            ["search"],
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tickets_search_trgm", table_name="tickets")
    op.drop_index("ix_tickets_handler", table_name="tickets")
