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
