"""Past one machine: rosters, PDFs and batch rows in the database, and the task queue.

- `batch_files`: the roster a server runs, and the shards it was split into;
- `batch_rows`: each roster row's diploma, written with it (progress and manifests are
  counted from these, on any replica);
- `pdfs`: signed PDFs, where the settings keep them in the database (PostgreSQL's
  default, so that every replica serves every PDF);
- on PostgreSQL, procrastinate's schema (its jobs, workers and locks): the pinned
  release's `schema.sql`, applied as procrastinate's documentation advises for a
  project that runs its own migrations.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_files",
        sa.Column("batch_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("shards", sa.Text(), nullable=False),
    )
    op.create_table(
        "batch_rows",
        sa.Column("batch_id", sa.String(32), primary_key=True),
        sa.Column("row", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("diploma_id", sa.String(32), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "pdfs",
        sa.Column("diploma_id", sa.String(32), primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        # Straight to psycopg, with no parameters: the file is a script of many
        # statements, and its `%` are no placeholders.
        cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            """
            DO $$
            DECLARE f record;
            BEGIN
                FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                         JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
                LOOP
                    EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE';
                END LOOP;
            END $$;
            DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
                procrastinate_jobs, procrastinate_workers CASCADE;
            DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
                procrastinate_job_to_defer_v1 CASCADE;
            """
        )
    op.drop_table("pdfs")
    op.drop_table("batch_rows")
    op.drop_table("batch_files")
