"""The message a holder receives: Persian first, English beside it, her PDF attached or her
private link. Values in, an `EmailMessage` out: nothing here reads a file or the network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from ..core.model import Diploma


@dataclass(frozen=True)
class Letter:
    """What a message says, taken from a diploma."""

    name: str
    name_en: str
    award: str
    award_en: str
    serial: str
    institution: str
    institution_en: str
    verify_url: str
    corrected: bool = False

    @classmethod
    def of(cls, diploma: Diploma, *, corrected: bool = False) -> Letter:
        r, i = diploma.request, diploma.institution
        return cls(
            name=r.name,
            name_en=r.name_en,
            award=r.award,
            award_en=r.award_en,
            serial=diploma.serial,
            institution=i.name,
            institution_en=i.name_en,
            verify_url=diploma.verify_url,
            corrected=corrected,
        )

    @property
    def subject(self) -> str:
        if self.corrected:
            return f"دیپلم اصلاح‌شدهٔ شما | Your corrected diploma — {self.serial}"
        return f"دیپلم شما | Your diploma — {self.serial}"


def _persian(letter: Letter, link: str | None, attached: bool) -> list[str]:
    what = "اصلاح شد" if letter.corrected else "صادر شد"
    lines = [
        f"{letter.name} گرامی،",
        f"دیپلم «{letter.award}» شما با شمارهٔ {letter.serial} از سوی {letter.institution} {what}.",
        f"هر کس می‌تواند درستی آن را در این نشانی ببیند: {letter.verify_url}",
    ]
    if attached:
        lines.append(f"پرونده‌ی PDF دیپلم، امضاشده، پیوست این نامه است ({letter.serial}.pdf).")
    if link:
        lines.append(
            "صفحهٔ خصوصی شما (آن را فقط برای خود نگه دارید): دریافت PDF و گواهی دیجیتال "
            f"برای کیف‌پول، و افزودن به لینکدین: {link}"
        )
    return lines


def _english(letter: Letter, link: str | None, attached: bool) -> list[str]:
    what = "corrected" if letter.corrected else "issued"
    name = letter.name_en or letter.name
    award = letter.award_en or letter.award
    lines = [
        f"Dear {name},",
        f"Your diploma “{award}”, serial {letter.serial}, was {what} by "
        f"{letter.institution_en or letter.institution}.",
        f"Anyone can check it at {letter.verify_url}",
    ]
    if attached:
        lines.append(f"The signed PDF is attached ({letter.serial}.pdf).")
    if link:
        lines.append(
            "Your private page (keep it to yourself): the signed PDF, the digital "
            f"credential for a wallet, and adding it to LinkedIn: {link}"
        )
    return lines


def compose(
    letter: Letter,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    date: datetime,
    pdf: bytes | None = None,
    link: str | None = None,
) -> EmailMessage:
    """The message: a text part and an HTML part (Persian right to left, English left to
    right beside it), then the PDF as `<serial>.pdf` when it is given; the holder's private
    `link` (her page: the PDF, the credential, LinkedIn) is in the text either way."""
    attached = pdf is not None
    fa, en = _persian(letter, link, attached), _english(letter, link, attached)
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message["Content-Language"] = "fa, en"
    # Quoted-printable, not 8-bit: a server that does not offer 8BITMIME gets 7-bit text.
    message.set_content("\n".join([*fa, "", "—", "", *en]) + "\n", cte="quoted-printable")

    def paragraphs(lines: list[str]) -> str:
        return "".join(f"<p>{escape(line)}</p>" for line in lines)

    html = (
        '<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{escape(letter.subject)}</title></head><body>"
        f'<div lang="fa" dir="rtl">{paragraphs(fa)}</div><hr>'
        f'<div lang="en" dir="ltr" style="text-align:left">{paragraphs(en)}</div>'
        "</body></html>"
    )
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if pdf is not None:
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"{letter.serial}.pdf"
        )
    return message
