"""A signed status list remembers the whole verification method that signed it.

`status_list_credentials.key_id` held a bare key id; it now holds `did#key id`, so that a
list signed under a DID the institution has left is signed again under the new one. A
did:web with a port and a path is longer than 128 characters more easily than a key id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("status_list_credentials") as table:
        table.alter_column(
            "key_id", existing_type=sa.String(128), type_=sa.String(512), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("status_list_credentials") as table:
        table.alter_column(
            "key_id", existing_type=sa.String(512), type_=sa.String(128), existing_nullable=False
        )
