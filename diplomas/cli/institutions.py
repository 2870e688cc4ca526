"""`diplomas institutions ...`: the issuer and the institutions that co-issue with it.

list     every institution of the instance, the issuer first
add      a co-issuer, with its own keys and certificates (diplomas name it with
         `--co-issuer SLUG`, the API with `"co_issuers": ["SLUG"]`)
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .console import errors_to_exit, load_settings, out

institutions_app = typer.Typer(
    help="The issuing institution and its co-issuers.", no_args_is_help=True
)


@institutions_app.command("list")
def institutions_list() -> None:
    """List the institutions: slug, names, public URL, DID (and former DIDs that earlier
    diplomas name) and serial prefix."""
    from ..bootstrap import load_institutions

    with errors_to_exit():
        institutions = load_institutions(load_settings())
    table = Table("slug", "role", "name", "public URL / DID", "serial prefix")
    for index, i in enumerate(institutions):
        former = "".join(f"\nformerly {d}" for d in i.former_dids)
        table.add_row(
            i.slug,
            "issuer" if index == 0 else "co-issuer",
            f"{i.name}\n{i.name_en}",
            f"{i.public_url}\n{i.did}{former}",
            i.serial_prefix,
        )
    out.print(table)


@institutions_app.command("add")
def institutions_add(
    slug: Annotated[str, typer.Option(help="Short name used by --co-issuer, e.g. samt.")],
    name: Annotated[str, typer.Option(help="Name in Persian.")],
    name_en: Annotated[str, typer.Option(help="Name in English.")],
    public_url: Annotated[
        str | None,
        typer.Option(help="Its own site (did:web); default: a path of this instance's site."),
    ] = None,
    serial_prefix: Annotated[str | None, typer.Option(help="Default: the slug.")] = None,
    signatory_name: Annotated[str | None, typer.Option(help="Who signs for it (Persian).")] = None,
    signatory_title: Annotated[str | None, typer.Option(help="Their title (Persian).")] = None,
    signatory_name_en: Annotated[str | None, typer.Option(help="Their name in English.")] = None,
    signatory_title_en: Annotated[str | None, typer.Option(help="Their title in English.")] = None,
) -> None:
    """Add a co-issuing institution and create its keys and certificates."""
    from ..bootstrap import add_institution
    from .audit import current_actor

    data: dict[str, object] = {
        "slug": slug,
        "name": name,
        "name_en": name_en,
        "public_url": public_url,
        "serial_prefix": serial_prefix,
    }
    if signatory_name:
        data["signatories"] = [
            {
                "name": signatory_name,
                "title": signatory_title or "",
                "name_en": signatory_name_en or "",
                "title_en": signatory_title_en or "",
            }
        ]
    with errors_to_exit():
        lines = add_institution(load_settings(), data, actor=current_actor())
    for line in lines:
        out.print(line, highlight=False)
