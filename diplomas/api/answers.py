"""Answers made once and kept with their verdict (see `verdicts.CachedVerdict.form`).

Starlette works out a response's headers each time one is made; an answer kept with its
verdict has them already, and is sent as it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Answer:
        return cls(response.status_code, tuple(response.raw_headers), bytes(response.body))


class KeptResponse(Response):
    """A kept answer, sent as it is (each request gets its own header list, which
    middleware may extend)."""

    def __init__(self, answer: Answer) -> None:  # no super().__init__: nothing to work out
        self.status_code = answer.status_code
        self.raw_headers = list(answer.headers)
        self.body = answer.body
        self.background = None


SLOT = "\x00"
"""Brackets a slot's name in a rendered page (`\\x00check-time\\x00`). No page text holds a
NUL: names and every other claim are normalised without control characters."""


@dataclass(frozen=True, slots=True)
class SlottedAnswer:
    """A page rendered once, with slots for what changes on every request (the time of
    the check, the page's address): filling them joins a few byte strings, far less than
    rendering the template again."""

    status_code: int
    headers: tuple[tuple[bytes, bytes], ...]
    """The response's headers without Content-Length, which each filling works out."""
    texts: tuple[bytes, ...]
    slots: tuple[bytes, ...]

    @classmethod
    def of(cls, response: Response) -> SlottedAnswer:
        pieces = bytes(response.body).split(SLOT.encode())
        headers = tuple((k, v) for k, v in response.raw_headers if k != b"content-length")
        return cls(response.status_code, headers, tuple(pieces[0::2]), tuple(pieces[1::2]))

    def fill(self, values: dict[bytes, bytes]) -> Answer:
        parts = [self.texts[0]]
        for slot, text in zip(self.slots, self.texts[1:], strict=True):
            parts += (values[slot], text)
        body = b"".join(parts)
        length = (b"content-length", str(len(body)).encode())
        return Answer(self.status_code, (*self.headers, length), body)
