"""Diplomas, serial counters and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "diplomas",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("award", sa.String(200), nullable=False),
        sa.Column("award_en", sa.String(200), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("national_id_hash", sa.String(128), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("co_issuers", sa.String(400), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diplomas")),
        sa.UniqueConstraint("institution", "serial", name=op.f("uq_diplomas_institution_serial")),
        sa.UniqueConstraint(
            "institution", "external_id", name=op.f("uq_diplomas_institution_external_id")
        ),
        sa.CheckConstraint("status IN ('issued', 'revoked')", name=op.f("ck_diplomas_status")),
    )
    for column in (
        "serial",
        "name",
        "name_en",
        "external_id",
        "issued_at",
        "national_id_hash",
        "batch_id",
    ):
        op.create_index(op.f(f"ix_diplomas_{column}"), "diplomas", [column])

    op.create_table(
        "serial_counters",
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("institution", "year", name=op.f("pk_serial_counters")),
    )

    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=False),
        sa.Column("scopes", sa.String(400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("serial_counters")
    op.drop_table("diplomas")
