"""The shortcuts taken on the public verification paths change no answer.

The key ring is cached by the metadata file's identity, so a key change made by another
process (the CLI) must still reach a running server at once; the lookup by id skips the
ORM, so it must return the very diploma the ORM path does; request ids come from a cheap
generator, so they must keep their shape; X.509 name preparation is remembered, so name
comparison must keep RFC 5280's rules.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509
from conftest import Instance
from fastapi.testclient import TestClient

from diplomas.api.middleware import new_request_id
from diplomas.bootstrap import open_key_stores
from diplomas.pdfsign import pinned


def test_a_key_marked_compromised_elsewhere_is_seen_without_a_restart(
    instance: Instance, client: TestClient
) -> None:
    issued = instance.service.issue({"name": "زهرا محمدی‌نژاد", "name_en": "Zahra M"}).diploma
    for _ in range(3):  # warm every cache on the way
        assert client.get(f"/api/v1/verify/{issued.id}").json()["status"] == "valid"
        assert "This diploma is genuine" in client.get(f"/v/{issued.id}").text

    # A store object of its own, as `diplomas keys compromised` in another process has.
    elsewhere = open_key_stores(instance.settings)[instance.service.institution.slug]
    now = issued.issued_at + timedelta(seconds=1)
    elsewhere.mark_compromised(issued.key_id, issued.issued_at, now)

    verdict = client.get(f"/api/v1/verify/{issued.id}").json()
    assert verdict["status"] == "invalid"
    assert any("compromised" in reason for reason in verdict["reasons"])
    assert "This diploma is genuine" not in client.get(f"/v/{issued.id}").text


def test_a_rotated_key_is_seen_without_a_restart(instance: Instance, client: TestClient) -> None:
    first = instance.service.issue({"name": "علی رضایی"}).diploma
    assert client.get(f"/api/v1/verify/{first.id}").json()["status"] == "valid"
    elsewhere = open_key_stores(instance.settings)[instance.service.institution.slug]
    time.sleep(1.1)  # record times are whole seconds: retire the old key after `first`
    new_key = elsewhere.rotate(datetime.now(UTC))
    second = instance.service.issue({"name": "مریم احمدی"}).diploma
    assert second.key_id == new_key.key_id
    for diploma in (first, second):
        assert client.get(f"/api/v1/verify/{diploma.id}").json()["status"] == "valid"
    jwks = client.get("/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} >= {first.key_id, new_key.key_id}


def test_lookup_by_id_returns_what_the_orm_path_returns(instance: Instance) -> None:
    service = instance.service
    issued = service.issue({"name": "رضا کریمی", "email": "r@example.org"}).diploma
    service.revoke(issued.id, "issued_in_error", note="صورت‌جلسهٔ ۱۲")
    by_id = service.repository.get(issued.id)
    by_serial = service.repository.get_by_serial(issued.serial)  # through an ORM session
    assert by_id is not None
    assert by_id == by_serial
    assert by_id.revocation_reason == "issued_in_error"
    assert by_id.revoked_at is not None and by_id.revoked_at.tzinfo is not None
    assert service.repository.get("A" * 23) is None


def test_request_ids_keep_their_shape_and_differ() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_remembered_name_preparation_keeps_rfc_5280_comparison() -> None:
    assert pinned.apply() == pinned.apply()  # once is enough; a second call changes nothing

    def name(common_name: str) -> asn1_x509.Name:
        return asn1_x509.Name.build({"common_name": common_name, "country_name": "IR"})

    for _ in range(2):  # the second round answers from memory
        assert name("Tabriz  University") == name("tabriz university")
        assert name(" Tabriz University ") == name("TABRIZ UNIVERSITY")
        assert name("Tabriz University") != name("Tabriz Universities")
        assert name("دانشگاه تبریز") == name("دانشگاه  تبریز")
        assert name("دانشگاه تبریز") != name("دانشگاه تهران")


def test_the_newest_verdicts_are_kept_before_the_first_request(instance: Instance) -> None:
    """A server starts with the newest diplomas' verdicts, and their JSON answers, in
    memory (`verify.warm_up`): its first requests answer as its later ones do."""
    from diplomas.api import create_app

    service = instance.service
    issued = [service.issue({"name": name}).diploma for name in ("علی رضایی", "مریم احمدی")]
    assert service.verdicts is not None
    for diploma in issued:
        service.verdicts.forget(diploma.id)
        assert service.kept_verdict(diploma.id) is None
    with TestClient(create_app(service, instance.settings)):
        for diploma in issued:
            kept = service.verdicts.get(diploma.id)  # held, whether or not a look is due
            assert kept is not None and kept.status == "valid"


def test_the_verify_routes_are_matched_first(instance: Instance) -> None:
    """Routes are matched one pattern after another: the JSON verdict and the QR page
    come before every other route of ours, in the app's own list (not in an included
    router, which FastAPI walks on every request)."""
    from fastapi.routing import APIRoute

    from diplomas.api import create_app
    from diplomas.api.app import HOT_ROUTES

    app = create_app(instance.service, instance.settings)
    ours = [route.path_format for route in app.routes if isinstance(route, APIRoute)]
    assert set(HOT_ROUTES) <= set(ours[:3]), ours[:3]
