from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from diplomas.core.model import Institution
from diplomas.keys import FileKeyStore, init_key_store

NOW = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def institution() -> Institution:
    return Institution(
        slug="acme",
        name="مؤسسه آموزش کارآفرینی",
        name_en="Acme Entrepreneurship Institute",
        public_url="https://diplomas.example.org",
        serial_prefix="AC",
    )


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def store(key_dir: Path, institution: Institution) -> FileKeyStore:
    return init_key_store(key_dir, PASSPHRASE, institution, NOW)
