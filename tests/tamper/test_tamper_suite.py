"""A sample of the tamper suite (`bench/tamper.py` runs all of it): every family of attacked
files derived from genuine diplomas is refused, with reasons, by the upload API, the offline
check and the CLI; every genuine copy is accepted by all three."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SAMT, Instance, make_instance
from fastapi.testclient import TestClient

from .attacks import (
    Corpus,
    contents_hex_is_canonical,
    corpus,
    eof_ends,
    independent_coverage_ok,
    regions,
)
from .verifiers import cli, offline, trust_bundles, unlimited, upload


@dataclass
class Setup:
    instance: Instance
    client: TestClient
    corpus: Corpus
    bundles: list[bytes]
    trust: list[Path]
    tmp: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from diplomas.api import create_app

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # diff analysis logs every refusal
    tmp = tmp_path_factory.mktemp("tamper")
    inst = make_instance(tmp, co_issuers=[SAMT])
    bundles = trust_bundles(inst.settings)
    trust = []
    for i, bundle in enumerate(bundles):
        path = tmp / f"trust-{i}.json"
        path.write_bytes(bundle)
        trust.append(path)
    with TestClient(create_app(inst.service, unlimited(inst.settings))) as client:
        yield Setup(inst, client, corpus(inst.service, scale="fast"), bundles, trust, tmp)


def test_the_sample_covers_every_family(setup: Setup) -> None:
    families = setup.corpus.families()
    expected = {
        *(f"flip:{r}" for r in regions(setup.corpus.genuine[0].pdf)),
        "truncation",
        "appended-bytes",
        "incremental-update",
        "resaved-pikepdf",
        "resaved-pypdf",
        "signature-removed",
        "signature-moved",
        "qr-pasted",
        "usf",
        "isa",
        "wrapping",
        "shadow",
    }
    assert expected <= set(families), expected - set(families)
    assert len(setup.corpus.attacks) >= 200


def test_genuine_copies_are_accepted_everywhere(setup: Setup) -> None:
    for genuine in setup.corpus.genuine:
        assert contents_hex_is_canonical(genuine.pdf), genuine.label
        assert upload(setup.client, genuine.pdf).accepted, genuine.label
        renamed = upload(setup.client, genuine.pdf, name=f"copy of {genuine.label} (1).PDF")
        assert renamed.accepted, genuine.label
        assert offline(genuine.pdf, setup.bundles).accepted, genuine.label
        path = setup.tmp / f"renamed {genuine.label}.pdf"
        path.write_bytes(genuine.pdf)
        assert cli(path, setup.trust).accepted, genuine.label
    assert any("+samt" in g.label for g in setup.corpus.genuine)  # a co-issued one too


def test_every_attack_is_refused_with_a_reason(setup: Setup) -> None:
    passed = []
    for attack in setup.corpus.attacks:
        for verifier, outcome in (
            ("upload", upload(setup.client, attack.pdf)),
            ("offline", offline(attack.pdf, setup.bundles)),
        ):
            if outcome.accepted or not outcome.reasons:
                passed.append(f"{verifier}: {attack.family} {attack.label}")
    assert not passed, passed


def test_the_cli_refuses_one_of_each_family(setup: Setup) -> None:
    for family, attacks in setup.corpus.families().items():
        path = setup.tmp / f"{re.sub(r'[^a-z0-9]+', '-', family)}.pdf"
        path.write_bytes(attacks[0].pdf)
        outcome = cli(path, setup.trust)
        assert not outcome.accepted and outcome.reasons, family


def test_our_own_coverage_check_agrees(setup: Setup) -> None:
    """Independently of pyHanko and of the validator: the genuine files' signatures cover
    the whole file but for exactly `<HEX>` and their digests match (checked above), and
    every attack that adds, moves, wraps or cuts bytes fails that check of ours too."""
    for genuine in setup.corpus.genuine:
        assert independent_coverage_ok(genuine.pdf), genuine.label
    structural = ("truncation", "appended-bytes", "incremental-update", "isa", "wrapping", "shadow")
    # a co-issued diploma cut back to its first signature is covered: the missing
    # co-issuer's signature is what refuses it
    earlier = {g.pdf[:end] for g in setup.corpus.genuine for end in eof_ends(g.pdf)[1:-1]}
    for attack in setup.corpus.attacks:
        if attack.pdf in earlier:
            continue
        if attack.family in structural or attack.family.startswith("resaved"):
            assert not independent_coverage_ok(attack.pdf), (attack.family, attack.label)


def test_coverage_gaps_are_named(setup: Setup) -> None:
    """The families that leave bytes outside the signature get that said in the reasons."""
    coverage = re.compile(r"added to the file|changed after it was signed|does not cover")
    for attack in setup.corpus.attacks:
        if attack.family not in ("appended-bytes", "incremental-update", "isa"):
            continue
        outcome = offline(attack.pdf, setup.bundles)
        assert any(coverage.search(r) for r in outcome.reasons) or not outcome.accepted, (
            attack.label
        )
