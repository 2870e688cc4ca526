"""A first set-up from the command line: `init` takes every setting (and asks in a
terminal), `settings check` says what is wrong in plain words, `settings set` changes one
setting safely, `settings show` says where each value comes from."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from clitools import invoke, run

SIGNATORY = "دکتر پرویز شهابی|معاون تحقیقات و فناوری|Dr Parviz Shahabi|Vice-Chancellor"


def settings_file(env: dict[str, str]) -> Path:
    return Path(env["DIPLOMAS_HOME"]) / "institution.toml"


def test_init_takes_every_first_setting(env: dict[str, str]) -> None:
    out = run(
        env,
        "init",
        "--name",
        "دانشگاه نمونه",
        "--name-en",
        "Sample University",
        "--public-url",
        "https://diplomas.example.ac.ir/",
        "--serial-prefix",
        "SAMPLE",
        "--signatory",
        SIGNATORY,
        "--signatory",
        "مهندس صابر پرنیان|رئیس سازمان",
    )
    assert "public URL (QR codes point here): https://diplomas.example.ac.ir" in out
    data = tomllib.loads(settings_file(env).read_text(encoding="utf-8"))["institutions"][0]
    assert data["name_en"] == "Sample University"
    assert data["serial_prefix"] == "SAMPLE"
    assert data["signatories"][1] == {
        "name": "مهندس صابر پرنیان",
        "title": "رئیس سازمان",
        "name_en": "",
        "title_en": "",
    }
    issued = json.loads(
        run(
            env,
            "issue",
            "--name",
            "زهرا محمدی‌نژاد",
            "--out",
            str(Path(env["DIPLOMAS_HOME"]) / "z.pdf"),
            "--json",
        )
    )
    assert issued["serial"].startswith("SAMPLE-")
    assert issued["verify_url"].startswith("https://diplomas.example.ac.ir/v/")


def test_init_refuses_a_bad_setting_before_writing_anything(env: dict[str, str]) -> None:
    out = run(env, "init", "--serial-prefix", "tbz med", code=4)
    assert "serial_prefix 'tbz med' must be 2-16 capital letters or digits" in out
    out = run(env, "init", "--public-url", "diplomas.example.ac.ir", code=4)
    assert "must be an address like https://" in out
    out = run(env, "init", "--signatory", "only a name", code=2)
    assert "is not NAME|TITLE|NAME_EN|TITLE_EN" in out
    assert not settings_file(env).exists()


def test_init_asks_in_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    # A real pseudo-terminal: the questions are printed, Enter takes the default shown.
    answers = [
        "دانشگاه نمونه",
        "Sample University",
        "diplomas.example.ac.ir",  # not an address: said at once, asked again
        "https://diplomas.example.ac.ir",
        "",  # the default serial prefix
        "",
        "",
        "Dr Sample",
        "",
    ]
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "diplomas"), "init"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    os.close(secondary)
    seen = asked = b""
    for answer in answers:
        deadline = time.monotonic() + 60
        while not seen.rstrip().endswith(b":"):
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            seen += os.read(primary, 4096)
        os.write(primary, answer.encode() + b"\r")
        asked, seen = asked + seen, b""
    try:
        while True:
            seen += os.read(primary, 4096)
    except OSError:  # the terminal closes when the command ends
        pass
    assert process.wait(60) == 0, seen.decode(errors="replace")
    assert b"try again" in asked
    os.close(primary)
    data = tomllib.loads(settings_file(env).read_text(encoding="utf-8"))["institutions"][0]
    assert data["name"] == "دانشگاه نمونه"
    assert data["public_url"] == "https://diplomas.example.ac.ir"
    assert data["serial_prefix"] == "TBZMED"
    assert data["signatories"][0]["name_en"] == "Dr Sample"
    assert data["signatories"][0]["title"] == "معاون تحقیقات و فناوری"


def test_settings_check_says_what_is_wrong(env: dict[str, str]) -> None:
    invoke(env, "init", "--no-input")
    out = run(env, "settings", "check")
    assert "warning: public_url is still http://127.0.0.1:8000" in out
    assert "the settings are usable" in out
    production = {**env, "DIPLOMAS_ENVIRONMENT": "production"}
    out = run(production, "settings", "check", code=4)
    assert "error: public_url is still http://127.0.0.1:8000" in out

    path = settings_file(env)
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("serial_prefix =", "serial_prefx ="), encoding="utf-8")
    out = run(env, "settings", "check", code=4)
    assert "unknown setting(s) serial_prefx" in out
    path.write_text(good.replace('name_en = "', "name_en = "), encoding="utf-8")
    out = run(env, "settings", "check", code=4)
    assert "is not valid TOML" in out and "line" in out
    path.write_text(good, encoding="utf-8")


def test_settings_set_checks_records_and_moves(env: dict[str, str]) -> None:
    invoke(env, "init", "--no-input")
    pdf = Path(env["DIPLOMAS_HOME"]) / "before.pdf"
    invoke(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(pdf))

    out = run(env, "settings", "set", "serial_prefix", "bad prefix", code=4)
    assert "must be 2-16 capital letters or digits" in out
    out = run(env, "settings", "set", "slug", "other", code=4)
    assert "the slug names the key store" in out

    out = run(env, "settings", "set", "public_url", "https://diplomas.tbzmed.ac.ir")
    assert "now did:web:diplomas.tbzmed.ac.ir" in out
    assert "keep verifying under: did:web:127.0.0.1%3A8000" in out
    assert "VALID" in run(env, "verify", str(pdf))
    export = Path(env["DIPLOMAS_HOME"]) / "trust.json"
    invoke(env, "keys", "export", "--out", str(export))
    assert "VALID" in run(env, "verify", str(pdf), "--trust", str(export))

    audit = json.loads(run(env, "audit", "list", "--json"))
    by_action = {e["action"]: e for e in audit}
    assert by_action["settings.changed"]["actor"].startswith("cli:")
    assert by_action["institution.moved"]["actor"].startswith("cli:")  # who asked for it

    shown = json.loads(run(env, "settings", "show", "--json"))
    rows = {(r["setting"], r["value"]): r["source"] for r in shown}
    assert ("former did", "did:web:127.0.0.1%3A8000") in rows
    # compose passes unset optional variables as empty ones: they count as unset
    env_wins = {
        **env,
        "DIPLOMAS_PUBLIC_URL": "https://elsewhere.example",
        "DIPLOMAS_INSTITUTION_NAME": "",
        "DIPLOMAS_SERIAL_PREFIX": "",
    }
    shown = json.loads(run(env_wins, "settings", "show", "--json"))
    assert {
        "institution": "tbzmed",
        "setting": "public_url",
        "value": "https://elsewhere.example",
        "source": "DIPLOMAS_PUBLIC_URL",
    } in shown


@pytest.mark.parametrize("order", ["real first", "impostor first"])
def test_two_bundles_claiming_one_institution_are_refused(
    env: dict[str, str], tmp_path: Path, order: str
) -> None:
    invoke(env, "init", "--no-input")
    pdf = tmp_path / "d.pdf"
    invoke(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(pdf))
    real = tmp_path / "real.json"
    invoke(env, "keys", "export", "--out", str(real))
    # Another instance that says it is the same institution (same public URL).
    other = {
        **env,
        "DIPLOMAS_HOME": str(tmp_path / "o" / "var"),
        "DIPLOMAS_KEYS_DIR": str(tmp_path / "o" / "keys"),
    }
    invoke(other, "init", "--no-input")
    impostor = tmp_path / "impostor.json"
    invoke(other, "keys", "export", "--out", str(impostor))
    bundles = [real, impostor] if order == "real first" else [impostor, real]
    out = run(
        env, "verify", str(pdf), "--trust", str(bundles[0]), "--trust", str(bundles[1]), code=4
    )
    assert "both claim to speak for did:web:127.0.0.1%3A8000" in out


def test_the_institution_logo(env: dict[str, str], tmp_path: Path) -> None:
    from pdftools import first_page_image
    from PIL import Image

    Image.new("RGB", (300, 200), (200, 30, 30)).save(tmp_path / "uni.png")
    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "tiny.png")
    (tmp_path / "notes.png").write_text("not a picture")
    out = run(env, "init", "--logo", str(tmp_path / "tiny.png"), code=4)
    assert "20×20 pixels; at least 64" in out
    out = run(env, "init", "--logo", str(tmp_path / "notes.png"), code=4)
    assert "is not a PNG or JPEG image" in out

    invoke(env, "init", "--no-input", "--logo", str(tmp_path / "uni.png"))
    data = tomllib.loads(settings_file(env).read_text(encoding="utf-8"))["institutions"][0]
    kept = Path(env["DIPLOMAS_HOME"]) / data["logo"]
    assert kept.read_bytes() == (tmp_path / "uni.png").read_bytes()  # copied beside it
    pdf = Path(env["DIPLOMAS_HOME"]) / "d.pdf"
    invoke(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(pdf))
    page = first_page_image(pdf.read_bytes(), dpi=72).convert("RGB")
    assert page.getpixel((int(148.5 * 72 / 25.4), int(23.5 * 72 / 25.4))) == (200, 30, 30)

    Image.new("RGB", (200, 200), (30, 30, 200)).save(tmp_path / "new.png")
    out = run(env, "settings", "set", "logo", str(tmp_path / "new.png"))
    assert "logo set to logo-tbzmed-" in out
    assert kept.exists()  # the old logo stays: diplomas drawn with it name nothing else
    assert "the settings are usable" in run(env, "settings", "check")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://exa mple.com", "is not a host name"),
        ("https://verify.tbzmed.ac.ir:99999", "port that is not a number from 1 to 65535"),
        ("diplomas.tbzmed.ac.ir", "must be an address like https://"),
        ("https://x.ir/?a=1", "without ?query"),
    ],
)
def test_a_public_url_that_is_not_one_is_refused(env: dict[str, str], url: str, says: str) -> None:
    invoke(env, "init", "--no-input")
    before = settings_file(env).read_text(encoding="utf-8")
    out = run(env, "settings", "set", "public_url", url, code=4)
    assert says in out
    assert settings_file(env).read_text(encoding="utf-8") == before
    assert "institution.moved" not in run(env, "audit", "list")


def test_looking_at_the_settings_records_nothing(env: dict[str, str]) -> None:
    invoke(env, "init", "--no-input")
    elsewhere = {**env, "DIPLOMAS_PUBLIC_URL": "https://env.example.ir"}
    run(elsewhere, "settings", "show")
    out = run(elsewhere, "settings", "check")
    assert "the next command that issues or serves records the move" in out
    assert "institution.moved" not in run(env, "audit", "list")


def test_issue_refuses_an_output_it_cannot_write_before_issuing(
    env: dict[str, str], tmp_path: Path
) -> None:
    invoke(env, "init", "--no-input")
    out = run(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(tmp_path), code=2)
    assert "is a folder; give a file name" in out
    assert "Traceback" not in out
    assert "diploma.issued" not in run(env, "audit", "list")


def test_settings_check_names_a_timestamp_authority_without_roots(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`settings check` says what issuing would refuse, before anyone issues."""
    invoke(env, "init", "--no-input")
    with settings_file(env).open("a", encoding="utf-8") as fh:
        fh.write('\n[signing]\ntimestamp_url = "https://tsa.example.ir/tsr"\n')
    out = run(env, "settings", "check", code=4)
    assert "a timestamp authority is set (timestamp_url) but DIPLOMAS_TIMESTAMP_ROOTS" in out
    (tmp_path / "roots.pem").write_text("not a certificate")
    out = run(
        env | {"DIPLOMAS_TIMESTAMP_ROOTS": str(tmp_path / "roots.pem")}, "settings", "check", code=4
    )
    assert "holds no PEM certificate" in out


