"""Bulk issuance: a row identity on diplomas and the batches table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diplomas") as batch:
        batch.add_column(sa.Column("row_key", sa.String(80), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_diplomas_institution_row_key"), ["institution", "row_key"]
        )
    # Diplomas issued before this revision with an external id keep their identity.
    op.execute("UPDATE diplomas SET row_key = 'ext:' || external_id WHERE external_id IS NOT NULL")

    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("skip_invalid", sa.Boolean(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.CheckConstraint(
            "status IN ('queued', 'validating', 'issuing', 'done', 'refused', 'failed')",
            name=op.f("ck_batches_status"),
        ),
    )
    op.create_index(op.f("ix_batches_status"), "batches", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_batches_status"), table_name="batches")
    op.drop_table("batches")
    with op.batch_alter_table("diplomas") as batch:
        batch.drop_constraint(op.f("uq_diplomas_institution_row_key"), type_="unique")
        batch.drop_column("row_key")
