"""Signing keys in a SoftHSM2 token: diplomas issued, bulk-issued and co-signed with keys
that sign inside the token, checked by pyHanko's validator, Poppler's pdfsig and the
app's own verification over HTTP; the private keys are not extractable."""

from __future__ import annotations

import io
import json
import multiprocessing
from pathlib import Path

import httpx
import pkcs11
import pytest
from conftest import SAMT, free_port, make_instance, serving
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pdftools import pdfsig
from pkcs11 import Attribute, ObjectClass
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches, build_service, open_key_store, open_key_stores
from diplomas.core.errors import ConfigurationError, KeyStoreError
from diplomas.keys import FileKeyStore
from diplomas.keys.pkcs11_token import CONFIG_FILE, Token, restart_module
from diplomas.keys.token import TokenKeyStore
from diplomas.pdfsign.signer import P256_ORDER, to_asn1
from diplomas.service import DiplomaService

from .conftest import PIN, SoftHsm, rebuilt, to_token

ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}


def pdf_signatures_trusted(pdf: bytes, stores: list[FileKeyStore]) -> list[bytes]:
    """Each PAdES signature, checked by pyHanko against its own institution's roots only;
    returns the DER of each signer's certificate."""
    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(signatures) == len(stores)
    signers = []
    for signature, store in zip(signatures, stores, strict=True):
        roots = [to_asn1(r) for r in store.trust_roots()]
        status = validate_pdf_signature(
            signature, ValidationContext(trust_roots=roots, allow_fetching=False)
        )
        assert status.intact and status.valid and status.trusted, store.institution.slug
        _, s = decode_dss_signature(signature.signer_info["signature"].native)
        assert s <= P256_ORDER // 2, "the token's ECDSA signature was not made low-s"
        signers.append(signature.signer_cert.dump())
    return signers


def record_key_id(record: bytes) -> str:
    """The key id that the (single) record proof names."""
    proof = json.loads(record)["proof"]
    method: str = (proof[0] if isinstance(proof, list) else proof)["verificationMethod"]
    return method.rsplit("#", 1)[1]


def der(store: FileKeyStore) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return store.document_signing_certificate().public_bytes(Encoding.DER)


