"""Any single changed byte in a signed diploma makes upload verification refuse it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Instance, make_instance
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, bytes]]:
    from diplomas.api import create_app

    inst: Instance = make_instance(tmp_path_factory.mktemp("tamper"))
    outcome = inst.service.issue({"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad"})
    with TestClient(create_app(inst.service, inst.settings)) as client:
        yield client, outcome.pdf


def upload(client: TestClient, pdf: bytes) -> dict[str, object]:
    r = client.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
    if r.status_code == 422:  # no longer recognisable as a PDF at all
        return {"status": "invalid", "reasons": [r.json()["detail"]]}
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_genuine_copy_is_accepted(signed: tuple[TestClient, bytes]) -> None:
    client, pdf = signed
    assert upload(client, pdf)["status"] == "valid"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_flipped_byte_is_refused(signed: tuple[TestClient, bytes], data: st.DataObject) -> None:
    client, pdf = signed
    position = data.draw(st.integers(0, len(pdf) - 1), label="position")
    xor = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(pdf)
    tampered[position] ^= xor
    verdict = upload(client, bytes(tampered))
    assert verdict["status"] != "valid"
    assert verdict["reasons"], "a refusal must say why"


def test_every_region_is_covered(signed: tuple[TestClient, bytes]) -> None:
    """Deterministic sweep: one flip every few hundred bytes, start to end."""
    client, pdf = signed
    step = max(1, len(pdf) // 200)
    for position in [*range(0, len(pdf), step), len(pdf) - 1]:
        tampered = bytearray(pdf)
        tampered[position] ^= 0x20
        assert upload(client, bytes(tampered))["status"] != "valid", position


def test_appended_and_truncated_copies_are_refused(signed: tuple[TestClient, bytes]) -> None:
    client, pdf = signed
    assert upload(client, pdf + b"\n% appended\n")["status"] != "valid"
    assert upload(client, pdf[:-10])["status"] != "valid"
    assert upload(client, pdf[: len(pdf) // 2])["status"] != "valid"
