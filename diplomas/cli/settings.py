"""`diplomas settings ...`: the institution settings in effect, checked and changed.

show                       every setting, its value and where it comes from (the file or
                           the environment), with the DIDs the institution answers for
check                      what is wrong, in plain words; exit code 0 when nothing stops it
set KEY VALUE              change one setting in the file (checked first; audited); a new
                           public_url keeps every diploma issued before verifying
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from .audit import current_actor
from .console import EXIT_CONFIG, err, errors_to_exit, load_settings, out, say

settings_app = typer.Typer(
    help="The institution settings: show, check and change them.", no_args_is_help=True
)


@settings_app.command("show")
def settings_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every setting in effect and where it comes from (file or environment)."""
    from ..settings_file import effective_settings

    with errors_to_exit():
        rows = effective_settings(load_settings())
    if as_json:
        data = [
            {"institution": slug, "setting": key, "value": value, "source": source}
            for slug, key, value, source in rows
        ]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table("institution", "setting", "value", "from")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@settings_app.command("check")
def settings_check() -> None:
    """Say what is wrong with the settings, in plain words. Exit code 0 unless something
    would stop the instance (warnings are printed and do not fail)."""
    from ..settings_file import approval_rules, check_settings

    settings = load_settings()
    with errors_to_exit():
        findings = check_settings(settings)
    rules: list[str] = []
    if not any(f.level == "error" for f in findings):
        with errors_to_exit():
            rules = approval_rules(settings)
    for line in rules:
        out.print(line, highlight=False)
    for finding in findings:
        colour = "red" if finding.level == "error" else "yellow"
        say(err, finding.level, colour, finding.message)
    if any(f.level == "error" for f in findings):
        raise typer.Exit(EXIT_CONFIG)
    out.print("the settings are usable" + (" (see the warnings)" if findings else ""))


@settings_app.command("set")
def settings_set(
    key: Annotated[
        str,
        typer.Argument(
            help="name, name_en, public_url, serial_prefix, signatories (JSON), logo, "
            "two_person_rule (true or false) or mail_pdf (attach or link: how mail to "
            "holders carries the PDF)."
        ),
    ],
    value: Annotated[str, typer.Argument(help="The new value.")],
    institution: Annotated[
        str | None,
        typer.Option("--institution", metavar="SLUG", help="A co-issuer (default: the issuer)."),
    ] = None,
) -> None:
    """Change one setting in the settings file; a running server takes it within seconds."""
    from ..settings_file import check_settings, parse_value, set_institution_setting

    settings = load_settings()
    with errors_to_exit():
        lines = set_institution_setting(
            settings, key, parse_value(key, value), slug=institution or "", actor=current_actor()
        )
    for line in lines:
        out.print(line, highlight=False)
    for finding in check_settings(settings):  # what the new settings leave to fix
        say(err, finding.level, "yellow", finding.message)