def test_a_diploma_signed_in_the_token_verifies_everywhere(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    port = free_port()
    instance = make_instance(tmp_path, public_url=f"http://127.0.0.1:{port}")
    before = instance.service.issue({**ZAHRA, "external_id": "file-keys"})
    moved = to_token(instance, softhsm)
    instance = rebuilt(instance)

    outcome = instance.service.issue(ZAHRA)
    assert pdf_signatures_trusted(outcome.pdf, [moved]) == [der(moved)]
    assert "Signature is Valid" in pdfsig(outcome.pdf)
    token_key = moved.signer().key_id
    assert record_key_id(outcome.diploma.record) == token_key
    assert token_key in moved.config.record_keys
    assert not (moved.directory / f"record-key-{token_key}.pem").exists()

    with serving(instance, port) as server, httpx.Client(base_url=server.base_url) as http:
        for pdf in (outcome.pdf, before.pdf):  # signed in the token, and in files before
            r = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
            verdict = r.json()
            assert r.status_code == 200 and verdict["status"] == "valid", verdict
        by_id = http.get(f"/api/v1/verify/{outcome.diploma.id}").json()
        assert by_id["status"] == "valid", by_id


def test_private_keys_never_leave_the_token(token_instance: object, softhsm: SoftHsm) -> None:
    library = pkcs11.lib(softhsm.module)
    token = library.get_token(token_label=softhsm.label)
    # This process is logged in already (the service signed); a PKCS#11 login is the
    # process's, so a second session shares it.
    with token.open() as session:
        keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        assert len(keys) == 2  # the record key and the document-signing key
        for key in keys:
            assert key[Attribute.SENSITIVE] and key[Attribute.ALWAYS_SENSITIVE]
            assert not key[Attribute.EXTRACTABLE] and key[Attribute.NEVER_EXTRACTABLE]
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
            with pytest.raises(pkcs11.exceptions.PKCS11Error):
                key[Attribute.EXTRACTABLE] = True  # once false, it stays false


def test_a_wrong_or_missing_pin_is_said_plainly(
    token_instance: object, softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from conftest import PASSPHRASE

    from diplomas.config import Settings

    def service_of_a_new_process() -> DiplomaService:
        # A PKCS#11 login is the whole process's, and this one logged in already: start
        # the library afresh, as a new process would.
        restart_module(softhsm.module)
        return build_service(
            Settings(home=tmp_path / "var", keys_dir=tmp_path / "keys", key_passphrase=PASSPHRASE)  # type: ignore[arg-type]
        )

    monkeypatch.setenv("DIPLOMAS_PKCS11_PIN", "0000")
    with pytest.raises(KeyStoreError) as wrong:
        service_of_a_new_process()
    assert "PIN of token 'diplomas' is wrong" in str(wrong.value)
    assert "DIPLOMAS_PKCS11_PIN" in str(wrong.value) and "0000" not in str(wrong.value)

    monkeypatch.delenv("DIPLOMAS_PKCS11_PIN")
    with pytest.raises(ConfigurationError, match="no PIN is given: set DIPLOMAS_PKCS11_PIN"):
        service_of_a_new_process()

    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    monkeypatch.setenv("DIPLOMAS_PKCS11_PIN_FILE", str(pin_file))
    assert service_of_a_new_process().issue(ZAHRA).created


def test_bulk_issuance_signs_in_the_token_from_each_worker(
    tmp_path: Path, token_instance: object
) -> None:
    from batch.rosters import cohort
    from conftest import Instance

    assert isinstance(token_instance, Instance)
    service, settings = token_instance.service, token_instance.settings
    report = build_batches(service, settings).run(
        cohort(tmp_path / "cohort.csv", 24), BatchOptions(out_dir=tmp_path / "out", workers=2)
    )
    assert report.batch.issued == 24, report.batch.message
    store = open_key_store(settings)
    assert isinstance(store, TokenKeyStore)
    pdfs = sorted((tmp_path / "out").glob("*.pdf"))
    assert len(pdfs) == 24
    for path in pdfs:
        pdf = path.read_bytes()
        assert pdf_signatures_trusted(pdf, [store]) == [der(store)]
        verdict = service.verify_pdf(pdf)
        assert verdict.genuine, verdict.reasons


def _sign_in_child(
    signers: list[tuple[Token, str]], queue: multiprocessing.Queue[list[bytes]]
) -> None:
    # each token once, then the first again: opening the second must not close the first
    queue.put([token.sign(label, "EDDSA", b"in a forked child") for token, label in signers])


def test_a_forked_process_opens_sessions_of_its_own(tmp_path: Path, softhsm: SoftHsm) -> None:
    instance = make_instance(tmp_path, co_issuers=[SAMT])
    to_token(instance, softhsm)
    softhsm.add_token("samt-token")
    samt = open_key_stores(instance.settings)["samt"].institution
    to_token(instance, softhsm, samt, "samt-token")
    stores = list(open_key_stores(instance.settings).values())
    assert all(isinstance(store, TokenKeyStore) for store in stores)
    signers, entries = [], []
    for store in stores:
        assert isinstance(store, TokenKeyStore)
        signer = store.signer()
        signer.sign(b"the parent's session is open")
        signers.append((store.token, store.config.record_keys[signer.key_id]))
        entries.append(next(e for e in store.entries() if e.key_id == signer.key_id))

    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[bytes]] = context.Queue()
    child = context.Process(target=_sign_in_child, args=([*signers, signers[0]], queue))
    child.start()
    signatures = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    for entry, signature in zip([*entries, entries[0]], signatures, strict=True):
        assert entry.verify(signature, b"in a forked child")
    for (token, label), entry in zip(signers, entries, strict=True):
        assert entry.verify(token.sign(label, "EDDSA", b"the parent's"), b"the parent's")


@pytest.mark.parametrize("co_issuer_in", ["files", "token"])
def test_co_signed_with_the_issuer_in_the_token(
    tmp_path: Path, softhsm: SoftHsm, co_issuer_in: str
) -> None:
    instance = make_instance(tmp_path, co_issuers=[SAMT])
    to_token(instance, softhsm)
    if co_issuer_in == "token":
        softhsm.add_token("samt-token")
        samt = next(
            s for s in open_key_stores(instance.settings).values() if s.institution.slug == "samt"
        )
        to_token(instance, softhsm, samt.institution, "samt-token")
    instance = rebuilt(instance)

    outcome = instance.service.issue({**ZAHRA, "co_issuers": ["samt"]})
    stores = open_key_stores(instance.settings)
    assert isinstance(stores["tbzmed"], TokenKeyStore)
    assert isinstance(stores["samt"], TokenKeyStore) == (co_issuer_in == "token")
    signers = pdf_signatures_trusted(outcome.pdf, [stores["tbzmed"], stores["samt"]])
    assert signers == [der(stores["tbzmed"]), der(stores["samt"])]
    assert pdfsig(outcome.pdf).count("Signature is Valid") == 2
    verdict = instance.service.verify_pdf(outcome.pdf)
    assert verdict.genuine, verdict.reasons
    kinds = [(s.kind, s.ok) for s in verdict.signers]
    assert kinds.count(("pdf", True)) == 2 and kinds.count(("record", True)) == 2


def test_a_rotated_key_is_made_in_the_token(tmp_path: Path, softhsm: SoftHsm) -> None:
    from datetime import UTC, datetime

    instance = make_instance(tmp_path)
    to_token(instance, softhsm)
    running = rebuilt(instance).service  # a server, say, while the command rotates
    first = running.issue({**ZAHRA, "external_id": "first"})
    store = open_key_store(instance.settings)
    assert isinstance(store, TokenKeyStore)
    entry = store.rotate(datetime.now(UTC))
    assert entry.key_id in store.config.record_keys
    assert json.loads((store.directory / CONFIG_FILE).read_bytes())["record_keys"][entry.key_id]
    second = running.issue({**ZAHRA, "external_id": "second"})
    assert record_key_id(second.diploma.record) == entry.key_id
    for pdf in (first.pdf, second.pdf):
        verdict = rebuilt(instance).service.verify_pdf(pdf)
        assert verdict.genuine, verdict.reasons
    with pytest.raises(KeyStoreError, match="in token 'diplomas'"):
        store.import_certificate(None)  # type: ignore[arg-type]


def test_a_token_without_the_listed_keys_is_refused(tmp_path: Path, softhsm: SoftHsm) -> None:
    instance = make_instance(tmp_path)
    moved = to_token(instance, softhsm)
    path = moved.directory / CONFIG_FILE
    config = json.loads(path.read_bytes())
    key_id = moved.signer().key_id

    # The document-signing key's label where the record key's should be: another key.
    swapped = {**config, "record_keys": {key_id: config["document_signing"]["label"]}}
    path.write_text(json.dumps(swapped))
    with pytest.raises(
        KeyStoreError, match=f"is not the one that record-keys.json lists as {key_id}"
    ):
        open_key_store(instance.settings).signer()

    gone = {**config, "record_keys": {key_id: "diplomas-tbzmed-deleted"}}
    path.write_text(json.dumps(gone))
    with pytest.raises(
        KeyStoreError, match="holds no public key labelled 'diplomas-tbzmed-deleted'"
    ):
        open_key_store(instance.settings).signer()


def test_a_signature_by_another_key_than_named_never_leaves(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from diplomas.keys.pkcs11_token import TokenEcdsaKey, TokenRecordSigner

    instance = make_instance(tmp_path)
    file_key = open_key_store(instance.settings).entries()[0]  # its public half
    moved = to_token(instance, softhsm)
    label = next(iter(moved.config.record_keys.values()))
    assert TokenRecordSigner(moved.entries()[-1], moved.token, label).sign(b"ok")
    with pytest.raises(KeyStoreError, match="signed with another key than"):
        TokenRecordSigner(file_key, moved.token, label).sign(b"a record")

    signing_label = moved.config.document_signing_label
    public = moved.document_signing_certificate().public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert TokenEcdsaKey(moved.token, signing_label, public).sign(b"ok", hashes.SHA256())
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KeyStoreError, match="signed with another key than"):
        TokenEcdsaKey(moved.token, signing_label, stranger).sign(b"a PDF", hashes.SHA256())


SIGN_IN_A_NEW_PROCESS = """
import sys
from diplomas.keys.pkcs11_token import Token
token = Token(sys.argv[1], "diplomas", lambda: sys.argv[2])
for _ in range(50):
    token.sign(sys.argv[3], "ECDSA", bytes(32))
"""


def test_processes_that_open_the_token_at_once_all_sign(
    token_instance: object, softhsm: SoftHsm
) -> None:
    """SoftHSM2 now and then fails a process that opens the token while others do (a
    batch's workers start together); the store tries such an open again."""
    import subprocess
    import sys

    from conftest import Instance

    assert isinstance(token_instance, Instance)
    store = open_key_store(token_instance.settings)
    assert isinstance(store, TokenKeyStore)
    args = [softhsm.module, softhsm.pin, store.config.document_signing_label]
    for _ in range(10):
        started = [
            subprocess.Popen(
                [sys.executable, "-c", SIGN_IN_A_NEW_PROCESS, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        for process in started:
            output, _ = process.communicate(timeout=60)
            assert process.returncode == 0, output


def test_the_file_certificate_from_before_the_move_can_be_distrusted(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    """Keys moved into a token because the file key may have leaked: the old certificate
    is distrusted, a forgery with the old key is refused, the diplomas it signed (vouched
    for) and the token's keep verifying; renewing in a file is refused."""
    from datetime import UTC, datetime

    from pdfsign.conftest import make_unsigned_pdf

    from diplomas.bootstrap import verify_offline
    from diplomas.keys.distrust import DistrustedCertificate
    from diplomas.pdfsign.signatures import stored_signatures

    instance = make_instance(tmp_path)
    before = instance.service.issue({**ZAHRA, "external_id": "file-keys"})
    stolen = open_key_store(instance.settings).pdf_signer()  # the file key, as a thief has it
    old = open_key_store(instance.settings).signing_certificates().current()
    store = to_token(instance, softhsm)

    def vouched(named: DistrustedCertificate) -> list[str]:
        return [
            s.digest
            for s in stored_signatures(instance.settings.pdf_dir)
            if not isinstance(s, Path) and named.names(s.certificate)
        ]

    now = datetime.now(UTC)
    entry = store.distrust_certificate(old.cert_id, now, now, "moved to a token", vouched=vouched)
    assert entry.distrusted_since is not None
    reopened = open_key_store(instance.settings)
    assert isinstance(reopened, TokenKeyStore)
    assert reopened.signing_certificates().current().key_file == CONFIG_FILE
    with pytest.raises(KeyStoreError, match="in token 'diplomas'"):
        reopened.renew_certificate(now)
    from diplomas.core.errors import Conflict

    token_certificate = reopened.signing_certificates().current().cert_id
    with pytest.raises(Conflict, match="of the key in token 'diplomas', which signs PDFs now"):
        reopened.distrust_certificate(token_certificate, now, now)

    instance = rebuilt(instance)
    after = instance.service.issue({**ZAHRA, "external_id": "token-keys"})
    forged = stolen.sign(make_unsigned_pdf(), before.diploma.record)
    bundle = json.dumps(reopened.export_bundle()).encode()
    for check in (instance.service.verify_pdf, lambda pdf: verify_offline(pdf, bundle)):
        for pdf in (before.pdf, after.pdf):
            verdict = check(pdf)
            assert verdict.genuine, verdict.reasons
        refused = check(forged)
        assert not refused.genuine
        assert any("distrusts since" in r for r in refused.reasons), refused.reasons
