"""Migration 0006 upgrades a database that has tokens already: they keep working, owned by
nobody and never expiring, and users and their tokens can be added beside them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from storage.support import INSTITUTIONS, NOW, hash_national_id

from diplomas.core.ports import TokenRecord
from diplomas.core.users import Role, User
from diplomas.storage import SqlRepository, make_engine, migrate
from diplomas.storage.schema import alembic_config


def test_an_existing_database_keeps_its_tokens_and_gains_users(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_tokens (token_id, name, secret_hash, scopes, created_at) "
                    "VALUES ('d32c30fe00000000', 'registrar', :hash, 'issue,read', :at)"
                ),
                {"hash": hashlib.sha256(b"s").hexdigest(), "at": NOW.replace(tzinfo=None)},
            )
        migrate(db_url)
        repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
        old = repo.get_token("d32c30fe00000000")
        assert old is not None
        assert (old.owner_id, old.expires_at, old.revoked_at) == (None, None, None)
        assert old.scopes == {"issue", "read"} and old.actor == "token:d32c30fe00000000"

        user = User("u" * 32, "zahra@tbzmed.ac.ir", "tbzmed", Role.ADMIN, NOW, "$argon2id$x")
        repo.add_user(user)
        token = TokenRecord(
            "e" * 16,
            "registrar",
            "h",
            frozenset({"read"}),
            NOW,
            owner_id=user.id,
            owner_email=user.email,
            expires_at=NOW + timedelta(days=30),
        )
        repo.add_token(token)
        assert repo.get_token("e" * 16) == token
        assert [t.owner_email for t in repo.list_tokens()] == ["", "zahra@tbzmed.ac.ir"]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE users SET role = 'dean'"))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, institution, role, password_hash, "
                    "created_at, password_changed_at) "
                    "VALUES ('v', :e, 'tbzmed', 'viewer', 'h', :at, :at)"
                ),
                {"e": user.email, "at": NOW.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()
