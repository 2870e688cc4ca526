"""The renderer in worker processes, as bulk issuance uses it: built inside each worker
(spawned, so nothing is inherited), or pickled and sent; either way the same bytes as a
render in this process."""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from diplomas.core.credential import PublicClaims
from diplomas.render import BUILTIN_DESIGNS, TemplateRenderer

TEMPLATES = BUILTIN_DESIGNS


def render_in_worker(templates: Path, batch: list[PublicClaims]) -> list[bytes]:
    """What a bulk worker does: build its own renderer, then render its share."""
    renderer = TemplateRenderer(templates)
    return [renderer.render(claims, "classic") for claims in batch]


def batch_of(claims_with: Callable[..., PublicClaims], count: int) -> list[PublicClaims]:
    people = ["زهرا محمدی‌نژاد", "علی رضایی", "مریم احمدی", "José Núñez-Öztürk"]
    return [
        claims_with(
            serial=f"TBZMED-1405-{i:06d}",
            name=people[i % 3],
            # Accented letters lie outside the fixed subsets: a subset built per page.
            name_en=people[3] if i % 2 else "Zahra Mohammadinejad",
        )
        for i in range(count)
    ]


def test_spawned_workers_render_the_same_bytes(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    batch = batch_of(claims_with, 8)
    expected = [renderer.render(c, "classic") for c in batch]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        shares = [batch[0::2], batch[1::2]]
        rendered = list(pool.map(render_in_worker, [TEMPLATES, TEMPLATES], shares))
    assert rendered[0] == expected[0::2]
    assert rendered[1] == expected[1::2]


def test_a_pickled_renderer_renders_in_a_spawned_worker(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    batch = batch_of(claims_with, 4)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        rendered = list(pool.map(renderer.render, batch, ["classic"] * len(batch)))
    assert rendered == [renderer.render(c, "classic") for c in batch]


def test_pickling_keeps_only_the_folder(renderer: TemplateRenderer, claims: PublicClaims) -> None:
    renderer.render(claims, "classic")  # caches filled
    data = pickle.dumps(renderer)
    assert len(data) < 500
    copy = pickle.loads(data)
    assert copy.folders == renderer.folders
    assert copy.render(claims, "classic") == renderer.render(claims, "classic")


def test_import_and_construction_read_nothing() -> None:
    # A fresh interpreter, as a spawned worker starts: importing the package and building
    # a renderer parse no font and read no template, even for a folder that is missing.
    script = (
        "from pathlib import Path\n"
        "from reportlab.pdfbase import pdfmetrics\n"
        "from diplomas.render import TemplateRenderer, fonts\n"
        "TemplateRenderer(Path('/nonexistent'))\n"
        f"r = TemplateRenderer(Path({str(TEMPLATES)!r}))\n"
        "assert not fonts._fonts, 'read at import'\n"
        "assert not [n for n in pdfmetrics.getRegisteredFontNames() if 'diplomas' in n]\n"
        "assert fonts.common_characters.cache_info().currsize == 0\n"
        "r.ensure_template('classic')\n"
        "assert len(fonts._fonts) == 2\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
