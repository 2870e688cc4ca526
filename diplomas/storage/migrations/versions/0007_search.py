"""Search: a folded `search_text` per diploma, trigram-indexed on PostgreSQL.

`diplomas.search_text` holds the search keys (`core.search.search_text`) of the name,
English name, serial, external id and email; rows issued before this revision get theirs
here. On PostgreSQL the pg_trgm and btree_gin extensions are created (in schema public,
so that every schema of the database shares them) and the column gets a GIN index of its
trigrams and the name beside them, which serves `search_text LIKE '%key%'`, and, with
`name <= 'bound'`, a broad search sorted by name (`SqlRepository.find`) without reading
the table rows of matches that sort after its page. Where pg_trgm cannot be created (the
database user may not), a warning is logged and the columns get a plain index instead:
searching then works, by scanning; without btree_gin the GIN index holds the trigrams
alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from diplomas.core.search import search_text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("diplomas.migrations")

INDEX = "ix_diplomas_search_text_name"
_CHUNK = 2000

_diplomas = sa.table(
    "diplomas",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("name_en", sa.String),
    sa.column("serial", sa.String),
    sa.column("external_id", sa.String),
    sa.column("email", sa.String),
    sa.column("search_text", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("diplomas") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    backfill(op.get_bind())
    # Searches list the newest diplomas first by the date printed on them; a date range
    # and that order are both served by one walk down this index.
    op.create_index(op.f("ix_diplomas_issued_on_issued_at"), "diplomas", ["issued_on", "issued_at"])
    # A whole email is looked up by its own index (its trigrams are in every row).
    op.create_index(op.f("ix_diplomas_email"), "diplomas", ["email"])
    # The co-issued diplomas (few): the co-issuer filter reads only those rows.
    only_co_issued = sa.text("co_issuers <> ''")
    op.create_index(
        op.f("ix_diplomas_co_issuers"),
        "diplomas",
        ["co_issuers"],
        postgresql_where=only_co_issued,
        sqlite_where=only_co_issued,
    )
    bind = op.get_bind()
    trigram_schema = pg_trgm_schema(bind) if bind.dialect.name == "postgresql" else None
    if trigram_schema is None:
        op.create_index(INDEX, "diplomas", ["search_text", "name"])
    else:
        quote = bind.dialect.identifier_preparer.quote
        columns = f"search_text {quote(trigram_schema)}.gin_trgm_ops"
        btree_gin = _extension_schema(bind, "btree_gin") or _created(bind, "btree_gin")
        if btree_gin is not None:
            columns += f", name {quote(btree_gin)}.varchar_ops"
        op.execute(f"CREATE INDEX {INDEX} ON diplomas USING gin ({columns})")
    if bind.dialect.name == "postgresql":
        # How many rows `LIKE '%key%'` matches is estimated from the sampled values: from
        # 100, a key in 3% of the rows looks like one in none, and the database would
        # read every match to filter them by status or date rather than combine indexes.
        op.execute("ALTER TABLE diplomas ALTER COLUMN search_text SET STATISTICS 1000")


def backfill(bind: sa.Connection) -> None:
    """Write the search text of every stored diploma, by id, a chunk at a time."""
    after = ""
    while True:
        rows = bind.execute(
            sa.select(
                _diplomas.c.id,
                _diplomas.c.name,
                _diplomas.c.name_en,
                _diplomas.c.serial,
                _diplomas.c.external_id,
                _diplomas.c.email,
            )
            .where(_diplomas.c.id > after)
            .order_by(_diplomas.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(_diplomas)
            .where(_diplomas.c.id == sa.bindparam("row_id"))
            .values(search_text=sa.bindparam("text")),
            [
                {
                    "row_id": r.id,
                    "text": search_text(r.name, r.name_en, r.serial, r.external_id, r.email),
                }
                for r in rows
            ],
        )
        after = rows[-1].id


def pg_trgm_schema(bind: sa.Connection) -> str | None:
    """The schema of the pg_trgm extension, created in public if missing; None (and a
    warning) when it cannot be created. A failed attempt is rolled back to a savepoint,
    so the migration's transaction goes on."""
    found = _extension_schema(bind)
    if found is not None:
        return found
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "could not create the pg_trgm extension (%s); diplomas.search_text gets a plain "
            "index, so searching scans the table. Have a superuser run "
            "'CREATE EXTENSION pg_trgm SCHEMA public' and then "
            "'CREATE EXTENSION btree_gin SCHEMA public' and then "
            "'DROP INDEX %s; CREATE INDEX %s ON diplomas USING gin "
            "(search_text public.gin_trgm_ops, name)' for fast searches.",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
            INDEX,
            INDEX,
        )
        return None
    return _extension_schema(bind)


def _created(bind: sa.Connection, name: str) -> str | None:
    """The schema of the extension, created in public; None (and a warning) when it
    cannot be (a failed attempt is rolled back to a savepoint)."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {name} SCHEMA public")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "could not create the %s extension (%s); %s indexes the trigrams of "
            "diplomas.search_text alone, and broad searches sorted by name read more rows.",
            name,
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
            INDEX,
        )
        return None
    return _extension_schema(bind, name)


def _extension_schema(bind: sa.Connection, name: str = "pg_trgm") -> str | None:
    schema: str | None = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = %(name)s",
        {"name": name},
    ).scalar()
    return schema


def downgrade() -> None:
    op.drop_index(INDEX, table_name="diplomas")
    op.drop_index(op.f("ix_diplomas_co_issuers"), table_name="diplomas")
    op.drop_index(op.f("ix_diplomas_email"), table_name="diplomas")
    op.drop_index(op.f("ix_diplomas_issued_on_issued_at"), table_name="diplomas")
    with op.batch_alter_table("diplomas") as batch:
        batch.drop_column("search_text")
