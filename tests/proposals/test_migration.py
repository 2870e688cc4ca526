"""Migration 0008 upgrades a database with batches already: they keep their status, new
batches may be `proposed` or `rejected` (nothing else), proposals are of a diploma, a batch
or a correction, and it goes back down to 0006."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from storage.support import NOW

from diplomas.storage import current_revision, make_engine, migrate
from diplomas.storage.schema import alembic_config, head_revision

INSERT_BATCH = text(
    "INSERT INTO batches (id, institution, status, source, template, skip_invalid, "
    "total_rows, valid_rows, issued, skipped, refused, problems, message, created_at, "
    "updated_at) VALUES (:id, 'tbzmed', :status, 'r.csv', 'classic', false, 0, 0, 0, 0, 0, "
    "'[]', '', :at, :at)"
)

INSERT_PROPOSAL = text(
    "INSERT INTO proposals (id, kind, state, institution, required, payload, proposer, "
    "proposer_email, approvals, rejection, created_at) VALUES (:id, :kind, 'pending', "
    "'tbzmed', 'tbzmed', '{}', 'cli:x', '', '[]', '', :at)"
)


def test_batches_keep_their_status_and_gain_proposed_and_rejected(db_url: str) -> None:
    engine = make_engine(db_url)
    at = NOW.replace(tzinfo=None)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with engine.begin() as connection:
            connection.execute(INSERT_BATCH, {"id": "done1", "status": "done", "at": at})
        migrate(db_url)
        assert current_revision(engine) == head_revision()
        assert "proposals" in inspect(engine).get_table_names()
        with engine.begin() as connection:
            assert connection.execute(text("SELECT status FROM batches")).scalar() == "done"
            for status in ("proposed", "rejected"):
                connection.execute(INSERT_BATCH, {"id": status, "status": status, "at": at})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(INSERT_BATCH, {"id": "x", "status": "maybe", "at": at})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO proposals (id, kind, state, institution, required, payload, "
                    "proposer, proposer_email, approvals, rejection, created_at) VALUES "
                    "('p', 'diploma', 'almost', 'tbzmed', 'tbzmed', '{}', 'cli:x', '', '[]', "
                    "'', :at)"
                ),
                {"at": at},
            )
        with engine.begin() as connection:  # a correction is a kind of proposal
            connection.execute(INSERT_PROPOSAL, {"id": "c", "kind": "correction", "at": at})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(INSERT_PROPOSAL, {"id": "o", "kind": "other", "at": at})
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM proposals"))
            connection.execute(text("DELETE FROM batches WHERE status IN ('proposed', 'rejected')"))
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert current_revision(engine) == "0006"
        assert "proposals" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
