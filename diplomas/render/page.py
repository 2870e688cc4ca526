"""Drawing a laid-out diploma onto a reportlab canvas: paper, frame, ornaments, text, QR.

Every ornament is vector geometry, so the page stays sharp at any print size and small
on disk. reportlab writes the PDF; the fonts it embeds are `fonts.FixedSubsetFont`s, whose
common subset is built once per process.

What is the same on every page of a template (paper, stars, frame and corners) is drawn
once, by `prepare()`, onto a `_Recorder` that keeps the canvas calls with their paths
built, and replayed onto each page's canvas: reportlab formats a path's numbers when the
path is built, so a replay costs a few list appends. Rules are recorded the same way, once
per position. With the logos, encoded once, they make the page's `StaticLayer`, kept per
set of institutions in the design's `LayerCache` (static_layer.py says why).
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.pathobject import PDFPathObject

from ..core.credential import PublicClaims
from ..core.errors import ConfigurationError
from .layout import DIAMOND, Layout, PlacedQr, PlacedRule
from .static_layer import Drawing, EncodedImage, LayerCache, PlacedImage, StaticLayer
from .template import Border, Color, Logo, Star, Template

LAYERS = 32
"""Static layers a design keeps: one per number of institutions and signatories and set
of logo files in use, a handful on an instance."""


class _Recorder:
    """Stands in for a canvas: keeps the drawing calls, with their paths already built,
    to replay them onto any number of canvases. Rectangles, lines and circles become
    paths, which reportlab draws the same way."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def draw(self, canvas: Canvas) -> None:
        """Replay the calls onto `canvas`."""
        for name, args, kwargs in self.calls:
            getattr(canvas, name)(*args, **kwargs)

    def _keep(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))

    def setFillColorRGB(self, r: float, g: float, b: float) -> None:
        self._keep("setFillColorRGB", r, g, b)

    def setStrokeColorRGB(self, r: float, g: float, b: float) -> None:
        self._keep("setStrokeColorRGB", r, g, b)

    def setLineWidth(self, width: float) -> None:
        self._keep("setLineWidth", width)

    def setFillAlpha(self, alpha: float) -> None:
        self._keep("setFillAlpha", alpha)

    def setStrokeAlpha(self, alpha: float) -> None:
        self._keep("setStrokeAlpha", alpha)

    def saveState(self) -> None:
        self._keep("saveState")

    def restoreState(self) -> None:
        self._keep("restoreState")

    def beginPath(self) -> Any:
        return PDFPathObject()

    def drawPath(self, path: Any, stroke: int = 1, fill: int = 0) -> None:
        self._keep("drawPath", path, stroke=stroke, fill=fill)

    def rect(
        self, x: float, y: float, width: float, height: float, stroke: int = 1, fill: int = 0
    ) -> None:
        path = PDFPathObject()
        path.rect(x, y, width, height)
        self.drawPath(path, stroke, fill)

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        path = PDFPathObject()
        path.moveTo(x1, y1)
        path.lineTo(x2, y2)
        self.drawPath(path, stroke=1, fill=0)

    def circle(self, x: float, y: float, r: float, stroke: int = 1, fill: int = 0) -> None:
        path = PDFPathObject()
        path.circle(x, y, r)
        self.drawPath(path, stroke, fill)


@dataclass(frozen=True)
class PageDesign:
    """A template with what its pages share, done once: the ornaments and the logo, and
    the static layers of its pages by set of institutions."""

    template: Template
    ornaments: _Recorder = field(repr=False)
    """Paper, stars, frame and corners."""
    logo: EncodedImage | None
    ornaments_under_logos: _Recorder = field(repr=False)
    """The same without the emblem stars, for a page with the institutions' logos."""
    layers: LayerCache = field(repr=False)


def prepare(template: Template, layers: int = LAYERS) -> PageDesign:
    """Draw and read what `template`'s pages share, and keep up to `layers` static layers
    (0: build each page's own, as before they were kept); ConfigurationError if the logo
    is unreadable."""
    # reportlab's default wraps compressed page content in ASCII85 as well, a quarter
    # bigger and slower to write, for 7-bit mail transports that no PDF travels through
    # now. This package is the only user of reportlab in the process.
    rl_config.useA85 = 0
    width, height = template.width * mm, template.height * mm

    def ornaments(emblems: bool) -> _Recorder:
        recorder = _Recorder()
        recorder.setFillColorRGB(*template.background)
        recorder.rect(0, 0, width, height, stroke=0, fill=1)
        for star in template.stars:
            if emblems or not star.emblem:
                _star(recorder, star, height, template.background)
        _border(recorder, template.border, width, height, template.background)
        return recorder

    logo = _image(template.logo.path) if template.logo is not None else None
    return PageDesign(template, ornaments(True), logo, ornaments(False), LayerCache(layers))


