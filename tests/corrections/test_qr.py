"""The printed QR code of a corrected diploma, checked offline from a photo: a QR code
that says what the correction changed (the Persian name, the date) is superseded; one
whose claims the correction left true (only the Latin name changed) stays valid."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2
from clitools import run

NAME = "زهرا محمدی‌نژاد"


def photo(pdf: Path, dpi: int = 150) -> bytes:
    """The printed page as a greyscale raster (as tests/cli/test_qr_offline.py makes it)."""
    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        image = document[0].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_old_qr_code_is_superseded_once_its_name_changed(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "init")
    old_pdf, new_pdf = tmp_path / "old.pdf", tmp_path / "new.pdf"
    issued = json.loads(
        run(
            env,
            "issue",
            "--name",
            NAME,
            "--issued-on",
            "1405/09/05",
            "--out",
            str(old_pdf),
            "--json",
        )
    )
    before = tmp_path / "before.json"
    run(env, "keys", "export", "--out", str(before))
    run(env, "correct", issued["id"], "--set", "name=زهرا محمدی", "--yes", "--out", str(new_pdf))
    after = tmp_path / "after.json"
    run(env, "keys", "export", "--out", str(after))
    [listed] = json.loads(after.read_text())["superseded_records"]
    assert len(listed["qr_signature_sha256"]) == 64

    old_photo, new_photo = tmp_path / "old.png", tmp_path / "new.png"
    old_photo.write_bytes(photo(old_pdf))
    new_photo.write_bytes(photo(new_pdf))
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path / "x")}
    old = json.loads(
        run(offline, "verify", "--qr", str(old_photo), "--trust", str(after), "--json", code=1)
    )
    assert old["status"] == "superseded" and old["name"] == NAME
    assert "superseded by a corrected version on" in old["reasons"][0]
    new = json.loads(
        run(offline, "verify", "--qr", str(new_photo), "--trust", str(after), "--json")
    )
    assert new["status"] == "valid" and new["name"] == "زهرا محمدی"
    # The issuer's own server says the same without a bundle.
    assert json.loads(run(env, "verify", "--qr", str(old_photo), "--json", code=1))["status"] == (
        "superseded"
    )
    # A bundle exported before the correction knows nothing of it.
    stale = json.loads(
        run(offline, "verify", "--qr", str(old_photo), "--trust", str(before), "--json")
    )
    assert stale["status"] == "valid"


def test_a_qr_code_the_correction_left_true_stays_valid(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "init")
    pdf = tmp_path / "old.pdf"
    issued = json.loads(
        run(env, "issue", "--name", NAME, "--name-en", "Zahra M", "--out", str(pdf), "--json")
    )
    run(env, "correct", issued["id"], "--set", "name_en=Zahra Mohammadinejad", "--yes")
    bundle = tmp_path / "after.json"
    run(env, "keys", "export", "--out", str(bundle))
    [listed] = json.loads(bundle.read_text())["superseded_records"]
    assert "qr_signature_sha256" not in listed
    image = tmp_path / "old.png"
    image.write_bytes(photo(pdf))
    verdict = json.loads(run(env, "verify", "--qr", str(image), "--trust", str(bundle), "--json"))
    assert verdict["status"] == "valid"
