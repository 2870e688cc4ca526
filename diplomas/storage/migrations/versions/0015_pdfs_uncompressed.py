"""PDFs in the database are stored as they are, not compressed again by PostgreSQL.

A signed PDF is compressed already (its streams are Flate), but PostgreSQL's default
storage for a `bytea` column (EXTENDED) still tries to compress every value over 2 kB
before moving it out of line: for a 50 kB diploma that is about 0.6 ms of the server's
CPU a PDF, for nothing (the table is the same size either way). EXTERNAL keeps it out of
line without trying; bulk issuance on PostgreSQL spends that time issuing instead
(bench/README.md has the figures). Rows written before keep their form: both read the
same. SQLite stores blobs as they are and has no such setting.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE pdfs ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE pdfs ALTER COLUMN content SET STORAGE EXTENDED")
