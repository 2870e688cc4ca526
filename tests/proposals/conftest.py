"""An instance where the two-person rule applies to both institutions (the issuer and a
co-issuer), with the office's people: a proposer, approvers of each institution, and a
viewer. SQLite always, PostgreSQL when DIPLOMAS_TEST_DATABASE_URL is set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SAMT, Instance, make_instance
from storage.conftest import db_url

from diplomas.bootstrap import build_service
from diplomas.core.proposals import Actor
from diplomas.service import DiplomaService
from diplomas.settings_file import set_institution_setting

__all__ = ["db_url"]

PASSWORD = "a long enough password"
PROPOSER = "iris@tbzmed.ac.ir"  # issuer of tbzmed
APPROVER = "arash@tbzmed.ac.ir"  # approver of tbzmed
ADMIN = "ava@tbzmed.ac.ir"  # admin of tbzmed (may approve too)
SAMT_APPROVER = "sina@samt.ir"  # approver of the co-issuer
ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}


@dataclass
class Office:
    instance: Instance
    service: DiplomaService
    tokens: dict[str, str]
    """A token per user (by email) with every scope the user's role allows."""

    def actor(self, email: str) -> Actor:
        """The user acting with their token, as the API sees them."""
        record = self.service.authenticate(self.tokens[email], "read")
        return self.service.actor_for_token(record)

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}


def staff(service: DiplomaService) -> dict[str, str]:
    people = {
        PROPOSER: ("tbzmed", "issuer"),
        APPROVER: ("tbzmed", "approver"),
        ADMIN: ("tbzmed", "admin"),
        SAMT_APPROVER: ("samt", "approver"),
    }
    tokens = {}
    for email, (institution, role) in people.items():
        service.add_user(email, institution, role, PASSWORD)
        scopes = ["read", "issue"] + (["revoke", "approve"] if role != "issuer" else [])
        tokens[email] = service.create_token(scopes, "laptop", user=email)[1]
    return tokens


def with_rule(instance: Instance, *slugs: str) -> DiplomaService:
    """The instance's service once `two_person_rule = true` is set for `slugs`."""
    for slug in slugs:
        set_institution_setting(instance.settings, "two_person_rule", True, slug=slug)
    return build_service(instance.settings)


@pytest.fixture
def office(tmp_path: Path, backend: str) -> Office:
    instance = make_instance(tmp_path, backend, co_issuers=[SAMT])
    service = with_rule(instance, "tbzmed", "samt")
    instance.service = service
    return Office(instance, service, staff(service))