@lru_cache(maxsize=256)
def _recorded_rule(rule: PlacedRule) -> _Recorder:
    """Rules sit in the same few places on every page."""
    recorder = _Recorder()
    _rule(recorder, rule)
    return recorder


def _image(path: Path) -> EncodedImage:
    """The image at `path` read and encoded for the PDF. The reader stays in this
    thread: it decodes lazily and reads a JPEG through one shared cursor, so two threads
    drawing one reader broke a page; the encoded image is immutable."""
    return _encode(path, _reader(path))


def _reader(path: Path) -> ImageReader:
    try:
        reader = ImageReader(str(path))
        reader.getRGBData()  # decoded now, in this thread
    except Exception as exc:  # reportlab wraps Pillow's many error types in plain Exception
        raise ConfigurationError(f"cannot read the logo {path}: {exc}") from None
    return reader


def _encode(path: Path, reader: ImageReader) -> EncodedImage:
    try:
        return EncodedImage.encode(reader)
    except Exception as exc:
        raise ConfigurationError(f"cannot read the logo {path}: {exc}") from None


@lru_cache(maxsize=32)
def _institution_logo(path: Path, modified: int, size: int) -> EncodedImage:
    """An institution's logo, read once per file version (a new logo has a new time)."""
    return _image(path)


@lru_cache(maxsize=32)
def _decoded_logo(path: Path, modified: int, size: int) -> ImageReader:
    """For a design that keeps no layers: the logo decoded once per file version and
    encoded for every page, as before layers were kept, under `_ENCODING`."""
    return _reader(path)


_ENCODING = threading.Lock()
"""Held while a page encodes a shared reader (which is not safe on two threads at once)."""


LogoVersion = tuple[str, int, int]
"""A logo file by path, modification time (ns) and size: a new version is a new key."""


def _logo_version(path: str) -> LogoVersion:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the logo {path}: {exc.strerror}") from None
    return (path, stat.st_mtime_ns, stat.st_size)


def _static_layer(
    design: PageDesign, layout: Layout, columns: tuple[LogoVersion | None, ...]
) -> StaticLayer:
    """Everything the page draws before its QR code and text: ornaments, rules, the
    design's logo and each institution's, in its column. A design that keeps no layers
    encodes the institutions' logos for every page too."""
    template = design.template
    placed = _column_logos(template, columns, keep=design.layers.size > 0)
    parts: list[Drawing] = [design.ornaments_under_logos if placed else design.ornaments]
    parts.extend(_recorded_rule(rule) for rule in layout.rules)
    if template.logo is not None and design.logo is not None:
        parts.append(_placed_image(template.logo, design.logo, layout.height))
    parts.extend(_placed_image(box, image, layout.height) for box, image in placed)
    return StaticLayer(tuple(parts))


def draw_page(
    design: PageDesign,
    layout: Layout,
    claims: PublicClaims,
    logos: Mapping[str, str] | None = None,
) -> bytes:
    """The one-page PDF of `layout` on `design`; `logos` maps an issuer's DID to its
    logo file, drawn in its column where the design places institution logos."""
    template = design.template
    by_did = logos if logos and template.issuers.logo is not None else {}
    columns = tuple(
        _logo_version(path) if (path := by_did.get(issuer.did)) else None
        for issuer in claims.issuers
    )
    # The layout's rules follow from the design and the two counts, which the key holds.
    key = (len(claims.issuers), len(claims.signatories), columns)
    layer = design.layers.get(key, lambda: _static_layer(design, layout, columns))
    buffer = io.BytesIO()
    # invariant: no creation time or random document id, so the same claims always give
    # the same bytes and a re-render can be compared with the stored PDF.
    # The initial font is named so that reportlab does not reference (unembedded)
    # Helvetica, which preflight checks and PDF/A validators flag.
    canvas = Canvas(
        buffer,
        pagesize=(layout.width, layout.height),
        invariant=True,
        pageCompression=True,
        lang="fa",
        initialFontName=template.fonts[0].name,
        initialFontSize=10,
    )
    canvas.setTitle(f"{claims.award} — {claims.name}")
    canvas.setSubject(f"{claims.award_en} {claims.serial}".strip())
    canvas.setAuthor(" / ".join(i.name_en or i.name for i in claims.issuers))
    canvas.setCreator("diplomas")
    canvas.setProducer("diplomas")

    layer.draw(canvas)
    _qr(canvas, layout.qr)

    _text(canvas, layout)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _text(canvas: Canvas, layout: Layout) -> None:
    """Every line in one text object, each set at its own origin: the glyphs are already
    shaped and in visual order, so no per-string bidi pass is wanted."""
    text = canvas.beginText()
    color: Color | None = None
    font: tuple[str, float] | None = None
    tracking = 0.0
    for box in layout.boxes:
        for line in box.lines:
            if line.color != color:
                color = line.color
                text.setFillColorRGB(*color)
            if (line.font.name, line.size) != font:
                font = (line.font.name, line.size)
                text.setFont(*font)
            if line.tracking != tracking:
                tracking = line.tracking
                text.setCharSpace(tracking)
            text.setTextOrigin(line.x, line.baseline)
            text.textOut(line.glyphs)
    canvas.drawText(text)


