"""A photo of the printed page is enough: the QR code proves itself with the trust bundle,
with the network switched off."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2
import pytest
import qrcode
from clitools import run

from diplomas.core.qrproof import QrClaims, parse_qr, qr_text
from diplomas.render.scan import read_qr_texts

NAME = "زهرا محمدی‌نژاد"


def photo(pdf: Path, dpi: int = 150) -> bytes:
    """The printed page as a greyscale raster, as a scanner or a phone would see it."""
    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        image = document[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text).save(out)
    return out.getvalue()


@pytest.fixture
def issued(env: dict[str, str], tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    run(env, "init")
    pdf = tmp_path / "zahra.pdf"
    result = json.loads(
        run(env, "issue", "--name", NAME, "--issued-on", "1405/09/05", "--out", str(pdf), "--json")
    )
    bundle = tmp_path / "trust.json"
    run(env, "keys", "export", "--out", str(bundle))
    return pdf, bundle, result


def test_a_photo_of_the_page_verifies_offline(
    env: dict[str, str], tmp_path: Path, issued: tuple[Path, Path, dict[str, str]], no_network: None
) -> None:
    pdf, bundle, result = issued
    image = tmp_path / "page.png"
    image.write_bytes(photo(pdf))
    verdict = json.loads(run(env, "verify", "--qr", str(image), "--trust", str(bundle), "--json"))
    assert verdict["status"] == "valid"
    assert verdict["name"] == NAME
    assert verdict["serial"] == result["serial"]
    assert verdict["issued_on"] == "2026-11-26"
    assert verdict["url"] == result["verify_url"]
    assert "not known offline" in verdict["reasons"][0]

    text = run(env, "verify", "--qr", str(image), "--trust", str(bundle))
    assert "QR CODE VALID" in text and NAME in text and "1405/09/05" in text


def test_forged_and_foreign_codes_are_refused(
    env: dict[str, str], tmp_path: Path, issued: tuple[Path, Path, dict[str, str]], no_network: None
) -> None:
    pdf, bundle, _ = issued
    image = tmp_path / "page.png"
    image.write_bytes(photo(pdf))
    genuine = json.loads(run(env, "verify", "--qr", str(image), "--trust", str(bundle), "--json"))
    [original] = read_qr_texts(image.read_bytes())
    parsed, _ = parse_qr(original)
    sig = original.rsplit(".", 1)[1]
    forged_name = QrClaims(parsed.verify_url, parsed.serial, parsed.issued_on, "مریم احمدی")
    forged = tmp_path / "forged.png"
    forged.write_bytes(qr_png(qr_text(forged_name, sig)))
    out = json.loads(
        run(env, "verify", "--qr", str(forged), "--trust", str(bundle), "--json", code=1)
    )
    assert out["status"] == "invalid" and "does not match its content" in out["reasons"][0]

    plain = tmp_path / "plain.png"
    plain.write_bytes(qr_png(genuine["url"]))
    out = json.loads(
        run(env, "verify", "--qr", str(plain), "--trust", str(bundle), "--json", code=1)
    )
    assert "plain link" in out["reasons"][0]

    not_an_image = tmp_path / "note.txt"
    not_an_image.write_text("hello")
    assert "not an image" in run(env, "verify", "--qr", str(not_an_image), code=2)
    blank = tmp_path / "blank.png"
    blank.write_bytes(photo_blank())
    assert "no QR code could be read" in run(env, "verify", "--qr", str(blank), code=2)
    assert "either FILE.pdf or --qr" in run(env, "verify", code=2)


def photo_blank() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (400, 300), 255).save(out, format="PNG")
    return out.getvalue()


def test_a_compromised_key_fails_the_qr_code_offline(
    env: dict[str, str], tmp_path: Path, issued: tuple[Path, Path, dict[str, str]]
) -> None:
    pdf, _, _ = issued
    image = tmp_path / "page.png"
    image.write_bytes(photo(pdf))
    listing = run(env, "keys", "list")
    key_id = next(w for w in listing.split() if w.startswith("rk-"))
    run(env, "keys", "compromised", key_id, "--since", "2020-01-01T00:00:00Z")
    bundle = tmp_path / "after.json"
    run(env, "keys", "export", "--out", str(bundle))
    out = json.loads(
        run(env, "verify", "--qr", str(image), "--trust", str(bundle), "--json", code=1)
    )
    assert "compromised" in out["reasons"][0]
    # Without --trust the local key store is the trust: the same verdict.
    out = json.loads(run(env, "verify", "--qr", str(image), "--json", code=1))
    assert "compromised" in out["reasons"][0]
