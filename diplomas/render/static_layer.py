"""The part of a page that is the same on every diploma of a design, made once and replayed.

With one design, one set of institutions and their logo files, every page starts the same:
paper, stars, frame and corners, the rules of the rows, the design's logo and each
institution's logo. `page.py` records that as a `StaticLayer`, keeps it in the design's
`LayerCache`, and replays it onto each page's canvas before the page's own QR code and
text.

Why: reportlab's `Canvas.drawImage` treats every document afresh. For each image it
hashes the decoded pixels (MD5) to name the image, compresses them again (zlib), then does
the same for the alpha channel: with institution logos, the largest cost of a page after
its QR code (bench/README.md has the figures and the command). An `EncodedImage` does
both once and hands each document its own copy of the finished image XObject, registered
the way `drawImage` registers it, so the page's bytes are the same as before (a test
compares them). `EncodedImage.draw` is the one place that relies on reportlab's canvas
internals (`_doc`, `_code`, `_formsinuse`), pinned by the lock file and by that test.

The text is not part of the layer: each box's text is already fitted, shaped and measured
once per value (`layout._fit`), and drawing it goes through reportlab's per-document font
subsets, which a replay would have to reproduce.

The cache is keyed by value, never by identity: the number of institutions and
signatories and, for every logo, its path, modification time and size, so a new logo file
(or a new version of one) makes a new layer instead of being served stale; names and
other text are not in a layer at all. A design edited on disk is a new design only for a
new renderer (see `TemplateRenderer`), and the layers live in the design, so they are
never older than the design they belong to. The cache is a bounded LRU behind a lock,
since the server draws pages from several threads; the lock is held only for a dictionary
operation, never while a layer is built.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from reportlab.lib.boxstuff import aspectRatioFix
from reportlab.lib.utils import ImageReader, _digester
from reportlab.pdfbase.pdfdoc import PDFImageXObject, PDFObjectReference
from reportlab.pdfgen.canvas import Canvas


@dataclass(frozen=True)
class EncodedImage:
    """An image as its PDF image XObject (and soft mask), encoded once.

    Never registered with a document itself: each document gets a copy, since reportlab
    marks an object with its name in the document it is registered with."""

    name: str
    """What `drawImage` calls it: the MD5 of its pixels and of its mask's."""
    width: int
    height: int
    xobject: PDFImageXObject
    mask: PDFImageXObject | None
    """The alpha channel as a soft mask, for an image with one."""

    @classmethod
    def encode(cls, image: ImageReader) -> EncodedImage:
        """What `Canvas.drawImage(image, ..., mask="auto")` builds for a new document."""
        pixels: bytes = image.getRGBData()
        alpha = image._dataA  # set by getRGBData for an image with an alpha channel
        name = _digester(pixels + (alpha.getRGBData() if alpha else b"auto"))
        xobject = PDFImageXObject(name, image, mask="auto")
        xobject.name = name
        mask: PDFImageXObject | None = xobject.__dict__.pop("_smask", None)
        return cls(name, int(xobject.width), int(xobject.height), xobject, mask)

    def draw(self, canvas: Canvas, x: float, y: float, width: float, height: float) -> None:
        """Draw centred in the box, keeping the proportions, as `drawImage` does with
        `preserveAspectRatio=True, anchor="c"`."""
        doc = canvas._doc
        registered = doc.getXObjectName(self.name)
        if registered not in doc.idToObject:
            xobject = copy.copy(self.xobject)
            doc.Reference(xobject, registered)
            doc.addForm(self.name, xobject)
            if self.mask is not None:
                mask_name = doc.getXObjectName(self.mask.name)
                if mask_name in doc.idToObject:
                    xobject.smask = PDFObjectReference(mask_name)
                else:
                    xobject.smask = doc.Reference(copy.copy(self.mask), mask_name)
        x, y, width, height, _ = aspectRatioFix(
            True, "c", x, y, width, height, self.width, self.height
        )
        canvas._currentPageHasImages = 1
        canvas.saveState()
        canvas.translate(x, y)
        canvas.scale(width, height)
        canvas._code.append(f"/{registered} Do")
        canvas.restoreState()
        canvas._formsinuse.append(self.name)


@dataclass(frozen=True)
class PlacedImage:
    """An encoded image and its box, in points from the page's bottom-left corner."""

    image: EncodedImage
    x: float
    y: float
    width: float
    height: float

    def draw(self, canvas: Canvas) -> None:
        self.image.draw(canvas, self.x, self.y, self.width, self.height)


class Drawing(Protocol):
    """A part of a layer: recorded canvas calls, or a placed image."""

    def draw(self, canvas: Canvas) -> None: ...


@dataclass(frozen=True)
class StaticLayer:
    """What a page of one design, for one set of institutions, draws before its own
    QR code and text, in drawing order."""

    parts: tuple[Drawing, ...]

    def draw(self, canvas: Canvas) -> None:
        for part in self.parts:
            part.draw(canvas)


class LayerCache:
    """A bounded LRU of `StaticLayer`s by key, safe to share between threads.

    `size=0` keeps nothing: every page builds its layer, which is how pages were drawn
    before the layer was kept (the benchmark's "cache off"). Two threads that miss the
    same key at once both build it; the layer stored first is kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._layers: OrderedDict[Hashable, StaticLayer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], StaticLayer]) -> StaticLayer:
        if self.size <= 0:
            return build()
        with self._lock:
            layer = self._layers.get(key)
            if layer is not None:
                self._layers.move_to_end(key)
                return layer
        layer = build()
        with self._lock:
            layer = self._layers.setdefault(key, layer)
            self._layers.move_to_end(key)
            while len(self._layers) > self.size:
                self._layers.popitem(last=False)
        return layer

    def __len__(self) -> int:
        return len(self._layers)
