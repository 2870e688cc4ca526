from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DIPLOMAS_HOME": str(tmp_path / "var"),
        "DIPLOMAS_KEYS_DIR": str(tmp_path / "keys"),
        "DIPLOMAS_KEY_PASSPHRASE": "a long test passphrase",
        "DIPLOMAS_DATABASE_URL": "",
    }
