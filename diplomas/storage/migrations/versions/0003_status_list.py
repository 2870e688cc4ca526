"""Status lists: a slot (list number, index) per diploma, suspension, the lists themselves
and their last signed credentials.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diplomas") as batch:
        batch.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("suspension_reason", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("status_list", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("status_index", sa.Integer(), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_diplomas_status_list_status_index"), ["status_list", "status_index"]
        )
        batch.drop_constraint(op.f("ck_diplomas_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_diplomas_status"), "status IN ('issued', 'revoked', 'suspended')"
        )

    # Building a list reads the few revoked (or suspended) diplomas of one list number.
    op.create_index(
        op.f("ix_diplomas_status_status_list_status_index"),
        "diplomas",
        ["status", "status_list", "status_index"],
    )
    op.create_table(
        "status_lists",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_status_lists")),
    )
    op.create_table(
        "status_list_credentials",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_status_list_credentials")),
    )


def downgrade() -> None:
    op.drop_table("status_list_credentials")
    op.drop_table("status_lists")
    op.drop_index(op.f("ix_diplomas_status_status_list_status_index"), table_name="diplomas")
    op.execute("UPDATE diplomas SET status = 'issued' WHERE status = 'suspended'")
    with op.batch_alter_table("diplomas") as batch:
        batch.drop_constraint(op.f("ck_diplomas_status"), type_="check")
        batch.create_check_constraint(op.f("ck_diplomas_status"), "status IN ('issued', 'revoked')")
        batch.drop_constraint(op.f("uq_diplomas_status_list_status_index"), type_="unique")
        batch.drop_column("status_index")
        batch.drop_column("status_list")
        batch.drop_column("suspension_reason")
        batch.drop_column("suspended_at")
