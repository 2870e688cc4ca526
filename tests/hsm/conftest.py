"""A SoftHSM2 token per test, in the test's own folder (never the system's token store)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Instance, make_instance

from diplomas.bootstrap import build_service, open_key_store
from diplomas.core.model import Institution
from diplomas.keys.pkcs11_token import restart_module
from diplomas.keys.token import TokenKeyStore, move_to_token

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "4711-test-pin"
SO_PIN = "so-test-pin-0815"

if not MODULE.exists():
    pytest.skip(
        f"SoftHSM2 is not installed ({MODULE} is missing): `make .venv/.installed-dev` "
        f"installs it (apt-get install softhsm2)",
        allow_module_level=True,
    )


@dataclass(frozen=True)
class SoftHsm:
    conf: Path
    module: str
    label: str
    pin: str

    def add_token(self, label: str) -> None:
        subprocess.run(
            [
                *("softhsm2-util", "--init-token", "--free", "--label", label),
                *("--so-pin", SO_PIN, "--pin", self.pin),
            ],
            check=True,
            capture_output=True,
        )
        # A PKCS#11 library lists its tokens when it starts: start it afresh, so that it
        # reads this test's configuration and sees the new token.
        restart_module(self.module)


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHsm:
    """An initialised token `diplomas` with user PIN `PIN`, its files under tmp_path."""
    tokens = tmp_path / "softhsm-tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    monkeypatch.setenv("DIPLOMAS_PKCS11_PIN", PIN)
    hsm = SoftHsm(conf, str(MODULE), "diplomas", PIN)
    hsm.add_token(hsm.label)
    return hsm


def to_token(
    instance: Instance,
    hsm: SoftHsm,
    institution: Institution | None = None,
    token_label: str | None = None,
) -> TokenKeyStore:
    store = open_key_store(instance.settings, institution)
    return move_to_token(
        store, hsm.module, token_label or hsm.label, lambda: hsm.pin, datetime.now(UTC)
    )


def rebuilt(instance: Instance) -> Instance:
    return replace(instance, service=build_service(instance.settings))


@pytest.fixture
def token_instance(tmp_path: Path, softhsm: SoftHsm) -> Instance:
    """An instance whose issuer signs with keys in the SoftHSM2 token."""
    instance = make_instance(tmp_path)
    to_token(instance, softhsm)
    return rebuilt(instance)
