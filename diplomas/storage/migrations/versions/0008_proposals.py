"""Proposals: the two-person rule (issue 12).

`proposals` holds what will be issued once approved (a diploma's validated request, a
batch's plan, or a correction of an issued diploma), who proposed it, and each
institution's approval; `batches` gains the statuses `proposed` (waiting for approval:
nothing runs it) and `rejected`.

Revision ID: 0008
Revises: 0007 (0007 is written in parallel; whoever merges both relinks the chain)
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'queued', 'validating', 'issuing', 'done', 'refused', 'failed'"


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("required", sa.String(400), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("proposer", sa.String(128), nullable=False),
        sa.Column("proposer_id", sa.String(32), nullable=True),
        sa.Column("proposer_email", sa.String(254), nullable=False),
        sa.Column("approvals", sa.Text(), nullable=False),
        sa.Column("rejection", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("diploma_id", sa.String(32), nullable=True),
        sa.Column("batch_id", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "kind IN ('diploma', 'batch', 'correction')", name=op.f("ck_proposals_kind")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'issued', 'rejected')",
            name=op.f("ck_proposals_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    op.create_index(op.f("ix_proposals_state"), "proposals", ["state"])
    op.create_index(op.f("ix_proposals_diploma_id"), "proposals", ["diploma_id"])
    op.create_index(op.f("ix_proposals_batch_id"), "proposals", ["batch_id"])
    with op.batch_alter_table("batches") as table:
        table.drop_constraint(op.f("ck_batches_status"), type_="check")
        table.create_check_constraint(
            op.f("ck_batches_status"), f"status IN ('proposed', {_STATUSES}, 'rejected')"
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_constraint(op.f("ck_batches_status"), type_="check")
        table.create_check_constraint(op.f("ck_batches_status"), f"status IN ({_STATUSES})")
    op.drop_index(op.f("ix_proposals_batch_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_diploma_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_state"), table_name="proposals")
    op.drop_table("proposals")
