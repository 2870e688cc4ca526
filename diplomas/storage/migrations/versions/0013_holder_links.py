"""Holders' private links can be renewed: each diploma counts its link's generation.

The link's token is a MAC of the diploma id and this number (`core.holder`), so nothing
secret is stored; renewing the link adds one, and every earlier copy stops working.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0011: batch mode would copy the diplomas table.
    op.add_column(
        "diplomas",
        sa.Column("holder_link_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("diplomas", "holder_link_generation")
