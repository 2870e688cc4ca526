"""PAdES signing and validation of diploma PDFs (pyHanko).

`PadesSigner` implements the core's `PdfSigner` port, `PadesValidator` its `PdfValidator`.
"""

from . import pinned
from .signer import FIELD_NAME, RECORD_FILE_NAME, RECORD_MIME_TYPE, PadesSigner
from .validator import PadesValidator

pinned.apply()  # the two pinned patches of pyHanko and asn1crypto (see `pinned`)

__all__ = ["FIELD_NAME", "RECORD_FILE_NAME", "RECORD_MIME_TYPE", "PadesSigner", "PadesValidator"]
