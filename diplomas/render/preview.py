"""A PDF's first page as a PNG image (pdfium): the console's page images and previews."""

from __future__ import annotations

import io
import threading

import pypdfium2

_PDFIUM = threading.Lock()
"""pdfium is not thread-safe; the server renders from a thread pool."""


def first_page_png(pdf: bytes, width: int = 900) -> bytes:
    """The first page scaled to `width` pixels wide."""
    with _PDFIUM:
        document = pypdfium2.PdfDocument(pdf)
        try:
            page = document[0]
            scale = width / page.get_width()
            image = page.render(scale=scale).to_pil()
            page.close()
        finally:
            document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
