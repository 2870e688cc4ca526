from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(env: dict[str, str]) -> dict[str, str]:
    return env
