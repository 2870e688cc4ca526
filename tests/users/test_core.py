"""The pure rules of users: emails, roles, passwords, the audit actor of a user's token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from diplomas.core.errors import InvalidInput
from diplomas.core.ports import TokenRecord
from diplomas.core.users import (
    MIN_PASSWORD_LENGTH,
    ROLE_SCOPES,
    Role,
    User,
    check_password,
    normalize_email,
    parse_role,
)

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Zahra.M@TBZMED.ac.IR ") == "zahra.m@tbzmed.ac.ir"


@pytest.mark.parametrize("bad", ["", "   ", "zahra", "zahra@", "@tbzmed.ac.ir", "a b@x.ir", "a@x"])
def test_malformed_emails_are_refused_by_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email(bad)
    assert caught.value.problems[0].field == "email"


def test_roles_are_parsed_and_unknown_ones_named() -> None:
    assert parse_role(" Approver ") is Role.APPROVER
    with pytest.raises(InvalidInput, match="viewer, issuer, approver, admin"):
        parse_role("dean")


def test_a_short_password_is_refused_without_being_repeated() -> None:
    short = "s3cret-pass"
    assert len(short) < MIN_PASSWORD_LENGTH
    with pytest.raises(InvalidInput) as caught:
        check_password(short)
    assert short not in str(caught.value)
    check_password("x" * MIN_PASSWORD_LENGTH)


def test_no_role_gives_tokens_a_scope_that_does_not_exist() -> None:
    assert ROLE_SCOPES[Role.VIEWER] == {"read"}
    assert set(ROLE_SCOPES) == set(Role)
    from diplomas.service import SCOPES

    assert all(scopes <= SCOPES for scopes in ROLE_SCOPES.values())
    assert {r for r, scopes in ROLE_SCOPES.items() if "approve" in scopes} == {
        Role.APPROVER,
        Role.ADMIN,
    }


def test_the_password_hash_is_not_in_a_users_repr() -> None:
    user = User("u1", "a@b.ir", "tbzmed", Role.ADMIN, NOW, password_hash="$argon2id$secret")
    assert "argon2id" not in repr(user)


def test_a_users_token_names_the_user_and_the_token() -> None:
    owned = TokenRecord(
        "d32c30fe",
        "registrar",
        "h",
        frozenset({"read"}),
        NOW,
        owner_id="u1",
        owner_email="zahra@tbzmed.ac.ir",
    )
    assert owned.actor == "user:zahra@tbzmed.ac.ir (token registrar)"
    legacy = TokenRecord("d32c30fe", "old", "h", frozenset({"read"}), NOW)
    assert legacy.actor == "token:d32c30fe"


def test_a_token_is_live_until_revoked_or_expired() -> None:
    token = TokenRecord("t", "n", "h", frozenset(), NOW, expires_at=NOW + timedelta(days=1))
    assert token.live(NOW)
    assert not token.live(NOW + timedelta(days=1))
    revoked = TokenRecord("t", "n", "h", frozenset(), NOW, revoked_at=NOW)
    assert not revoked.live(NOW)
