"""Reading QR codes back from a photo or scan of a printed diploma (zxing-cpp)."""

from __future__ import annotations

from io import BytesIO

from ..core.errors import DocumentError

MAX_PIXELS = 60_000_000
"""Larger than any phone photo; refuses decompression bombs before they are decoded."""


def read_qr_texts(image: bytes) -> list[str]:
    """The text of every QR code in the image (PNG, JPEG, ...); DocumentError if the file
    is not an image."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(image)) as picture:
            if picture.width * picture.height > MAX_PIXELS:
                raise DocumentError("the image is too large to be a photo of a diploma")
            grey = picture.convert("L")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DocumentError(f"the file is not an image that can be read ({exc})") from None
    return [
        r.text
        for r in zxingcpp.read_barcodes(grey)
        if r.format == zxingcpp.BarcodeFormat.QRCode and r.valid
    ]
