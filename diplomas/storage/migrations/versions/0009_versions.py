"""Diploma versions: the records that corrections replaced.

`diploma_versions` keeps each earlier version of a corrected diploma (its record bytes,
the record's and the PDF's SHA-256, when it was signed and replaced, and by whom, and the
SHA-256 of its QR signature when the correction made that QR code untrue). The
current version stays in `diplomas`; existing diplomas have no rows here (version 1).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "diploma_versions",
        sa.Column("diploma_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_by", sa.String(128), nullable=False),
        sa.Column("qr_sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["diploma_id"], ["diplomas.id"], name=op.f("fk_diploma_versions_diploma_id_diplomas")
        ),
        sa.PrimaryKeyConstraint("diploma_id", "version", name=op.f("pk_diploma_versions")),
    )
    op.create_index(
        op.f("ix_diploma_versions_record_sha256"), "diploma_versions", ["record_sha256"]
    )
    op.create_index(
        op.f("ix_diploma_versions_superseded_at"), "diploma_versions", ["superseded_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_diploma_versions_superseded_at"), table_name="diploma_versions")
    op.drop_index(op.f("ix_diploma_versions_record_sha256"), table_name="diploma_versions")
    op.drop_table("diploma_versions")