def _border(canvas: Canvas, border: Border, width: float, height: float, paper: Color) -> None:
    if border.style == "none":
        return
    outer = border.margin * mm
    canvas.setStrokeColorRGB(*border.color)
    canvas.setLineWidth(border.line_width)
    canvas.rect(outer, outer, width - 2 * outer, height - 2 * outer, stroke=1, fill=0)
    if border.style == "double":
        inner = (border.margin + border.gap) * mm
        canvas.setStrokeColorRGB(*border.inner_color)
        canvas.setLineWidth(border.inner_line_width)
        canvas.rect(inner, inner, width - 2 * inner, height - 2 * inner, stroke=1, fill=0)
    if border.corners == "star":
        middle = (border.margin + (border.gap if border.style == "double" else 0) / 2) * mm
        size = border.corner_size * mm
        for cx in (middle, width - middle):
            for cy in (middle, height - middle):
                _corner(canvas, cx, cy, size, border, paper, width, height)


def _corner(
    canvas: Canvas,
    cx: float,
    cy: float,
    size: float,
    border: Border,
    paper: Color,
    width: float,
    height: float,
) -> None:
    # Brackets that run from the medallion along both edges, just inside the inner line.
    inside = (border.gap + 1.6) * mm if border.style == "double" else 2.2 * mm
    sx = 1 if cx < width / 2 else -1
    sy = 1 if cy < height / 2 else -1
    reach = size * 1.9
    canvas.setStrokeColorRGB(*border.corner_color)
    canvas.setLineWidth(border.inner_line_width)
    bx, by = cx + sx * inside / 2, cy + sy * inside / 2
    path = canvas.beginPath()
    path.moveTo(bx + sx * reach, by)
    path.lineTo(bx + sx * size * 0.45, by)
    path.moveTo(bx, by + sy * reach)
    path.lineTo(bx, by + sy * size * 0.45)
    canvas.drawPath(path, stroke=1, fill=0)
    canvas.setFillColorRGB(*border.corner_color)
    _diamond(canvas, bx + sx * reach, by, 0.9 * mm)
    _diamond(canvas, bx, by + sy * reach, 0.9 * mm)
    _medallion(canvas, cx, cy, size / 2, border.corner_color, paper, border.inner_line_width)


def _star_points(cx: float, cy: float, radius: float, turn: float) -> list[float]:
    # Two overlapping squares: the inner vertices sit where their edges cross.
    inner = radius * math.cos(math.pi / 4) / math.cos(math.pi / 8)
    points: list[float] = []
    for k in range(16):
        r = radius if k % 2 == 0 else inner
        angle = turn + k * math.pi / 8
        points += [cx + r * math.cos(angle), cy + r * math.sin(angle)]
    return points


def _polygon(canvas: Canvas, points: list[float], *, stroke: bool, fill: bool) -> None:
    path = canvas.beginPath()
    path.moveTo(points[0], points[1])
    for i in range(2, len(points), 2):
        path.lineTo(points[i], points[i + 1])
    path.close()
    canvas.drawPath(path, stroke=int(stroke), fill=int(fill))


