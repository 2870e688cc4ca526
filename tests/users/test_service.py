"""The service's rules for users and their tokens, on a real SQLite file database (and
PostgreSQL when DIPLOMAS_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import Instance

from diplomas.core.audit import AuditAction
from diplomas.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from diplomas.core.users import Role

PASSWORD = "a long enough password"


def entries(instance: Instance, action: str) -> list[tuple[str, str, dict[str, object]]]:
    audit = instance.service.audit
    assert audit is not None
    return [(e.actor, e.subject, dict(e.details)) for e in audit.entries(action=action)]


def test_a_user_is_added_with_a_normalised_email_and_an_argon2id_hash(
    instance: Instance,
) -> None:
    service = instance.service
    user = service.add_user(" Zahra@TBZMED.ac.ir", "tbzmed", "Issuer", PASSWORD, actor="cli:ops")
    assert (user.email, user.institution, user.role) == (
        "zahra@tbzmed.ac.ir",
        "tbzmed",
        Role.ISSUER,
    )
    stored = service.user("ZAHRA@tbzmed.ac.ir")
    assert stored == user and stored.active
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # the defaults
    assert service.passwords.verify(stored.password_hash, PASSWORD)
    assert not service.passwords.verify(stored.password_hash, PASSWORD + "!")
    [(actor, subject, details)] = entries(instance, AuditAction.USER_ADDED)
    assert (actor, subject) == ("cli:ops", user.id)
    assert details == {"email": "zahra@tbzmed.ac.ir", "institution": "tbzmed", "role": "issuer"}


def test_emails_are_unique_whatever_their_case(instance: Instance) -> None:
    instance.service.add_user("zahra@tbzmed.ac.ir", "tbzmed", "viewer", PASSWORD)
    with pytest.raises(Conflict, match=r"zahra@tbzmed\.ac\.ir"):
        instance.service.add_user("ZAHRA@tbzmed.ac.ir", "tbzmed", "admin", PASSWORD)
    assert [u.role for u in instance.service.list_users()] == [Role.VIEWER]


@pytest.mark.parametrize(
    ("email", "institution", "role", "password", "field"),
    [
        ("not-an-email", "tbzmed", "viewer", PASSWORD, "email"),
        ("a@tbzmed.ac.ir", "nowhere", "viewer", PASSWORD, "institution"),
        ("a@tbzmed.ac.ir", "tbzmed", "dean", PASSWORD, "role"),
        ("a@tbzmed.ac.ir", "tbzmed", "viewer", "too short", "password"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_is_stored(
    instance: Instance, email: str, institution: str, role: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        instance.service.add_user(email, institution, role, password)
    assert [p.field for p in caught.value.problems] == [field]
    assert password not in str(caught.value)
    assert instance.service.list_users() == []
    assert entries(instance, AuditAction.USER_ADDED) == []


def test_disabling_stops_the_users_tokens(instance: Instance) -> None:
    service = instance.service
    service.add_user("reza@tbzmed.ac.ir", "tbzmed", "approver", PASSWORD)
    _, token = service.create_token(["read"], "laptop", user="reza@tbzmed.ac.ir")
    assert service.authenticate(token, "read").owner_email == "reza@tbzmed.ac.ir"
    disabled = service.disable_user("Reza@tbzmed.ac.ir", actor="cli:ops")
    assert disabled.disabled_at is not None
    with pytest.raises(Unauthorized, match=r"^the token is not valid$"):
        service.authenticate(token, "read")
    with pytest.raises(Conflict, match="already disabled"):
        service.disable_user("reza@tbzmed.ac.ir")
    with pytest.raises(InvalidInput, match="disabled"):
        service.create_token(["read"], "another", user="reza@tbzmed.ac.ir")
    [(actor, subject, details)] = entries(instance, AuditAction.USER_DISABLED)
    assert (actor, subject, details) == ("cli:ops", disabled.id, {"email": "reza@tbzmed.ac.ir"})


def test_a_reset_changes_the_password_and_nothing_else(instance: Instance) -> None:
    service = instance.service
    before = service.add_user("reza@tbzmed.ac.ir", "tbzmed", "admin", PASSWORD)
    _, token = service.create_token(["read"], "laptop", user="reza@tbzmed.ac.ir")
    new = "another long password"
    after = service.reset_password("reza@tbzmed.ac.ir", new, actor="cli:ops")
    assert service.passwords.verify(after.password_hash, new)
    assert not service.passwords.verify(after.password_hash, PASSWORD)
    assert (after.id, after.role, after.active) == (before.id, before.role, True)
    service.authenticate(token, "read")  # tokens are not ended by a reset
    with pytest.raises(InvalidInput):
        service.reset_password("reza@tbzmed.ac.ir", "short")
    with pytest.raises(NotFound):
        service.reset_password("nobody@tbzmed.ac.ir", new)
    [(actor, _, details)] = entries(instance, AuditAction.USER_PASSWORD_RESET)
    assert (actor, details) == ("cli:ops", {"email": "reza@tbzmed.ac.ir"})


def test_a_users_token_is_named_unique_and_no_wider_than_the_role(instance: Instance) -> None:
    service = instance.service
    service.add_user("sara@tbzmed.ac.ir", "tbzmed", "viewer", PASSWORD)
    with pytest.raises(InvalidInput, match="name"):
        service.create_token(["read"], "", user="sara@tbzmed.ac.ir")
    with pytest.raises(InvalidInput, match="wider than the viewer role"):
        service.create_token(["read", "issue"], "x", user="sara@tbzmed.ac.ir")
    with pytest.raises(NotFound):
        service.create_token(["read"], "x", user="nobody@tbzmed.ac.ir")
    record, _ = service.create_token(["read"], "laptop", user="sara@tbzmed.ac.ir")
    with pytest.raises(Conflict, match="laptop"):
        service.create_token(["read"], "laptop", user="sara@tbzmed.ac.ir")
    listed = {t.token_id: t for t in service.list_tokens()}
    assert listed[record.token_id].owner_email == "sara@tbzmed.ac.ir"
    assert listed[record.token_id].owner_id == record.owner_id


def test_expired_and_revoked_tokens_are_refused_like_wrong_ones(instance: Instance) -> None:
    service = instance.service
    service.add_user("sara@tbzmed.ac.ir", "tbzmed", "admin", PASSWORD)
    record, token = service.create_token(
        ["read"], "week", user="sara@tbzmed.ac.ir", expires_in=timedelta(days=7)
    )
    assert record.expires_at == record.created_at + timedelta(days=7)
    service.authenticate(token, "read")

    class Later:
        def now(self) -> object:
            assert record.expires_at is not None
            return record.expires_at

    clock = service.clock
    service.clock = Later()  # type: ignore[assignment]
    try:
        with pytest.raises(Unauthorized, match=r"^the token is not valid$"):
            service.authenticate(token, "read")
    finally:
        service.clock = clock
    revoked, other = service.create_token(["read"], "to revoke", user="sara@tbzmed.ac.ir")
    service.revoke_token(revoked.token_id, actor="cli:ops")
    with pytest.raises(Unauthorized, match=r"^the token is not valid$"):
        service.authenticate(other, "read")
    with pytest.raises(Conflict):
        service.revoke_token(revoked.token_id)
    with pytest.raises(NotFound):
        service.revoke_token("0" * 16)
    [(actor, subject, details)] = entries(instance, AuditAction.TOKEN_REVOKED)
    assert (actor, subject) == ("cli:ops", revoked.token_id)
    assert details == {"token": revoked.token_id, "name": "to revoke", "owner": "sara@tbzmed.ac.ir"}


@pytest.mark.parametrize("days", [0, -1, 100000])
def test_an_expiry_out_of_range_is_refused(instance: Instance, days: int) -> None:
    with pytest.raises(InvalidInput, match="expires_in"):
        instance.service.create_token(["read"], "x", expires_in=timedelta(days=days))
