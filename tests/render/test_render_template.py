"""Templates as a designer meets them: found by name, checked on load, copied and edited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageChops

from diplomas.core.credential import PublicClaims
from diplomas.core.errors import ConfigurationError, NotFound
from diplomas.render import BUILTIN_DESIGNS, TemplateRenderer

TEMPLATES = BUILTIN_DESIGNS


@pytest.fixture
def workshop(tmp_path: Path) -> Path:
    """A templates folder with the shared fonts and a copy of classic called `mine`."""
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "fonts", root / "fonts")
    shutil.copytree(TEMPLATES / "classic", root / "mine")
    return root


def edit(root: Path, old: str, new: str) -> None:
    toml = root / "mine" / "template.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text, old
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_shipped_template_loads(renderer: TemplateRenderer) -> None:
    assert "classic" in renderer.names()
    for name in renderer.names():
        renderer.ensure_template(name)


@pytest.mark.parametrize("name", ["nosuch", "Classic", "../classic", "fonts", "", "a/b"])
def test_unknown_template_is_not_found(
    renderer: TemplateRenderer, claims: PublicClaims, name: str
) -> None:
    with pytest.raises(NotFound, match="no diploma template named") as info:
        renderer.render(claims, name)
    assert "classic" in str(info.value)  # the message lists what is available
    with pytest.raises(NotFound):
        renderer.ensure_template(name)


def test_missing_templates_folder_lists_none(tmp_path: Path) -> None:
    renderer = TemplateRenderer(tmp_path / "absent", builtin=False)
    assert renderer.names() == ()
    with pytest.raises(NotFound, match="available: none"):
        renderer.ensure_template("classic")


def test_the_shipped_designs_need_no_folder_of_the_instance(
    tmp_path: Path, claims: PublicClaims
) -> None:
    # A pip-installed package run from an empty folder: DIPLOMAS_TEMPLATES_DIR names a
    # folder that does not exist, and `classic` still comes from inside the package.
    renderer = TemplateRenderer(tmp_path / "absent")
    assert renderer.names() == ("classic",)
    assert renderer.render(claims, "classic").startswith(b"%PDF-")


def test_an_own_design_finds_the_shipped_fonts(tmp_path: Path, claims: PublicClaims) -> None:
    # Copying only `classic/` (as templates/README.md says) into the instance's own folder:
    # its "../fonts/..." paths are not there, so they come from the package's designs.
    own = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "classic", own / "mine")
    renderer = TemplateRenderer(own)
    assert renderer.names() == ("classic", "mine")
    mine = renderer.template("mine")
    assert {f.path.parent for f in mine.fonts} == {TEMPLATES / "fonts"}
    assert renderer.render(claims, "mine") == renderer.render(claims, "classic")


def test_an_own_design_overrides_a_shipped_one_by_name(
    tmp_path: Path, claims: PublicClaims
) -> None:
    own = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "classic", own / "classic")
    toml = own / "classic" / "template.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('paper = "#fbf7ec"', 'paper = "#dff0ff"'),
        encoding="utf-8",
    )
    ours = TemplateRenderer(own).template("classic")
    shipped = TemplateRenderer().template("classic")
    assert ours.background != shipped.background
    assert ours.folder == own / "classic"


def test_a_copied_template_renders(workshop: Path, claims: PublicClaims) -> None:
    renderer = TemplateRenderer(workshop)
    assert renderer.names() == ("classic", "mine")
    assert renderer.render(claims, "mine").startswith(b"%PDF-")


def test_templates_are_loaded_once(renderer: TemplateRenderer) -> None:
    assert renderer.template("classic") is renderer.template("classic")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[page]\n", '[page]\ncolour = "red"\n', "unknown key.*colour"),
        ('text = "{name}"', 'text = "{fullname}"', r"unknown placeholder.*\{fullname\}"),
        ('text = "{name}"', 'text = "{name"', "brace"),
        ('ink = "#1b2a4a"', 'ink = "navy"', "colour `ink`"),
        (
            'color = "gold"\nline_width = 2.2',
            'color = "golden"\nline_width = 2.2',
            "#rrggbb or a name",
        ),
        (
            'regular = "../fonts/Vazirmatn-Regular.ttf"',
            'regular = "../../../../etc/passwd"',
            "outside the templates folder",
        ),
        (
            'regular = "../fonts/Vazirmatn-Regular.ttf"',
            'regular = "../fonts/Missing.ttf"',
            "no file at",
        ),
        (
            'size = 34\ncolor = "ink"\nbackground',
            'size = 20\ncolor = "ink"\nbackground',
            "between 30 and",
        ),
        ('font = "bold"', 'font = "black"', "`font` must be one of"),
        ('style = "double"', 'style = "triple"', "must be one of double, single, none"),
        ("width = 297", 'width = "297"', "`width` must be a number"),
        ("[qr]\n", "[qrcode]\n", r"needs a \[qr\] table"),
    ],
)
def test_mistakes_in_the_toml_are_named(workshop: Path, old: str, new: str, message: str) -> None:
    edit(workshop, old, new)
    with pytest.raises(ConfigurationError, match=message) as info:
        TemplateRenderer(workshop).ensure_template("mine")
    assert "mine/template.toml" in str(info.value)


def test_invalid_toml_is_a_configuration_error(workshop: Path) -> None:
    (workshop / "mine" / "template.toml").write_text("[page\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        TemplateRenderer(workshop).ensure_template("mine")


def test_label_too_long_for_its_box_blames_the_template(
    workshop: Path, claims: PublicClaims
) -> None:
    edit(workshop, 'text = "Scan to verify"', 'text = "' + "Scan to verify " * 12 + '"')
    with pytest.raises(ConfigurationError, match="too long"):
        TemplateRenderer(workshop).render(claims, "mine")


def logo_template(workshop: Path, image: Image.Image, file: str) -> TemplateRenderer:
    image.save(workshop / "mine" / file)
    # The logo takes the place of the emblem star above the institutions.
    edit(
        workshop,
        EMBLEM,
        f'[logo]\npath = "{file}"\nx = 140\ny = 16\nwidth = 17\nheight = 15\n',
    )
    return TemplateRenderer(workshop)


def page_pixels(pdf: bytes, dpi: int = 72) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        page: Image.Image = document[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()
    return page


MM = 72 / 25.4
EMBLEM = (
    '[[star]]\nx = 148.5\ny = 24\nsize = 13\ncolor = "gold"\nline_width = 0.8\n'
    "emblem = true  # the institutions' logos take its place when they have them\n"
)


@pytest.mark.parametrize("file", ["logo.png", "logo.jpg"])
def test_logo_is_drawn_in_its_box(workshop: Path, claims: PublicClaims, file: str) -> None:
    renderer = logo_template(workshop, Image.new("RGB", (120, 120), (200, 30, 30)), file)
    pdf = renderer.render(claims, "mine")
    assert b"/Subtype /Image" in pdf
    pixel = page_pixels(pdf).getpixel((int(148.5 * MM), int(23.5 * MM)))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, (200, 30, 30), strict=True))  # JPEG


def test_transparent_logo_shows_the_paper_through(workshop: Path, claims: PublicClaims) -> None:
    # Left half clear, right half red: the box's left side stays the colour of the paper.
    image = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (60, 0, 120, 120))
    page = page_pixels(logo_template(workshop, image, "logo.png").render(claims, "mine"))
    assert page.getpixel((int(145 * MM), int(23.5 * MM))) == (251, 247, 236)  # paper
    assert page.getpixel((int(152 * MM), int(23.5 * MM))) == (200, 30, 30)


def test_unreadable_logo_is_a_configuration_error(workshop: Path) -> None:
    (workshop / "mine" / "logo.png").write_bytes(b"not a picture")
    edit(
        workshop,
        EMBLEM,
        '[logo]\npath = "logo.png"\nx = 140\ny = 16\nwidth = 17\nheight = 15\n',
    )
    with pytest.raises(ConfigurationError, match="cannot read the logo"):
        TemplateRenderer(workshop).ensure_template("mine")


def test_logo_path_must_stay_inside_templates(workshop: Path, tmp_path: Path) -> None:
    Image.new("RGB", (10, 10)).save(tmp_path / "outside.png")
    edit(
        workshop,
        "[qr]\n",
        '[logo]\npath = "../../outside.png"\nx = 1\ny = 1\nwidth = 5\nheight = 5\n\n[qr]\n',
    )
    with pytest.raises(ConfigurationError, match="outside the templates folder"):
        TemplateRenderer(workshop).ensure_template("mine")


def test_institution_logos_take_the_emblems_place(claims: PublicClaims, tmp_path: Path) -> None:
    # Each issuer's own logo (`diplomas init --logo`), above its name in its column; the
    # emblem star they replace is left out.
    Image.new("RGB", (200, 150), (200, 30, 30)).save(tmp_path / "uni.png")
    renderer = TemplateRenderer()
    issuer = claims.issuers[0]
    plain = page_pixels(renderer.render(claims, "classic"))
    with_logo = page_pixels(
        renderer.render(claims, "classic", {issuer.did: str(tmp_path / "uni.png")})
    )
    x, width = renderer.template("classic").issuers.columns(len(claims.issuers))[0]
    assert with_logo.getpixel((int((x + width / 2) * MM), int(23.5 * MM))) == (200, 30, 30)
    assert plain.getpixel((int((x + width / 2) * MM), int(23.5 * MM))) != (200, 30, 30)

    def inked(page: Image.Image) -> bool:
        """Anything but paper where the emblem star stands (between the columns)."""
        box = page.crop((int(142 * MM), int(17 * MM), int(155 * MM), int(31 * MM)))
        paper = Image.new("RGB", box.size, (251, 247, 236))
        return ImageChops.difference(box, paper).getbbox() is not None

    assert inked(plain)
    assert not inked(with_logo)
    unreadable = tmp_path / "broken.png"
    unreadable.write_bytes(b"not a picture")
    with pytest.raises(ConfigurationError, match="cannot read the logo"):
        renderer.render(claims, "classic", {issuer.did: str(unreadable)})
