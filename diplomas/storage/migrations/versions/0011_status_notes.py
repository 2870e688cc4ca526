"""Public reasons from a list, private notes apart.

A revocation or suspension now publishes a reason chosen from a short bilingual list
(`core.reasons`, stored as its code) and keeps the office's own words in a private note.
Reasons typed before this were published as written; they move into the note, and the
public reason becomes "other", so that nothing a person typed stays public.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODES = (
    "issued_in_error",
    "false_information",
    "misconduct",
    "replaced",
    "holder_request",
    "under_review",
    "disputed",
    "other",
)


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite has it for adding and dropping columns since 3.35): batch
    # mode would copy the diplomas table, which other tables' foreign keys refer to.
    op.add_column(
        "diplomas", sa.Column("revocation_note", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "diplomas", sa.Column("suspension_note", sa.Text(), nullable=False, server_default="")
    )
    diplomas = sa.table(
        "diplomas",
        sa.column("revocation_reason", sa.Text()),
        sa.column("revocation_note", sa.Text()),
        sa.column("suspension_reason", sa.Text()),
        sa.column("suspension_note", sa.Text()),
    )
    for reason, note in (
        ("revocation_reason", "revocation_note"),
        ("suspension_reason", "suspension_note"),
    ):
        column = diplomas.c[reason]
        op.execute(
            diplomas.update()
            .where(column != "", column.not_in(CODES))
            .values({note: column, reason: "other"})
        )


def downgrade() -> None:
    op.drop_column("diplomas", "suspension_note")
    op.drop_column("diplomas", "revocation_note")
