"""Digital Bazaar's verifier stack accepts our credentials and status lists, offline.

These are the libraries behind the DCC's VerifierPlus and the Learner Credential Wallet,
pinned in digitalbazaar/package.json and package-lock.json:

    @digitalbazaar/vc                           7.3.0
    @digitalbazaar/eddsa-jcs-2022-cryptosuite   1.0.0
    @digitalbazaar/data-integrity               2.5.0
    @digitalbazaar/vc-bitstring-status-list     2.0.1
    @digitalbazaar/ed25519-multikey             1.3.1
    jsonld-signatures                           11.6.0
    jsonld                                      9.0.0

Diplomas are issued through the real service and app; their credentials, the DID
documents and the status lists are fetched over the app's HTTP routes, written to files,
and handed to `digitalbazaar/verify.mjs`, whose document loader serves those files and the
contexts bundled in diplomas/core/contexts, and refuses everything else. Node.js 18 or
later and npm are required: `npm ci` installs the pinned packages into
digitalbazaar/node_modules once (again only when the lock file changes).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMT, Instance, make_instance
from fastapi.testclient import TestClient

from diplomas.core.contexts import bundled_urls, load_context
from diplomas.core.keyring import RecordKey
from diplomas.core.model import Institution, Signatory
from diplomas.keys.did import did_document

HERE = Path(__file__).parent / "digitalbazaar"
ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}
SCHEMA_1_RECORD = Path(__file__).parents[1] / "data" / "record-schema-1-co-issued.json"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is missing: these tests need Node.js 18+ and npm (make test installs them)"
        )
    return path


@pytest.fixture(scope="session")
def verifier() -> Path:
    """verify.mjs, its pinned packages installed (once, and again when the lock changes)."""
    node, npm = _tool("node"), _tool("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < 18:  # what the pinned packages ask for (Debian 12 ships 18)
        pytest.fail(f"Node.js {version.stdout.strip()} is too old: these tests need 18 or later")
    lock = (HERE / "package-lock.json").read_bytes()
    stamp = HERE / "node_modules" / ".diplomas-lock"
    if not stamp.exists() or stamp.read_bytes() != lock:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            pytest.fail(f"npm ci failed in {HERE}:\n{done.stdout}\n{done.stderr}")
        stamp.write_bytes(lock)
    return HERE / "verify.mjs"


@dataclass
class Site:
    """The issuing instance over HTTP, and a folder for the verifier's files."""

    instance: Instance
    client: TestClient
    files: Path
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def get(self, path: str) -> Any:
        r = self.client.get(path)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    def path_of(self, url: str) -> str:
        base = self.instance.service.institution.public_url.rstrip("/")
        assert url.startswith(base + "/"), url
        return url[len(base) :]

    def did_path(self, did: str) -> str:
        """Where did:web puts `did`'s document on this site (did:web:host:i:samt is
        /i/samt/did.json)."""
        _, _, segments = did.partition(":web:")
        path = "/".join(segments.split(":")[1:])
        return f"/{path}/did.json" if path else "/.well-known/did.json"

    def issue(self, **fields: Any) -> str:
        r = self.client.post(
            "/api/v1/diplomas", json={**ZAHRA, **fields}, headers=self.instance.auth("issue")
        )
        assert r.status_code == 201, r.text
        diploma_id: str = r.json()["id"]
        return diploma_id

    def credential(self, diploma_id: str) -> dict[str, Any]:
        document: dict[str, Any] = self.get(f"/api/v1/diplomas/{diploma_id}/credential")
        return document

    def write(self, name: str, document: Any) -> str:
        """Write `document` to a new file named after `name`; its path."""
        path = self.files / f"{next(self.numbers):03}-{name}.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        return str(path)

    def documents(self, credentials: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        """The files a verifier needs for `credentials`: the contexts, every issuer's and
        co-issuer's DID document, every status list named, fetched now."""
        out = {url: self.write("context", load_context(url)) for url in sorted(bundled_urls())}
        for credential in credentials.values():
            dids = [credential["issuer"]["id"]]
            dids += [p["id"] for p in credential.get("diploma", {}).get("coIssuers", [])]
            for did in dids:
                out[did] = self.write("did", self.get(self.did_path(did)))
            for entry in credential.get("credentialStatus", []):
                url = entry["statusListCredential"]
                out[url] = self.write("status-list", self.get(self.path_of(url)))
        return out


def run(
    verifier: Path,
    site: Site,
    credentials: Mapping[str, Mapping[str, Any]],
    documents: Mapping[str, str],
) -> dict[str, Any]:
    """One node process verifies every credential given; its JSON results by name."""
    manifest = {
        "documents": dict(documents),
        "credentials": {n: site.write("credential", c) for n, c in credentials.items()},
    }
    done = subprocess.run(
        [_tool("node"), str(verifier), site.write("manifest", manifest)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from diplomas.api import create_app

    instance = make_instance(tmp_path_factory.mktemp("instance"), co_issuers=[SAMT])
    files = tmp_path_factory.mktemp("verifier-files")
    with TestClient(create_app(instance.service, instance.settings)) as client:
        yield Site(instance, client, files)


@dataclass
class Rounds:
    before: dict[str, Any]
    """Results with the status lists as they were at issuance."""
    after: dict[str, Any]
    """Results once the lone diploma is revoked, its status lists fetched again."""
    credential: dict[str, Any]
    """The lone diploma's credential, as served."""


def _with_name(credential: Mapping[str, Any], name: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(credential))
    changed["credentialSubject"]["name"][0]["@value"] = name
    return changed


def _schema_1_files(site: Site) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored schema-1 record and DID documents for the test keys that signed it (see
    tests/core/test_record.py)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    record = json.loads(SCHEMA_1_RECORD.read_bytes())
    documents = {}
    for profile, seed in zip(
        [record["issuer"], *record["diploma"]["coIssuers"]],
        [bytes(range(32)), bytes(range(32, 64))],
        strict=True,
    ):
        raw = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        public = raw.public_bytes(Encoding.Raw, PublicFormat.Raw)
        owner = Institution("x", "x", "x", profile["url"], "X", (Signatory("x", "x"),))
        assert owner.did == profile["id"]
        key = RecordKey("rk-2026-1", public, owner.did, site.instance.service.clock.now())
        documents[owner.did] = site.write("did", did_document(owner, [key]))
    return record, documents


@pytest.fixture(scope="module")
def rounds(verifier: Path, site: Site) -> Rounds:
    lone = site.issue()
    joint = site.issue(co_issuers=["samt"])
    fixed = site.issue(name_en="Zahra Mohamadinejad")
    r = site.client.post(
        f"/api/v1/diplomas/{fixed}/corrections",
        json={"name_en": "Zahra Mohammadinejad"},
        headers=site.instance.auth("issue"),
    )
    assert r.status_code == 200, r.text
    credential, co_issued = site.credential(lone), site.credential(joint)
    corrected = site.credential(fixed)
    old, old_documents = _schema_1_files(site)
    checked = {
        "genuine": credential,
        "changed-name": _with_name(credential, "سارا محمدی"),
        "co-issued": co_issued,
        "corrected": corrected,
        "schema-1": old,
    }
    documents = site.documents(
        {"genuine": credential, "co-issued": co_issued, "corrected": corrected}
    )
    for url in list(documents):
        if "/status/" in url:
            checked[f"list {url.rsplit('/', 1)[1]}"] = json.loads(Path(documents[url]).read_text())
    before = run(verifier, site, checked, {**documents, **old_documents})

    r = site.client.post(
        f"/api/v1/diplomas/{lone}/revoke",
        json={"reason": "اشتباه در نام"},
        headers=site.instance.auth("revoke"),
    )
    assert r.status_code == 200, r.text
    after = run(verifier, site, {"genuine": credential}, site.documents({"genuine": credential}))
    return Rounds(before, after, credential)


def _entries(result: Mapping[str, Any]) -> dict[str, bool]:
    status = result["vc"]["status"]
    assert status["verified"], status["error"]
    return {e["purpose"]: e["set"] for e in status["entries"]}


def test_a_genuine_credential_verifies(rounds: Rounds) -> None:
    assert all(isinstance(url, str) for url in rounds.credential["@context"])
    result = rounds.before["genuine"]
    assert result["vc"]["verified"], result["vc"]["error"]
    assert [p["verified"] for p in result["vc"]["proofs"]] == [True]
    assert result["assertion"]["verified"], result["assertion"]["error"]
    assert _entries(result) == {"revocation": False, "suspension": False}


def test_the_credential_passes_json_ld_safe_mode(rounds: Rounds) -> None:
    for name in ("genuine", "co-issued"):
        assert rounds.before[name]["jsonld"] == {"ok": True, "error": None}, name


def test_a_corrected_credential_verifies(rounds: Rounds) -> None:
    """A correction's record (version 2, naming the digest of the one it replaces) is an
    ordinary credential there: its proof, JSON-LD safe mode and status entries hold."""
    result = rounds.before["corrected"]
    assert result["vc"]["verified"], result["vc"]["error"]
    assert [p["verified"] for p in result["vc"]["proofs"]] == [True]
    assert rounds.before["corrected"]["jsonld"] == {"ok": True, "error": None}
    assert _entries(result) == {"revocation": False, "suspension": False}


def test_a_changed_claim_is_refused(rounds: Rounds) -> None:
    result = rounds.before["changed-name"]
    assert not result["vc"]["verified"]
    assert not result["assertion"]["verified"]
    assert [p["verified"] for p in result["vc"]["proofs"]] == [False]
    assert "Invalid signature" in result["vc"]["error"], result["vc"]["error"]


def test_a_revocation_is_seen_as_a_set_status_bit(rounds: Rounds) -> None:
    assert _entries(rounds.before["genuine"]) == {"revocation": False, "suspension": False}
    after = rounds.after["genuine"]
    # The credential itself still verifies; its revocation list now says it is revoked.
    assert after["vc"]["verified"], after["vc"]["error"]
    assert _entries(after) == {"revocation": True, "suspension": False}


def test_the_status_list_credentials_verify(rounds: Rounds) -> None:
    lists = {n: r for n, r in rounds.before.items() if n.startswith("list ")}
    assert {n.split("-")[0] for n in lists} == {"list revocation", "list suspension"}
    for name, result in lists.items():
        assert result["vc"]["verified"], (name, result["vc"]["error"])
        assert result["jsonld"]["ok"], (name, result["jsonld"]["error"])


def test_a_co_issued_credential(rounds: Rounds) -> None:
    """Both proofs of the proof set verify against their own DID documents. The VC
    library's issuance check ties every proof to the credential's one `issuer`, so there
    the co-issuer's proof is refused and the credential verifies on the issuer's."""
    result = rounds.before["co-issued"]
    assert result["assertion"]["verified"]
    assert [p["verified"] for p in result["assertion"]["proofs"]] == [True, True]
    assert result["vc"]["verified"], result["vc"]["error"]
    issuer, co_issuer = result["vc"]["proofs"]
    assert issuer["verified"] and issuer["purposeValid"]
    assert co_issuer["purposeValid"] is False
    assert "issuer must match the verification method controller" in co_issuer["error"]
    assert _entries(result) == {"revocation": False, "suspension": False}


def test_the_old_shape_fails_there_as_reported(rounds: Rounds) -> None:
    """Schema 1, its @context ending with an inline object: the cryptosuite compares
    contexts element by element and refuses it, which is why schema 2 exists (our own
    verifiers still accept it: tests/core/test_record.py)."""
    result = rounds.before["schema-1"]
    assert not result["vc"]["verified"]
    assert "document.@context does not start with proof.@context" in result["vc"]["error"]
