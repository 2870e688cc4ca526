"""The static layer: what every page of a design draws the same for one set of
institutions, made once and replayed. A kept layer must give the page an uncached render
gives, and a changed institution or logo file must never be served from the cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageChops
from reportlab.lib.utils import ImageReader

from diplomas.core.credential import IssuerClaims, PublicClaims
from diplomas.render import TemplateRenderer
from diplomas.render.page import LAYERS
from diplomas.render.static_layer import EncodedImage, LayerCache, StaticLayer
from tests.pdftools import pdftotext

MM = 72 / 25.4


def page_image(pdf: bytes, dpi: int = 100) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image: Image.Image = document[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()
    return image


def differs(a: bytes, b: bytes) -> bool:
    return ImageChops.difference(page_image(a), page_image(b)).getbbox() is not None


@pytest.fixture
def logos(tmp_path: Path, claims: PublicClaims) -> dict[str, str]:
    """Two institution logos as `diplomas init --logo` keeps them: one with an alpha
    channel (its soft mask is a second image object), and a JPEG (drawn as it is)."""
    clear = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    clear.paste((200, 30, 30, 255), (40, 30, 120, 90))
    clear.save(tmp_path / "first.png")
    Image.new("RGB", (160, 120), (30, 30, 200)).save(tmp_path / "second.jpg")
    first, second = claims.issuers
    return {first.did: str(tmp_path / "first.png"), second.did: str(tmp_path / "second.jpg")}


@pytest.fixture
def uncached() -> TemplateRenderer:
    """Every page builds its own layer, as pages were drawn before layers were kept."""
    return TemplateRenderer(static_layers=0)


@pytest.mark.parametrize("with_logos", [False, True])
def test_a_kept_layer_gives_the_uncached_page(
    renderer: TemplateRenderer,
    uncached: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    logos: dict[str, str],
    with_logos: bool,
) -> None:
    used = logos if with_logos else None
    one_issuer = claims_with(issuers=claims_with().issuers[:1])
    for claims in (claims_with(), claims_with(name="علی رضایی", serial="S-2"), one_issuer):
        cached = [renderer.render(claims, "classic", used) for _ in range(2)]
        plain = uncached.render(claims, "classic", used)
        # The same bytes, and so the same picture, text and fonts.
        assert cached == [plain, plain]
    assert not differs(cached[0], plain)
    text = pdftotext(cached[0])
    assert one_issuer.name in text
    assert one_issuer.issuers[0].name_en in text


def test_logos_are_encoded_once_for_every_page_that_shows_them(
    claims_with: Callable[..., PublicClaims],
    logos: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[int] = []
    encode = EncodedImage.encode.__func__  # type: ignore[attr-defined]

    def counting(cls: type[EncodedImage], image: ImageReader) -> EncodedImage:
        encoded.append(1)
        return encode(cls, image)  # type: ignore[no-any-return]

    monkeypatch.setattr(EncodedImage, "encode", classmethod(counting))
    renderer = TemplateRenderer()
    for i in range(5):
        renderer.render(claims_with(serial=f"S-{i}"), "classic", logos)
    assert len(encoded) == 2
    TemplateRenderer(static_layers=0).render(claims_with(), "classic", logos)
    assert len(encoded) == 4


def test_an_image_used_twice_on_a_page_is_embedded_once(
    renderer: TemplateRenderer, claims: PublicClaims, logos: dict[str, str]
) -> None:
    first, second = claims.issuers
    same = {first.did: logos[first.did], second.did: logos[first.did]}
    pdf = renderer.render(claims, "classic", same)
    assert pdf == TemplateRenderer(static_layers=0).render(claims, "classic", same)
    assert pdf.count(b"/Subtype /Image") == 2  # the logo and its soft mask, once each


def test_a_changed_institution_name_changes_the_page(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    before = renderer.render(claims_with(), "classic")
    first, second = claims_with().issuers
    renamed = IssuerClaims(first.did, "دانشگاه تبریز", "University of Tabriz", first.url)
    after = renderer.render(claims_with(issuers=(renamed, second)), "classic")
    assert "University of Tabriz" in pdftotext(after)
    assert "University of Tabriz" not in pdftotext(before)
    assert differs(before, after)
    assert renderer.render(claims_with(), "classic") == before


def test_a_new_logo_file_or_a_new_version_of_one_changes_the_page(
    renderer: TemplateRenderer,
    claims: PublicClaims,
    logos: dict[str, str],
    tmp_path: Path,
) -> None:
    first = claims.issuers[0]
    x, width = renderer.template("classic").issuers.columns(len(claims.issuers))[0]
    centre = (int((x + width / 2) * MM * 100 / 72), int(23.5 * MM * 100 / 72))
    red = renderer.render(claims, "classic", logos)
    assert page_image(red).getpixel(centre) == (200, 30, 30)

    # Another file in its place (as `settings set logo` does: a new content name).
    Image.new("RGB", (160, 120), (20, 150, 60)).save(tmp_path / "green.png")
    green = renderer.render(claims, "classic", {**logos, first.did: str(tmp_path / "green.png")})
    assert page_image(green).getpixel(centre) == (20, 150, 60)

    # The same file rewritten: a new modification time (and here size) is a new layer.
    path = Path(logos[first.did])
    stat = path.stat()
    Image.new("RGB", (161, 121), (240, 200, 0)).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    yellow = renderer.render(claims, "classic", logos)
    assert page_image(yellow).getpixel(centre) == (240, 200, 0)
    assert yellow == TemplateRenderer(static_layers=0).render(claims, "classic", logos)


def test_a_missing_logo_file_is_a_configuration_error_even_after_it_was_kept(
    renderer: TemplateRenderer, claims: PublicClaims, logos: dict[str, str]
) -> None:
    from diplomas.core.errors import ConfigurationError

    renderer.render(claims, "classic", logos)
    Path(logos[claims.issuers[0].did]).unlink()
    with pytest.raises(ConfigurationError, match="cannot read the logo"):
        renderer.render(claims, "classic", logos)


@pytest.mark.parametrize("static_layers", [LAYERS, 0])
def test_pages_drawn_on_many_threads_with_new_logos_are_intact(
    claims_with: Callable[..., PublicClaims], logos: dict[str, str], static_layers: int
) -> None:
    # Every thread's first page needs the logos read: a reportlab ImageReader shared by
    # threads as they draw (lazily decoded, a JPEG read through one cursor) broke pages.
    renderer = TemplateRenderer(static_layers=static_layers)
    batch = [claims_with(serial=f"S-{i}") for i in range(24)]
    with ThreadPoolExecutor(6) as pool:
        rendered = list(pool.map(lambda c: renderer.render(c, "classic", logos), batch))
    uncached = TemplateRenderer(static_layers=0)
    assert rendered == [uncached.render(c, "classic", logos) for c in batch]


def test_the_cache_keeps_the_most_recently_used_layers() -> None:
    cache = LayerCache(2)
    built: list[str] = []

    def build(key: str) -> Callable[[], StaticLayer]:
        def make() -> StaticLayer:
            built.append(key)
            return StaticLayer(())

        return make

    a = cache.get("a", build("a"))
    cache.get("b", build("b"))
    assert cache.get("a", build("a")) is a  # a hit, and now the most recent
    cache.get("c", build("c"))  # evicts b
    assert len(cache) == 2
    cache.get("a", build("a"))
    cache.get("b", build("b"))
    assert built == ["a", "b", "c", "b"]


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = LayerCache(0)
    assert cache.get("a", lambda: StaticLayer(())) is not cache.get("a", lambda: StaticLayer(()))
    assert len(cache) == 0


def test_a_pickled_renderer_keeps_its_cache_size() -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(TemplateRenderer(static_layers=0)))
    assert copy.static_layers == 0


def test_a_page_drawn_from_a_kept_layer_signs_and_validates(
    renderer: TemplateRenderer, claims: PublicClaims, logos: dict[str, str]
) -> None:
    from diplomas.keys import MemoryKeyStore
    from diplomas.pdfsign import PadesValidator
    from tests.pdfsign.conftest import INSTITUTION, NOW, RECORD, failed

    keys = MemoryKeyStore(INSTITUTION, NOW)
    renderer.render(claims, "classic", logos)  # the layer is kept
    signed = keys.pdf_signer().sign(renderer.render(claims, "classic", logos), RECORD)
    report = PadesValidator(keys.trust_roots()).inspect(signed)
    assert not failed(report), report
    assert claims.name in pdftotext(signed)