def test_production_refuses_an_address_only_this_computer_reaches(env: dict[str, str]) -> None:
    """What `settings check` calls an error stops issuing and serving too."""
    invoke(env, "init", "--no-input")
    production = {**env, "DIPLOMAS_ENVIRONMENT": "production"}
    out = run(production, "issue", "--name", "زهرا محمدی‌نژاد", "--out", os.devnull, code=4)
    assert "which only this computer reaches, and DIPLOMAS_ENVIRONMENT=production" in out
    out = run(production, "settings", "check", code=4)
    assert out.count("only this computer reaches") == 1
    moved = {**production, "DIPLOMAS_PUBLIC_URL": "https://diplomas.example.ac.ir"}
    run(moved, "issue", "--name", "زهرا محمدی‌نژاد", "--out", os.devnull)


def test_production_init_refuses_such_an_address_before_writing_anything(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Set up for production with the default address, init used to create the settings,
    the keys and a DID of 127.0.0.1 and exit 0, leaving the refusal to `serve` (which in
    compose restarts for ever); and the settings file it wrote then made a second
    `init --public-url …` say "options ignored"."""
    production = {**env, "DIPLOMAS_ENVIRONMENT": "production"}
    out = run(production, "init", "--no-input", code=4)
    assert "public_url is http://127.0.0.1:8000, which only this computer reaches" in out
    assert not (tmp_path / "var" / "institution.toml").exists()
    assert not (tmp_path / "keys").exists()
    out = run(production, "init", "--no-input", "--public-url", "https://diplomas.example.ac.ir")
    assert "public URL (QR codes point here): https://diplomas.example.ac.ir" in out
    # an instance whose address is changed back to this computer's is refused on every start
    back = {**production, "DIPLOMAS_PUBLIC_URL": "http://localhost:8000"}
    out = run(back, "init", "--no-input", code=4)
    assert "public_url is http://localhost:8000, which only this computer reaches" in out