def _medallion(
    canvas: Canvas,
    cx: float,
    cy: float,
    radius: float,
    color: Color,
    paper: Color,
    line_width: float,
    *,
    filled: bool = True,
) -> None:
    """A khatam: an eight-pointed star, a smaller one turned inside it, and a centre dot
    (a ring when the star is only outlined)."""
    canvas.setLineWidth(line_width)
    canvas.setStrokeColorRGB(*color)
    canvas.setFillColorRGB(*paper)
    _polygon(canvas, _star_points(cx, cy, radius, math.pi / 2), stroke=True, fill=filled)
    _polygon(
        canvas,
        _star_points(cx, cy, radius * 0.62, math.pi / 2 + math.pi / 8),
        stroke=True,
        fill=False,
    )
    if filled:
        canvas.setFillColorRGB(*color)
        canvas.circle(cx, cy, radius * 0.17, stroke=0, fill=1)
    else:
        canvas.circle(cx, cy, radius * 0.17, stroke=1, fill=0)


def _star(canvas: Canvas, star: Star, page_height: float, paper: Color) -> None:
    canvas.saveState()
    if star.opacity < 1:
        canvas.setFillAlpha(star.opacity)
        canvas.setStrokeAlpha(star.opacity)
    _medallion(
        canvas,
        star.x * mm,
        page_height - star.y * mm,
        star.size * mm / 2,
        star.color,
        paper,
        star.line_width,
        filled=star.fill,
    )
    canvas.restoreState()


def _diamond(canvas: Canvas, cx: float, cy: float, half: float) -> None:
    _polygon(
        canvas,
        [cx - half, cy, cx, cy + half, cx + half, cy, cx, cy - half],
        stroke=False,
        fill=True,
    )


def _rule(canvas: Canvas, rule: PlacedRule) -> None:
    canvas.setStrokeColorRGB(*rule.color)
    canvas.setLineWidth(rule.line_width)
    if not rule.diamond:
        canvas.line(rule.x, rule.y, rule.x + rule.width, rule.y)
        return
    middle = rule.x + rule.width / 2
    half = DIAMOND * mm
    gap = half + 1.2 * mm
    canvas.line(rule.x, rule.y, middle - gap, rule.y)
    canvas.line(middle + gap, rule.y, rule.x + rule.width, rule.y)
    canvas.setFillColorRGB(*rule.color)
    _diamond(canvas, middle, rule.y, half)
    _diamond(canvas, rule.x, rule.y, half / 2)
    _diamond(canvas, rule.x + rule.width, rule.y, half / 2)


def _column_logos(
    template: Template, columns: tuple[LogoVersion | None, ...], *, keep: bool
) -> list[tuple[Logo, EncodedImage]]:
    """Each issuer's logo in its column (right to left), for the issuers that have one."""
    spec = template.issuers.logo
    if spec is None:
        return []
    row = template.issuers
    placed = []
    for version, (x, width) in zip(columns, row.columns(len(columns)), strict=True):
        if version is not None:
            path = version[0]
            box_width = min(spec.width, width)
            box = Logo(
                Path(path), x + (width - box_width) / 2, row.y + spec.y, box_width, spec.height
            )
            if keep:
                image = _institution_logo(Path(path), *version[1:])
            else:
                with _ENCODING:
                    image = _encode(Path(path), _decoded_logo(Path(path), *version[1:]))
            placed.append((box, image))
    return placed


def _placed_image(logo: Logo, image: EncodedImage, page_height: float) -> PlacedImage:
    return PlacedImage(
        image,
        logo.x * mm,
        page_height - (logo.y + logo.height) * mm,
        logo.width * mm,
        logo.height * mm,
    )


def _qr(canvas: Canvas, placed: PlacedQr) -> None:
    quiet = placed.quiet_zone
    canvas.setFillColorRGB(*placed.background)
    if placed.frame is not None:
        canvas.setStrokeColorRGB(*placed.frame)
        canvas.setLineWidth(placed.frame_width)
    canvas.rect(
        quiet.x, quiet.y, quiet.width, quiet.height, stroke=int(placed.frame is not None), fill=1
    )
    canvas.saveState()
    canvas.setFillColorRGB(*placed.color)
    # In module units from the top-left corner, every coordinate is a small integer. One
    # path of a rectangle per run of dark modules, filled once; written as the operators
    # themselves (`re`, then `f`): a path object's eight hundred calls, each formatting
    # floats, cost more than the rest of the page's text.
    canvas.translate(placed.x, placed.y + placed.code.modules * placed.module)
    canvas.scale(placed.module, -placed.module)
    canvas.addLiteral(
        "\n".join(
            f"{col} {row} {length} 1 re"
            for row, runs in enumerate(placed.code.runs)
            for col, length in runs
        )
        + "\nf"
    )
    canvas.restoreState()
