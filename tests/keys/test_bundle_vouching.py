"""Each trust source vouches for its own institution only (issue 11, the review's High
finding): an impostor's bundle, or a co-issuer's, can never lend its keys to another
institution's name, whatever order the bundles come in, and every signature in a verdict
names the bundle (or the server's institution) whose keys or roots checked it."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from certauthority import make_ca
from clitools import cli_environment, invoke, run
from cryptography.hazmat.primitives.asymmetric import ec
from pdfsign.conftest import make_unsigned_pdf

from diplomas.bootstrap import verify_offline
from diplomas.core.errors import ConfigurationError
from diplomas.pdfsign import PadesSigner, PadesValidator

UNIVERSITY_DID = "did:web:127.0.0.1%3A8000"
UNIVERSITY = "Vice-Chancellery for Research and Technology, Tabriz University of Medical Sciences"
SAMT_DID = "did:web:127.0.0.1%3A8000:i:samt"


@dataclass(frozen=True)
class Scene:
    """A university with a co-issuing organization, and an impostor instance that says it
    is the university (same public URL, its own keys)."""

    env: dict[str, str]
    co_issued: Path
    forged: Path
    bundles: dict[str, Path]


def _bundle(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    tmp = tmp_path_factory.mktemp("vouching")
    env = cli_environment(tmp / "university")
    invoke(env, "init", "--no-input")
    invoke(env, "institutions", "add", "--slug", "samt", "--name", "صمت", "--name-en", "SAMT")
    co_issued = tmp / "co-issued.pdf"
    invoke(
        env,
        "issue",
        "--name",
        "زهرا محمدی‌نژاد",
        "--co-issuer",
        "samt",
        "--out",
        str(co_issued),
    )
    university, samt = tmp / "tbzmed.json", tmp / "samt.json"
    invoke(env, "keys", "export", "--out", str(university))
    invoke(env, "keys", "export", "--institution", "samt", "--out", str(samt))

    impostor_env = cli_environment(tmp / "impostor")
    invoke(impostor_env, "init", "--no-input")
    forged = tmp / "forged.pdf"
    invoke(impostor_env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(forged))
    impostor = tmp / "impostor.json"
    invoke(impostor_env, "keys", "export", "--out", str(impostor))

    # The partner that carries the university's root in its own bundle: one signature
    # under that root would then count for both institutions.
    carrying = _bundle(samt)
    roots = carrying["root_certificates"]
    assert isinstance(roots, list)
    roots.extend(_bundle(university)["root_certificates"])  # type: ignore[arg-type]
    samt_carrying = tmp / "samt-carrying.json"
    samt_carrying.write_text(json.dumps(carrying), encoding="utf-8")
    # The partner turned impostor: its own bundle, made to say it is also the university.
    greedy = _bundle(samt)
    about = greedy["institution"]
    assert isinstance(about, dict)
    about["also_known_as"] = [UNIVERSITY_DID]
    samt_greedy = tmp / "samt-greedy.json"
    samt_greedy.write_text(json.dumps(greedy), encoding="utf-8")
    bundles = {
        "tbzmed": university,
        "samt": samt,
        "impostor": impostor,
        "samt-greedy": samt_greedy,
        "samt-carrying": samt_carrying,
    }
    return Scene(env, co_issued, forged, bundles)


def _verify(scene: Scene, pdf: Path, names: tuple[str, ...], code: int) -> str:
    args = ["verify", str(pdf)]
    for name in names:
        args += ["--trust", str(scene.bundles[name])]
    return run(scene.env, *args, code=code)


CLAIMING_THE_UNIVERSITY = [
    *itertools.permutations(["tbzmed", "impostor"]),
    *itertools.permutations(["tbzmed", "samt", "impostor"]),
    *itertools.permutations(["tbzmed", "samt-greedy"]),
    *itertools.permutations(["impostor", "samt-greedy"]),
]


@pytest.mark.parametrize("names", CLAIMING_THE_UNIVERSITY, ids="+".join)
def test_two_bundles_claiming_the_university_are_refused_in_every_order(
    scene: Scene, names: tuple[str, ...]
) -> None:
    out = _verify(scene, scene.forged, names, code=4)
    assert f"both claim to speak for {UNIVERSITY_DID}" in out
    claimants = [n for n in names if n != "samt"]
    for name in claimants:  # the message names both files, so the user knows which to check
        assert str(scene.bundles[name]) in out.replace("\n", "")
    assert "VALID" not in out


@pytest.mark.parametrize("names", list(itertools.permutations(["tbzmed", "samt"])), ids="+".join)
def test_the_partners_bundle_never_vouches_for_a_forgery(
    scene: Scene, names: tuple[str, ...]
) -> None:
    out = _verify(scene, scene.forged, names, code=1)
    assert out.startswith("INVALID")


@pytest.mark.parametrize("names", list(itertools.permutations(["tbzmed", "samt"])), ids="+".join)
def test_each_signature_names_the_bundle_that_vouched_for_it(
    scene: Scene, names: tuple[str, ...]
) -> None:
    args = ["verify", str(scene.co_issued), "--json"]
    for name in names:
        args += ["--trust", str(scene.bundles[name])]
    verdict = json.loads(run(scene.env, *args))
    assert verdict["status"] == "valid"
    vouched = {(s["kind"], s["signer"].split("#")[0], s["vouched_by"]) for s in verdict["signers"]}
    university = f"trust bundle {scene.bundles['tbzmed']} ({UNIVERSITY})"
    samt = f"trust bundle {scene.bundles['samt']} (SAMT)"
    assert ("record", UNIVERSITY_DID, university) in vouched
    assert ("record", SAMT_DID, samt) in vouched
    assert {v for kind, _, v in vouched if kind == "pdf"} == {university, samt}
    text = _verify(scene, scene.co_issued, names, code=0)
    assert "vouched for by" in text and str(scene.bundles["samt"]) in text.replace("\n", "")


def test_an_impostor_alone_is_named_as_the_one_who_vouched(scene: Scene) -> None:
    """Trusting only the impostor's bundle is the user's choice; the verdict then says
    whose word it rests on, so a look at the file name shows what was trusted."""
    verdict = json.loads(
        run(
            scene.env,
            "verify",
            str(scene.forged),
            "--json",
            "--trust",
            str(scene.bundles["impostor"]),
        )
    )
    assert verdict["status"] == "valid"
    assert {s["vouched_by"] for s in verdict["signers"]} == {
        f"trust bundle {scene.bundles['impostor']} ({UNIVERSITY})"
    }


def test_the_server_names_its_own_institution_for_each_signature(scene: Scene) -> None:
    verdict = json.loads(run(scene.env, "verify", str(scene.co_issued), "--json"))
    assert verdict["status"] == "valid"
    by = {s["vouched_by"] for s in verdict["signers"]}
    assert by == {
        f"this server's keys for {UNIVERSITY}",
        "this server's keys for SAMT",
    }
    forged = json.loads(run(scene.env, "verify", str(scene.forged), "--json", code=1))
    assert all(s["vouched_by"] == "" for s in forged["signers"] if not s["ok"])


def test_offline_names_default_to_bundle_numbers(scene: Scene) -> None:
    data = [scene.bundles[n].read_bytes() for n in ("tbzmed", "impostor")]
    with pytest.raises(ConfigurationError, match="trust bundles 1 and 2 both claim"):
        verify_offline(scene.forged.read_bytes(), *data)


def test_a_ca_shared_by_two_institutions_speaks_for_each_only_through_its_own_certificate() -> None:
    """Two co-issuers with certificates from one national CA: the partner's certificate,
    under the same root and even with the university's very name, is not the university's
    signature (registrations are kept per institution, not per root)."""
    now = datetime.now(UTC)
    ca = make_ca(now)
    keys = {who: ec.generate_private_key(ec.SECP256R1()) for who in ("university", "partner")}
    certificates = {who: ca.issue(k.public_key(), now) for who, k in keys.items()}
    dids = {"university": UNIVERSITY_DID, "partner": SAMT_DID}
    validator = PadesValidator(
        issuers={dids[who]: [ca.root] for who in keys},
        ca_issued={dids[who]: [(ca.root, certificates[who])] for who in keys},
    )
    for who in keys:
        signer = PadesSigner(keys[who], certificates[who], [ca.intermediate, ca.root])
        [check] = validator.inspect(signer.sign(make_unsigned_pdf(), b"{}")).signatures
        assert check.ok, check
        assert check.issuers == {dids[who]}
    stranger = ec.generate_private_key(ec.SECP256R1())
    signer = PadesSigner(stranger, ca.issue(stranger.public_key(), now), [ca.intermediate, ca.root])
    [check] = validator.inspect(signer.sign(make_unsigned_pdf(), b"{}")).signatures
    assert check.issuers == frozenset()
    assert "not one that the institution registered" in " ".join(check.reasons)


def test_text_from_a_pdf_prints_as_it_is_never_as_terminal_markup(
    scene: Scene, tmp_path: Path
) -> None:
    """A certificate named like a verdict, in Rich's markup, prints as those characters;
    a stray closing tag does not crash `diplomas verify` (the review's Low finding)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca = make_ca(now)
    key = ec.generate_private_key(ec.SECP256R1())
    name = "[bold green]VALID[/] [/]"
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = ca.issue(key.public_key(), now, subject=subject)
    pdf = tmp_path / "styled.pdf"
    signer = PadesSigner(key, certificate, [ca.intermediate, ca.root])
    pdf.write_bytes(signer.sign_additional(scene.forged.read_bytes()))
    out = _verify(scene, pdf, ("tbzmed",), code=1)
    assert out.startswith("INVALID")
    assert f"pdf signature by {name}" in out


@pytest.mark.parametrize(
    "names", list(itertools.permutations(["tbzmed", "samt-carrying"])), ids="+".join
)
def test_a_bundle_carrying_another_institutions_root_is_refused(
    scene: Scene, names: tuple[str, ...], tmp_path: Path
) -> None:
    """The review's case: the university's signature alone (the co-issuer's cut off) must
    not pass for both, through a partner bundle that lists the university's root."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    data = scene.co_issued.read_bytes()
    [first, _] = PdfFileReader(io.BytesIO(data)).embedded_signatures
    cut = tmp_path / "first-signature-only.pdf"
    cut.write_bytes(data[: first.byte_range[-2] + first.byte_range[-1]])
    out = _verify(scene, cut, names, code=4)
    assert "both list the root certificate" in out
    assert "VALID" not in out
    refused = _verify(scene, cut, ("tbzmed", "samt"), code=1)  # the genuine bundles
    assert "no valid PDF signature from SAMT" in refused


def test_two_versions_or_two_copies_of_one_bundle_are_told_apart_from_an_impostor(
    scene: Scene, tmp_path: Path
) -> None:
    older = tmp_path / "older.json"
    older.write_text(scene.bundles["tbzmed"].read_text(encoding="utf-8"), encoding="utf-8")
    newer = _bundle(scene.bundles["tbzmed"])
    newer["root_certificates"] = [*newer["root_certificates"]]  # type: ignore[misc]
    about = newer["institution"]
    assert isinstance(about, dict)
    about["name_en"] = "renamed since"
    newer_file = tmp_path / "newer.json"
    newer_file.write_text(json.dumps(newer), encoding="utf-8")
    twice = run(
        scene.env,
        "verify",
        str(scene.co_issued),
        "--trust",
        str(older),
        "--trust",
        str(older),
        code=4,
    )
    assert "are the same bundle" in twice
    versions = run(
        scene.env,
        "verify",
        str(scene.co_issued),
        "--trust",
        str(older),
        "--trust",
        str(newer_file),
        code=4,
    )
    assert "two versions of one institution's bundle" in versions


def test_a_missing_bundle_is_not_mistaken_for_a_move(scene: Scene) -> None:
    out = _verify(scene, scene.co_issued, ("samt",), code=1)
    assert f"no valid PDF signature from {UNIVERSITY}" in " ".join(out.split())
    assert "moved" not in out
