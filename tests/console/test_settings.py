"""Settings in the console: the profile written to the settings file (checked first,
audited in the admin's name), design previews, and the keys: rotate, mark compromised only
when the admin types the key's id, download the trust bundle."""

from __future__ import annotations

import json
import re

from conftest import LiveServer

from diplomas.core.audit import AuditAction
from diplomas.key_admin import KeyAdmin
from diplomas.settings_file import read_institution_entries

from .support import PEOPLE, signed_in

ADMIN = PEOPLE["admin"][0]


def test_the_profile_is_saved_checked_and_audited(console: LiveServer) -> None:
    settings = console.instance.settings
    with signed_in(console.base_url, ADMIN) as admin:
        form = admin.client.get("/admin/settings").text
        # Every field of the form as the page filled it (signatories included).
        values = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" value="([^"]*)"', form))
        assert {"name", "public_url", "s0-name"} <= set(values)
        changed = admin.post(
            "/admin/settings",
            {**values, "name_en": "Research Office, Tabriz University of Medical Sciences"},
        )
        assert changed.status_code == 200
        assert "name_en set to Research Office" in changed.text
        entries = read_institution_entries(settings.institution_file)
        assert entries[0]["name_en"] == "Research Office, Tabriz University of Medical Sciences"
        before = settings.institution_file.read_bytes()
        bad = admin.post("/admin/settings", {**values, "public_url": "not a url"})
        assert bad.status_code == 422
        assert settings.institution_file.read_bytes() == before
    with signed_in(console.base_url, ADMIN) as admin:
        ruled = admin.post("/admin/settings", {**values, "two_person_rule": "true"})
        assert ruled.status_code == 200
    assert read_institution_entries(settings.institution_file)[0]["two_person_rule"] is True
    entry = next(
        e
        for e in console.instance.service.audit_trail(limit=100)
        if e.action == AuditAction.SETTINGS_CHANGED and e.details["setting"] == "name_en"
    )
    assert entry.actor == f"user:{ADMIN} (console)"
    assert entry.details["setting"] == "name_en"


def test_keys_rotate_and_are_marked_compromised_only_with_the_id_typed(
    console: LiveServer,
) -> None:
    keys = KeyAdmin(console.instance.settings)
    [first] = [k.key_id for k in keys.entries() if k.status == "active"]
    with signed_in(console.base_url, ADMIN) as admin:
        rotated = admin.post("/admin/settings/keys/rotate", {"sure": "on"})
        assert rotated.status_code == 200 and "signs from now on" in rotated.text
        [current] = [k.key_id for k in keys.entries() if k.status == "active"]
        assert current != first
        wrong = admin.post(
            f"/admin/settings/keys/{current}/compromised",
            {"since": "2026-01-01T00:00", "confirm": first},
        )
        assert wrong.status_code == 422
        assert "type the key" in wrong.text
        assert all(k.compromised_since is None for k in keys.entries())
        right = admin.post(
            f"/admin/settings/keys/{current}/compromised",
            {"since": "2026-01-01T00:00", "confirm": current},
        )
        assert right.status_code == 200
        marked = next(k for k in keys.entries() if k.key_id == current)
        assert marked.compromised_since is not None
        bundle = admin.client.get("/admin/settings/keys/trust.json")
        assert bundle.status_code == 200
        assert current in bundle.text and first in bundle.text
        json.loads(bundle.text)
        designs = admin.client.get("/admin/settings/designs").text
        assert 'src="data:image/png;base64,' in designs
