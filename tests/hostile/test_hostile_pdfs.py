"""Hostile uploads get a clear 4xx or an `invalid` verdict with a reason, quickly and in
bounded memory, and the service stays healthy: a genuine diploma verifies right after.

Bounds, on this 2-core machine: each file under 2 s, and under 64 MB of Python allocations
(tracemalloc peak) beyond the upload itself."""

from __future__ import annotations

import io
import logging
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pikepdf
import pytest
from conftest import Instance, make_instance
from fastapi.testclient import TestClient
from tamper.attacks import _swap_record, update_with
from tamper.verifiers import unlimited

SECONDS = 2.0
PEAK_BYTES = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, TestClient, bytes]]:
    from diplomas.api import create_app

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    inst = make_instance(tmp_path_factory.mktemp("hostile"))
    genuine = inst.service.issue({"name": "زهرا محمدی‌نژاد"}).pdf
    with TestClient(create_app(inst.service, unlimited(inst.settings))) as client:
        yield inst, client, genuine


def _raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def _flate_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + compressor.flush()


def many_pages(count: int = 100_000) -> bytes:
    kids = b" ".join(b"3 0 R" for _ in range(count))
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
        ]
    )


def deep_nesting(depth: int = 200_000) -> bytes:
    return _raw_pdf([b"<< /Type /Catalog /X " + b"[" * depth + b"]" * depth + b" >>"])


def deep_dicts(depth: int = 50_000) -> bytes:
    return _raw_pdf([b"<< /Type /Catalog /X " + b"<< /A " * depth + b">>" * depth + b" >>"])


def content_bomb() -> bytes:
    bomb = _flate_bomb(2 * 1024**3)
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(bomb), bomb),
        ]
    )


def gigantic_xref(entries: int = 400_000) -> bytes:
    head = b"%PDF-1.7\n"
    body = b"1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    xref_at = len(head) + len(body)
    rows = b"0000000000 65535 f \n" + b"%010d 00000 n \n" % len(head)
    rows += b"0000000009 00000 n \n" * entries
    return (
        head
        + body
        + b"xref\n0 %d\n" % (entries + 2)
        + rows
        + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (entries + 2, xref_at)
    )


def encrypted(genuine: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(genuine)) as doc:
        doc.save(out, encryption=pikepdf.Encryption(owner="o", user="", R=6))
    return out.getvalue()


def attachment_bomb(genuine: bytes) -> bytes:
    """A genuine diploma whose attachment is swapped, in an update, for a flate bomb."""
    from pyhanko.pdf_utils import generic

    bomb = _flate_bomb(1024**3)

    def edit(writer: object) -> None:
        _swap_record(b"{}")(writer)  # type: ignore[arg-type]
        names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]  # type: ignore[attr-defined]
        stream = names[1]["/EF"]["/F"]
        stream._encoded_data = bomb
        stream._data = None
        stream[generic.pdf_name("/Length")] = generic.NumberObject(len(bomb))
        stream[generic.pdf_name("/Filter")] = generic.pdf_name("/FlateDecode")

    return update_with(genuine, edit)  # type: ignore[arg-type]


def many_signatures(genuine: bytes, count: int = 3000) -> bytes:
    """A genuine diploma followed by an update adding thousands of signature fields, each
    pointing at a copy of its signature dictionary."""
    import re

    sig = re.search(rb"(\d+) 0 obj\s*<<\s*/Contents <", genuine)
    assert sig is not None
    objects = {}
    first = 100_000
    fields = []
    for i in range(count):
        objects[first + i] = (
            b"<< /FT /Sig /T (S%d) /V %s 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] >>"
            % (i, sig.group(1))
        )
        fields.append(b"%d 0 R" % (first + i))
    from tamper.attacks import raw_update

    root = re.findall(rb"/Root (\d+) 0 R", genuine)[-1]
    objects[first + count] = b"<< /Type /Catalog /Pages 13 0 R /AcroForm << /Fields [%s] >> >>" % (
        b" ".join(fields)
    )
    del root
    return raw_update(genuine, objects, root=b"%d 0 R" % (first + count))


CASES: dict[str, Callable[[bytes], bytes]] = {
    "junk after a PDF header": lambda g: b"%PDF-1.7\n" + bytes(range(256)) * 200,
    "header only": lambda g: b"%PDF-",
    "encrypted": encrypted,
    "100,000 pages": lambda g: many_pages(),
    "200,000 nested arrays": lambda g: deep_nesting(),
    "50,000 nested dictionaries": lambda g: deep_dicts(),
    "flate bomb in a content stream": lambda g: content_bomb(),
    "flate bomb in the attachment": attachment_bomb,
    "3,000 signatures": many_signatures,
    "xref of 400,000 entries": lambda g: gigantic_xref(),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_upload_is_refused_quickly(
    env: tuple[Instance, TestClient, bytes], case: str
) -> None:
    inst, client, genuine = env
    pdf = CASES[case](genuine)
    assert len(pdf) <= inst.settings.max_upload_bytes, len(pdf)
    tracemalloc.start()
    started = time.perf_counter()
    r = client.post("/api/v1/verify", files={"file": ("x.pdf", pdf, "application/pdf")})
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if r.status_code == 200:
        body = r.json()
        assert body["status"] == "invalid" and body["reasons"], body
    else:
        assert 400 <= r.status_code < 500 and r.json()["detail"], r.text
    assert seconds < SECONDS, f"{case}: {seconds:.2f} s"
    assert peak - 2 * len(pdf) < PEAK_BYTES, f"{case}: {peak / 1e6:.0f} MB"
    after = client.post("/api/v1/verify", files={"file": ("d.pdf", genuine, "application/pdf")})
    assert after.json()["status"] == "valid"


def test_oversized_upload_is_refused(env: tuple[Instance, TestClient, bytes]) -> None:
    inst, client, genuine = env
    huge = genuine + b"\n%" + b"x" * inst.settings.max_upload_bytes
    started = time.perf_counter()
    r = client.post("/api/v1/verify", files={"file": ("x.pdf", huge, "application/pdf")})
    assert 400 <= r.status_code < 500 and "larger than" in r.json()["detail"]
    assert time.perf_counter() - started < SECONDS
