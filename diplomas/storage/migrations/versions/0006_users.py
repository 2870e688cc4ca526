"""Users, and tokens that belong to them.

`users` holds the office's people (email unique, role checked); `api_tokens` gains a
nullable owner (existing tokens keep working, owned by nobody), an expiry (NULL: never),
and a name unique per owner, so that the audit log's `user:<email> (token <name>)` names
one token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'issuer', 'approver', 'admin')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("owner_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        table.create_foreign_key(
            op.f("fk_api_tokens_owner_id_users"), "users", ["owner_id"], ["id"]
        )
        table.create_unique_constraint(op.f("uq_api_tokens_owner_id_name"), ["owner_id", "name"])
        table.create_index(op.f("ix_api_tokens_owner_id"), ["owner_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as table:
        table.drop_index(op.f("ix_api_tokens_owner_id"))
        table.drop_constraint(op.f("uq_api_tokens_owner_id_name"), type_="unique")
        table.drop_constraint(op.f("fk_api_tokens_owner_id_users"), type_="foreignkey")
        table.drop_column("expires_at")
        table.drop_column("owner_id")
    op.drop_table("users")
