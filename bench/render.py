"""The bare page render in one process: static layers kept (cached) against built for
every page (cache off, which is how pages were drawn before they were kept).

    .venv/bin/python bench/render.py                  # 1,000 rows, 5 rounds
    .venv/bin/python bench/render.py --rows 2000 --rounds 3

Two renderers over the shipped `classic` design, one with `static_layers=0`, draw the
same co-issued rows (the batch bench's Persian names, a citation that differs per row,
two institutions, two signatories, unsigned) in alternating rounds, each going first in
every other round, so that another process loading the shared cores slows both alike.
Each draws one page before the timing, so fonts, design and caches are warm and what is
timed is the steady state of a bulk worker; that first page must be the same bytes from
both. Twice: without institution logos, and with two (400 x 300 pixels, one PNG with an
alpha channel, one without, as `diplomas init --logo` keeps them). Prints pages/second
(all rounds' pages over all rounds' time), the fastest round's rate, and CPU ms per page
(process time, less disturbed by other processes than the wall clock).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from diplomas.core.credential import PublicClaims
from diplomas.render import TemplateRenderer
from tests.batch.rosters import FIRST, LAST, LATIN_FIRST, LATIN_LAST
from tests.render.conftest import SMT, TBZMED, make_claims


def rows(n: int) -> list[PublicClaims]:
    return [
        make_claims(
            serial=f"B-{i:06d}",
            name=f"{FIRST[i % 10]} {LAST[(i // 10) % 8]}",
            name_en=f"{LATIN_FIRST[i % 10]} {LATIN_LAST[(i // 10) % 8]}",
            citation=f"بنیان‌گذار شرکت دانش‌بنیان شماره {i}",
        )
        for i in range(n)
    ]


def write_logos(folder: Path) -> dict[str, str]:
    clear = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    clear.paste((27, 42, 74, 255), (40, 30, 360, 270))
    clear.save(folder / "tbzmed.png")
    Image.new("RGB", (400, 300), (168, 128, 46)).save(folder / "smt.png")
    return {TBZMED.did: str(folder / "tbzmed.png"), SMT.did: str(folder / "smt.png")}


def timed(
    renderer: TemplateRenderer, batch: list[PublicClaims], logos: Mapping[str, str] | None
) -> tuple[float, float]:
    """Wall and CPU seconds to render `batch`."""
    wall, cpu = time.perf_counter(), time.process_time()
    for claims in batch:
        renderer.render(claims, "classic", logos)
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(
    n: int, rounds: int, logos: Mapping[str, str] | None
) -> dict[str, tuple[float, float, float]]:
    """{"cache off" | "cached": (pages/s overall, best round's pages/s, CPU ms/page)}."""
    batch = rows(n)
    renderers = {
        "cache off": TemplateRenderer(static_layers=0),
        "cached": TemplateRenderer(),
    }
    first = [r.render(batch[0], "classic", logos) for r in renderers.values()]
    assert first[0] == first[1], "cached and uncached pages differ"
    share = [batch[i::rounds] for i in range(rounds)]
    walls: dict[str, list[float]] = {k: [] for k in renderers}
    cpus: dict[str, float] = dict.fromkeys(renderers, 0.0)
    for i, part in enumerate(share):
        # Each goes first in every other round: the one that follows runs warmer.
        order = list(renderers.items())
        for key, renderer in order[:: -1 if i % 2 else 1]:
            wall, cpu = timed(renderer, part, logos)
            walls[key].append(wall)
            cpus[key] += cpu
    return {
        key: (
            n / sum(walls[key]),
            max(len(p) / w for p, w in zip(share, walls[key], strict=True)),
            cpus[key] / n * 1000,
        )
        for key in renderers
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.rows} rows, {args.rounds} alternating rounds; {os.cpu_count()} cores, load {load}"
    )
    print(f"{'logos':<8} {'renderer':<10} {'pages/s':>8} {'best round':>11} {'CPU ms/page':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, logos in (("none", None), ("two", write_logos(Path(tmp)))):
            results = compare(args.rows, args.rounds, logos)
            for key, (rate, best, cpu_ms) in results.items():
                print(f"{label:<8} {key:<10} {rate:>8.1f} {best:>11.1f} {cpu_ms:>12.2f}")
            off, on = results["cache off"][2], results["cached"][2]
            print(f"{label:<8} {'CPU saved':<10} {'':>8} {'':>11} {off - on:>12.2f}")


if __name__ == "__main__":
    main()
