"""The core must stay importable without any web, PDF or database library."""

import ast
import subprocess
import sys
from pathlib import Path

import diplomas.core

FORBIDDEN = {
    "fastapi",
    "starlette",
    "reportlab",
    "qrcode",
    "sqlalchemy",
    "pyhanko",
    "typer",
    "uvicorn",
    "alembic",
    "psycopg",
}
CORE = Path(diplomas.core.__file__).parent


def test_no_forbidden_import_statement() -> None:
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_the_core_loads_no_edge_library() -> None:
    code = (
        "import sys, pkgutil, importlib, diplomas.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'diplomas.core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
