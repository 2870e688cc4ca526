"""The public reasons for revoking or suspending a diploma: a short bilingual list, so
that what employers read is chosen, not typed. Whatever else the office has to say
(minutes numbers, names, the story) goes into a private note that is never published.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FieldProblem, InvalidInput
from .text import normalize

MAX_NOTE = 2000


@dataclass(frozen=True)
class PublicReason:
    code: str
    fa: str
    en: str
    revoke: bool = True
    suspend: bool = False


REASONS: tuple[PublicReason, ...] = (
    PublicReason("issued_in_error", "صدور اشتباه", "Issued in error"),
    PublicReason("false_information", "صدور بر پایهٔ اطلاعات نادرست", "Issued on false information"),
    PublicReason("misconduct", "تخلف دارنده", "Misconduct by the holder", suspend=False),
    PublicReason("replaced", "جایگزین با دیپلمی دیگر", "Replaced by another diploma"),
    PublicReason("holder_request", "به درخواست دارنده", "At the holder's request", suspend=True),
    PublicReason("under_review", "در دست بررسی", "Under review", revoke=False, suspend=True),
    PublicReason("disputed", "مورد اعتراض", "Disputed", revoke=False, suspend=True),
    PublicReason("other", "سایر دلایل", "Other reasons", suspend=True),
)
BY_CODE = {r.code: r for r in REASONS}
OTHER = "other"


def reasons_for(action: str) -> tuple[PublicReason, ...]:
    """The reasons offered for "revoke" or "suspend"."""
    return tuple(r for r in REASONS if (r.revoke if action == "revoke" else r.suspend))


def choose(action: str, reason: str, note: str) -> tuple[str, str]:
    """(public reason code, private note) for a revocation or suspension.

    `reason` is a code of the list. Anything else (free text, as earlier versions took
    it) is kept as the private note under the public "other reasons": words typed by a
    person are never published. InvalidInput when there is neither a reason nor a note.
    """
    code = normalize(reason)
    note = normalize(note)
    if code not in BY_CODE or code not in {r.code for r in reasons_for(action)}:
        if code in BY_CODE:
            raise InvalidInput(
                FieldProblem("reason", f"{code!r} is not a reason to {action} (see the list)")
            )
        note = "; ".join(part for part in (code, note) if part)
        code = OTHER
        if not note:
            codes = ", ".join(r.code for r in reasons_for(action))
            raise InvalidInput(FieldProblem("reason", f"is required: one of {codes}"))
    if len(note) > MAX_NOTE:
        raise InvalidInput(FieldProblem("note", f"is longer than {MAX_NOTE} characters"))
    return code, note


def public_words(code: str) -> tuple[str, str]:
    """The (Persian, English) words published for a stored reason ('' for none). A stored
    reason that is not a code (none should be after migration 0011) is never shown."""
    if not code:
        return "", ""
    found = BY_CODE.get(code, BY_CODE[OTHER])
    return found.fa, found.en
