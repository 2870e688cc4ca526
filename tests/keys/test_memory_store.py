from __future__ import annotations

from datetime import timedelta

from diplomas.core.model import Institution
from diplomas.keys import MemoryKeyStore

from .conftest import NOW


def test_memory_store_twin(institution: Institution) -> None:
    store = MemoryKeyStore(institution, NOW)
    first = store.signer()
    signature = first.sign(b"data")
    store.rotate(NOW + timedelta(days=1))
    assert store.signer().key_id != first.key_id
    key = store.keyring().resolve(first.verification_method)
    assert key is not None and key.verify(signature, b"data")
    assert store.pdf_signer() is store.pdf_signer()
    store.document_signing_certificate().verify_directly_issued_by(store.trust_roots()[0])
    hasher = store.national_id_hasher()
    assert hasher("0012345679") == hasher("0012345679") != hasher("0012345680")
