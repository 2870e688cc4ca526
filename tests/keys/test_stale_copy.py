"""A machine whose keys folder is an older copy than the instance's (a worker or replica
not given the keys again after a rotation elsewhere) issues nothing: what it signed with
the retired key would not verify anywhere. It says so, in words, until the keys are
copied again."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from batch.rosters import cohort
from conftest import SAMT, Instance, make_instance

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches, build_service
from diplomas.core.errors import ConfigurationError, KeyStoreError
from diplomas.core.verification import VerdictStatus
from diplomas.key_admin import KeyAdmin
from diplomas.service import RecordMaker, check_request


def test_keys_copied_before_a_rotation_sign_nothing(instance: Instance, tmp_path: Path) -> None:
    settings = instance.settings
    copy = tmp_path / "machine-b" / "keys"
    shutil.copytree(settings.keys_dir, copy)  # the other machine's keys, copied at set-up
    machine_b = settings.model_copy(update={"keys_dir": copy})
    first = instance.service.issue({"name": "مریم احمدی", "external_id": "before"}).diploma

    rotated = KeyAdmin(settings).rotate(datetime.now(UTC), actor="admin")
    [old_key] = rotated.retired
    stale = build_service(machine_b)
    with pytest.raises(ConfigurationError) as refused:
        stale.issue({"name": "رضا کریمی", "external_id": "stale"})
    message = str(refused.value)
    assert old_key in message and "rotated away" in message and rotated.new.key_id in message
    assert "older copy" in message and "nothing more was issued" in message

    # A batch on that machine is refused before anything is signed, every row left.
    with pytest.raises(ConfigurationError, match="older copy"):
        build_batches(stale, machine_b).run(
            cohort(tmp_path / "c.csv", 3), BatchOptions(out_dir=tmp_path / "out", workers=1)
        )
    current = build_service(settings)
    assert current.search("", 0, 10)[1] == 1

    # The keys copied again: that machine issues, and what it signs verifies on this one.
    shutil.rmtree(copy)
    shutil.copytree(settings.keys_dir, copy)
    again = build_service(machine_b).issue({"name": "رضا کریمی", "external_id": "stale"}).diploma
    for diploma in (first, again):
        assert current.verify_id(diploma.id).status is VerdictStatus.VALID


def test_a_co_issuer_left_without_a_key_blocks_only_its_own_diplomas(tmp_path: Path) -> None:
    """The check of every key a process signs with skips a co-issuer that has no active key
    at all: the issuer's own diplomas go on, and one naming that co-issuer is refused
    with the co-issuer's own reason."""
    instance = make_instance(tmp_path, co_issuers=[SAMT])
    admin = KeyAdmin(instance.settings)
    [key] = [k.key_id for k in admin.store("samt").entries()]
    now = datetime.now(UTC)
    admin.mark_compromised(key, now, now, actor="admin", slug="samt")
    service = build_service(instance.settings)
    assert service.issue({"name": "مریم احمدی"}).diploma.serial
    with pytest.raises(KeyStoreError, match="no active record-signing key"):
        service.issue({"name": "رضا کریمی", "co_issuers": ["samt"]})


def test_a_co_issuers_key_rotated_elsewhere_blocks_only_the_diplomas_that_name_it(
    tmp_path: Path,
) -> None:
    """The co-issuer's key is checked against the audit log as a record names it: with
    keys copied before the co-issuer's rotation, the issuer's own diplomas go on and a
    co-issued one is refused, nothing of it stored."""
    instance = make_instance(tmp_path, co_issuers=[SAMT])
    settings = instance.settings
    copy = tmp_path / "machine-b" / "keys"
    shutil.copytree(settings.keys_dir, copy)
    machine_b = settings.model_copy(update={"keys_dir": copy})
    rotated = KeyAdmin(settings).rotate(datetime.now(UTC), actor="admin", slug="samt")
    [old_key] = rotated.retired
    stale = build_service(machine_b)
    assert stale.issue({"name": "مریم احمدی"}).diploma.serial
    with pytest.raises(ConfigurationError) as refused:
        stale.issue({"name": "رضا کریمی", "co_issuers": ["samt"], "external_id": "co"})
    assert old_key in str(refused.value) and "older copy" in str(refused.value)
    assert build_service(settings).search("", 0, 10)[1] == 1


def test_a_rotation_on_this_machine_during_a_run_stops_the_run_and_a_new_one_signs(
    instance: Instance,
) -> None:
    """A batch running while the keys are rotated on the same machine holds the old key:
    its next chunk is refused (what it signed would not verify) with words that say to
    run it again, and the new run signs with the new key."""
    service = instance.service
    now = datetime.now(UTC)
    running = RecordMaker(service, now)  # a run started before the rotation
    request, _ = check_request(
        {"name": "مریم احمدی"},
        today=now.date(),
        issuer=service.institution,
        co_issuing=service.co_issuing,
        templates=service.templates,
    )
    rotated = KeyAdmin(instance.settings).rotate(now, actor="admin")
    with pytest.raises(ConfigurationError, match="run the batch again") as refused:
        service.repository.issue_many(
            service.institution, [(request, None)], running.key_id, running, now
        )
    assert rotated.retired[0] in str(refused.value)
    assert service.search("", 0, 10)[1] == 0  # nothing issued

    again = service.issue({"name": "مریم احمدی"}).diploma  # the run again: a new maker
    assert service.verify_id(again.id).status is VerdictStatus.VALID
