"""Real outside tools for looking at PDFs the way a person or another program would."""

from __future__ import annotations

import subprocess
import unicodedata

import pypdfium2
import zxingcpp
from PIL.Image import Image


def first_page_image(pdf: bytes, dpi: int = 150) -> Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()


def decode_qr(image: Image) -> list[str]:
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def pdftotext(pdf: bytes) -> str:
    """Poppler's text extraction, NFKC-normalised (presentation forms back to letters)."""
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return unicodedata.normalize("NFKC", out.stdout.decode("utf-8"))


def pdfsig(pdf: bytes) -> str:
    """Poppler's signature report for the PDF."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(pdf)
        fh.flush()
        out = subprocess.run(["pdfsig", fh.name], capture_output=True, text=True, check=False)
    return out.stdout + out.stderr
