"""Attachment indexes for the upload sweeper: by digest (is a file still named) and the uploads
never attached, by age (a partial index: bound rows are not in it).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_attachments_sha256", "ticket_attachments", ["sha256"])
    op.create_index(
        "ix_ticket_attachments_unbound",
        "ticket_attachments",
        ["created_at"],
        postgresql_where=sa.text("ticket_id IS NULL"),
        sqlite_where=sa.text("ticket_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_attachments_unbound", table_name="ticket_attachments")
    op.drop_index("ix_ticket_attachments_sha256", table_name="ticket_attachments")
